"""This machine's worker environment (plan-contract.md section 5)."""
from __future__ import annotations


from hyperdesk import __version__
from hyperdesk.models import WorkerEnv


def local_worker_env(browser_path: str | None = None) -> WorkerEnv:
    from hyperdesk.capture.browser import browser_version, find_browser
    from hyperdesk.encode.ffmpeg import ffmpeg_identity

    info = find_browser(browser_path)
    return WorkerEnv(
        hyperdesk_version=__version__,
        browser_version=browser_version(info),
        ffmpeg_identity=ffmpeg_identity(),
    )
