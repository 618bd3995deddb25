"""What a Dask worker runs for hyperdesk: the preflight, the plan's blobs, one chunk attempt, a stop.

These functions travel by reference (module and name), so hyperdesk must be importable in the Dask
worker's Python. They use the worker's own hyperdesk cache (HYPERDESK_CACHE_DIR of the worker process).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import distributed

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm import nodesync
from hyperdesk.farm.executor import remove_output
from hyperdesk.farm.protocol import FailedEvent
from hyperdesk.models import ChunkResult

STDERR_TAIL = 40

_RUNNING: dict[str, subprocess.Popen] = {}  # attempt id -> its `hyperdesk worker`, in this Dask worker
# Attempts told to stop, so a task that starts after its stop (it was queued, or starting) runs nothing.
_STOPPED: dict[str, None] = {}
_STOPPED_KEEP = 4096
_RUNNING_LOCK = threading.Lock()


def _hyperdesk_argv(fault_words: list[str], *args: str) -> list[str]:
    """`hyperdesk` of the Python the Dask worker runs in."""
    return [sys.executable, "-m", "hyperdesk", *fault_words, *args]


def worker_doctor(fault_words: list[str]) -> dict[str, Any]:
    """Run on a Dask worker: its `hyperdesk doctor --json --no-gl`, its pid (the fence) and render slots."""
    proc = subprocess.run(_hyperdesk_argv(fault_words, "doctor", "--json", "--no-gl"), capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = None
    return {"report": report, "exit": proc.returncode, "stderr_tail": proc.stderr.strip().splitlines()[-5:],
            "pid": os.getpid()}


def worker_sync(action: str, req: dict[str, Any]) -> dict[str, Any]:
    """Run on a Dask worker: node-sync's check / commit / clean against the worker's own cache."""
    return nodesync.ACTIONS[action](req)


def worker_receive(blobs: dict[str, bytes], staging_dir: str) -> dict[str, str]:
    """Run on a Dask worker: stage blobs for `commit` (which verifies each sha256 before it enters the cache)."""
    staged: dict[str, str] = {}
    for sha, data in blobs.items():
        name = f"{sha}.{secrets.token_hex(4)}"
        Path(staging_dir, name).write_bytes(data)
        staged[sha] = name
    return staged


async def worker_stop(attempt_id: str, grace_s: float) -> bool:
    """Run on a Dask worker: SIGINT the attempt's `hyperdesk worker`, wait `grace_s`, kill its process group."""
    with _RUNNING_LOCK:
        _STOPPED[attempt_id] = None
        while len(_STOPPED) > _STOPPED_KEEP:
            del _STOPPED[next(iter(_STOPPED))]
        proc = _RUNNING.get(attempt_id)
    if proc is None:
        return False
    if grace_s > 0 and proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)  # the worker leads its session: Chromium and ffmpeg go with it
    return True


def _read_output(path: Path) -> dict[str, bytes]:
    """A chunk output as {relative name: bytes}: one file (name "") or a frame directory's files."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}
    return {"": path.read_bytes()}


def render_task(plan_hash: str, chunk_index: int, attempt_id: str, job_id: str, suffix: str,
                fault_words: list[str], topic: str, fence_pid: int) -> dict[str, Any]:
    """Run as a Dask task: one chunk attempt in a `hyperdesk worker` process; returns its final event and bytes."""
    worker = distributed.get_worker()
    if os.getpid() != fence_pid:
        # Dask ran the task again after the worker that passed preflight died: that attempt is over.
        lost = HyperdeskError("WORKER_LOST", f"attempt {attempt_id} was fenced: its Dask worker was replaced",
                              details={"fenced": True})
        return {"final": FailedEvent.from_error(attempt_id, lost, []).model_dump_json()}
    paths = nodesync.check({"plan_hash": plan_hash, "files": {}, "job_id": job_id})
    if not paths["ready"]:
        missing = HyperdeskError("MISSING_PLAN_ARTIFACT", f"plan {plan_hash[:12]}… is not in this worker's cache")
        return {"final": FailedEvent.from_error(attempt_id, missing, []).model_dump_json()}
    out = Path(paths["out_dir"]) / f"{attempt_id}{suffix}"
    with _RUNNING_LOCK:  # a stop either comes first and nothing starts, or finds the process
        if attempt_id in _STOPPED:
            cancelled = HyperdeskError("CANCELLED", f"attempt {attempt_id} was stopped before it started")
            return {"final": FailedEvent.from_error(attempt_id, cancelled, []).model_dump_json()}
        proc = subprocess.Popen(
            _hyperdesk_argv(fault_words, "worker", paths["plan_dir"], str(chunk_index), "-o", str(out),
                            "--attempt-id", attempt_id, "--watchdog"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        _RUNNING[attempt_id] = proc
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)

    def forward_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)
                worker.log_event(topic, {"log": line[:2000]})

    reader = threading.Thread(target=forward_stderr, name=f"hyperdesk-stderr-{attempt_id}", daemon=True)
    reader.start()
    final: str | None = None
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            kind = ""
            with contextlib.suppress(ValueError, AttributeError):
                kind = json.loads(line).get("type", "")
            if kind in ("done", "failed"):
                final = line  # returned with the bytes, not sent as an event
            else:
                worker.log_event(topic, {"event": line})
        status = proc.wait()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.pop(attempt_id, None)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # nothing of the attempt outlives it
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
    reader.join(5)
    reply: dict[str, Any] = {"final": final, "exit": status, "stderr_tail": list(tail)}
    if final is not None and json.loads(final).get("type") == "done":
        result = ChunkResult.model_validate(json.loads(final)["result"])
        try:
            reply["files"] = _read_output(Path(result.output_path))
            with contextlib.suppress(OSError):
                reply["perf"] = Path(result.perf_path).read_bytes()
        finally:
            remove_output(Path(result.output_path))
            with contextlib.suppress(OSError):
                os.unlink(result.perf_path)
    return reply
