"""The WebGL vendor and renderer a browser reports with hyperdesk's launch flags (for `doctor`)."""
from __future__ import annotations

import os
import tempfile

from hyperdesk.capture.browser import BrowserInfo
from hyperdesk.capture.flags import chromium_flags
from hyperdesk.capture.launch import GL_PROBE_JS


async def read_gl_renderer(info: BrowserInfo) -> dict:
    """Launch the browser as a render would (software GL flags) and read WEBGL_debug_renderer_info."""
    # Lazy: Playwright takes ~0.35 s to import, and `doctor --no-gl` never needs it.
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="hyperdesk-gl-") as profile:
        async with async_playwright() as pw:
            ctx = await pw.chromium.launch_persistent_context(
                profile, executable_path=str(info.path), headless=True,
                args=chromium_flags(320, 180, beginframe=False), env=dict(os.environ))
            try:
                page = ctx.pages[0] if ctx.pages else await ctx.new_page()
                gl = await page.evaluate(GL_PROBE_JS)
            finally:
                await ctx.close()
    if not gl:
        return {"vendor": None, "renderer": None, "software": False}
    renderer = gl.get("renderer") or ""
    return {"vendor": gl.get("vendor"), "renderer": renderer, "software": "swiftshader" in renderer.lower()}
