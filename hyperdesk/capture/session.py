"""One browser, one composition page, frames on demand (plan contract 7.2–7.3).

``await CaptureSession.open(spec, work_dir)`` performs the browser set-up of plan contract 7.2,
steps 3–9: loopback server, per-render fontconfig, the browser launch and its software-GL
assertion, the capture mode choice and request routing (``launch.py``), the runtime's init script,
the alpha set-up, navigation and readiness (``readiness.py``). ``await capture(i)`` then returns the
encoded image (JPEG or PNG bytes) of absolute frame *i* (``frames.py``).

Every failure is a ``HyperdeskError`` with a plan-contract 9.3 code: ``BROWSER_CRASHED``,
``PAGE_SCRIPT_ERROR``, ``PAGE_NOT_READY``, ``CAPTURE_TIMEOUT`` (and ``BROWSER_GPU_NOT_SOFTWARE``
from the GL assertion). ``close()`` always ends the browser.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from hyperdesk.capture.browser import BrowserInfo, find_browser
from hyperdesk.capture.fontconfig import write_fontconfig
from hyperdesk.capture.frames import FrameCapture
from hyperdesk.capture.launch import DriverHold, LaunchedBrowser, playwright_error
from hyperdesk.capture.readiness import InitScript, install_page_scripts, load_until_ready
from hyperdesk.capture.server import LoopbackServer
from hyperdesk.capture.spec import CaptureMode, PageSpec, RequestedMode, SessionWarning, Timeouts
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan

log = logging.getLogger(__name__)


class CaptureSession:
    """Use ``await CaptureSession.open(...)``; always ``await close()`` (or ``async with``)."""

    def __init__(self, spec: PageSpec, work_dir: Path, info: BrowserInfo, timeouts: Timeouts,
                 faults: FaultPlan | None = None) -> None:
        self.spec = spec
        self.work_dir = Path(work_dir)
        self.browser_info = info
        self.timeouts = timeouts
        self.faults = faults or FaultPlan()
        self.capture_mode: CaptureMode = "screenshot"
        self.browser_kind = info.kind
        self.warnings: list[SessionWarning] = []
        self.timings: dict[str, float] = {"browser_boot_ms": 0.0, "page_ready_ms": 0.0}
        self.server: LoopbackServer | None = None
        self.fontconfig_path: Path | None = None
        self.browser = LaunchedBrowser(info, spec, self.work_dir, timeouts, self.warnings)
        self.frames = FrameCapture(self.browser)
        # The first capture at a frame s > 0 renders frame s - 1 first (see capture()); an attribute
        # only so that experiments can switch it off — renders keep the default.
        self.warm_up = True
        self._warmed = False
        self._closed = False

    @property
    def browser_version(self) -> str:
        return self.browser.version

    @property
    def browser_pid(self) -> int | None:
        """The browser's main process id (Linux), for perf accounting and tests."""
        return self.browser.pid

    # ------------------------------------------------------------------------------------ open

    @classmethod
    async def open(
        cls,
        spec: PageSpec,
        work_dir: str | os.PathLike[str],
        *,
        browser: BrowserInfo | str | os.PathLike[str] | None = None,
        mode: RequestedMode = "auto",
        timeouts: Timeouts | None = None,
        init_script: InitScript | None = None,
        faults: FaultPlan | None = None,
    ) -> CaptureSession:
        """Set up browser and page (plan contract 7.2 steps 3–9) and wait for readiness.

        ``init_script`` replaces the runtime's script (a string, or a callable ``(fps, variables)``);
        only tests use it, as they use ``faults`` (``gl_renderer``: the WebGL renderer to report).
        """
        if mode not in ("auto", "beginframe", "screenshot"):
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"Unknown capture mode {mode!r}")
        if isinstance(browser, BrowserInfo):
            info = browser
        elif browser is None:
            info = find_browser()
        else:
            info = find_browser(browser)
        if mode == "beginframe" and not info.beginframe:
            raise HyperdeskError(
                "INVALID_RENDER_CONFIG",
                f"BeginFrame capture needs chromium-headless-shell, not {info.path}",
                details={"browser": info.path},
            )
        self = cls(spec, Path(work_dir), info, timeouts or Timeouts(), faults)
        try:
            await self._open(mode, init_script)
        except BaseException:
            await self.close()
            raise
        return self

    async def _open(self, mode: RequestedMode, init_script: InitScript | None) -> None:
        spec, browser = self.spec, self.browser
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "logs").mkdir(exist_ok=True)
        browser.open_console_log()

        # 3. loopback server
        self.server = LoopbackServer(spec.compiled_dir, spec.fonts_dir).start()
        # 4. fontconfig
        self.fontconfig_path = write_fontconfig(self.work_dir, spec.fonts_dir)

        # 5. launch + GL assertion (+ the capture mode's probe)
        boot0 = time.monotonic()
        await browser.start(fontconfig=self.fontconfig_path, origin=self.server.origin)
        want_bf = mode == "beginframe" or (mode == "auto" and self.browser_info.beginframe)
        await browser.launch(beginframe=want_bf)
        await browser.assert_software_gl(self.faults.gl_renderer)
        if want_bf:
            ok = await browser.beginframe_probe()
            if not ok:
                if mode == "beginframe":
                    raise HyperdeskError(
                        "CAPTURE_TIMEOUT",
                        f"The BeginFrame probe produced no image within {self.timeouts.probe_s:g} s",
                        details={"browser": self.browser_info.path},
                    )
                log.info("BeginFrame probe failed; relaunching for screenshot capture")
                await browser.shutdown()
                await browser.launch(beginframe=False)
                await browser.assert_software_gl(self.faults.gl_renderer)
                want_bf = False
        self.capture_mode = "beginframe" if want_bf else "screenshot"
        self.timings["browser_boot_ms"] = (time.monotonic() - boot0) * 1000.0

        # 6. routing
        await browser.install_routes()
        # 7. init script, 8. alpha
        await install_page_scripts(browser, init_script)

        # 9. navigate, wait for readiness
        ready0 = time.monotonic()
        await load_until_ready(browser)
        if self.capture_mode == "beginframe":
            # One frame of the ready page, always: whether the load's pumped frames happened to
            # draw it is timing-dependent, and raster history reaches the first capture.
            await browser.settle_pump(self.timeouts.frame_s)
            await browser.guard(browser.begin_frame(None), self.timeouts.frame_s, "the first frame of the ready page")
        self.timings["page_ready_ms"] = (time.monotonic() - ready0) * 1000.0

    # ------------------------------------------------------------------------ frames and evaluation

    async def duration(self) -> float:
        v = await self.evaluate("() => window.__hf.duration")
        return float(v)

    async def evaluate(self, js: str, arg: Any = None) -> Any:
        browser = self.browser
        try:
            return await browser.guard(browser.page.evaluate(js, arg), self.timeouts.frame_s, "an evaluation",
                                       pump=True, pump_delay=self.timeouts.capture_pump_delay_s)
        except playwright_error() as e:
            raise HyperdeskError("PAGE_SCRIPT_ERROR", f"Page evaluation failed: {str(e).splitlines()[0]}",
                                 details={"message": str(e), "work_dir": str(self.work_dir)}) from e

    async def capture(self, frame_index: int) -> bytes:
        """Seek to absolute frame *frame_index*, inject video frames, return the encoded image.

        The first capture of a session at a frame s > 0 first renders frame s - 1 without returning
        it (``warm_up``), so that raster state carried over from the previous frame is the same as in
        a render that came from s - 1. The one such carry-over measured (a shrinking layer drawn in
        the previous frame's tiling scale) no longer reaches a capture (``FrameCapture._capture_beginframe``):
        without the warm-up, chunks starting at 3, 5, 7, 9 and 11 matched the full render in both
        modes. It is kept as a guard (one extra frame per chunk).
        """
        if self._closed:
            raise self.browser.crashed("a capture on a closed session")
        if self.warm_up and not self._warmed:
            self._warmed = True
            if frame_index > 0:
                await self.frames.render(frame_index - 1)
        return await self.frames.capture(frame_index)

    def next_chunk(self) -> None:
        """A warm worker's next chunk on this page: its first capture warms up like a new session's."""
        if self._closed:
            raise self.browser.crashed("a chunk on a closed session")
        self._warmed = False
        self.frames.new_run()

    async def preroll(self, start: int, end: int) -> None:
        """Seek frames [start, end) in order without drawing or capturing them (plan-level pre-roll:
        a history-dependent page then reaches the next frame in the state a one-process render
        leaves it in). Must come before the first capture; frame *end* is then warmed up as usual."""
        if self._closed:
            raise self.browser.crashed("a pre-roll on a closed session")
        if self._warmed:
            raise HyperdeskError("INTERNAL_ERROR", "a pre-roll after the first capture of a session")
        if end > start:
            await self.frames.preroll(range(start, end))

    # ------------------------------------------------------------------------ close

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.browser.shutdown()
        finally:
            await self.browser.stop()
            if self.server is not None:
                self.server.close()

    async def __aenter__(self) -> CaptureSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# What a caller needs to open a session (PageSpec and Timeouts are defined in spec.py).
__all__ = ["CaptureSession", "DriverHold", "PageSpec", "Timeouts"]
