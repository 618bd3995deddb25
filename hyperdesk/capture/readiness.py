"""From a launched browser to a ready page (plan contract 7.2 steps 7-9).

``install_page_scripts`` adds the runtime's init script (and, for alpha formats, the transparent
background); ``load_until_ready`` navigates to ``/index.html``, polls ``window.__hf.ready`` up to
the readiness limit, fails with a ``PAGE_NOT_READY`` report of what was unmet, and copies the
page's readiness warnings into the session's warnings.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hyperdesk.capture.launch import LaunchedBrowser, playwright_error
from hyperdesk.capture.spec import SessionWarning
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps
from hyperdesk.runtime import init_script as runtime_init_script

log = logging.getLogger(__name__)

# A test's replacement for the runtime's script: the script itself, or a function of (fps, variables).
InitScript = str | Callable[[Fps, dict], str]

# Only the page's own backgrounds are cleared: a composition root (or any other composition element)
# that paints a background keeps it, so e.g. an opaque root stays opaque in a png-sequence.
TRANSPARENT_CSS = (
    "html, body { background: transparent !important; }"
)

# Page warnings (window.__hd.warnings) that only the page can see and that the worker reports in
# its results. The others (e.g. START_REFERENCE_MISSING) are reported by the compiler already.
FORWARDED_PAGE_WARNINGS = ("TIMELINE_NOT_REGISTERED",)

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

_PAGE_WARNINGS_JS = """(codes) => {
  const hd = window.__hd;
  const list = (hd && Array.isArray(hd.warnings)) ? hd.warnings : [];
  return list.filter(w => w && codes.includes(w.code))
    .map(w => ({code: String(w.code), message: String(w.message)}));
}"""

# The shader transitions a page composites itself (HyperShader, @hyperframes/shader-transitions):
# its init() lists them in window.__hf.transitions whether or not a renderer is there to take them.
_SHADER_TRANSITIONS_JS = """() => {
  const hf = window.__hf;
  const list = (hf && Array.isArray(hf.transitions)) ? hf.transitions : [];
  return list.filter(t => t && t.shader !== undefined && t.shader !== null)
    .map(t => ({time: Number(t.time), shader: String(t.shader),
                from: String(t.fromScene || ''), to: String(t.toScene || '')}));
}"""


async def install_page_scripts(browser: LaunchedBrowser, init_script: InitScript | None = None) -> None:
    """Steps 7-8: the runtime's init script (or a test's *init_script*), then the alpha set-up."""
    spec, timeouts = browser.spec, browser.timeouts
    if init_script is None:
        wait_ms = round(timeouts.page_timeline_wait_s() * 1000.0, 3)
        script = runtime_init_script(spec.fps.num, spec.fps.den, dict(spec.variables), timeline_wait_ms=wait_ms)
    elif callable(init_script):
        script = init_script(spec.fps, dict(spec.variables))
    else:
        script = str(init_script)
    await browser.context.add_init_script(script=script)
    if spec.transparent:
        await browser.guard(browser.cdp.send("Emulation.setDefaultBackgroundColorOverride",
                                             {"color": {"r": 0, "g": 0, "b": 0, "a": 0}}),
                            timeouts.frame_s, "alpha set-up")
        await browser.context.add_init_script(script=_ALPHA_INIT_JS % json.dumps(TRANSPARENT_CSS))


async def load_until_ready(browser: LaunchedBrowser) -> None:
    """Step 9: navigate, wait for readiness, forward the page's readiness warnings."""
    await _navigate(browser)
    await _wait_ready(browser)
    await _refuse_shader_transitions(browser)
    await _collect_page_warnings(browser)


_ALIVE_EXPRESSION = {"expression": "0", "returnByValue": True}


async def _watch_responsive(browser: LaunchedBrowser, what: str) -> None:
    """Raise PAGE_UNRESPONSIVE when the page's main thread answers no call for the unresponsive
    limit (a script that never yields, e.g. `while (true) {}`); never returns otherwise."""
    limit = browser.timeouts.page_unresponsive_s()
    while True:
        try:
            await asyncio.wait_for(browser.cdp.send("Runtime.evaluate", _ALIVE_EXPRESSION), limit)
        except TimeoutError:
            raise HyperdeskError(
                "PAGE_UNRESPONSIVE",
                f"The page stopped answering during {what}: its main thread has been busy for {limit:g} s"
                " (a script that never yields?)",
                details={"unresponsive_s": limit, "work_dir": str(browser.work_dir)}) from None
        except playwright_error():
            pass  # a context replaced by the navigation; asked again below
        await asyncio.sleep(min(1.0, limit / 4))


async def _while_responsive(browser: LaunchedBrowser, aw: Awaitable[Any], what: str) -> Any:
    """Await `aw`, unless the page stops answering first (PAGE_UNRESPONSIVE)."""
    task = asyncio.ensure_future(aw)
    watch = asyncio.ensure_future(_watch_responsive(browser, what))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            watch.result()
        return task.result()
    finally:
        for t in (task, watch):
            if not t.done():
                t.cancel()
            browser.consume(t)


async def _navigated_meanwhile(browser: LaunchedBrowser) -> None:
    """A failed navigation may be the page's own navigation away, reported a moment later."""
    with contextlib.suppress(TimeoutError, HyperdeskError):
        await asyncio.wait_for(asyncio.shield(browser.dead), 0.5)
    if browser.dead.done():
        raise browser.crashed("navigation to /index.html")


async def _navigate(browser: LaunchedBrowser) -> None:
    url = f"{browser.origin}/index.html"
    nav_s = browser.timeouts.navigation_s
    what = "navigation to /index.html"
    try:
        resp = await browser.guard(
            _while_responsive(browser, browser.page.goto(url, wait_until="domcontentloaded",
                                                         timeout=nav_s * 1000.0 + 1000.0), what),
            nav_s, what, timeout_code="PAGE_NOT_READY", pump=True)
    except HyperdeskError as e:
        if e.code == "PAGE_NOT_READY":
            browser.errors.check()
            e.details.setdefault("unmet", ["navigation (DOMContentLoaded)"])
        raise
    except playwright_error() as e:
        await _navigated_meanwhile(browser)
        browser.errors.check()
        raise HyperdeskError(
            "PAGE_NOT_READY",
            f"Navigation to /index.html failed: {str(e).splitlines()[0]}",
            details={"unmet": ["navigation (DOMContentLoaded)"], "work_dir": str(browser.work_dir)},
        ) from e
    if resp is not None and resp.status >= 400:
        raise HyperdeskError(
            "PAGE_NOT_READY",
            f"/index.html answered HTTP {resp.status}",
            details={"unmet": ["navigation"], "status": resp.status, "work_dir": str(browser.work_dir)},
        )


async def _wait_ready(browser: LaunchedBrowser) -> None:
    timeouts = browser.timeouts
    deadline = time.monotonic() + timeouts.ready_s
    while True:
        browser.errors.check()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            r = await browser.guard(
                _while_responsive(browser, browser.page.evaluate(_READY_JS, browser.errors.runtime_seen),
                                  "the readiness wait"),
                max(remaining, timeouts.ready_poll_s), "the readiness poll", timeout_code="PAGE_NOT_READY", pump=True)
        except HyperdeskError as e:
            if e.code != "PAGE_NOT_READY":
                raise
            break  # the page did not answer in time
        except playwright_error() as e:
            # e.g. a navigation destroyed the context mid-poll: try again
            log.debug("readiness poll failed: %s", e)
            r = {"ready": False, "errors": []}
        browser.errors.check(r.get("errors"))
        if r.get("ready"):
            return
        await browser.guard(asyncio.sleep(timeouts.ready_poll_s), None, "the readiness wait", pump=True)
    await _raise_not_ready(browser)


async def _refuse_shader_transitions(browser: LaunchedBrowser) -> None:
    """A page that composites shader transitions itself expects a renderer hand-off (a virtual-time
    bridge plus a compositing step per frame) that hyperdesk does not provide: without it the library
    samples scenes in real time and every frame shows its loader. Refuse such a page instead."""
    try:
        found = await browser.guard(browser.page.evaluate(_SHADER_TRANSITIONS_JS), browser.timeouts.frame_s,
                                    "reading the page's shader transitions", pump=True)
    except playwright_error() as e:
        log.debug("reading the shader transitions failed: %s", e)
        return
    if not found:
        return
    listed = ", ".join(f"{t['shader']} at {t['time']:g} s ({t['from']} -> {t['to']})" for t in found)
    raise HyperdeskError(
        "SHADER_TRANSITIONS_NOT_SUPPORTED",
        f"The page composites {len(found)} shader transition(s) itself (HyperShader): {listed}; hyperdesk "
        "does not provide the renderer hand-off they need, and without it every frame would show the "
        "library's loader",
        details={"transitions": found, "work_dir": str(browser.work_dir)},
    )


async def _collect_page_warnings(browser: LaunchedBrowser) -> None:
    """Copy the readiness warnings the page recorded (``FORWARDED_PAGE_WARNINGS``) into the
    session's warnings, so chunk and plan results report them."""
    try:
        found = await browser.guard(browser.page.evaluate(_PAGE_WARNINGS_JS, list(FORWARDED_PAGE_WARNINGS)),
                                    browser.timeouts.frame_s, "reading the page warnings", pump=True)
    except playwright_error() as e:
        log.debug("reading the page warnings failed: %s", e)
        return
    warnings = browser.warnings
    seen = {(w.get("code"), w.get("message")) for w in warnings}
    for w in found or []:
        key = (w.get("code"), w.get("message"))
        if key in seen:
            continue
        seen.add(key)
        warnings.append(SessionWarning(code=str(w.get("code")), message=str(w.get("message")), url=None))
        log.warning("%s: %s", w.get("code"), w.get("message"))


async def _raise_not_ready(browser: LaunchedBrowser) -> None:
    answered = True
    try:
        info = await browser.guard(browser.page.evaluate(_STATE_JS), 5.0, "the readiness report", pump=True)
    except HyperdeskError as e:
        if e.code == "BROWSER_CRASHED":
            raise
        info, answered = {}, False
    except playwright_error():
        info, answered = {}, False
    browser.errors.check()
    state = info.get("state") if isinstance(info, dict) else None
    unmet, missing = unmet_from_state(state)
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
        f"The page was not ready after {browser.timeouts.ready_s:g} s"
        + (" (" + " — ".join(parts) + ")" if parts else ""),
        details={"unmet": unmet, "missing_timelines": missing, "state": state, "work_dir": str(browser.work_dir)},
    )


def unmet_from_state(state: Any) -> tuple[list, list]:
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
