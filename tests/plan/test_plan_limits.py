"""Issue 10, item 4: an absurd duration is refused before any work, and no `.partial` plan dir
survives any exit (an error, SIGTERM, or a process killed outright and swept by the next plan)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

COMP = """
<!doctype html>
<html><body style="margin:0">
<div data-composition-id="lim" data-width="160" data-height="90" {duration} data-no-timeline>
  <div style="width:40px;height:40px;background:#0f0"></div>
</div>
</body></html>
"""


def partials(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial." in p.name)


@pytest.mark.parametrize("command", ["plan", "render"])
def test_huge_duration_is_refused_before_any_work(tmp_path, command):
    proj = write_project(tmp_path / "p", COMP.format(duration='data-duration="1e9"'))
    out = tmp_path / ("plan" if command == "plan" else "out.mp4")
    t0 = time.monotonic()
    proc = run_cli(command, str(proj), "-o", str(out), *(["--local", "1"] if command == "render" else []),
                   timeout=120)
    took = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert "error DURATION_TOO_LONG:" in proc.stderr and "864000" in proc.stderr, proc.stderr
    assert "30000000000 frames" in proc.stderr
    assert took < 60, f"{took:.1f} s: the plan did work before checking the frame count"
    assert not out.exists()
    assert partials(tmp_path) == []
    cache = Path(os.environ["HYPERDESK_CACHE_DIR"]) / "plans"
    if cache.is_dir():
        assert partials(cache) == []


def test_frame_cap_is_a_setting(tmp_path):
    proj = write_project(tmp_path / "p", COMP.format(duration='data-duration="1"'))
    proc = run_cli("plan", str(proj), "-o", str(tmp_path / "plan"), "--max-frames", "29", "--json")
    assert proc.returncode == 2
    assert "error DURATION_TOO_LONG:" in proc.stderr and "30 frames" in proc.stderr
    ok = run_cli("plan", str(proj), "-o", str(tmp_path / "plan"), "--max-frames", "30", "--json")
    assert ok.returncode == 0, ok.stderr


def test_sigterm_while_planning_leaves_no_partial_dir(tmp_path):
    # No data-duration: the planner loads the page in Chromium to read it, which takes seconds.
    proj = write_project(tmp_path / "p", COMP.format(duration=""))
    parent = tmp_path / "plans"
    parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "hyperdesk", "plan", str(proj), "-o", str(parent / "plan")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not partials(parent) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert partials(parent), "the plan never started"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert partials(parent) == []
    assert not (parent / "plan").exists()


def test_next_plan_sweeps_partials_of_dead_processes(tmp_path):
    proj = write_project(tmp_path / "p", COMP.format(duration='data-duration="0.2"'))
    parent = tmp_path / "plans"
    parent.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = parent / f"other.partial.{dead.pid}.0123abcd"
    (stale / "compiled").mkdir(parents=True)
    (stale / "compiled" / "index.html").write_text("left by a killed planner")
    alive = parent / f"other.partial.{os.getpid()}.89abcdef"  # a planner that still runs: not touched
    alive.mkdir()
    unrelated = parent / "notes.partial.txt"
    unrelated.write_text("not a plan dir")
    proc = run_cli("plan", str(proj), "-o", str(parent / "plan"))
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()
    assert alive.is_dir() and unrelated.is_file()
