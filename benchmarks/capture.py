"""Render rate of the sample at 1080p30 against a bare capture loop, measured in the same run.

    .venv/bin/python benchmarks/capture.py [--frames N]

hyperdesk: the whole sample as one chunk through render_chunk (seek every frame, inject, capture
JPEG q95, stream into x264), frames/s. Baseline: the same browser binary, flags and compiled page,
BeginFrame screenshots in a loop with no seeking and no encoding. Target: ratio >= 0.8.
Also prints the peak memory of the whole render (Python, browser, ffmpeg), the CPU time per frame of
the bare loop and of the render's parts, and the ceiling those put on the ratio with this machine's
cores: a render must at least capture (the bare loop's CPU) and encode (the encoder's CPU) every
frame, so it cannot exceed cores / (bare + encoder CPU per frame) frames/s. With --experiment it also
renders with the history-dependent BeginFrame capture (FrameCapture.redraw_capture = False, not a
valid render: see _capture_beginframe) to show what the exact capture costs.
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
from _common import PeakMemory, mib, tree_cpu_seconds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "sample"


async def bare_capture_loop(plan_dir: Path, frames: int, width: int, height: int) -> tuple[float, float]:
    """frames/s of BeginFrame JPEG captures of the loaded page, nothing else, and the CPU
    milliseconds per frame of all processes (Python, Playwright's driver, the browser)."""
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
            cpu0 = tree_cpu_seconds(os.getpid())
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
            cpu_ms = (tree_cpu_seconds(os.getpid()) - cpu0) * 1000 / frames
            await browser.close()
    if got != frames:
        print(f"note: {frames - got} of {frames} bare BeginFrames returned no image (no damage)")
    return rate, cpu_ms


def measured_render(plan_dir: Path, out: Path, *, redraw_capture: bool = True):
    """render_chunk of chunk 0 with peak memory and CPU per process name."""
    import resource

    from hyperdesk.capture.frames import FrameCapture
    from hyperdesk.plan.chunk import render_chunk

    init = FrameCapture.__init__

    def patched(self, *a, **k):
        init(self, *a, **k)
        self.redraw_capture = redraw_capture

    FrameCapture.__init__ = patched
    try:
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        with PeakMemory() as mem:
            t0 = time.monotonic()
            result = render_chunk(plan_dir, 0, out)
            elapsed = time.monotonic() - t0
        self1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        FrameCapture.__init__ = init
    frames = result.frames_encoded
    by_name = mem.cpu_by_name()
    encoder = sum(v for k, v in by_name.items() if k.startswith("ffmpeg"))
    browser = sum(v for k, v in by_name.items() if not k.startswith("ffmpeg"))
    python = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime) - mem.own_cpu
    cpu = {name: 1000 * v / frames for name, v in (("browser", browser), ("encoder", encoder), ("python", python))}
    steady = frames / max(1e-6, (result.timings.capture_ms + result.timings.encode_tail_ms) / 1000)
    return result, steady, frames / elapsed, mem.peak, cpu


def main() -> None:
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300, help="frames of the sample to render (300 = all 10 s)")
    ap.add_argument("--experiment", action="store_true",
                    help="also render with the history-dependent BeginFrame capture (not a valid render)")
    args = ap.parse_args()
    subprocess_media = ROOT / "scripts" / "make_sample_media.py"
    os.system(f"{sys.executable} {subprocess_media}")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        planned = plan(SAMPLE, RenderConfig(chunk_frames=args.frames, keyframe_interval=60), tmp / "plan")
        m = planned.manifest
        print(f"sample: {m.width}x{m.height} @ {m.fps.ffmpeg()} fps, {m.total_frames} frames; measuring chunk 0 "
              f"({min(args.frames, m.total_frames)} frames) on {cores} cores")
        base, base_cpu = asyncio.run(bare_capture_loop(Path(planned.plan_dir), min(args.frames, 300), m.width, m.height))
        result, steady, whole, peak, cpu = measured_render(Path(planned.plan_dir), tmp / "chunk.mp4")
        print(f"bare capture loop (no seek, no encode): {base:6.2f} frames/s, {base_cpu:5.1f} CPU-ms/frame")
        print(f"hyperdesk render_chunk, capture+encode:  {steady:6.2f} frames/s  ratio {steady / base:.2f} (target >= 0.80)")
        print(f"hyperdesk render_chunk incl. browser start and page load: {whole:6.2f} frames/s "
              f"(boot {result.timings.browser_boot_ms / 1000:.2f} s, ready {result.timings.page_ready_ms / 1000:.2f} s)")
        print(f"capture mode {result.capture_mode}; peak memory of the render (Python + browser + ffmpeg): {mib(peak)}")
        print("render CPU-ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
              + f" (total {sum(cpu.values()):.1f})")
        total = sum(cpu.values())
        print(f"ceiling on {cores} cores with 100 % use of every core: this render's {total:.1f} CPU-ms/frame -> "
              f"{cores * 1000 / total:.1f} frames/s, ratio <= {cores * 1000 / total / base:.2f}")
        floor = base_cpu + cpu["encoder"]
        budget = cores * 1000 / (0.8 * base)
        print(f"the target needs <= {budget:.1f} CPU-ms/frame in all; the bare loop's capture + this encode alone "
              f"take {floor:.1f}, leaving {budget - floor:.1f} for seeking, the exact redraw and bookkeeping "
              f"(this render spends {total - floor:.1f} on them)")
        if args.experiment:
            _, x_steady, _, _, x_cpu = measured_render(Path(planned.plan_dir), tmp / "chunk-x.mp4", redraw_capture=False)
            x_total = sum(x_cpu.values())
            print(f"experiment, history-dependent BeginFrame capture (invalid output): {x_steady:6.2f} frames/s, "
                  f"ratio {x_steady / base:.2f}; CPU-ms/frame "
                  + ", ".join(f"{k} {v:.1f}" for k, v in x_cpu.items())
                  + f" (total {x_total:.1f}, ceiling ratio {cores * 1000 / x_total / base:.2f})")


if __name__ == "__main__":
    main()
