"""This machine's worker environment (plan-contract.md section 5)."""
from __future__ import annotations

from hyperdesk import __version__
from hyperdesk.capture.browser import browser_version, find_browser
from hyperdesk.encode.ffmpeg import ffmpeg_identity
from hyperdesk.faults import FaultPlan
from hyperdesk.models import WorkerEnv


def local_worker_env(browser_path: str | None = None, faults: FaultPlan | None = None) -> WorkerEnv:
    """The versions this machine renders with; *faults* may replace the browser version and the
    ffmpeg identity it reports (tests of the version-mismatch paths)."""
    faults = faults or FaultPlan()
    info = find_browser(browser_path)
    return WorkerEnv(
        hyperdesk_version=__version__,
        browser_version=faults.browser_version or browser_version(info),
        ffmpeg_identity=faults.ffmpeg_identity or ffmpeg_identity(),
    )
