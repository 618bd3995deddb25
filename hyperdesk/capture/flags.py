"""Chromium command-line flags, composition contract 12.3.

Playwright adds its own automation defaults (``--headless``, ``--no-sandbox`` when running without
the sandbox, ...); these lists are what hyperdesk adds on top, in the contract's order.
"""
from __future__ import annotations

SOFTWARE_GL = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
NO_GPU_COMPOSITING = ["--disable-gpu-compositing"]
TEXT_AND_COLOUR = ["--font-render-hinting=none", "--force-color-profile=srgb", "--lang=en-US"]
QUIET = [
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-dev-shm-usage",
]
BEGINFRAME = [
    "--deterministic-mode",
    "--enable-begin-frame-control",
    "--disable-new-content-rendering-timeout",
    "--run-all-compositor-stages-before-draw",
    "--disable-threaded-animation",
    "--disable-threaded-scrolling",
    "--disable-checker-imaging",
    "--disable-image-animation-resync",
]

# hyperdesk addition, both modes: partial raster re-rasters only the invalidated part of a tile,
# so a tile's pixels depended on which frames were drawn before (measured: a transformed element
# rendered differently at the same time depending on the order of the previous seeks).
DETERMINISM = ["--disable-partial-raster"]

# hyperdesk addition for screenshot mode (BEGINFRAME already has it): with threaded animation a
# transform/opacity animation that ran on the compositor before the first seek paused it can stay
# on screen at its compositor-side time, so the first captured frame differed between launches
# (measured on chromium-headless-shell 156, about 1 launch in 2). Main-thread animation fixes it.
SCREENSHOT_EXTRA = ["--disable-threaded-animation"]


def window_size_flag(width: int, height: int) -> str:
    return f"--window-size={int(width)},{int(height)}"


def chromium_flags(width: int, height: int, *, beginframe: bool) -> list[str]:
    """All hyperdesk flags for one launch; ``beginframe`` only for the headless shell in
    BeginFrame capture mode (under begin-frame control screenshots only come from beginFrame)."""
    flags = SOFTWARE_GL + NO_GPU_COMPOSITING + TEXT_AND_COLOUR + QUIET + [window_size_flag(width, height)] + DETERMINISM
    flags += BEGINFRAME if beginframe else SCREENSHOT_EXTRA
    return flags
