"""Farm benchmarks: dispatch overhead (SSH against local), bytes re-uploaded, 2 local workers against 1.

    .venv/bin/python benchmarks/farm.py [--quick]

Everything runs on this machine: the SSH node is a throwaway sshd on 127.0.0.2 (as in the tests),
running hyperdesk from this checkout. Numbers are ratios against a baseline measured in the same run.

1. Per-chunk dispatch overhead = wall time of an attempt as the controller sees it (AttemptStarted ->
   ChunkDone) minus the worker's own ChunkResult.timings.total_ms. For a local worker that is process
   start and imports; over SSH also the channel, the remote process start and the chunk download.
2. Bytes uploaded when the same plan is rendered a second time on a node (target 0: the node's
   content-addressed blob cache already holds every file).
3. Job wall time with 2 local workers against 1 on this machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SMALL = """
<!doctype html><html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:96px;height:54px;background:#123;overflow:hidden}
#bar{position:absolute;left:0;bottom:4px;height:8px;width:0;background:#fc0;animation:grow 3s linear forwards}
@keyframes grow{from{width:0}to{width:96px}}
</style></head><body>
<div id="root" data-composition-id="small" data-width="96" data-height="54" data-duration="3" data-fps="15"
     data-no-timeline><div id="bar"></div></div></body></html>
"""

MEDIUM = """
<!doctype html><html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:640px;height:360px;background:linear-gradient(135deg,#123,#456);overflow:hidden;
      font:bold 40px sans-serif;color:#fff}
.box{position:absolute;width:80px;height:80px;border-radius:12px;animation:spin 4s linear infinite}
@keyframes spin{from{transform:rotate(0deg) translateX(0)}to{transform:rotate(360deg) translateX(300px)}}
#bar{position:absolute;left:0;bottom:10px;height:16px;width:0;background:#fc0;animation:grow 6s linear forwards}
@keyframes grow{from{width:0}to{width:640px}}
</style></head><body>
<div id="root" data-composition-id="medium" data-width="640" data-height="360" data-duration="DURATION" data-fps="30"
     data-no-timeline>
  <div class="box" style="left:40px;top:40px;background:#e44"></div>
  <div class="box" style="left:200px;top:140px;background:#4e4;animation-duration:3s"></div>
  <div class="box" style="left:360px;top:220px;background:#44e;animation-duration:5s"></div>
  <div style="position:absolute;left:40px;top:280px">hyperdesk</div>
  <div id="bar"></div>
</div></body></html>
"""


def write_project(root: Path, html: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(textwrap.dedent(html).strip() + "\n")
    return root


def make_plan(project: Path, out: Path, fmt: str, keyframe: int, chunk: int) -> Path:
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    cfg = RenderConfig(format=fmt, keyframe_interval=keyframe, chunk_frames=chunk, include_audio=False)
    return Path(plan(project, cfg, out).plan_dir)


async def run_job(executors, plan_dir: Path, out: Path, store):
    from hyperdesk.farm.controller import FarmController

    events = []
    controller = FarmController(executors, store=store)
    controller.add_listener(lambda e: events.append((time.monotonic(), e)))
    t0 = time.monotonic()
    await controller.start(plan_dir, out)
    outcome = await controller.wait()
    wall = time.monotonic() - t0
    await controller.aclose()
    if outcome.state != "done":
        raise SystemExit(f"benchmark job failed: {outcome.error}")
    return wall, events


def dispatch_overheads(events, store) -> list[float]:
    started = {e.attempt_id: t for t, e in events if e.type == "attempt_started"}
    overheads = []
    for t, e in events:
        if e.type == "chunk_done":
            job = e.job_id
            rec = next(c for c in store.chunks(job) if c.index == e.chunk_index)
            worker_s = rec.result["timings"]["total_ms"] / 1000.0
            overheads.append((t - started[e.attempt_id]) - worker_s)
    return overheads


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter medium composition")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hyperdesk-bench-"))
    os.environ["HYPERDESK_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("HYPERDESK_CACHE_DIR", str(tmp / "cache"))
    shared_assets = Path(os.path.expanduser("~/.cache/hyperdesk/assets"))
    cache = Path(os.environ["HYPERDESK_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    if shared_assets.is_dir() and not (cache / "assets").exists():
        (cache / "assets").symlink_to(shared_assets, target_is_directory=True)

    from farm.sshd import SshdNode, write_key
    from hyperdesk.farm.local import LocalExecutor
    from hyperdesk.farm.ssh import SshExecutor
    from hyperdesk.store import JobStore

    store = JobStore()
    key = tmp / "client_key"
    write_key(key)
    node = SshdNode(tmp / "node", "127.0.0.2", key, name="node")
    node.start()
    results: dict = {"cpu_count": os.cpu_count()}
    try:
        small_plan = make_plan(write_project(tmp / "small", SMALL), tmp / "plan-small", "mp4", 5, 10)

        def ssh():
            return SshExecutor(node.node_config(), store, accept_fingerprint=node.fingerprint)

        # 1 + 2: the first SSH render fills the node's blob cache; the second must upload nothing.
        _, ev_first = asyncio.run(run_job([ssh()], small_plan, tmp / "o-ssh1.mp4", store))
        wall_ssh, ev_ssh = asyncio.run(run_job([ssh()], small_plan, tmp / "o-ssh2.mp4", store))
        wall_local, ev_local = asyncio.run(run_job([LocalExecutor(1)], small_plan, tmp / "o-local.mp4", store))
        up1 = next(e for _, e in ev_first if e.type == "plan_transferred")
        up2 = next(e for _, e in ev_ssh if e.type == "plan_transferred")
        oh_ssh = dispatch_overheads(ev_ssh, store)
        oh_local = dispatch_overheads(ev_local, store)
        results["dispatch_overhead_s"] = {
            "local_median": round(statistics.median(oh_local), 3), "ssh_median": round(statistics.median(oh_ssh), 3),
            "local_each": [round(x, 3) for x in oh_local], "ssh_each": [round(x, 3) for x in oh_ssh],
            "ssh_minus_local_median": round(statistics.median(oh_ssh) - statistics.median(oh_local), 3),
            "ssh_over_local_ratio": round(statistics.median(oh_ssh) / max(1e-6, statistics.median(oh_local)), 2),
            "chunks": len(oh_ssh),
        }
        results["plan_upload"] = {
            "files": up1.files_total,
            "first_render_files_uploaded": up1.files_uploaded, "first_render_bytes_uploaded": up1.bytes_uploaded,
            "second_render_files_uploaded": up2.files_uploaded, "second_render_bytes_uploaded": up2.bytes_uploaded,
            "first_transfer_s": up1.seconds, "second_check_s": up2.seconds,
        }
        results["small_job_wall_s"] = {"ssh_1_slot": round(wall_ssh, 2), "local_1_worker": round(wall_local, 2)}

        # 3: 2 local workers against 1 on a 640x360 mp4 (heavier frames, so capture dominates).
        seconds = 4 if args.quick else 8
        medium = write_project(tmp / "medium", MEDIUM.replace("DURATION", str(seconds)))
        medium_plan = make_plan(medium, tmp / "plan-medium", "mp4", 30, 60)
        frames = seconds * 30
        walls: dict[int, list[float]] = {}
        cpu: dict[int, list[float]] = {}
        for workers in (1, 2, 1, 2):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall, _ = asyncio.run(run_job([LocalExecutor(workers)], medium_plan, tmp / f"o-m{workers}.mp4", store))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU of the workers and everything they reaped (Chromium, ffmpeg), per wall second
            used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            walls.setdefault(workers, []).append(wall)
            cpu.setdefault(workers, []).append(used / wall)
        best1, best2 = min(walls[1]), min(walls[2])
        results["local_workers"] = {
            "composition": f"640x360, {frames} frames, {frames // 60} chunks, mp4",
            "one_worker_s": [round(x, 2) for x in walls[1]], "two_workers_s": [round(x, 2) for x in walls[2]],
            "speedup_2_over_1": round(best1 / best2, 2),
            "fps_1": round(frames / best1, 1), "fps_2": round(frames / best2, 1),
            "cores_busy_1": [round(x, 2) for x in cpu[1]], "cores_busy_2": [round(x, 2) for x in cpu[2]],
            "load_avg_after": os.getloadavg(),
        }
    finally:
        node.stop()
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)

    d = results["dispatch_overhead_s"]
    u = results["plan_upload"]
    w = results["local_workers"]
    print(f"per-chunk dispatch overhead (median of {d['chunks']} chunks): local {d['local_median']:.3f} s, "
          f"SSH {d['ssh_median']:.3f} s  (SSH - local = {d['ssh_minus_local_median']:+.3f} s, "
          f"x{d['ssh_over_local_ratio']})")
    print(f"plan upload: first render {u['first_render_files_uploaded']}/{u['files']} files, "
          f"{u['first_render_bytes_uploaded']} bytes; second render {u['second_render_files_uploaded']} files, "
          f"{u['second_render_bytes_uploaded']} bytes")
    print(f"local workers ({w['composition']}): 1 worker {min(w['one_worker_s']):.1f} s ({w['fps_1']} fps), "
          f"2 workers {min(w['two_workers_s']):.1f} s ({w['fps_2']} fps), speed-up x{w['speedup_2_over_1']}; "
          f"cores busy {max(w['cores_busy_1']):.2f} vs {max(w['cores_busy_2']):.2f} of {results['cpu_count']}")
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
