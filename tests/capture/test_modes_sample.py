"""Checklist line 65 on the bundled sample: BeginFrame and screenshot capture give the same bytes.

The sample is planned at its full 1920x1080 and captured with CaptureSession in both modes. The
frames are a spread over the whole 10 s plus a consecutive run in 4-8 s, where the `.orb` layer
(CSS keyframes, translateY + scale) shrinks: a shrinking composited layer is where BeginFrame's
own screenshot used to differ (the first draw after a scale decrease is laid out in the previous
frame's larger tiling). The frames are not consecutive, so they also show that a frame does not
depend on which frame the session rendered before it.
"""
from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from hyperdesk.capture.session import CaptureSession, PageSpec
from hyperdesk.plan.verify import load_plan

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample"

# every 16th frame of 0-299, and 150-154 (the orb shrinks from 4 s to 8 s)
FRAMES = sorted(set(range(0, 300, 16)) | set(range(150, 155)))


def _spec(plan_dir: Path) -> PageSpec:
    plan_dir = Path(plan_dir)
    loaded = load_plan(plan_dir)
    cfg = loaded.encoder
    return PageSpec(
        compiled_dir=plan_dir / "compiled", fonts_dir=plan_dir / "fonts", plan_dir=plan_dir,
        width=cfg.width, height=cfg.height, fps=cfg.fps, variables=dict(cfg.variables),
        capture_format=cfg.capture_format, jpeg_quality=cfg.jpeg_quality, png_fast=cfg.png_fast,
        transparent=cfg.transparent_background, videos=list(loaded.videos.videos),
    )


async def _capture(spec: PageSpec, work: Path, browser, mode: str) -> tuple[str, list[str]]:
    s = await CaptureSession.open(spec, work, browser=browser, mode=mode)
    try:
        return s.capture_mode, [hashlib.sha256(await s.capture(i)).hexdigest() for i in FRAMES]
    finally:
        await s.close()


def test_sample_frames_identical_in_beginframe_and_screenshot_mode(tmp_path, shell):
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    subprocess.run([sys.executable, str(REPO / "scripts" / "make_sample_media.py")], check=True)
    planned = plan(SAMPLE, RenderConfig(), tmp_path / "plan")
    spec = _spec(planned.plan_dir)
    assert (spec.width, spec.height) == (1920, 1080)
    bf_mode, bf = asyncio.run(_capture(spec, tmp_path / "bf", shell, "beginframe"))
    ss_mode, ss = asyncio.run(_capture(spec, tmp_path / "ss", shell, "screenshot"))
    assert (bf_mode, ss_mode) == ("beginframe", "screenshot")
    assert len(set(bf)) == len(FRAMES), "every compared frame differs from the others"
    diff = [f for f, a, b in zip(FRAMES, bf, ss) if a != b]
    assert not diff, f"frames {diff} differ between BeginFrame and screenshot capture"
