"""Render rate of the sample at 1080p30 against a bare capture loop, measured in the same run.

    .venv/bin/python benchmarks/capture.py [--frames N]

hyperdesk: the whole sample as one chunk through render_chunk (seek every frame, inject, capture
JPEG q95, stream into x264), frames/s. Baseline: the same browser binary, flags and compiled page,
BeginFrame screenshots in a loop with no seeking and no encoding. Target: ratio >= 0.8.
Also prints the peak memory of the whole render (Python, browser, ffmpeg).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakMemory, mib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample"


async def bare_capture_loop(plan_dir: Path, frames: int, width: int, height: int) -> float:
    """frames/s of BeginFrame JPEG captures of the loaded page, nothing else."""
    from playwright.async_api import async_playwright

    from hyperdesk.capture.browser import find_browser
    from hyperdesk.capture.flags import chromium_flags
    from hyperdesk.capture.fontconfig import write_fontconfig
    from hyperdesk.capture.server import LoopbackServer

    info = find_browser()
    beginframe = info.kind == "chromium-headless-shell"
    with tempfile.TemporaryDirectory() as work, LoopbackServer(plan_dir / "compiled", plan_dir / "fonts") as server:
        fc = write_fontconfig(Path(work), plan_dir / "fonts")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(info.path), headless=True,
                                               args=chromium_flags(width, height, beginframe=beginframe),
                                               env={**os.environ, "FONTCONFIG_FILE": str(fc)})
            page = await browser.new_page(viewport={"width": width, "height": height})
            cdp = await page.context.new_cdp_session(page)
            ticks = time.monotonic() * 1000
            interval = 1000 / 30
            if beginframe:
                nav = asyncio.ensure_future(page.goto(server.origin + "/index.html", wait_until="load"))
                while not nav.done():
                    ticks += interval
                    await cdp.send("HeadlessExperimental.beginFrame", {"frameTimeTicks": ticks, "interval": interval})
                await nav
            else:
                await page.goto(server.origin + "/index.html", wait_until="load")
            got = 0
            t0 = time.monotonic()
            for _ in range(frames):
                if beginframe:
                    ticks += interval
                    r = await cdp.send("HeadlessExperimental.beginFrame", {
                        "frameTimeTicks": ticks, "interval": interval,
                        "screenshot": {"format": "jpeg", "quality": 95}})
                    data = r.get("screenshotData")
                else:
                    r = await cdp.send("Page.captureScreenshot", {"format": "jpeg", "quality": 95,
                                                                 "optimizeForSpeed": True})
                    data = r.get("data")
                if data:
                    got += len(base64.b64decode(data)) > 0
            rate = frames / (time.monotonic() - t0)
            await browser.close()
    return rate


def main() -> None:
    from hyperdesk.plan import RenderConfig, plan, render_chunk

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300, help="frames of the sample to render (300 = all 10 s)")
    args = ap.parse_args()
    subprocess_media = ROOT / "scripts" / "make_sample_media.py"
    os.system(f"{sys.executable} {subprocess_media}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        planned = plan(SAMPLE, RenderConfig(chunk_frames=args.frames, keyframe_interval=60), tmp / "plan")
        m = planned.manifest
        print(f"sample: {m.width}x{m.height} @ {m.fps.ffmpeg()} fps, {m.total_frames} frames; measuring chunk 0 "
              f"({min(args.frames, m.total_frames)} frames)")
        base = asyncio.run(bare_capture_loop(Path(planned.plan_dir), min(args.frames, 300), m.width, m.height))
        with PeakMemory() as mem:
            t0 = time.monotonic()
            result = render_chunk(planned.plan_dir, 0, tmp / "chunk.mp4")
            elapsed = time.monotonic() - t0
        frames = result.frames_encoded
        steady = frames / max(1e-6, (result.timings.capture_ms + result.timings.encode_tail_ms) / 1000)
        whole = frames / elapsed
        print(f"bare capture loop (no seek, no encode): {base:6.2f} frames/s")
        print(f"hyperdesk render_chunk, capture+encode:  {steady:6.2f} frames/s  ratio {steady / base:.2f} (target >= 0.80)")
        print(f"hyperdesk render_chunk incl. browser start and page load: {whole:6.2f} frames/s "
              f"(boot {result.timings.browser_boot_ms / 1000:.2f} s, ready {result.timings.page_ready_ms / 1000:.2f} s)")
        print(f"capture mode {result.capture_mode}; peak memory of the render (Python + browser + ffmpeg): {mib(mem.peak)}")


if __name__ == "__main__":
    main()
