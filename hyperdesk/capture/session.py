"""One browser, one composition page, frames on demand (plan contract 7.2–7.3).

``await CaptureSession.open(spec, work_dir)`` performs the browser set-up of plan contract 7.2,
steps 3–9: loopback server, per-render fontconfig, Chromium launch (flags of composition contract
12.3, ``FONTCONFIG_FILE``, a profile in ``<work>/profile``), the software-GL assertion, the capture
mode choice, a context with the render's viewport/locale/time zone, request routing, the runtime's
init script, the alpha set-up, navigation and readiness. ``await capture(i)`` then returns the
encoded image (JPEG or PNG bytes) of absolute frame *i*: seek, video-frame injection, capture.

Every failure is a ``HyperdeskError`` with a plan-contract 9.3 code: ``BROWSER_CRASHED``,
``PAGE_SCRIPT_ERROR``, ``PAGE_NOT_READY``, ``CAPTURE_TIMEOUT`` (and ``BROWSER_GPU_NOT_SOFTWARE``
from the GL assertion). ``close()`` always ends the browser.
"""
from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from collections.abc import Awaitable, Callable

from hyperdesk.capture.browser import BrowserInfo, find_browser, record_browser_version
from hyperdesk.capture.flags import chromium_flags
from hyperdesk.capture.fontconfig import write_fontconfig
from hyperdesk.capture.server import LoopbackServer
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps, VideoEntry

log = logging.getLogger(__name__)

CaptureMode = Literal["beginframe", "screenshot"]
ENV_TEST_GL_RENDERER = "HYPERDESK_TEST_GL_RENDERER"

EXPECTED_GL_VENDOR = "Google Inc. (Google)"

# Only the page's own backgrounds are cleared: a composition root (or any other composition element)
# that paints a background keeps it, so e.g. an opaque root stays opaque in a png-sequence.
TRANSPARENT_CSS = (
    "html, body { background: transparent !important; }"
)

# Page warnings (window.__hd.warnings) that only the page can see and that the worker reports in
# its results. The others (e.g. START_REFERENCE_MISSING) are reported by the compiler already.
FORWARDED_PAGE_WARNINGS = ("TIMELINE_NOT_REGISTERED",)


class SessionWarning(dict):
    """A warning of the session: a dict (``code``, ``message``, ``url``) whose keys also read as
    attributes, so callers may use either ``w["code"]`` or ``w.code``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

_GL_PROBE_JS = """() => {
  const c = document.createElement('canvas');
  let gl = null;
  try { gl = c.getContext('webgl') || c.getContext('experimental-webgl'); } catch (e) { gl = null; }
  if (!gl) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  if (!ext) return {vendor: null, renderer: null};
  return {vendor: gl.getParameter(ext.UNMASKED_VENDOR_WEBGL), renderer: gl.getParameter(ext.UNMASKED_RENDERER_WEBGL)};
}"""

# Installed after the runtime: forces transparent page backgrounds for alpha formats (7.2 step 8).
_ALPHA_INIT_JS = """(() => {
  if (window.top !== window) return;
  const css = %s;
  const add = () => {
    const s = document.createElement('style');
    s.setAttribute('data-hd-alpha', '');
    s.textContent = css;
    (document.head || document.documentElement).appendChild(s);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', add, {once: true});
  else add();
})();"""

_READY_JS = """(seen) => {
  const hf = window.__hf, hd = window.__hd;
  const errs = (hd && Array.isArray(hd.errors)) ? hd.errors : [];
  return {ready: !!(hf && hf.ready === true), errors: errs.slice(seen).map(e => ({
    message: String((e && e.message) !== undefined ? e.message : e),
    source: (e && e.source !== undefined) ? String(e.source) : null}))};
}"""

_STATE_JS = """() => {
  try {
    const hd = window.__hd;
    const st = (hd && typeof hd.state === 'function') ? hd.state() : null;
    return JSON.parse(JSON.stringify({state: st, hf: !!window.__hf, readyState: document.readyState}));
  } catch (e) { return {state: null, error: String(e), readyState: document.readyState}; }
}"""

_SEEK_JS = """async ([t, seen]) => {
  await window.__hf.seek(t);
  const hd = window.__hd;
  let videos = [];
  if (hd) {
    const f = hd.activeVideos || hd.videoFrames;
    if (typeof f === 'function') videos = (await f.call(hd, t)) || [];
  }
  const errs = (hd && Array.isArray(hd.errors)) ? hd.errors : [];
  return {videos: videos.map(v => ({mediaId: String(v.mediaId), active: !!v.active})),
          errors: errs.slice(seen).map(e => ({
            message: String((e && e.message) !== undefined ? e.message : e),
            source: (e && e.source !== undefined) ? String(e.source) : null}))};
}"""

_PAGE_WARNINGS_JS = """(codes) => {
  const hd = window.__hd;
  const list = (hd && Array.isArray(hd.warnings)) ? hd.warnings : [];
  return list.filter(w => w && codes.includes(w.code)).map(w => ({code: String(w.code), message: String(w.message)}));
}"""

_SYNC_JS = {
    1: "new Promise(r => requestAnimationFrame(() => r(1)))",
    2: "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))",
}

_INJECT_JS = """async ([items, t]) => {
  const hd = window.__hd;
  for (const [id, uri] of items) await hd.setVideoFrame(id, uri);
  if (typeof hd.afterVideoInjection === 'function') await hd.afterVideoInjection(t);
}"""


@dataclass
class PageSpec:
    compiled_dir: Path
    fonts_dir: Path
    plan_dir: Path
    width: int
    height: int
    fps: Fps
    variables: dict = field(default_factory=dict)
    capture_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = 95
    png_fast: bool = True
    transparent: bool = False
    videos: list[VideoEntry] = field(default_factory=list)


@dataclass
class Timeouts:
    """Contract time limits; tests shorten them."""

    navigation_s: float = 60.0
    ready_s: float = 45.0
    ready_poll_s: float = 0.1
    frame_s: float = 30.0
    probe_s: float = 2.0
    gl_check_s: float = 30.0
    launch_s: float = 60.0
    close_s: float = 10.0
    pump_s: float = 0.016  # BeginFrame pumping cadence while the page loads
    # During a frame step pumping starts only when an operation is stuck this long: a pumped frame
    # renders whatever half-done state the page is in, and raster history can reach later frames.
    capture_pump_delay_s: float = 1.0
    # BeginFrame mode: how long to wait for the redraw capture after a BeginFrame before sending the
    # next one (doubling up to redraw_poll_max_s); see CaptureSession._capture_beginframe.
    redraw_poll_s: float = 0.005
    redraw_poll_max_s: float = 0.05
    # ... and after how long an unanswered redraw capture is asked again (doubling). A frame's
    # capture normally answers within 2 BeginFrames (~20 ms); under load (an encoder on the same
    # cores) a request was seen to stay unanswered until re-asked, which cost 5.7 s at 5 s here.
    redraw_retry_s: float = 0.5
    # How long the page waits for unregistered timelines before it goes ahead without them (7.3
    # item 3, the root's included). None: derived from ready_s, so that the wait ends before the
    # readiness limit (45 s -> 40 s; a test's 3 s -> 2.25 s).
    timeline_wait_s: float | None = None

    def page_timeline_wait_s(self) -> float:
        if self.timeline_wait_s is not None:
            return max(0.0, float(self.timeline_wait_s))
        margin = min(5.0, max(0.5, 0.25 * self.ready_s))
        return max(0.0, min(45.0, self.ready_s - margin))


class _Dead(Exception):
    pass


def _pw_errors() -> tuple[type[BaseException], ...]:
    from playwright.async_api import Error as PwError

    return (PwError,)


def _is_closed_error(exc: BaseException) -> bool:
    try:
        from playwright._impl._errors import TargetClosedError

        if isinstance(exc, TargetClosedError):
            return True
    except ImportError:  # pragma: no cover
        pass
    msg = str(exc).lower()
    return any(s in msg for s in (
        "target closed", "has been closed", "target crashed", "page crashed", "browser closed",
        "connection closed", "browser has disconnected", "websocket closed", "session closed",
        "not connected", "target page, context or browser",
    ))


def _runtime_init_script(fps: Fps, variables: dict, timeline_wait_s: float | None = None) -> str:
    """Call ``hyperdesk.runtime.init_script`` with whichever signature it has:
    ``(fps_num, fps_den, variables)`` or ``(fps: Fps, variables)``; the timeline wait is passed
    when the runtime takes it."""
    from hyperdesk import runtime

    fn = getattr(runtime, "init_script", None)
    if fn is None:
        raise HyperdeskError("INTERNAL_ERROR", "hyperdesk.runtime.init_script is missing")
    try:
        all_params = inspect.signature(fn).parameters
        params = [p for p in all_params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # pragma: no cover
        all_params, params = {}, []
    kw = {}
    if timeline_wait_s is not None and "timeline_wait_ms" in all_params:
        kw["timeline_wait_ms"] = round(timeline_wait_s * 1000.0, 3)
    if len(params) >= 3:
        return fn(fps.num, fps.den, variables, **kw)
    return fn(fps, variables, **kw)


def video_frame_number(entry: VideoEntry, t: float) -> int | None:
    """Composition contract 11.1 lookup: the 1-based frame file number for time *t*, or None."""
    local = t - entry.start_s
    if local < 0 or entry.frame_count <= 0:
        return None
    rate = entry.playback_rate
    if entry.loop and rate > 0:
        length = (entry.source.duration_s - entry.media_start_s) / rate
        if length > 0 and local >= length:
            local = math.fmod(local, length)
    k = math.floor(local * rate * entry.extraction_fps.value + 1e-9)
    if k >= entry.frame_count:
        k = entry.frame_count - 1
    if k < 0:
        k = 0
    return k + 1


def _find_browser_pids(marker: str) -> list[int]:
    """Processes whose command line contains *marker* (our unique profile dir); Linux only."""
    pids: list[int] = []
    if not sys.platform.startswith("linux"):
        return pids
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    needle = marker.encode()
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle in cmd:
            pids.append(int(name))
    return sorted(pids)


class CaptureSession:
    """Use ``await CaptureSession.open(...)``; always ``await close()`` (or ``async with``)."""

    def __init__(self, spec: PageSpec, work_dir: Path, info: BrowserInfo, timeouts: Timeouts) -> None:
        self.spec = spec
        self.work_dir = Path(work_dir)
        self.browser_info = info
        self.timeouts = timeouts
        self.capture_mode: CaptureMode = "screenshot"
        self.browser_kind = info.kind
        self.browser_version: str = ""
        self.warnings: list[dict[str, Any]] = []
        self.timings: dict[str, float] = {"browser_boot_ms": 0.0, "page_ready_ms": 0.0}
        self.server: LoopbackServer | None = None
        self.fontconfig_path: Path | None = None
        self.profile_dir = self.work_dir / "profile"
        self._pw = None
        self._context = None
        self._page = None
        self._cdp = None
        self._dead: asyncio.Future | None = None
        self._dead_reason = ""
        self._closing = False
        self._closed = False
        self._page_errors: list[dict[str, Any]] = []
        self._page_errors_seen = 0
        self._hd_errors_seen = 0
        self._blocked_urls: set[str] = set()
        self._tick_base_ms = 0.0
        self._tick_k = 0
        self._interval_ms = 1000.0 * spec.fps.den / spec.fps.num
        self._pump_task: asyncio.Task | None = None
        self._last_image: bytes | None = None
        self._frames_captured = 0
        self._videos = {v.media_id: v for v in spec.videos}
        self._video_uri_cache: dict[str, tuple[str, str]] = {}
        self._console = None
        # Determinism measures (see capture() and _frame_sync()); attributes only so that
        # experiments can switch them off — renders keep the defaults.
        self.warm_up = True
        self.frame_sync = True
        self.redraw_capture = True
        self.frame_sync_depth = 1
        self._warmed = False
        self._sync_world: int | None = None

    # ------------------------------------------------------------------------------------ open

    @classmethod
    async def open(
        cls,
        spec: PageSpec,
        work_dir: str | os.PathLike[str],
        *,
        browser: BrowserInfo | str | os.PathLike[str] | None = None,
        mode: Literal["auto", "beginframe", "screenshot"] = "auto",
        timeouts: Timeouts | None = None,
        init_script: str | Callable[[Fps, dict], str] | None = None,
    ) -> CaptureSession:
        """Set up browser and page (plan contract 7.2 steps 3–9) and wait for readiness.

        ``init_script`` replaces the runtime's script (a string, or a callable ``(fps, variables)``);
        only tests use it.
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
        self = cls(spec, Path(work_dir), info, timeouts or Timeouts())
        try:
            await self._open(mode, init_script)
        except BaseException:
            await self.close()
            raise
        return self

    async def _open(self, mode: str, init_script: Any) -> None:
        spec = self.spec
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "logs").mkdir(exist_ok=True)
        self._console = open(self.work_dir / "logs" / "browser-console.log", "a", encoding="utf-8", errors="replace")

        # 3. loopback server
        self.server = LoopbackServer(spec.compiled_dir, spec.fonts_dir).start()
        # 4. fontconfig
        self.fontconfig_path = write_fontconfig(self.work_dir, spec.fonts_dir)

        # 5. launch + GL assertion (+ the capture mode's probe)
        boot0 = time.monotonic()
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        want_bf = mode == "beginframe" or (mode == "auto" and self.browser_info.beginframe)
        await self._launch(beginframe=want_bf)
        await self._gl_assertion()
        if want_bf:
            ok = await self._beginframe_probe()
            if not ok:
                if mode == "beginframe":
                    raise HyperdeskError(
                        "CAPTURE_TIMEOUT",
                        f"The BeginFrame probe produced no image within {self.timeouts.probe_s:g} s",
                        details={"browser": self.browser_info.path},
                    )
                log.info("BeginFrame probe failed; relaunching for screenshot capture")
                await self._shutdown_browser()
                await self._launch(beginframe=False)
                await self._gl_assertion()
                want_bf = False
        self.capture_mode = "beginframe" if want_bf else "screenshot"
        self.timings["browser_boot_ms"] = (time.monotonic() - boot0) * 1000.0

        # 6. routing
        ctx = self._context
        await ctx.route("**/*", self._route)
        try:
            await ctx.route_web_socket(lambda url: True, self._route_ws)
        except Exception:  # pragma: no cover - older Playwright
            pass
        # 7. init script
        if init_script is None:
            script = _runtime_init_script(spec.fps, dict(spec.variables), self.timeouts.page_timeline_wait_s())
        elif callable(init_script):
            script = init_script(spec.fps, dict(spec.variables))
        else:
            script = str(init_script)
        await ctx.add_init_script(script=script)
        # 8. alpha
        if spec.transparent:
            await self._guard(self._cdp.send("Emulation.setDefaultBackgroundColorOverride",
                                             {"color": {"r": 0, "g": 0, "b": 0, "a": 0}}), self.timeouts.frame_s, "alpha set-up")
            await ctx.add_init_script(script=_ALPHA_INIT_JS % json.dumps(TRANSPARENT_CSS))

        # 9. navigate, wait for readiness
        ready0 = time.monotonic()
        await self._navigate()
        await self._wait_ready()
        await self._collect_page_warnings()
        if self.capture_mode == "beginframe":
            # One frame of the ready page, always: whether the load's pumped frames happened to
            # draw it is timing-dependent, and raster history reaches the first capture.
            await self._settle_pump(self.timeouts.frame_s)
            await self._guard(self._begin_frame(None), self.timeouts.frame_s, "the first frame of the ready page")
        self.timings["page_ready_ms"] = (time.monotonic() - ready0) * 1000.0

    async def _launch(self, *, beginframe: bool) -> None:
        spec = self.spec
        if self.profile_dir.exists():
            shutil.rmtree(self.profile_dir, ignore_errors=True)
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()}
        env["FONTCONFIG_FILE"] = str(self.fontconfig_path)
        args = chromium_flags(spec.width, spec.height, beginframe=beginframe)
        loop = asyncio.get_running_loop()
        dead = loop.create_future()  # this launch's own: events of a closed earlier launch cannot reach it
        self._dead = dead
        self._dead_reason = ""
        self._tick_base_ms = time.monotonic() * 1000.0
        self._tick_k = 0
        try:
            self._context = await asyncio.wait_for(
                self._pw.chromium.launch_persistent_context(
                    str(self.profile_dir),
                    executable_path=self.browser_info.path,
                    headless=True,
                    args=args,
                    env=env,
                    viewport={"width": spec.width, "height": spec.height},
                    screen={"width": spec.width, "height": spec.height},
                    device_scale_factor=1,
                    timezone_id="UTC",
                    locale="en-US",
                    color_scheme="light",
                    reduced_motion="no-preference",
                    service_workers="block",
                    accept_downloads=False,
                    handle_sigint=False,
                    handle_sigterm=False,
                    handle_sighup=False,
                    timeout=self.timeouts.launch_s * 1000.0,
                ),
                self.timeouts.launch_s + 5,
            )
        except (TimeoutError, *_pw_errors()) as e:
            raise HyperdeskError(
                "BROWSER_CRASHED",
                f"Chromium failed to launch: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                details={"browser": self.browser_info.path, "work_dir": str(self.work_dir)},
            ) from e
        try:
            await self._attach(dead)
        except _pw_errors() as e:
            raise HyperdeskError(
                "BROWSER_CRASHED",
                f"Chromium failed after launch: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                details={"browser": self.browser_info.path, "work_dir": str(self.work_dir)},
            ) from e

    async def _attach(self, dead: asyncio.Future) -> None:
        ctx = self._context
        ctx.on("close", lambda *_: self._mark_dead(dead, "the browser closed"))
        if ctx.browser is not None:
            ctx.browser.on("disconnected", lambda *_: self._mark_dead(dead, "the browser disconnected"))
        page = ctx.pages[0] if ctx.pages else await ctx.new_page()
        self._page = page
        page.on("crash", lambda *_: self._mark_dead(dead, "the page crashed"))
        page.on("close", lambda *_: self._mark_dead(dead, "the page closed"))
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)
        self._cdp = await ctx.new_cdp_session(page)
        version = ""
        if ctx.browser is not None:
            try:
                version = ctx.browser.version
            except Exception:  # pragma: no cover
                version = ""
        if not version:
            try:
                product = (await self._cdp.send("Browser.getVersion")).get("product", "")
                version = product.split("/", 1)[-1]
            except Exception:  # pragma: no cover
                version = ""
        self.browser_version = version
        if version:
            record_browser_version(self.browser_info, version)

    def _mark_dead(self, dead: asyncio.Future, reason: str) -> None:
        if self._closing or dead is not self._dead:
            return
        if not dead.done():
            self._dead_reason = reason
            dead.set_result(reason)

    def _crashed(self, what: str, exc: BaseException | None = None) -> HyperdeskError:
        reason = self._dead_reason or (str(exc).splitlines()[0] if exc and str(exc) else "the CDP connection closed")
        return HyperdeskError(
            "BROWSER_CRASHED",
            f"Chromium stopped during {what}: {reason}",
            details={"browser": self.browser_info.path, "work_dir": str(self.work_dir), "frame_step": what},
        )

    # ------------------------------------------------------------------------ guarded awaiting

    async def _guard(self, aw: Awaitable, timeout: float | None, what: str, *, timeout_code: str = "CAPTURE_TIMEOUT",
                     pump: bool = False, pump_delay: float | None = None, limit: float | None = None) -> Any:
        """Await *aw* unless the browser dies or *timeout* passes; pump BeginFrames meanwhile when asked.

        *limit* is the contract limit *timeout* is what is left of (a frame step's 30 s): the
        time-out message names it rather than the remainder."""
        if self._dead is None:
            raise self._crashed(what)
        task = asyncio.ensure_future(aw)
        deadline = None if timeout is None else time.monotonic() + timeout
        first_pump = True
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                waiters = {task, self._dead}
                if pump and self.capture_mode == "beginframe":
                    if self._pump_task is None:
                        # give the operation a moment before pumping a frame
                        step = self.timeouts.pump_s
                        if first_pump and pump_delay is not None:
                            step = pump_delay
                        first_pump = False
                        if remaining is not None:
                            step = min(remaining, step)
                        done, _ = await asyncio.wait(waiters, timeout=step, return_when=asyncio.FIRST_COMPLETED)
                        if done:
                            break
                        self._pump_task = asyncio.ensure_future(self._begin_frame(screenshot=None))
                    waiters.add(self._pump_task)
                    remaining = None if deadline is None else deadline - time.monotonic()
                done, _ = await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if task in done or self._dead in done:
                    break
                if self._pump_task is not None and self._pump_task in done:
                    self._consume(self._pump_task)
                    self._pump_task = None
            if task.done():
                try:
                    return task.result()
                except HyperdeskError:
                    raise
                except _pw_errors() as e:
                    if self._dead.done() or _is_closed_error(e):
                        raise self._crashed(what, e) from e
                    raise
            if self._dead.done():
                raise self._crashed(what)
            raise self._timed_out(what, timeout, limit, timeout_code)
        finally:
            if not task.done():
                task.cancel()
                self._consume(task)

    def _timed_out(self, what: str, timeout: float | None, limit: float | None,
                   code: str = "CAPTURE_TIMEOUT") -> HyperdeskError:
        """A time-out naming *limit* (a frame step's 30 s) when given, else *timeout*. A step's guards
        get what is left of its limit; naming that remainder gave "did not finish within 0.001 s"
        when an earlier part of the step had used the time."""
        within = f"the {limit:g} s frame limit" if limit is not None else f"{timeout:g} s"
        return HyperdeskError(code, f"{what[:1].upper() + what[1:]} did not finish within {within}",
                              details={"work_dir": str(self.work_dir), "frame_step": what,
                                       "timeout_s": limit if limit is not None else timeout})

    @staticmethod
    def _consume(task: asyncio.Future) -> None:
        if task.done():
            if not task.cancelled():
                task.exception()
        else:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _settle_pump(self, timeout: float, limit: float | None = None) -> None:
        """Wait for an in-flight pumping BeginFrame: BeginFrames must not overlap."""
        p, self._pump_task = self._pump_task, None
        if p is None:
            return
        if not p.done():
            done, _ = await asyncio.wait({p, self._dead}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if p not in done:
                self._consume(p)
                if self._dead.done():
                    raise self._crashed("a BeginFrame")
                raise self._timed_out("a BeginFrame", timeout, limit)
        self._consume(p)

    # ------------------------------------------------------------------------ CDP capture calls

    async def _begin_frame(self, screenshot: dict | None) -> dict:
        ticks = self._tick_base_ms + self._tick_k * self._interval_ms
        self._tick_k += 1
        params: dict[str, Any] = {"frameTimeTicks": ticks, "interval": self._interval_ms}
        if screenshot is not None:
            params["screenshot"] = screenshot
        return await self._cdp.send("HeadlessExperimental.beginFrame", params)

    def _screenshot_params(self) -> dict:
        spec = self.spec
        if spec.capture_format == "jpeg":
            return {"format": "jpeg", "quality": int(spec.jpeg_quality)}
        return {"format": "png", "optimizeForSpeed": bool(spec.png_fast)}

    async def _beginframe_probe(self) -> bool:
        deadline = time.monotonic() + self.timeouts.probe_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                r = await asyncio.wait_for(self._begin_frame({"format": "jpeg", "quality": 80}), remaining)
            except (TimeoutError, *_pw_errors()):
                return False
            if r.get("screenshotData"):
                return True
            await asyncio.sleep(0.02)

    async def _gl_assertion(self) -> None:
        try:
            gl = await self._guard(self._page.evaluate(_GL_PROBE_JS), self.timeouts.gl_check_s, "the software-GL check",
                                   timeout_code="BROWSER_CRASHED")
        except HyperdeskError:
            raise
        except _pw_errors() as e:
            gl = None
            log.debug("GL probe failed: %s", e)
        vendor = gl.get("vendor") if isinstance(gl, dict) else None
        renderer = gl.get("renderer") if isinstance(gl, dict) else None
        override = os.environ.get(ENV_TEST_GL_RENDERER)
        if override is not None and gl is not None:
            renderer = override
        ok = vendor == EXPECTED_GL_VENDOR and isinstance(renderer, str) and "swiftshader" in renderer.lower()
        if not ok:
            what = "no WebGL context" if gl is None else f"vendor {vendor!r}, renderer {renderer!r}"
            raise HyperdeskError(
                "BROWSER_GPU_NOT_SOFTWARE",
                f"Chromium is not rendering with SwiftShader ({what})",
                details={"vendor": vendor, "renderer": renderer, "browser": self.browser_info.path},
            )

    # ------------------------------------------------------------------------ routing and events

    async def _route(self, route) -> None:
        url = route.request.url
        origin = self.server.origin if self.server else None
        try:
            if origin and (url == origin or url.startswith(origin + "/")) or url.startswith("data:") or url.startswith("blob:"):
                await route.continue_()
            else:
                self._block(url)
                await route.abort("blockedbyclient")
        except Exception:  # the page may be gone already
            log.debug("route handling failed for %s", url, exc_info=True)

    async def _route_ws(self, ws) -> None:
        self._block(ws.url)
        try:
            await ws.close()
        except Exception:
            pass

    def _block(self, url: str) -> None:
        if url in self._blocked_urls:
            return
        self._blocked_urls.add(url)
        self.warnings.append(SessionWarning(
            code="REQUEST_BLOCKED",
            message=f"Request outside the render's loopback server was aborted: {url[:300]}",
            url=url,
        ))

    def _on_page_error(self, err) -> None:
        message = getattr(err, "message", None) or str(err)
        stack = getattr(err, "stack", None) or ""
        source = None
        for line in stack.splitlines()[1:]:
            line = line.strip()
            if line.startswith("at "):
                source = line[3:]
                break
        self._page_errors.append({"message": message, "source": source, "stack": stack})
        self._log_line(f"[pageerror] {message} {source or ''}")

    def _on_console(self, msg) -> None:
        try:
            self._log_line(f"[{msg.type}] {msg.text}")
        except Exception:  # pragma: no cover
            pass

    def _log_line(self, line: str) -> None:
        if self._console is not None and not self._console.closed:
            try:
                self._console.write(line.rstrip("\n") + "\n")
                self._console.flush()
            except OSError:
                pass

    def _check_errors(self, hd_errors: list | None = None) -> None:
        new = self._page_errors[self._page_errors_seen:]
        self._page_errors_seen = len(self._page_errors)
        hd_new = list(hd_errors or [])
        self._hd_errors_seen += len(hd_new)
        first = (new or hd_new or [None])[0]
        if first is None:
            return
        message = first.get("message") or "unknown error"
        source = first.get("source")
        raise HyperdeskError(
            "PAGE_SCRIPT_ERROR",
            f"Uncaught page script error: {message}" + (f" ({source})" if source else ""),
            details={"message": message, "source": source, "errors": (new + hd_new)[:20], "work_dir": str(self.work_dir)},
        )

    # ------------------------------------------------------------------------ load and readiness

    async def _navigate(self) -> None:
        url = f"{self.server.origin}/index.html"
        nav_s = self.timeouts.navigation_s
        try:
            resp = await self._guard(
                self._page.goto(url, wait_until="domcontentloaded", timeout=nav_s * 1000.0 + 1000.0),
                nav_s, "navigation to /index.html", timeout_code="PAGE_NOT_READY", pump=True)
        except HyperdeskError as e:
            if e.code == "PAGE_NOT_READY":
                self._check_errors()
                e.details.setdefault("unmet", ["navigation (DOMContentLoaded)"])
            raise
        except _pw_errors() as e:
            self._check_errors()
            raise HyperdeskError(
                "PAGE_NOT_READY",
                f"Navigation to /index.html failed: {str(e).splitlines()[0]}",
                details={"unmet": ["navigation (DOMContentLoaded)"], "work_dir": str(self.work_dir)},
            ) from e
        if resp is not None and resp.status >= 400:
            raise HyperdeskError(
                "PAGE_NOT_READY",
                f"/index.html answered HTTP {resp.status}",
                details={"unmet": ["navigation"], "status": resp.status, "work_dir": str(self.work_dir)},
            )

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeouts.ready_s
        while True:
            self._check_errors()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                r = await self._guard(self._page.evaluate(_READY_JS, self._hd_errors_seen),
                                      max(remaining, self.timeouts.ready_poll_s), "the readiness poll",
                                      timeout_code="PAGE_NOT_READY", pump=True)
            except HyperdeskError as e:
                if e.code != "PAGE_NOT_READY":
                    raise
                break  # the page did not answer in time
            except _pw_errors() as e:
                # e.g. a navigation destroyed the context mid-poll: try again
                log.debug("readiness poll failed: %s", e)
                r = {"ready": False, "errors": []}
            self._check_errors(r.get("errors"))
            if r.get("ready"):
                return
            await self._guard(asyncio.sleep(self.timeouts.ready_poll_s), None, "the readiness wait", pump=True)
        await self._raise_not_ready()

    async def _collect_page_warnings(self) -> None:
        """Copy the readiness warnings the page recorded (``FORWARDED_PAGE_WARNINGS``) into
        ``self.warnings``, so chunk and plan results report them."""
        try:
            found = await self._guard(self._page.evaluate(_PAGE_WARNINGS_JS, list(FORWARDED_PAGE_WARNINGS)),
                                      self.timeouts.frame_s, "reading the page warnings", pump=True)
        except _pw_errors() as e:
            log.debug("reading the page warnings failed: %s", e)
            return
        seen = {(w.get("code"), w.get("message")) for w in self.warnings}
        for w in found or []:
            key = (w.get("code"), w.get("message"))
            if key in seen:
                continue
            seen.add(key)
            self.warnings.append(SessionWarning(code=str(w.get("code")), message=str(w.get("message")), url=None))
            log.warning("%s: %s", w.get("code"), w.get("message"))

    async def _raise_not_ready(self) -> None:
        answered = True
        try:
            info = await self._guard(self._page.evaluate(_STATE_JS), 5.0, "the readiness report", pump=True)
        except HyperdeskError as e:
            if e.code == "BROWSER_CRASHED":
                raise
            info, answered = {}, False
        except _pw_errors():
            info, answered = {}, False
        self._check_errors()
        state = info.get("state") if isinstance(info, dict) else None
        unmet, missing = _unmet_from_state(state)
        if not answered:
            unmet = ["page unresponsive (the readiness report did not answer)"]
        elif not isinstance(state, dict) and not unmet:
            unmet = ["runtime not initialised (window.__hd.state() unavailable)"]
        parts = []
        if unmet:
            parts.append("unmet: " + "; ".join(map(str, unmet)))
        if missing:
            parts.append("missing timelines: " + ", ".join(map(str, missing)))
        raise HyperdeskError(
            "PAGE_NOT_READY",
            f"The page was not ready after {self.timeouts.ready_s:g} s"
            + (" (" + " — ".join(parts) + ")" if parts else ""),
            details={"unmet": unmet, "missing_timelines": missing, "state": state, "work_dir": str(self.work_dir)},
        )

    # ------------------------------------------------------------------------ public API

    @property
    def page(self):
        return self._page

    @property
    def browser_pid(self) -> int | None:
        """The browser's main process id (Linux), for perf accounting and tests."""
        pids = _find_browser_pids(f"--user-data-dir={self.profile_dir}")
        if not pids:
            return None
        ppids = {}
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    ppids[pid] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        roots = [p for p, pp in ppids.items() if pp not in ppids]
        return roots[0] if roots else pids[0]

    async def duration(self) -> float:
        v = await self.evaluate("() => window.__hf.duration")
        return float(v)

    async def evaluate(self, js: str, arg: Any = None) -> Any:
        try:
            return await self._guard(self._page.evaluate(js, arg), self.timeouts.frame_s, "an evaluation", pump=True,
                                     pump_delay=self.timeouts.capture_pump_delay_s)
        except _pw_errors() as e:
            raise HyperdeskError("PAGE_SCRIPT_ERROR", f"Page evaluation failed: {str(e).splitlines()[0]}",
                                 details={"message": str(e), "work_dir": str(self.work_dir)}) from e

    async def capture(self, frame_index: int) -> bytes:
        """Seek to absolute frame *frame_index*, inject video frames, return the encoded image.

        The first capture of a session at a frame s > 0 first renders frame s - 1 without returning
        it (``warm_up``), so that raster state carried over from the previous frame is the same as in
        a render that came from s - 1. The one such carry-over measured (a shrinking layer drawn in
        the previous frame's tiling scale) no longer reaches a capture (``_capture_beginframe``):
        without the warm-up, chunks starting at 3, 5, 7, 9 and 11 matched the full render in both
        modes. It is kept as a guard (one extra frame per chunk).
        """
        if self._closed:
            raise self._crashed("a capture on a closed session")
        if self.warm_up and not self._warmed:
            self._warmed = True
            if frame_index > 0:
                await self._step(frame_index - 1, output=False)
        data = await self._step(frame_index, output=True)
        assert data is not None
        self._last_image = data
        self._frames_captured += 1
        return data

    async def _step(self, frame_index: int, *, output: bool) -> bytes | None:
        t = self.spec.fps.frame_time(frame_index)
        step = f"frame {frame_index}" + ("" if output else " (warm-up)")
        limit = self.timeouts.frame_s
        deadline = time.monotonic() + limit

        def left() -> float:
            return max(0.001, deadline - time.monotonic())

        try:
            self._check_errors()
            try:
                r = await self._guard(self._page.evaluate(_SEEK_JS, [t, self._hd_errors_seen]), left(),
                                      f"the seek of {step}", pump=True, pump_delay=self.timeouts.capture_pump_delay_s,
                                      limit=limit)
            except _pw_errors() as e:
                self._check_errors()
                raise self._seek_error(e, step) from e
            self._check_errors(r.get("errors"))
            videos = r.get("videos") or []
            if videos:
                items = [[v["mediaId"], self._video_uri(v["mediaId"], t) if v.get("active") else None] for v in videos]
                try:
                    await self._guard(self._page.evaluate(_INJECT_JS, [items, t]), left(),
                                      f"the video injection of {step}", pump=True,
                                      pump_delay=self.timeouts.capture_pump_delay_s, limit=limit)
                except _pw_errors() as e:
                    self._check_errors()
                    raise self._seek_error(e, step) from e
                self._check_errors()
            if self.capture_mode == "beginframe":
                if not output:
                    await self._settle_pump(left(), limit)
                    await self._guard(self._begin_frame(None), left(), f"the render of {step}", limit=limit)
                    return None
                return await self._capture_beginframe(step, left)
            data = await self._capture_screenshot(step, left)
            return data if output else None
        except HyperdeskError as e:
            e.details.setdefault("frame", frame_index)
            raise
        except _pw_errors() as e:  # a protocol error of the capture calls themselves
            self._sync_world = None
            raise HyperdeskError(
                "BROWSER_CRASHED", f"Capturing {step} failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                details={"browser": self.browser_info.path, "work_dir": str(self.work_dir), "frame": frame_index},
            ) from e

    def _seek_error(self, e: BaseException, step: str) -> HyperdeskError:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "CAPTURE_TIMEOUT" in msg:
            return HyperdeskError("CAPTURE_TIMEOUT", f"The seek of {step} timed out: {msg}",
                                  details={"work_dir": str(self.work_dir), "frame_step": step})
        return HyperdeskError("PAGE_SCRIPT_ERROR", f"The seek of {step} failed: {msg}",
                              details={"message": str(e), "work_dir": str(self.work_dir), "frame_step": step})

    async def _capture_beginframe(self, step: str, left: Callable[[], float]) -> bytes:
        """BeginFrame mode: draw the seeked state, then capture a forced redraw of it.

        A first BeginFrame commits and draws the seek. The image is then taken with
        ``Page.captureScreenshot``, whose forced full redraw is drawn by the BeginFrames sent while it
        is pending (``redraw_capture``). beginFrame's own ``screenshot`` option copies the first draw,
        which is not a pure function of the frame: when a composited layer shrinks, cc still holds the
        previous frame's larger tiling during that draw (it drops it only after the draw, as unused)
        and lays the layer's quads out in that larger tiling's scale, so edge pixels depended on the
        previous frame (measured: 11 of 12 frames of a WAAPI scale 1.8→0.7 and 29 of 30 frames of the
        sample's shrinking ``.orb`` differed from screenshot mode, and a frame differed with the frame
        rendered before it). By the redraw that tiling is gone. Screenshot mode captures the same
        forced redraw after an ordinary frame, so both modes give the same bytes."""
        limit = self.timeouts.frame_s
        await self._settle_pump(left(), limit)
        if not self.redraw_capture:
            return await self._capture_beginframe_shot(step, left)
        await self._guard(self._begin_frame(None), left(), f"the render of {step}", limit=limit)
        what = f"the capture of {step}"
        params = self._cdp_screenshot_params()
        shots = [asyncio.ensure_future(self._cdp.send("Page.captureScreenshot", params))]
        try:
            wait = self.timeouts.redraw_poll_s
            retry_after = self.timeouts.redraw_retry_s
            asked = time.monotonic()
            while True:
                # The redraw needs a BeginFrame; one sent before the request reached the renderer
                # draws nothing, so keep sending them (one at a time) until the image arrives.
                await self._guard(self._begin_frame(None), left(), what, limit=limit)
                done, _ = await asyncio.wait({*shots, self._dead}, timeout=min(wait, left()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if self._dead.done():
                    raise self._crashed(what)
                if done:
                    break
                if left() <= 0.001:
                    raise self._timed_out(what, 0.0, limit)
                wait = min(wait * 2, self.timeouts.redraw_poll_max_s)
                if time.monotonic() - asked >= retry_after:
                    # A request still unanswered after many BeginFrames (rare; seen under CPU
                    # load) is asked again: every request redraws the same, settled page.
                    log.info("%s: no screenshot after %.1f s, asking again", what, time.monotonic() - asked)
                    shots.append(asyncio.ensure_future(self._cdp.send("Page.captureScreenshot", params)))
                    asked, retry_after = time.monotonic(), retry_after * 2
            data = (await self._guard(next(iter(done)), left(), what, limit=limit)).get("data")
        finally:
            for shot in shots:
                if not shot.done():
                    shot.cancel()
                self._consume(shot)
        if not data:
            raise HyperdeskError("CAPTURE_TIMEOUT", f"The screenshot of {step} returned no image",
                                 details={"work_dir": str(self.work_dir), "frame_step": step})
        return base64.b64decode(data)

    async def _capture_beginframe_shot(self, step: str, left: Callable[[], float]) -> bytes:
        """The capture through beginFrame's ``screenshot`` option (``redraw_capture = False``, for
        experiments only: see ``_capture_beginframe``)."""
        limit = self.timeouts.frame_s
        shot = self._screenshot_params()
        attempts = 6 if self._last_image is None else 1  # the first frame: 1 try + 5 repeats
        for n in range(attempts):
            r = await self._guard(self._begin_frame(shot), left(), f"the capture of {step}", limit=limit)
            data = r.get("screenshotData")
            if data:
                return base64.b64decode(data)
            if self._last_image is not None:
                return self._last_image
            if n < attempts - 1:
                await self._guard(asyncio.sleep(0.05 * (2 ** n)), left(), f"the capture of {step}", limit=limit)
        raise HyperdeskError("CAPTURE_TIMEOUT", f"BeginFrame produced no image for {step}",
                             details={"work_dir": str(self.work_dir), "frame_step": step})

    async def _frame_sync(self, step: str, left: Callable[[], float]) -> None:
        """Screenshot mode: let the compositor present the seeked state in an ordinary frame before
        the screenshot. Without it, whether a frame was drawn between seek and screenshot is a race
        that reaches the raster of transformed layers (measured: 1 to 9 of 12 frames of a shrinking
        layer differed between launches; with it none, the same bytes on both binaries). One
        ``requestAnimationFrame`` callback in an isolated world (the browser's own rAF: the page's is
        virtualised by the runtime)."""
        what = f"the frame sync of {step}"
        if self._sync_world is None:
            tree = await self._guard(self._cdp.send("Page.getFrameTree"), left(), what,
                                     limit=self.timeouts.frame_s)
            frame_id = tree["frameTree"]["frame"]["id"]
            r = await self._guard(self._cdp.send("Page.createIsolatedWorld", {"frameId": frame_id, "worldName": "__hyperdesk_sync"}),
                                  left(), what, limit=self.timeouts.frame_s)
            self._sync_world = r["executionContextId"]
        r = await self._guard(self._cdp.send("Runtime.evaluate", {
            "expression": _SYNC_JS[self.frame_sync_depth],
            "contextId": self._sync_world, "awaitPromise": True, "returnByValue": True}), left(), what,
            limit=self.timeouts.frame_s)
        if r.get("exceptionDetails"):
            raise HyperdeskError("CAPTURE_TIMEOUT", f"The frame sync of {step} failed",
                                 details={"work_dir": str(self.work_dir), "frame_step": step})

    def _cdp_screenshot_params(self) -> dict[str, Any]:
        """``Page.captureScreenshot`` parameters (plan contract 7.3), used in both modes."""
        spec = self.spec
        params: dict[str, Any] = {
            "format": spec.capture_format,
            "fromSurface": True,
            "captureBeyondViewport": False,
            "optimizeForSpeed": True if spec.capture_format == "jpeg" else bool(spec.png_fast),
            "clip": {"x": 0, "y": 0, "width": spec.width, "height": spec.height, "scale": 1},
        }
        if spec.capture_format == "jpeg":
            params["quality"] = int(spec.jpeg_quality)
        return params

    async def _capture_screenshot(self, step: str, left: Callable[[], float]) -> bytes:
        if self.frame_sync:
            await self._frame_sync(step, left)
        r = await self._guard(self._cdp.send("Page.captureScreenshot", self._cdp_screenshot_params()), left(),
                              f"the capture of {step}", limit=self.timeouts.frame_s)
        data = r.get("data")
        if not data:
            raise HyperdeskError("CAPTURE_TIMEOUT", f"The screenshot of {step} returned no image",
                                 details={"work_dir": str(self.work_dir), "frame_step": step})
        return base64.b64decode(data)

    def _video_uri(self, media_id: str, t: float) -> str | None:
        entry = self._videos.get(media_id)
        if entry is None:
            raise HyperdeskError("MISSING_PLAN_ARTIFACT", f"The page has video {media_id!r} but videos.json does not list it",
                                 details={"media_id": media_id})
        n = video_frame_number(entry, t)
        if n is None:
            return None
        ext = entry.frame_format
        path = Path(self.spec.plan_dir) / entry.frames_dir / f"frame_{n:06d}.{ext}"
        cached = self._video_uri_cache.get(media_id)
        if cached is not None and cached[0] == str(path):
            return cached[1]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise HyperdeskError("MISSING_PLAN_ARTIFACT", f"Video frame file {path} is missing",
                                 details={"path": str(path), "media_id": media_id}) from e
        mime = "image/png" if ext == "png" else "image/jpeg"
        uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
        self._video_uri_cache[media_id] = (str(path), uri)
        return uri

    # ------------------------------------------------------------------------ close

    async def _shutdown_browser(self) -> None:
        self._closing = True
        try:
            if self._pump_task is not None:
                self._consume(self._pump_task)
                self._pump_task = None
            ctx, self._context = self._context, None
            self._page = None
            self._cdp = None
            marker = f"--user-data-dir={self.profile_dir}"
            if ctx is not None:
                try:
                    await asyncio.wait_for(ctx.close(), self.timeouts.close_s)
                except BaseException as e:  # noqa: BLE001 - closing must not fail
                    if isinstance(e, asyncio.CancelledError):
                        raise
                    log.debug("context close failed: %s", e)
            for pid in _find_browser_pids(marker):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        finally:
            self._closing = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._shutdown_browser()
        finally:
            self._closing = True
            pw, self._pw = self._pw, None
            if pw is not None:
                try:
                    await asyncio.wait_for(pw.stop(), self.timeouts.close_s)
                except BaseException as e:  # noqa: BLE001
                    if isinstance(e, asyncio.CancelledError):
                        raise
                    log.debug("playwright stop failed: %s", e)
            if self.server is not None:
                self.server.close()
            if self._console is not None:
                try:
                    self._console.close()
                except OSError:
                    pass

    async def __aenter__(self) -> CaptureSession:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


def _unmet_from_state(state: Any) -> tuple[list, list]:
    """Pull the unmet conditions and missing timeline ids out of ``__hd.state()``, whatever the
    exact key names the runtime uses."""
    unmet: list = []
    missing: list = []
    if not isinstance(state, dict):
        return unmet, missing
    for key in ("unmet", "unmetConditions", "unmet_conditions", "pending", "waiting"):
        v = state.get(key)
        if isinstance(v, list):
            unmet = v
            break
        if isinstance(v, dict):
            unmet = [k for k, ok in v.items() if ok]
            break
    if not unmet and isinstance(state.get("conditions"), dict):
        unmet = [k for k, ok in state["conditions"].items() if not ok]
    for key in ("missingTimelines", "missingTimelineIds", "missing_timelines", "missing"):
        v = state.get(key)
        if isinstance(v, list):
            missing = v
            break
    return unmet, missing


__all__ = ["PageSpec", "CaptureSession", "Timeouts", "video_frame_number", "CaptureMode", "SessionWarning"]

