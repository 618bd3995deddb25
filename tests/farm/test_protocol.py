"""The worker protocol: events, and `hyperdesk worker`'s stdout discipline, heartbeat, cancel, watchdog."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.protocol import (
    PROTOCOL_VERSION,
    AcceptedEvent,
    FailedEvent,
    HeartbeatEvent,
    ProgressEvent,
    dump_event,
    parse_event,
)

TESTS = Path(__file__).resolve().parents[1]


def test_events_round_trip_with_version():
    for event in (AcceptedEvent(attempt_id="j-c0-a1", chunk_index=0, pid=1, pgid=1, host="h", hyperdesk_version="0.1"),
                  HeartbeatEvent(attempt_id="j-c0-a1", frames_done=3),
                  ProgressEvent(attempt_id="j-c0-a1", frames_done=3, frames_total=10, fps=12.5),
                  FailedEvent(attempt_id="j-c0-a1", code="ENCODE_FAILED", message="m", hint="h", retryable=True,
                              log_tail=["a"])):
        line = dump_event(event)
        assert "\n" not in line
        data = json.loads(line)
        assert data["v"] == PROTOCOL_VERSION and data["type"] == event.type
        assert parse_event(line) == event


def test_failed_event_carries_the_typed_error():
    err = HyperdeskError("BROWSER_CRASHED", "Chromium exited", details={"work_dir": "/w", "odd": {1, 2}})
    ev = FailedEvent.from_error("a", err, ["tail"])
    back = parse_event(dump_event(ev)).to_error()
    assert (back.code, back.message, back.retryable) == ("BROWSER_CRASHED", "Chromium exited", True)
    assert back.details["log_tail"] == ["tail"] and back.details["work_dir"] == "/w"


@pytest.mark.parametrize("line, why", [
    ("Traceback (most recent call last):", "not an event"),
    ('{"v": 99, "type": "heartbeat", "attempt_id": "a"}', "protocol version"),
    ('{"v": 1, "type": "progress", "attempt_id": "a"}', "invalid event"),
])
def test_a_line_that_is_not_an_event_is_worker_lost(line, why):
    with pytest.raises(HyperdeskError) as info:
        parse_event(line)
    assert info.value.code == "WORKER_LOST" and why in info.value.message


def _worker(tmp_path: Path, mode: str, *extra: str, env=None, stdin=subprocess.PIPE) -> subprocess.Popen:
    e = dict(os.environ, FAKE_MODE=mode, PYTHONPATH=str(TESTS), **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "farm.fake_render", str(tmp_path), "0", str(tmp_path / "out.bin"),
                             "job-c0-a1", *extra], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=e, start_new_session=True)


def test_worker_prints_only_events_with_heartbeats_and_a_final_result(tmp_path):
    proc = _worker(tmp_path, "ok", env={"FAKE_FRAME_S": "0.8"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [parse_event(line) for line in out.decode().splitlines()]  # every line parses
    types = [e.type for e in events]
    assert types[0] == "accepted" and types[-1] == "done" and types.count("done") == 1
    assert [e.frames_done for e in events if e.type == "progress"] == [1, 2, 3, 4, 5]
    # Heartbeats at least every 2 s: no gap between consecutive events above that.
    times = [e.t for e in events]
    assert max(b - a for a, b in zip(times, times[1:])) < 2.0
    assert types.count("heartbeat") >= 2
    # The junk went to stderr.
    assert b"stray print to stdout" in err and b"stray bytes on fd 1" in err and b"child process stdout" in err


def test_worker_failure_is_one_failed_event_with_log_tail_and_exit_3(tmp_path):
    proc = _worker(tmp_path, "fail")
    out, _ = proc.communicate(timeout=60)
    events = [parse_event(line) for line in out.decode().splitlines()]
    final = events[-1]
    assert proc.returncode == 3
    assert final.type == "failed" and final.code == "ENCODE_FAILED" and final.retryable
    assert any("disk full" in line for line in final.log_tail)


def test_worker_bug_is_internal_error_not_a_traceback_on_stdout(tmp_path):
    proc = _worker(tmp_path, "crash")
    out, err = proc.communicate(timeout=60)
    final = parse_event(out.decode().splitlines()[-1])
    assert proc.returncode == 3 and final.code == "INTERNAL_ERROR" and "boom" in final.message
    assert b"Traceback" in err


def _wait_progress(proc: subprocess.Popen) -> list:
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, "worker ended early"
        ev = parse_event(line)
        lines.append(ev)
        if ev.type == "progress":
            return lines


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_sigint_reports_cancelled_and_exits_130(tmp_path):
    pidfile = tmp_path / "child.pid"
    proc = _worker(tmp_path, "slow", env={"FAKE_CHILD_PID_FILE": str(pidfile)})
    _wait_progress(proc)
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()  # the sleeping child keeps stderr open, not stdout
    proc.wait(timeout=30)
    os.killpg(proc.pid, signal.SIGKILL)  # what the executor does after every attempt
    final = parse_event(out.decode().splitlines()[-1])
    assert proc.returncode == 130 and final.type == "failed" and final.code == "CANCELLED"


def test_cancel_line_on_stdin_is_a_sigint(tmp_path):
    pidfile = tmp_path / "child.pid"
    proc = _worker(tmp_path, "slow", "--watchdog", env={"FAKE_CHILD_PID_FILE": str(pidfile)})
    _wait_progress(proc)
    proc.stdin.write(b"cancel\n")
    proc.stdin.flush()
    out = proc.stdout.read()
    proc.wait(timeout=30)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert parse_event(out.decode().splitlines()[-1]).code == "CANCELLED"


def test_watchdog_kills_the_process_group_when_stdin_closes(tmp_path):
    """The controller (or the SSH channel) goes away: the worker and its children die with it."""
    pidfile = tmp_path / "child.pid"
    proc = _worker(tmp_path, "slow", "--watchdog", "--setsid", env={"FAKE_CHILD_PID_FILE": str(pidfile)})
    accepted = _wait_progress(proc)[0]
    assert accepted.pgid == accepted.pid == proc.pid  # leads its own group
    child = int(pidfile.read_text())
    assert _alive(child)
    proc.stdin.close()
    proc.wait(timeout=15)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the worker's child outlived the closed channel"
