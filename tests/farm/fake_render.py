"""A stand-in for render_chunk with the same signature, for worker-protocol tests (no browser).

FAKE_MODE: ok | fail | crash | slow. `ok` also writes junk to stdout three ways (print, the raw file
descriptor, a child process) to prove the event stream stays clean.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hyperdesk.errors import HyperdeskError
from hyperdesk.models import ChunkResult, ChunkTimings, WorkerInfo


def fake_render(plan_dir: Path, index: int, out: Path, *, attempt_id=None, progress=None, faults=None):
    mode = os.environ.get("FAKE_MODE", "ok")
    if mode == "ok":
        print("stray print to stdout")
        os.write(1, b"stray bytes on fd 1\n")
        subprocess.run(["echo", "child process stdout"], check=True)
        for i in range(5):
            time.sleep(float(os.environ.get("FAKE_FRAME_S", "0.5")))
            progress(i + 1, 5)
        Path(out).write_bytes(b"chunk")
        return ChunkResult(plan_hash="0" * 64, chunk_index=index, start_frame=0, end_frame=5, attempt_id=attempt_id,
                           output_path=str(out), output_kind="file", sha256="1" * 64, size_bytes=5, frames_encoded=5,
                           frame_sha256=["2" * 64] * 5, capture_mode="screenshot", browser_kind="chromium",
                           timings=ChunkTimings(), worker=WorkerInfo(host="h", hyperdesk_version="0",
                                                                      browser_version="0", ffmpeg_identity="0"),
                           perf_path=str(out) + ".perf.json")
    if mode == "fail":
        work = Path(out).parent / "work"
        (work / "logs").mkdir(parents=True, exist_ok=True)
        (work / "logs" / "ffmpeg.log").write_text("line one\nx264 [error]: disk full\n")
        raise HyperdeskError("ENCODE_FAILED", "ffmpeg exited with status 1", details={"work_dir": str(work)})
    if mode == "crash":
        raise ValueError("boom")
    if mode == "slow":
        child = subprocess.Popen(["sleep", "300"])  # stands in for Chromium: same process group
        Path(os.environ["FAKE_CHILD_PID_FILE"]).write_text(str(child.pid))
        progress(1, 100)
        while True:
            time.sleep(0.1)
    raise AssertionError(mode)


def main() -> int:
    from hyperdesk.farm.worker import become_group_leader, run_worker

    if "--setsid" in sys.argv:
        become_group_leader()
    return run_worker(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4],
                      watchdog="--watchdog" in sys.argv, render=fake_render)


if __name__ == "__main__":
    raise SystemExit(main())
