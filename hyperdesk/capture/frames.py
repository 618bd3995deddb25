"""One frame of a ready page (plan contract 7.3): seek, video-frame injection, capture.

``FrameCapture.capture(i)`` seeks the page to absolute frame *i*, hands the page the extracted
frames of its active videos (composition contract 11.1), and returns the encoded image (JPEG or PNG
bytes) of a forced redraw: after a BeginFrame under BeginFrame control, after one ordinary frame in
screenshot mode. Both modes give the same bytes.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperdesk.capture.launch import LaunchedBrowser, first_line, playwright_error
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import VideoEntry

log = logging.getLogger(__name__)

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

# Seeks a run of frame times one after another, as a render would, without drawing any of them.
_PREROLL_JS = """async ([times, seen]) => {
  for (const t of times) await window.__hf.seek(t);
  const hd = window.__hd;
  const errs = (hd && Array.isArray(hd.errors)) ? hd.errors : [];
  return {errors: errs.slice(seen).map(e => ({
            message: String((e && e.message) !== undefined ? e.message : e),
            source: (e && e.source !== undefined) ? String(e.source) : null}))};
}"""

# A pre-roll batch grows while its seeks take less than this, so that one page call stays well
# under the 1 s after which a stuck call gets BeginFrames pumped (and the 30 s frame-step limit).
_PREROLL_BATCH_S = 0.25
_PREROLL_BATCH_MAX = 256

_SYNC_JS = {
    1: "new Promise(r => requestAnimationFrame(() => r(1)))",
    2: "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(1))))",
}

_INJECT_JS = """async ([items, t]) => {
  const hd = window.__hd;
  for (const [id, uri] of items) await hd.setVideoFrame(id, uri);
  if (typeof hd.afterVideoInjection === 'function') await hd.afterVideoInjection(t);
}"""


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


class FrameCapture:
    """Frames of the page in *browser*, captured in the mode the browser was launched for."""

    def __init__(self, browser: LaunchedBrowser) -> None:
        self.browser = browser
        self.spec = browser.spec
        self.timeouts = browser.timeouts
        self.work_dir = browser.work_dir
        # Determinism measures (see _capture_beginframe() and _frame_sync()); attributes only so
        # that experiments can switch them off — renders keep the defaults.
        self.frame_sync = True
        self.redraw_capture = True
        self.frame_sync_depth = 1
        self._last_image: bytes | None = None
        self._videos = {v.media_id: v for v in self.spec.videos}
        self._video_uri_cache: dict[str, tuple[str, str]] = {}
        self._sync_world: int | None = None
        # "Unable to capture screenshot" answers for this frame, and when the first came (see _answered)
        self._empty_shots = 0
        self._empty_since: float | None = None

    def new_run(self) -> None:
        """A new run of frames on the same page (a warm worker's next chunk): no image carries over."""
        self._last_image = None

    async def capture(self, frame_index: int) -> bytes:
        """Seek to absolute frame *frame_index*, inject video frames, return the encoded image."""
        data = await self._step(frame_index, output=True)
        assert data is not None
        self._last_image = data
        return data

    async def render(self, frame_index: int) -> None:
        """Seek to *frame_index* and draw it without capturing (a warm-up)."""
        await self._step(frame_index, output=False)

    async def preroll(self, frames: range) -> None:
        """Seek every frame of *frames* in order without drawing, injecting video or capturing it:
        the page's script state then is what a render that came through those frames left behind."""
        browser = self.browser
        limit = self.timeouts.frame_s
        pos, batch = frames.start, 1
        while pos < frames.stop:
            chunk = range(pos, min(frames.stop, pos + batch))
            times = [self.spec.fps.frame_time(i) for i in chunk]
            step = f"the pre-roll of frames {chunk.start}-{chunk.stop - 1}"
            t0 = time.monotonic()
            try:
                browser.errors.check()
                try:
                    r = await browser.guard(browser.page.evaluate(_PREROLL_JS, [times, browser.errors.runtime_seen]),
                                            limit, step, pump=True, pump_delay=self.timeouts.capture_pump_delay_s,
                                            limit=limit)
                except playwright_error() as e:
                    browser.errors.check()
                    raise self._seek_error(e, step) from e
                browser.errors.check(r.get("errors"))
            except HyperdeskError as e:
                e.details.setdefault("frame", chunk.start)
                raise
            pos = chunk.stop
            if time.monotonic() - t0 < _PREROLL_BATCH_S:
                batch = min(batch * 2, _PREROLL_BATCH_MAX)

    async def _step(self, frame_index: int, *, output: bool) -> bytes | None:
        browser = self.browser
        t = self.spec.fps.frame_time(frame_index)
        step = f"frame {frame_index}" + ("" if output else " (warm-up)")
        limit = self.timeouts.frame_s
        deadline = time.monotonic() + limit

        def left() -> float:
            return max(0.001, deadline - time.monotonic())

        try:
            browser.errors.check()
            try:
                r = await browser.guard(browser.page.evaluate(_SEEK_JS, [t, browser.errors.runtime_seen]), left(),
                                        f"the seek of {step}", pump=True,
                                        pump_delay=self.timeouts.capture_pump_delay_s, limit=limit)
            except playwright_error() as e:
                browser.errors.check()
                raise self._seek_error(e, step) from e
            browser.errors.check(r.get("errors"))
            videos = r.get("videos") or []
            if videos:
                items = [[v["mediaId"], self._video_uri(v["mediaId"], t) if v.get("active") else None] for v in videos]
                try:
                    await browser.guard(browser.page.evaluate(_INJECT_JS, [items, t]), left(),
                                        f"the video injection of {step}", pump=True,
                                        pump_delay=self.timeouts.capture_pump_delay_s, limit=limit)
                except playwright_error() as e:
                    browser.errors.check()
                    raise self._seek_error(e, step) from e
                browser.errors.check()
            if browser.beginframe:
                if not output:
                    await browser.settle_pump(left(), limit)
                    await browser.guard(browser.begin_frame(None), left(), f"the render of {step}", limit=limit)
                    return None
                return await self._capture_beginframe(step, left)
            data = await self._capture_screenshot(step, left)
            return data if output else None
        except HyperdeskError as e:
            e.details.setdefault("frame", frame_index)
            raise
        except playwright_error() as e:  # a protocol error of the capture calls themselves
            self._sync_world = None
            raise HyperdeskError(
                "BROWSER_CRASHED", f"Capturing {step} failed: {first_line(e)}",
                details={"browser": browser.info.path, "work_dir": str(self.work_dir), "frame": frame_index},
            ) from e

    def _seek_error(self, e: BaseException, step: str) -> HyperdeskError:
        msg = first_line(e)
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
        browser = self.browser
        limit = self.timeouts.frame_s
        await browser.settle_pump(left(), limit)
        if not self.redraw_capture:
            return await self._capture_beginframe_shot(step, left)
        await browser.guard(browser.begin_frame(None), left(), f"the render of {step}", limit=limit)
        what = f"the capture of {step}"
        params = self._cdp_screenshot_params()
        cdp, dead = browser.cdp, browser.dead
        # Empty answers are tolerated per frame, for a time (see _answered).
        self._empty_shots, self._empty_since = 0, None
        shots = [asyncio.ensure_future(cdp.send("Page.captureScreenshot", params))]
        try:
            wait = self.timeouts.redraw_poll_s
            retry_after = self.timeouts.redraw_retry_s
            asked = time.monotonic()
            while True:
                if not any(not s.done() for s in shots):
                    # Every request came back empty: ask again after a pause that grows with `wait`,
                    # so an empty spell costs a few dozen requests, not one per BeginFrame.
                    await asyncio.wait({dead}, timeout=min(wait, left()))
                    if dead.done():
                        raise browser.crashed(what)
                    shots.append(asyncio.ensure_future(cdp.send("Page.captureScreenshot", params)))
                    asked = time.monotonic()
                # The redraw needs a BeginFrame; one sent before the request reached the renderer
                # draws nothing, so keep sending them (one at a time) until the image arrives.
                await browser.guard(browser.begin_frame(None), left(), what, limit=limit)
                await asyncio.wait({*shots, dead}, timeout=min(wait, left()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if dead.done():
                    raise browser.crashed(what)
                if self._answered(shots, what):
                    break
                if left() <= 0.001:
                    raise browser.timed_out(what, 0.0, limit)
                wait = min(wait * 2, self.timeouts.redraw_poll_max_s)
                if time.monotonic() - asked >= retry_after:
                    # A request still unanswered after many BeginFrames (rare; seen under CPU
                    # load) is asked again: every request redraws the same, settled page.
                    log.info("%s: no screenshot after %.1f s, asking again", what, time.monotonic() - asked)
                    shots.append(asyncio.ensure_future(cdp.send("Page.captureScreenshot", params)))
                    asked, retry_after = time.monotonic(), retry_after * 2
            answer = next(s for s in shots if s.done() and not s.cancelled() and s.exception() is None)
            data = answer.result().get("data")
        finally:
            for shot in shots:
                if not shot.done():
                    shot.cancel()
                browser.consume(shot)
        if not data:
            raise HyperdeskError("CAPTURE_TIMEOUT", f"The screenshot of {step} returned no image",
                                 details={"work_dir": str(self.work_dir), "frame_step": step})
        return base64.b64decode(data)

    def _answered(self, shots: list[Any], what: str) -> bool:
        """Whether one of the pending ``Page.captureScreenshot`` requests has its image; a request
        that came back empty is dropped (see ``_empty_answer``) and the caller asks again."""
        ok = False
        for shot in list(shots):
            if not shot.done():
                continue
            err = shot.exception()
            if err is None:
                ok = True
                continue
            self._empty_answer(err, what)
            shots.remove(shot)
        return ok

    def _empty_answer(self, err: BaseException, what: str) -> None:
        """Let a failed ``Page.captureScreenshot`` be asked again if it is Chromium's "Unable to
        capture screenshot" (its surface copy came back empty: seen in full test runs under CPU load,
        once for more than 8 requests in a row on the first frame of a page); raise any other error,
        and this one when the frame's empty answers have gone on for ``empty_shots_s``."""
        if "Unable to capture screenshot" not in str(err):
            raise err
        now = time.monotonic()
        self._empty_shots += 1
        if self._empty_since is None:
            self._empty_since = now
        if now - self._empty_since > self.timeouts.empty_shots_s:
            raise HyperdeskError(
                "BROWSER_CRASHED",
                f"Chromium returned no image for {what} ({self._empty_shots} empty answers in "
                f"{now - self._empty_since:.1f} s): {first_line(err)}",
                details={"browser": self.browser.info.path, "work_dir": str(self.work_dir)})
        log.info("%s: %s; asking again", what, first_line(err))

    async def _capture_beginframe_shot(self, step: str, left: Callable[[], float]) -> bytes:
        """The capture through beginFrame's ``screenshot`` option (``redraw_capture = False``, for
        experiments only: see ``_capture_beginframe``)."""
        browser = self.browser
        limit = self.timeouts.frame_s
        spec = self.spec
        if spec.capture_format == "jpeg":
            shot: dict[str, Any] = {"format": "jpeg", "quality": int(spec.jpeg_quality)}
        else:
            shot = {"format": "png", "optimizeForSpeed": bool(spec.png_fast)}
        attempts = 6 if self._last_image is None else 1  # the first frame: 1 try + 5 repeats
        for n in range(attempts):
            r = await browser.guard(browser.begin_frame(shot), left(), f"the capture of {step}", limit=limit)
            data = r.get("screenshotData")
            if data:
                return base64.b64decode(data)
            if self._last_image is not None:
                return self._last_image
            if n < attempts - 1:
                await browser.guard(asyncio.sleep(0.05 * (2 ** n)), left(), f"the capture of {step}", limit=limit)
        raise HyperdeskError("CAPTURE_TIMEOUT", f"BeginFrame produced no image for {step}",
                             details={"work_dir": str(self.work_dir), "frame_step": step})

    async def _frame_sync(self, step: str, left: Callable[[], float]) -> None:
        """Screenshot mode: let the compositor present the seeked state in an ordinary frame before
        the screenshot. Without it, whether a frame was drawn between seek and screenshot is a race
        that reaches the raster of transformed layers (measured: 1 to 9 of 12 frames of a shrinking
        layer differed between launches; with it none, the same bytes on both binaries). One
        ``requestAnimationFrame`` callback in an isolated world (the browser's own rAF: the page's is
        virtualised by the runtime)."""
        browser = self.browser
        what = f"the frame sync of {step}"
        limit = self.timeouts.frame_s
        if self._sync_world is None:
            tree = await browser.guard(browser.cdp.send("Page.getFrameTree"), left(), what, limit=limit)
            frame_id = tree["frameTree"]["frame"]["id"]
            r = await browser.guard(browser.cdp.send("Page.createIsolatedWorld",
                                                     {"frameId": frame_id, "worldName": "__hyperdesk_sync"}),
                                    left(), what, limit=limit)
            self._sync_world = r["executionContextId"]
        r = await browser.guard(browser.cdp.send("Runtime.evaluate", {
            "expression": _SYNC_JS[self.frame_sync_depth],
            "contextId": self._sync_world, "awaitPromise": True, "returnByValue": True}), left(), what,
            limit=limit)
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
        browser = self.browser
        if self.frame_sync:
            await self._frame_sync(step, left)
        what, pause = f"the capture of {step}", self.timeouts.redraw_poll_s
        self._empty_shots, self._empty_since = 0, None
        while True:
            try:
                r = await browser.guard(browser.cdp.send("Page.captureScreenshot", self._cdp_screenshot_params()),
                                        left(), what, limit=self.timeouts.frame_s)
                break
            except playwright_error() as e:
                self._empty_answer(e, what)
            await asyncio.sleep(min(pause, left()))
            pause = min(pause * 2, self.timeouts.redraw_poll_max_s)
        data = r.get("data")
        if not data:
            raise HyperdeskError("CAPTURE_TIMEOUT", f"The screenshot of {step} returned no image",
                                 details={"work_dir": str(self.work_dir), "frame_step": step})
        return base64.b64decode(data)

    def _video_uri(self, media_id: str, t: float) -> str | None:
        entry = self._videos.get(media_id)
        if entry is None:
            raise HyperdeskError("MISSING_PLAN_ARTIFACT",
                                 f"The page has video {media_id!r} but videos.json does not list it",
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
