"""Issue 10, item 5: one controller per job, one job per output path; a killed controller leaves no
stale lock (resume works right away)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import mediautil as mu
from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

COMP = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="locks" data-width="160" data-height="90" data-duration="{duration}" data-no-timeline>
  <div style="width:40px;height:40px;background:#0f0"></div>
</div>
</body></html>
"""


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hyperdesk", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_event(proc: subprocess.Popen, kind: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited before {kind}: {proc.wait()} {proc.stderr.read()}")
        event = json.loads(line)
        if event.get("event") == kind:
            return event
    raise AssertionError(f"no {kind} event")


def test_second_render_to_the_same_output_is_refused(tmp_path):
    a = write_project(tmp_path / "a", COMP.format(duration=4))
    b = write_project(tmp_path / "b", COMP.format(duration=0.5))
    out = tmp_path / "out.mp4"
    first = start("render", str(a), "-o", str(out), "--local", "1", "--json")
    try:
        wait_event(first, "job_started")
        second = run_cli("render", str(b), "-o", str(tmp_path / "." / "out.mp4"), "--local", "1")
        assert second.returncode == 2, second.stderr
        assert "error OUTPUT_LOCKED:" in second.stderr, second.stderr
        assert f"process {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        _rest, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert mu.count_frames(out) == 120  # the first job's output, whole
    # the lock went with its job: the same output renders now
    again = run_cli("render", str(b), "-o", str(out), "--local", "1")
    assert again.returncode == 0, again.stderr
    assert mu.count_frames(out) == 15


def test_one_controller_per_job(tmp_path):
    proj = write_project(tmp_path / "p", COMP.format(duration=4))
    out = tmp_path / "out.mp4"
    render = start("render", str(proj), "-o", str(out), "--local", "1", "--json")
    job_id = wait_event(render, "job_started")["job_id"]
    os.killpg(render.pid, signal.SIGKILL)  # the controller dies without a word
    render.wait()
    # a killed controller holds nothing: the resume starts at once
    first = start("jobs", "resume", job_id, "--json")
    try:
        wait_event(first, "job_started")
        second = run_cli("jobs", "resume", job_id)
        assert second.returncode == 2, second.stderr
        assert "error JOB_LOCKED:" in second.stderr, second.stderr
        assert f"process {first.pid}" in second.stderr
        retry = run_cli("jobs", "retry", job_id, "--chunk", "0")
        assert "error JOB_LOCKED:" in retry.stderr, retry.stderr
        _rest, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert mu.count_frames(out) == 120
    shown = json.loads(run_cli("jobs", "show", job_id, "--json").stdout)
    assert shown["job"]["state"] == "done"
    assert all(c["state"] == "done" for c in shown["chunks"])


def test_lock_files_name_their_holder(tmp_path):
    from hyperdesk.errors import HyperdeskError
    from hyperdesk.store.locks import lock_job, lock_output

    store = tmp_path / "store.sqlite3"
    held = lock_output(store, tmp_path / "x.mp4", "job1")
    with pytest.raises(HyperdeskError) as info:
        lock_output(store, tmp_path / "sub" / ".." / "x.mp4", "job2")
    assert info.value.code == "OUTPUT_LOCKED"
    assert info.value.details["holder"]["job"] == "job1"
    held.release()
    lock_output(store, tmp_path / "x.mp4", "job2").release()
    with lock_job(store, "j"):
        with pytest.raises(HyperdeskError) as info:
            lock_job(store, "j")
        assert info.value.code == "JOB_LOCKED"
    lock_job(store, "j").release()
