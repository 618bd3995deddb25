"""render_still(): one frame of a planDir as a PNG, for a thumbnail or a preview of a frame.

The same page, runtime and capture as a chunk (so the still is the frame a render gives), without
an encoder; PNG whatever the plan's capture format, because a still is looked at, not encoded.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

from hyperdesk.capture.browser import find_browser
from hyperdesk.capture.session import CaptureSession, PageSpec
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.plan.aio import run_coroutine
from hyperdesk.plan.chunk import applied_runtime_env
from hyperdesk.plan.timelines import page_timeouts
from hyperdesk.plan.verify import load_plan

log = logging.getLogger("hyperdesk.plan")


def render_still(plan_dir: Path, frame: int, out: Path, *, faults: FaultPlan | None = None) -> Path:
    """Write frame `frame` of the plan to `out` (PNG); the typed errors of a chunk render."""
    loaded = load_plan(plan_dir)
    total = loaded.manifest.total_frames
    if not 0 <= frame < total:
        raise HyperdeskError("CHUNK_INDEX_OUT_OF_RANGE", f"frame {frame} is outside 0..{total - 1}",
                             details={"frame": frame, "total_frames": total})
    cfg = loaded.encoder
    spec = PageSpec(compiled_dir=plan_dir / "compiled", fonts_dir=plan_dir / "fonts", plan_dir=plan_dir,
                    width=cfg.width, height=cfg.height, fps=cfg.fps, variables=dict(cfg.variables),
                    capture_format="png", jpeg_quality=cfg.jpeg_quality, png_fast=True,
                    transparent=cfg.transparent_background, videos=list(loaded.videos.videos))
    work = out.parent / f".{out.name}.work.{os.getpid()}-{secrets.token_hex(3)}"
    work.mkdir(parents=True)

    async def capture() -> bytes:
        # A browser that fails (BROWSER_CRASHED: it exited, or its surface copies stayed empty, which a
        # full CI run met on a page's first frame) gets one successor, as a chunk's attempt gets a retry.
        for attempt in (1, 2):
            folder = work / f"attempt{attempt}"
            (folder / "logs").mkdir(parents=True)
            session = await CaptureSession.open(spec, folder, browser=find_browser(), faults=faults,
                                                timeouts=page_timeouts(plan_dir / "compiled"))
            try:
                return await session.capture(frame)
            except HyperdeskError as err:
                if attempt == 2 or err.code != "BROWSER_CRASHED":
                    raise
                log.info("the still of frame %d: %s; once more on a new browser", frame, err)
            finally:
                await session.close()
        raise AssertionError("unreachable")

    try:
        with applied_runtime_env(cfg.runtime_env or {}):
            data = run_coroutine(capture())
        partial = out.parent / f".{out.name}.partial"
        partial.write_bytes(data)
        os.replace(partial, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
