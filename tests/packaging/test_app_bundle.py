"""The PyInstaller app (packaging/build-app.sh -> dist/hyperdesk/): runs only when
HYPERDESK_TEST_APP names its executable, so a stale dist/ never fails a developer's run.

    bash packaging/build-app.sh && HYPERDESK_TEST_APP=dist/hyperdesk/hyperdesk pytest tests/packaging/test_app_bundle.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mediautil import count_frames

pytestmark = pytest.mark.slow

APP = os.environ.get("HYPERDESK_TEST_APP")
APP_ID = "io.hyperdesk.Hyperdesk"

if not APP:
    pytest.skip("set HYPERDESK_TEST_APP=dist/hyperdesk/hyperdesk after packaging/build-app.sh",
                allow_module_level=True)

TINY = """<!doctype html><html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:96px;height:54px;background:#123;overflow:hidden}
#bar{position:absolute;left:0;bottom:4px;height:8px;width:0;background:#fc0;animation:grow 1s linear forwards}
@keyframes grow{from{width:0}to{width:96px}}
</style></head><body>
<div id="root" data-composition-id="tiny" data-width="96" data-height="54" data-duration="1" data-fps="15" data-no-timeline>
<div id="bar"></div></div></body></html>
"""


def app(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(APP).absolute()), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_app_version_doctor_render_and_desktop_entry(tmp_path: Path) -> None:
    r = app("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "hyperdesk 0.1.0"
    r = app("doctor", "--json", cwd=tmp_path)
    report = json.loads(r.stdout)
    assert report["ok"] is True, report.get("problems")
    from hyperdesk.plan.env import local_worker_env

    assert report["worker_env"] == local_worker_env().model_dump()

    # Local workers are the app itself (`-m hyperdesk worker`): the same bytes as the checkout's render.
    project = tmp_path / "tiny"
    project.mkdir()
    (project / "index.html").write_text(TINY)
    opts = ["--local", "2", "--chunk-size", "5", "--keyframe-interval", "5", "--json"]
    r = app("render", str(project), "-o", str(tmp_path / "app.mp4"), *opts, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    dev = subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(tmp_path / "dev.mp4"),
                          *opts], capture_output=True, text=True, timeout=300)
    assert dev.returncode == 0, dev.stderr[-3000:]
    assert count_frames(tmp_path / "app.mp4") == 15
    assert (tmp_path / "app.mp4").read_bytes() == (tmp_path / "dev.mp4").read_bytes()

    r = app("-m", "hyperdesk.cli.desktop", "--data-home", str(tmp_path / "share"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["exec"] == [str(Path(APP).absolute())]
    entry = (tmp_path / "share" / "applications" / f"{APP_ID}.desktop").read_text()
    assert f"Exec={Path(APP).absolute()} gui %f" in entry
