"""`hyperdesk render` on one machine: plan (cached), local worker processes, assemble.

Each chunk is a `hyperdesk render-chunk --json` subprocess in its own process group, so the same
pipeline runs here as on a render node; progress comes back as JSON events.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Optional

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.protocol import parse_event


class ProgressBar:
    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.done_by_chunk: dict[int, int] = {}
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.enabled = enabled
        self._last = 0.0

    def update(self, chunk: int, done: int, force: bool = False) -> None:
        self.done_by_chunk[chunk] = done
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        done_all = sum(self.done_by_chunk.values())
        elapsed = max(1e-6, now - self.t0)
        rate = done_all / elapsed
        eta = (self.total - done_all) / rate if rate > 0 else float("inf")
        width = 30
        filled = int(width * done_all / max(1, self.total))
        eta_txt = f"{eta:5.0f}s" if eta != float("inf") else "    ?"
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done_all}/{self.total} frames  {rate:5.1f} fps  ETA {eta_txt}"
        if self.tty:
            sys.stderr.write("\r" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


async def _run_chunk(plan_dir: Path, index: int, out: Path, attempt: str, bar: ProgressBar,
                     json_events: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "hyperdesk", "render-chunk", str(plan_dir), str(index), "-o", str(out),
           "--json", "--attempt-id", attempt]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    final: Any = None
    stderr_tail: list[bytes] = []

    async def drain_stderr() -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            stderr_tail.append(line)
            del stderr_tail[:-40]

    drain = asyncio.create_task(drain_stderr())
    try:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.strip()
            if not line:
                continue
            event = parse_event(line)
            if json_events:
                print(json.dumps({"chunk_index": index, **event.model_dump(mode="json")}, sort_keys=True), flush=True)
            if event.type == "progress":
                bar.update(index, event.frames_done)
            elif event.type in ("done", "failed"):
                final = event
        await proc.wait()
        await drain
    except asyncio.CancelledError:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
                await asyncio.wait_for(proc.wait(), 5)
            except (ProcessLookupError, asyncio.TimeoutError):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        raise
    if final is None:
        tail = b"".join(stderr_tail).decode(errors="replace")[-2000:]
        raise HyperdeskError("WORKER_LOST", f"chunk {index}: the worker exited ({proc.returncode}) without a result",
                             details={"chunk_index": index, "log_tail": tail})
    if final.type == "failed":
        raise final.to_error()
    return final.result.model_dump(mode="json")


async def _render_all(plan_dir: Path, chunk_count: int, chunks_dir: Path, ext: str, workers: int,
                      bar: ProgressBar, json_events: bool) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(workers)
    job = secrets.token_hex(3)

    async def one(index: int) -> dict[str, Any]:
        async with sem:
            out = chunks_dir / f"chunk_{index:04d}{ext}"
            for attempt in (1, 2):
                try:
                    return await _run_chunk(plan_dir, index, out, f"{job}-c{index}-a{attempt}", bar, json_events)
                except HyperdeskError as err:
                    # One local retry for transient failures (a crashed browser, a full disk that cleared).
                    if not err.retryable or attempt == 2:
                        raise
                    bar.update(index, 0, force=True)
            raise AssertionError("unreachable")

    tasks = [asyncio.create_task(one(i)) for i in range(chunk_count)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def render_locally(composition: Path, config, out: Path, *, workers: int, json_events: bool = False,
                   keep_chunks: bool = False) -> int:
    from hyperdesk.plan.assemble import assemble
    from hyperdesk.plan.cache import cached_plan
    from hyperdesk.plan.config import cache_root
    from hyperdesk.plan.env import local_worker_env
    from hyperdesk.plan.models import ChunkResult

    t0 = time.monotonic()
    say = (lambda *a: print(*a, file=sys.stderr)) if not json_events else (lambda *a: None)
    env = local_worker_env()
    say(f"planning {composition} …")
    planned = cached_plan(composition, config, env=env, exclude=(out,))
    m = planned.manifest
    plan_s = time.monotonic() - t0
    say(f"plan {m.plan_hash[:12]} ({'reused' if planned.reused else 'new'}, {plan_s:.1f} s): "
        f"{m.width}x{m.height} @ {m.fps.ffmpeg()} fps, {m.total_frames} frames in {m.chunk_count} chunks, "
        f"{workers} worker{'s' if workers != 1 else ''}")
    for w in m.warnings:
        say(f"warning {w.code}: {w.message}")
    if json_events:
        print(json.dumps({"event": "planned", "plan_hash": m.plan_hash, "plan_dir": planned.plan_dir,
                          "reused": planned.reused, "total_frames": m.total_frames, "chunk_count": m.chunk_count,
                          "plan_seconds": round(plan_s, 3)}), flush=True)
    chunks_dir = cache_root() / "renders" / f"{m.plan_hash[:16]}-{secrets.token_hex(4)}"
    chunks_dir.mkdir(parents=True)
    ext = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "png-sequence": ""}[m.format]
    bar = ProgressBar(m.total_frames, enabled=not json_events)
    try:
        raw_results = asyncio.run(_render_all(Path(planned.plan_dir), m.chunk_count, chunks_dir, ext, workers, bar,
                                              json_events))
    except HyperdeskError as err:
        bar.close()
        err.details.setdefault("chunks_dir", str(chunks_dir))
        raise
    except KeyboardInterrupt:
        bar.close()
        raise HyperdeskError("CANCELLED", "the render was cancelled", details={"chunks_dir": str(chunks_dir)}) from None
    bar.update(-1, 0, force=True)
    bar.close()
    results = [ChunkResult.model_validate(r) for r in raw_results]
    say("assembling and verifying …")
    assembled = assemble(planned.plan_dir, results, out)
    if not keep_chunks:
        shutil.rmtree(chunks_dir, ignore_errors=True)
    total_s = time.monotonic() - t0
    modes = ", ".join(assembled.capture_modes)
    if json_events:
        print(json.dumps({"event": "assembled", "result": assembled.model_dump(mode="json"),
                          "seconds": round(total_s, 3)}, sort_keys=True), flush=True)
    else:
        print(f"rendered {assembled.frames} frames ({assembled.duration_s:.3f} s) in {total_s:.1f} s "
              f"({assembled.frames / max(total_s, 1e-6):.1f} fps), capture {modes}")
        print(f"output {assembled.output_path}")
        print(f"sha256 {assembled.sha256}")
    return 0
