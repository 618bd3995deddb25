"""The Chromium process of a capture session (plan contract 7.2 steps 5-6).

``LaunchedBrowser`` launches Chromium with the flags of composition contract 12.3,
``FONTCONFIG_FILE`` and a profile in ``<work>/profile``, in a context with the render's viewport,
locale and time zone; asserts that WebGL renders with SwiftShader; routes every request outside
the loopback server to an abort (a ``REQUEST_BLOCKED`` warning); and logs the page's console.
Everything awaited on the page goes through ``guard``, which turns a browser that died into
``BROWSER_CRASHED`` and, under BeginFrame control, sends the BeginFrames a page needs to progress.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hyperdesk.capture.browser import BrowserInfo, record_browser_version
from hyperdesk.capture.flags import chromium_flags
from hyperdesk.capture.page_errors import PageErrors
from hyperdesk.capture.spec import PageSpec, SessionWarning, Timeouts
from hyperdesk.errors import HyperdeskError

if TYPE_CHECKING:
    from playwright.async_api import (
        BrowserContext,
        CDPSession,
        ConsoleMessage,
        Page,
        Playwright,
        Route,
        WebSocketRoute,
    )

log = logging.getLogger(__name__)

EXPECTED_GL_VENDOR = "Google Inc. (Google)"

GL_PROBE_JS = """() => {
  const c = document.createElement('canvas');
  let gl = null;
  try { gl = c.getContext('webgl') || c.getContext('experimental-webgl'); } catch (e) { gl = null; }
  if (!gl) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  if (!ext) return {vendor: null, renderer: null};
  return {vendor: gl.getParameter(ext.UNMASKED_VENDOR_WEBGL),
          renderer: gl.getParameter(ext.UNMASKED_RENDERER_WEBGL)};
}"""


# One Playwright driver per event loop, shared by the browsers launched on it: the driver is a Node
# process that takes ~0.5 s of a core to start, and the seam audit launches two browsers at once.
# The last browser to stop stops it.
_drivers: dict[asyncio.AbstractEventLoop, tuple[asyncio.Future[Playwright], list[int]]] = {}


async def _take_driver() -> Playwright:
    loop = asyncio.get_running_loop()
    entry = _drivers.get(loop)
    if entry is None:
        # Lazy: see playwright_error().
        from playwright.async_api import async_playwright

        started: asyncio.Future[Playwright] = loop.create_future()
        entry = _drivers[loop] = (started, [1])
        try:
            started.set_result(await async_playwright().start())
        except BaseException as e:
            _drivers.pop(loop, None)
            if isinstance(e, asyncio.CancelledError):
                started.cancel()
            else:
                started.set_exception(e)
                started.exception()  # retrieved: the browsers waiting for it raise it themselves
            raise
        return started.result()
    entry[1][0] += 1
    try:
        return await asyncio.shield(entry[0])
    except BaseException:
        entry[1][0] -= 1
        raise


async def _drop_driver(pw: Playwright) -> None:
    entry = _drivers.get(asyncio.get_running_loop())
    started = entry[0] if entry is not None else None
    if entry is not None and started is not None and started.done() and not started.cancelled() \
            and started.exception() is None and started.result() is pw:
        entry[1][0] -= 1
        if entry[1][0] > 0:
            return
        _drivers.pop(asyncio.get_running_loop(), None)
    await pw.stop()


class DriverHold:
    """Keeps this event loop's Playwright driver running while held: a warm worker takes it when it
    starts, before its first chunk arrives, so that chunk's browser (and every later one: a recycle, a
    plan that pre-rolls and gets a browser per chunk) finds the driver started."""

    def __init__(self) -> None:
        self._pw: Playwright | None = None

    async def take(self) -> None:
        if self._pw is None:
            self._pw = await _take_driver()

    async def release(self) -> None:
        pw, self._pw = self._pw, None
        if pw is not None:
            await _drop_driver(pw)


def playwright_error() -> type[Exception]:
    """Playwright's error type (protocol errors, closed targets, time-outs)."""
    # Lazy: Playwright takes ~0.35 s to import, and `doctor` and the worker environment import
    # this package only to find the browser.
    from playwright.async_api import Error

    return Error


def is_closed_error(exc: BaseException) -> bool:
    try:
        # Lazy: see playwright_error(); a private module, so its absence is tolerated.
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


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def find_browser_pids(marker: str) -> list[int]:
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


class LaunchedBrowser:
    """``start()`` once, then ``launch()`` (again after ``shutdown()`` to change the capture mode);
    ``stop()`` at the end. *warnings* is the session's list, which blocked requests are added to."""

    def __init__(self, info: BrowserInfo, spec: PageSpec, work_dir: Path, timeouts: Timeouts,
                 warnings: list[SessionWarning]) -> None:
        self.info = info
        self.spec = spec
        self.work_dir = work_dir
        self.timeouts = timeouts
        self.warnings = warnings
        self.profile_dir = work_dir / "profile"
        self.errors = PageErrors(work_dir)
        self.version = ""
        self.beginframe = False  # this launch runs under BeginFrame control
        self.origin: str | None = None
        self._fontconfig: Path | None = None
        self._pw: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._cdp: CDPSession | None = None
        self._dead: asyncio.Future | None = None
        self._dead_reason = ""
        self._dead_code = "BROWSER_CRASHED"
        self._documents = 0  # documents committed in the main frame of this launch
        self._closing = False
        self._blocked_urls: set[str] = set()
        self._tick_base_ms = 0.0
        self._tick_k = 0
        self._interval_ms = 1000.0 * spec.fps.den / spec.fps.num
        self._pump_task: asyncio.Future | None = None
        self._console: IO[str] | None = None

    # ------------------------------------------------------------------------------ the live objects

    @property
    def page(self) -> Page:
        if self._page is None:
            raise self.crashed("a call on a closed page")
        return self._page

    @property
    def context(self) -> BrowserContext:
        if self._context is None:
            raise self.crashed("a call on a closed browser")
        return self._context

    @property
    def cdp(self) -> CDPSession:
        if self._cdp is None:
            raise self.crashed("a call on a closed page")
        return self._cdp

    @property
    def dead(self) -> asyncio.Future:
        """Resolves (to the reason) when this launch's browser or page goes away."""
        if self._dead is None:
            raise self.crashed("a call before the launch")
        return self._dead

    @property
    def pid(self) -> int | None:
        """The browser's main process id (Linux), for perf accounting and tests."""
        pids = find_browser_pids(f"--user-data-dir={self.profile_dir}")
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

    # ------------------------------------------------------------------------------ launch

    def open_console_log(self) -> None:
        # Open for the browser's whole life (across a relaunch); stop() closes it.
        self._console = open(self.work_dir / "logs" / "browser-console.log", "a",  # noqa: SIM115
                             encoding="utf-8", errors="replace")

    async def start(self, *, fontconfig: Path, origin: str | None) -> None:
        """Start Playwright; *fontconfig* and the loopback server's *origin* serve every launch."""
        self._fontconfig = fontconfig
        self.origin = origin
        self._pw = await _take_driver()

    async def launch(self, *, beginframe: bool) -> None:
        spec = self.spec
        assert self._pw is not None, "start() comes first"
        if self.profile_dir.exists():
            shutil.rmtree(self.profile_dir, ignore_errors=True)
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        env: dict[str, str | float | bool] = dict(os.environ)
        env["FONTCONFIG_FILE"] = str(self._fontconfig)
        args = chromium_flags(spec.width, spec.height, beginframe=beginframe)
        loop = asyncio.get_running_loop()
        dead = loop.create_future()  # this launch's own: events of a closed earlier launch cannot reach it
        self._dead = dead
        self._dead_reason = ""
        self._dead_code = "BROWSER_CRASHED"
        self._documents = 0
        self._tick_base_ms = time.monotonic() * 1000.0
        self._tick_k = 0
        self.beginframe = beginframe
        try:
            self._context = ctx = await asyncio.wait_for(
                self._pw.chromium.launch_persistent_context(
                    str(self.profile_dir),
                    executable_path=self.info.path,
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
        except (TimeoutError, playwright_error()) as e:
            raise HyperdeskError(
                "BROWSER_CRASHED",
                f"Chromium failed to launch: {first_line(e)}",
                details={"browser": self.info.path, "work_dir": str(self.work_dir)},
            ) from e
        try:
            await self._attach(ctx, dead)
        except playwright_error() as e:
            raise HyperdeskError(
                "BROWSER_CRASHED",
                f"Chromium failed after launch: {first_line(e)}",
                details={"browser": self.info.path, "work_dir": str(self.work_dir)},
            ) from e

    async def _attach(self, ctx: BrowserContext, dead: asyncio.Future) -> None:
        ctx.on("close", lambda *_: self._mark_dead(dead, "the browser closed"))
        if ctx.browser is not None:
            ctx.browser.on("disconnected", lambda *_: self._mark_dead(dead, "the browser disconnected"))
        page = ctx.pages[0] if ctx.pages else await ctx.new_page()
        self._page = page
        page.on("crash", lambda *_: self._mark_dead(dead, "the page crashed"))
        page.on("close", lambda *_: self._mark_dead(dead, "the page closed"))
        page.on("response", self._on_response)
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)
        self._cdp = cdp = await ctx.new_cdp_session(page)
        # Cross-document navigations only (history.pushState and #hash changes are not reported here).
        cdp.on("Page.frameNavigated", lambda params: self._on_navigated(dead, params))
        await cdp.send("Page.enable")
        version = ""
        if ctx.browser is not None:
            try:
                version = ctx.browser.version
            except Exception:  # pragma: no cover
                version = ""
        if not version:
            try:
                product = (await cdp.send("Browser.getVersion")).get("product", "")
                version = product.split("/", 1)[-1]
            except Exception:  # pragma: no cover
                version = ""
        self.version = version
        if version:
            record_browser_version(self.info, version)

    def _mark_dead(self, dead: asyncio.Future, reason: str, code: str = "BROWSER_CRASHED") -> None:
        if self._closing or dead is not self._dead:
            return
        if not dead.done():
            self._dead_reason = reason
            self._dead_code = code
            dead.set_result(reason)

    def _on_navigated(self, dead: asyncio.Future, params: dict) -> None:
        """A new document in the main frame after /index.html: the page went elsewhere or reloaded.
        The composition is gone, and every later call on the page would only time out
        (PAGE_NAVIGATED, at once)."""
        frame = params.get("frame") or {}
        if frame.get("parentId"):
            return
        url = str(frame.get("url") or "")
        if url == "about:blank" and self._documents == 0:
            return
        self._documents += 1
        if url != f"{self.origin}/index.html":
            self._mark_dead(dead, f"the page navigated away from /index.html to {url[:300]}", "PAGE_NAVIGATED")
        elif self._documents > 1:
            self._mark_dead(dead, "the page reloaded itself", "PAGE_NAVIGATED")

    def crashed(self, what: str, exc: BaseException | None = None) -> HyperdeskError:
        reason = self._dead_reason or (str(exc).splitlines()[0] if exc and str(exc) else "the CDP connection closed")
        if self._dead_code == "PAGE_NAVIGATED":
            return HyperdeskError("PAGE_NAVIGATED", f"The composition left its page during {what}: {reason}",
                                  details={"work_dir": str(self.work_dir), "frame_step": what})
        return HyperdeskError(
            "BROWSER_CRASHED",
            f"Chromium stopped during {what}: {reason}",
            details={"browser": self.info.path, "work_dir": str(self.work_dir), "frame_step": what},
        )

    async def assert_software_gl(self, fake_renderer: str | None = None) -> None:
        """``BROWSER_GPU_NOT_SOFTWARE`` unless WebGL reports SwiftShader; *fake_renderer* replaces
        the renderer string the page reports (a test fault)."""
        try:
            gl = await self.guard(self.page.evaluate(GL_PROBE_JS), self.timeouts.gl_check_s, "the software-GL check",
                                  timeout_code="BROWSER_CRASHED")
        except playwright_error() as e:
            gl = None
            log.debug("GL probe failed: %s", e)
        vendor = gl.get("vendor") if isinstance(gl, dict) else None
        renderer = gl.get("renderer") if isinstance(gl, dict) else None
        if fake_renderer is not None and gl is not None:
            renderer = fake_renderer
        ok = vendor == EXPECTED_GL_VENDOR and isinstance(renderer, str) and "swiftshader" in renderer.lower()
        if not ok:
            what = "no WebGL context" if gl is None else f"vendor {vendor!r}, renderer {renderer!r}"
            raise HyperdeskError(
                "BROWSER_GPU_NOT_SOFTWARE",
                f"Chromium is not rendering with SwiftShader ({what})",
                details={"vendor": vendor, "renderer": renderer, "browser": self.info.path},
            )

    async def beginframe_probe(self) -> bool:
        """Whether a BeginFrame returns an image within the probe time (else screenshot capture)."""
        deadline = time.monotonic() + self.timeouts.probe_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                r = await asyncio.wait_for(self.begin_frame({"format": "jpeg", "quality": 80}), remaining)
            except (TimeoutError, playwright_error()):
                return False
            if r.get("screenshotData"):
                return True
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------------------ routing and events

    async def install_routes(self) -> None:
        """Requests to the loopback server (and data:/blob: URLs) go through, all others abort."""
        await self.context.route("**/*", self._route)
        await self.context.route_web_socket(lambda url: True, self._route_ws)

    async def _route(self, route: Route) -> None:
        url = route.request.url
        origin = self.origin
        own = bool(origin) and (url == origin or url.startswith(f"{origin}/"))
        try:
            if own or url.startswith("data:") or url.startswith("blob:"):
                await route.continue_()
            else:
                self._block(url, self._requester(route.request))
                await route.abort("blockedbyclient")
        except Exception:  # the page may be gone already
            log.debug("route handling failed for %s", url, exc_info=True)

    async def _route_ws(self, ws: WebSocketRoute) -> None:
        self._block(ws.url)
        with contextlib.suppress(Exception):
            await ws.close()

    def _block(self, url: str, referrer: str | None = None) -> None:
        if url in self._blocked_urls:
            return
        self._blocked_urls.add(url)
        self.warnings.append(SessionWarning(
            code="REQUEST_BLOCKED",
            message=f"Request outside the render's loopback server was aborted: {url[:300]}{self._by(referrer)}",
            url=url,
        ))

    @staticmethod
    def _requester(request: Any) -> str | None:
        """The URL of the file that made a request: its Referer when that has a path (a cross-origin
        request's carries the origin only), else its frame's document."""
        referer = request.headers.get("referer") or ""
        if referer.split("://", 1)[-1].strip("/").count("/"):
            return str(referer)
        with contextlib.suppress(Exception):  # a request of no frame (a worker's)
            return str(request.frame.url)
        return referer or None

    def _by(self, referrer: str | None) -> str:
        """ ", requested by <file>": the referring document or stylesheet, as a project path."""
        if not referrer:
            return ""
        origin = self.origin or ""
        path = referrer[len(origin):].lstrip("/") if origin and referrer.startswith(origin) else referrer
        return f", requested by {path.split('?', 1)[0][:300]}"

    def _on_response(self, response: Any) -> None:
        """A file of the composition the loopback server does not have (a 404): a warning naming
        it and the file that asked for it, since the frame then renders without it."""
        with contextlib.suppress(Exception):  # the page may be gone already
            url = response.url
            if response.status < 400 or url.endswith("/favicon.ico"):  # a browser's own request
                return
            if url in self._blocked_urls:
                return
            self._blocked_urls.add(url)
            origin = self.origin or ""
            shown = url[len(origin):] if origin and url.startswith(origin) else url
            referrer = self._requester(response.request)
            self.warnings.append(SessionWarning(
                code="REQUEST_FAILED",
                message=f"{shown[:300]} answered HTTP {response.status}{self._by(referrer)}",
                url=url,
            ))

    def _on_page_error(self, err: Any) -> None:
        entry = self.errors.record(err)
        self._log_line(f"[pageerror] {entry['message']} {entry['source'] or ''}")

    def _on_console(self, msg: ConsoleMessage) -> None:
        with contextlib.suppress(Exception):
            self._log_line(f"[{msg.type}] {msg.text}")

    def _log_line(self, line: str) -> None:
        if self._console is not None and not self._console.closed:
            try:
                self._console.write(line.rstrip("\n") + "\n")
                self._console.flush()
            except OSError:
                pass

    # ------------------------------------------------------------------------------ guarded awaiting

    async def guard(self, aw: Awaitable, timeout: float | None, what: str, *, timeout_code: str = "CAPTURE_TIMEOUT",
                    pump: bool = False, pump_delay: float | None = None, limit: float | None = None) -> Any:
        """Await *aw* unless the browser dies or *timeout* passes; pump BeginFrames meanwhile when asked.

        *limit* is the contract limit *timeout* is what is left of (a frame step's 30 s): the
        time-out message names it rather than the remainder."""
        if self._dead is None:
            raise self.crashed(what)
        dead = self._dead
        task = asyncio.ensure_future(aw)
        deadline = None if timeout is None else time.monotonic() + timeout
        first_pump = True
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                waiters = {task, dead}
                if pump and self.beginframe:
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
                        self._pump_task = asyncio.ensure_future(self.begin_frame(screenshot=None))
                    waiters.add(self._pump_task)
                    remaining = None if deadline is None else deadline - time.monotonic()
                done, _ = await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if task in done or dead in done:
                    break
                if self._pump_task is not None and self._pump_task in done:
                    self.consume(self._pump_task)
                    self._pump_task = None
            if task.done():
                try:
                    return task.result()
                except HyperdeskError:
                    raise
                except playwright_error() as e:
                    if dead.done() or is_closed_error(e):
                        raise self.crashed(what, e) from e
                    raise
            if dead.done():
                raise self.crashed(what)
            raise self.timed_out(what, timeout, limit, timeout_code)
        finally:
            if not task.done():
                task.cancel()
                self.consume(task)

    def timed_out(self, what: str, timeout: float | None, limit: float | None,
                  code: str = "CAPTURE_TIMEOUT") -> HyperdeskError:
        """A time-out naming *limit* (a frame step's 30 s) when given, else *timeout*. A step's guards
        get what is left of its limit; naming that remainder gave "did not finish within 0.001 s"
        when an earlier part of the step had used the time."""
        within = f"the {limit:g} s frame limit" if limit is not None else f"{timeout:g} s"
        return HyperdeskError(code, f"{what[:1].upper() + what[1:]} did not finish within {within}",
                              details={"work_dir": str(self.work_dir), "frame_step": what,
                                       "timeout_s": limit if limit is not None else timeout})

    @staticmethod
    def consume(task: asyncio.Future) -> None:
        """Retrieve a finished (or later finishing) task's exception, so asyncio does not log it."""
        if task.done():
            if not task.cancelled():
                task.exception()
        else:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def settle_pump(self, timeout: float, limit: float | None = None) -> None:
        """Wait for an in-flight pumping BeginFrame: BeginFrames must not overlap."""
        p, self._pump_task = self._pump_task, None
        if p is None:
            return
        if not p.done():
            done, _ = await asyncio.wait({p, self.dead}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if p not in done:
                self.consume(p)
                if self.dead.done():
                    raise self.crashed("a BeginFrame")
                raise self.timed_out("a BeginFrame", timeout, limit)
        self.consume(p)

    async def begin_frame(self, screenshot: dict | None) -> dict:
        """``HeadlessExperimental.beginFrame`` at the next tick of the composition's frame interval."""
        ticks = self._tick_base_ms + self._tick_k * self._interval_ms
        self._tick_k += 1
        params: dict[str, Any] = {"frameTimeTicks": ticks, "interval": self._interval_ms}
        if screenshot is not None:
            params["screenshot"] = screenshot
        return await self.cdp.send("HeadlessExperimental.beginFrame", params)

    # ------------------------------------------------------------------------------ end

    async def shutdown(self) -> None:
        """End this launch's browser: close the context, then kill whatever still runs on its profile."""
        self._closing = True
        try:
            if self._pump_task is not None:
                self.consume(self._pump_task)
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
            for pid in find_browser_pids(marker):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            self._closing = False

    async def stop(self) -> None:
        """After the last ``shutdown()``: stop Playwright and close the console log."""
        self._closing = True
        pw, self._pw = self._pw, None
        if pw is not None:
            try:
                await asyncio.wait_for(_drop_driver(pw), self.timeouts.close_s)
            except BaseException as e:  # noqa: BLE001
                if isinstance(e, asyncio.CancelledError):
                    raise
                log.debug("playwright stop failed: %s", e)
        if self._console is not None:
            with contextlib.suppress(OSError):
                self._console.close()
