"""CaptureSession against real Chromium, with the stub runtime (tests/capture/stub_runtime.py).

Pages are 320x180. Every test opens its own browser; keep the count of sessions small.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import time

import pytest
from playwright.async_api import Error as PlaywrightError

from hyperdesk.capture.frames import video_frame_number
from hyperdesk.capture.launch import LaunchedBrowser
from hyperdesk.capture.session import Timeouts
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.models import Fps, VideoEntry, VideoSource

from .conftest import H, W, make_plan, open_session, run
from .imaging import decode_rgba, pixel, solid_png

ANIM_PAGE = """<!doctype html><html data-duration="1"><head><style>
html, body { margin: 0; background: #fff; }
#a { position: absolute; left: 0; top: 20px; width: 60px; height: 60px; background: #c33;
     animation: mv 0.4s linear both; }
@keyframes mv { from { transform: translateX(0); opacity: 1 } to { transform: translateX(250px); opacity: .3 } }
#b { position: absolute; left: 130px; top: 100px; width: 50px; height: 50px; background: #36c; }
#c { position: absolute; left: 20px; top: 110px; width: 40px; height: 40px; background: linear-gradient(#0a0, #ff0);
     border-radius: 8px; }
</style></head><body><div id="a"></div><div id="b"></div><div id="c"></div>
<script>
document.getElementById('b').animate([{transform: 'rotate(0deg)'}, {transform: 'rotate(180deg)'}],
                                     {duration: 400, fill: 'both'});
document.getElementById('c').animate([{transform: 'scale(1)'}, {transform: 'scale(1.8)'}],
                                     {duration: 400, fill: 'both', easing: 'ease-in-out'});
</script></body></html>"""

FRAMES = list(range(10))  # 0 .. 0.3 s at 30 fps: every frame differs


async def capture_all(plan, work, browser, mode, fmt, order):
    s = await open_session(plan, work, browser, mode=mode, fmt=fmt)
    try:
        out = {}
        for i in order:
            out[i] = await s.capture(i)
        return s.capture_mode, s.browser_kind, [out[i] for i in FRAMES]
    finally:
        await s.close()


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_beginframe_and_screenshot_give_identical_bytes(tmp_path, shell, chromium, fmt):
    plan = make_plan(tmp_path / "plan", ANIM_PAGE)
    bf = run(capture_all(plan, tmp_path / "w1", shell, "auto", fmt, FRAMES))
    ss = run(capture_all(plan, tmp_path / "w2", shell, "screenshot", fmt, FRAMES))
    ch = run(capture_all(plan, tmp_path / "w3", chromium, "auto", fmt, FRAMES))
    assert bf[:2] == ("beginframe", "chromium-headless-shell")
    assert ss[:2] == ("screenshot", "chromium-headless-shell")
    assert ch[:2] == ("screenshot", "chromium")
    magic = b"\xff\xd8\xff" if fmt == "jpeg" else b"\x89PNG"
    assert all(img.startswith(magic) for img in bf[2])
    assert len({hashlib.sha256(b).hexdigest() for b in bf[2]}) == len(FRAMES), "the animation must move"
    digests = [[hashlib.sha256(b).hexdigest() for b in r[2]] for r in (bf, ss, ch)]
    assert digests[0] == digests[1], "BeginFrame vs screenshot (headless shell)"
    assert digests[1] == digests[2], "headless shell vs chromium (screenshot mode)"


SHRINK_PAGE = """<!doctype html><html><head><style>
html, body { margin: 0; background: #fff; }
#c { position: absolute; left: 60px; top: 50px; width: 40px; height: 40px; border-radius: 8px;
     background: linear-gradient(#0a0, #ff0); animation: sc .6s linear both; }
#d { position: absolute; left: 200px; top: 60px; width: 40px; height: 40px; background: #a0f; will-change: transform;
     animation: ud .5s linear both; }
@keyframes sc { from { transform: scale(2) } to { transform: scale(.8) } }
@keyframes ud { 0% { transform: scale(1) rotate(0) } 50% { transform: scale(2) rotate(30deg) } 100% { transform: scale(1) rotate(0) } }
</style></head><body><div id="c"></div><div id="d"></div></body></html>"""


@pytest.mark.parametrize("mode", ["beginframe", "screenshot"])
def test_chunk_start_does_not_change_frames(tmp_path, shell, mode):
    """Raster state carries over between frames (a shrinking layer keeps its raster scale for a
    frame; partial raster): a session starting mid-way must still give the same bytes."""
    plan = make_plan(tmp_path / "plan", SHRINK_PAGE)

    async def go(frames, work):
        s = await open_session(plan, work, shell, mode=mode, fmt="png")
        try:
            return {i: hashlib.sha256(await s.capture(i)).hexdigest() for i in frames}
        finally:
            await s.close()

    full = run(go(range(0, 14), tmp_path / "a"))
    assert full == run(go(range(0, 14), tmp_path / "a2")), "a second launch must give the same bytes"
    for start in (5, 9):
        part = run(go(range(start, 14), tmp_path / f"b{start}"))
        assert [part[i] for i in range(start, 14)] == [full[i] for i in range(start, 14)], start


def test_unanswered_redraw_capture_is_asked_again(tmp_path, shell):
    """Guard of the BeginFrame capture: a Page.captureScreenshot that never answers is sent again
    (after Timeouts.redraw_retry_s) and the frame is the one an undisturbed session captures."""
    plan = make_plan(tmp_path / "plan", ANIM_PAGE)

    async def go(drop: int):
        s = await open_session(plan, tmp_path / f"w{drop}", shell, mode="beginframe", fmt="png",
                               timeouts=Timeouts(redraw_retry_s=0.3))
        send, dropped = s.browser.cdp.send, []

        async def lossy(method, params=None):
            if method == "Page.captureScreenshot" and len(dropped) < drop:
                dropped.append(method)
                await asyncio.Event().wait()  # never answers
            return await send(method, params)

        s.browser.cdp.send = lossy
        try:
            t0 = time.monotonic()
            out = [await s.capture(i) for i in (2, 3)]
            return out, time.monotonic() - t0, len(dropped)
        finally:
            await s.close()

    clean, _, _ = run(go(0))
    lossy, took, dropped = run(go(1))
    assert dropped == 1 and 0.3 <= took < 20
    assert lossy == clean


def _empty_answers(s, count: int | None) -> list[float]:
    """Make the first `count` (None: every) Page.captureScreenshot answers of session `s` Chromium's
    "Unable to capture screenshot" (the request still reaches Chromium); returns the times asked."""
    send, asked = s.browser.cdp.send, []

    async def empty(method, params=None):
        answer = await send(method, params)
        if method == "Page.captureScreenshot" and (count is None or len(asked) < count):
            asked.append(time.monotonic())
            raise PlaywrightError("Protocol error (Page.captureScreenshot): Unable to capture screenshot")
        return answer

    s.browser.cdp.send = empty
    return asked


@pytest.mark.parametrize("mode", ["beginframe", "screenshot"])
def test_empty_screenshot_answers_are_asked_again_for_a_while(tmp_path, shell, mode):
    """An empty surface copy ("Unable to capture screenshot") is asked again, paced, and the frame is
    the one an undisturbed session captures: 12 empty answers in a row on the first frame (more than
    the 8 a CI run once met) are survived."""
    plan = make_plan(tmp_path / "plan", ANIM_PAGE)

    async def go(empties: int):
        s = await open_session(plan, tmp_path / f"w{empties}", shell, mode=mode, fmt="png")
        asked = _empty_answers(s, empties)
        try:
            return [await s.capture(i) for i in (0, 3)], len(asked)
        finally:
            await s.close()

    clean, _ = run(go(0))
    survived, empties = run(go(12))
    assert empties == 12
    assert survived == clean


@pytest.mark.parametrize("mode", ["beginframe", "screenshot"])
def test_endless_empty_screenshot_answers_fail_the_frame_typed(tmp_path, shell, mode):
    """A browser whose surface copies stay empty fails the frame after Timeouts.empty_shots_s with a
    retryable BROWSER_CRASHED that says so, having asked a paced few dozen times, not once per BeginFrame."""
    plan = make_plan(tmp_path / "plan", ANIM_PAGE)

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, mode=mode, fmt="png",
                               timeouts=Timeouts(empty_shots_s=1.0))
        asked = _empty_answers(s, None)
        try:
            with pytest.raises(HyperdeskError) as e:
                await s.capture(1)
            return e.value, asked
        finally:
            await s.close()

    err, asked = run(go())
    assert err.code == "BROWSER_CRASHED" and err.retryable
    assert "Chromium returned no image for the capture of frame " in err.message
    assert "Unable to capture screenshot" in err.message
    assert 1.0 <= asked[-1] - asked[0] < 3.0
    assert 10 <= len(asked) <= 60, len(asked)


def test_gl_assertion_passes_and_test_fault_fails_it(tmp_path, shell):
    plan = make_plan(tmp_path / "plan", "<!doctype html><html><body></body></html>")

    async def go():
        s = await open_session(plan, tmp_path / "w", shell)
        try:
            assert s.capture_mode == "beginframe"
            assert s.browser_version and s.browser_version.count(".") == 3
            assert s.timings["browser_boot_ms"] > 0 and s.timings["page_ready_ms"] > 0
            assert await s.duration() == 1.0
            assert await s.evaluate("() => navigator.language") == "en-US"
            assert await s.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone") == "UTC"
            assert await s.evaluate("() => [innerWidth, innerHeight, devicePixelRatio]") == [W, H, 1]
            assert await s.evaluate("() => matchMedia('(prefers-color-scheme: light)').matches") is True
        finally:
            await s.close()

    run(go())
    assert (tmp_path / "w" / "fontconfig" / "fonts.conf").is_file()
    assert (tmp_path / "w" / "profile").is_dir()

    fake = FaultPlan(gl_renderer="ANGLE (NVIDIA, NVIDIA GeForce RTX 4090 Direct3D11)")
    with pytest.raises(HyperdeskError) as ei:
        run(open_session(plan, tmp_path / "w2", shell, mode="screenshot", faults=fake))
    e = ei.value
    assert e.code == "BROWSER_GPU_NOT_SOFTWARE" and not e.retryable
    assert "NVIDIA" in e.message and e.details["vendor"] == "Google Inc. (Google)"


BLOCK_PAGE = """<!doctype html><html><head>
<link rel="stylesheet" href="https://fonts.googleapis.com/css2?family=Roboto">
</head><body><img src="https://cdn.example.com/pic.png">
<script>
window.__fetches = Promise.allSettled([
  fetch('http://example.invalid/data.json').then(r => r.status),
  fetch('/local.json').then(r => r.json()),
]).then(rs => rs.map(r => r.status === 'fulfilled' ? r.value : 'rejected'));
</script></body></html>"""


def test_external_requests_are_blocked_and_recorded(tmp_path, shell):
    plan = make_plan(tmp_path / "plan", BLOCK_PAGE, {"compiled/local.json": '{"ok": 1}'})

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, mode="screenshot")
        try:
            results = await s.evaluate("() => window.__fetches")
            await s.capture(0)
            return results, list(s.warnings)
        finally:
            await s.close()

    results, warnings = run(go())
    assert results == ["rejected", {"ok": 1}]
    urls = {w["url"] for w in warnings}
    assert all(w["code"] == "REQUEST_BLOCKED" and w["message"] for w in warnings)
    assert "http://example.invalid/data.json" in urls
    assert "https://cdn.example.com/pic.png" in urls
    assert "https://fonts.googleapis.com/css2?family=Roboto" in urls
    assert not any("127.0.0.1" in u for u in urls)


def test_page_that_throws_on_load(tmp_path, shell):
    page = """<!doctype html><html><body><script>
    function explode() { throw new Error('boom-4711 in the composition'); }
    explode();
    </script></body></html>"""
    plan = make_plan(tmp_path / "plan", page)
    with pytest.raises(HyperdeskError) as ei:
        run(open_session(plan, tmp_path / "w", shell))
    e = ei.value
    assert e.code == "PAGE_SCRIPT_ERROR" and not e.retryable
    assert "boom-4711 in the composition" in e.message
    assert "boom-4711" in e.details["message"]
    assert e.details.get("source")


def test_never_ready_is_page_not_ready(tmp_path, shell):
    page = '<!doctype html><html data-never-ready data-missing-timelines="intro outro"><body></body></html>'
    plan = make_plan(tmp_path / "plan", page)
    t0 = time.monotonic()
    with pytest.raises(HyperdeskError) as ei:
        run(open_session(plan, tmp_path / "w", shell, timeouts=Timeouts(ready_s=1.0)))
    assert time.monotonic() - t0 < 20
    e = ei.value
    assert e.code == "PAGE_NOT_READY" and e.retryable
    assert e.details["missing_timelines"] == ["intro", "outro"]
    assert "assets" in e.details["unmet"] and "timelines" in e.details["unmet"]
    assert "intro" in e.message and "assets" in e.message


def test_seek_that_hangs_is_capture_timeout(tmp_path, shell):
    page = """<!doctype html><html><body><script>
    window.__stubSeekHook = (t) => t > 0.05 ? new Promise(() => {}) : null;
    </script></body></html>"""
    plan = make_plan(tmp_path / "plan", page)

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, timeouts=Timeouts(frame_s=1.0))
        try:
            await s.capture(0)
            with pytest.raises(HyperdeskError) as ei:
                await s.capture(3)
            return ei.value
        finally:
            await s.close()

    e = run(go())
    assert e.code == "CAPTURE_TIMEOUT" and e.retryable and e.details["frame"] == 3
    # the message names the step's limit, never the remainder a later guard of the step was given
    assert e.message == "The seek of frame 3 did not finish within the 1 s frame limit", e.message


@pytest.mark.parametrize("mode", ["beginframe", "screenshot"])
def test_browser_killed_mid_session(tmp_path, shell, mode):
    plan = make_plan(tmp_path / "plan", ANIM_PAGE)

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, mode=mode)
        try:
            await s.capture(0)
            pid = s.browser_pid
            assert pid
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(HyperdeskError) as ei:
                for i in range(1, 50):
                    await s.capture(i)
                    await asyncio.sleep(0.05)
            return ei.value, pid
        finally:
            await s.close()

    t0 = time.monotonic()
    e, pid = run(go())
    assert time.monotonic() - t0 < 30
    assert e.code == "BROWSER_CRASHED" and e.retryable
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


# Only html/body backgrounds are cleared for alpha formats (issue 10): a root background would stay.
ALPHA_PAGE = """<!doctype html><html><head><style>
html, body { margin: 0; background: #fff; }
[data-composition-id] { position: absolute; inset: 0; }
#box { position: absolute; left: 100px; top: 50px; width: 100px; height: 60px; background: rgb(255, 0, 0); }
#half { position: absolute; left: 240px; top: 50px; width: 40px; height: 40px; background: rgba(0, 0, 255, .5); }
</style></head><body><div data-composition-id="root"><div id="box"></div><div id="half"></div></div></body></html>"""


@pytest.mark.parametrize("mode", ["beginframe", "screenshot"])
def test_alpha_capture_leaves_transparent_pixels(tmp_path, shell, mode):
    plan = make_plan(tmp_path / "plan", ALPHA_PAGE)

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, mode=mode, fmt="png", transparent=True)
        try:
            return await s.capture(0)
        finally:
            await s.close()

    rgba = decode_rgba(run(go()), W, H)
    assert pixel(rgba, W, 5, 5)[3] == 0
    assert pixel(rgba, W, 310, 170)[3] == 0
    assert pixel(rgba, W, 150, 80) == (255, 0, 0, 255)
    r, g, b, a = pixel(rgba, W, 260, 70)
    assert 120 <= a <= 135 and b > 200 and r == 0


def _entry(media_id, start, end, n, *, loop=False, rate=1.0, src_dur=10.0, media_start=0.0, fmt="png"):
    return VideoEntry(
        media_id=media_id, src=f"media/{media_id}.mp4", start_s=start, end_s=end, media_start_s=media_start,
        playback_rate=rate, loop=loop, frames_dir=f"video-frames/{media_id}", frame_format=fmt, frame_count=n,
        extraction_fps=Fps.of(30),
        source=VideoSource(sha256="0" * 64, duration_s=src_dur, width=16, height=16, codec="h264"),
    )


def test_video_frame_lookup():
    e = _entry("v", 1.0, 3.0, 60)
    assert video_frame_number(e, 0.99) is None
    assert video_frame_number(e, 1.0) == 1
    assert video_frame_number(e, 1.0 + 1 / 30) == 2
    assert video_frame_number(e, 2.999) == 60
    assert video_frame_number(e, 5.0) == 60  # holds the last frame
    assert video_frame_number(_entry("v", 0, 4, 90, rate=2.0, src_dur=10), 1.0) == 61
    # loop: L = (source - media start) / rate = (1.0 - 0.5) / 1 = 0.5 s
    lp = _entry("v", 0.0, 3.0, 15, loop=True, src_dur=1.0, media_start=0.5)
    assert video_frame_number(lp, 0.4) == 13
    assert video_frame_number(lp, 0.5) == 1
    assert video_frame_number(lp, 0.5 + 2 / 30) == 3
    assert video_frame_number(Fps.of(30) and _entry("v", 0, 1, 30), Fps.of(30).frame_time(7)) == 8


def test_video_frames_are_injected(tmp_path, shell):
    colours = [(255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255), (255, 255, 0, 255)]
    files = {f"video-frames/v1/frame_{k + 1:06d}.png": solid_png(16, 16, c) for k, c in enumerate(colours)}
    page = """<!doctype html><html><body style="margin:0;background:#000">
    <video data-media-id="v1" data-start="0.1" data-duration="10" muted></video>
    <img data-video-for="v1" style="position:absolute;left:0;top:0;width:100px;height:100px;visibility:hidden">
    </body></html>"""
    plan = make_plan(tmp_path / "plan", page, files)
    entry = _entry("v1", 0.1, 10.1, len(colours))

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, videos=[entry], fmt="png")
        try:
            seen = []
            for i in range(6):
                img = await s.capture(i)
                state = await s.evaluate("() => [window.__hd.videoState.v1, window.__stubInjected || 0]")
                seen.append((state, pixel(decode_rgba(img, W, H), W, 50, 50)))
            return seen
        finally:
            await s.close()

    seen = run(go())
    # frames at t = 0, 1/30, 2/30 (< 0.1: none), 0.1 -> 1, 4/30 -> 2, 5/30 -> 3
    assert [s[0][0] for s in seen[:3]] == [None, None, None]
    expect = {3: 1, 4: 2, 5: 3}
    for i, n in expect.items():
        uri = seen[i][0][0]
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1]) == files[f"video-frames/v1/frame_{n:06d}.png"]
        assert seen[i][1][:3] == colours[n - 1][:3]
    assert seen[0][1][:3] == (0, 0, 0)
    assert seen[-1][0][1] == 6  # afterVideoInjection ran after every seek


def test_missing_video_frame_is_reported(tmp_path, shell):
    page = '<!doctype html><html><body><video data-media-id="v1" data-start="0"></video></body></html>'
    plan = make_plan(tmp_path / "plan", page)

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, videos=[_entry("v1", 0, 1, 30)])
        try:
            with pytest.raises(HyperdeskError) as ei:
                await s.capture(0)
            return ei.value
        finally:
            await s.close()

    e = run(go())
    assert e.code == "MISSING_PLAN_ARTIFACT" and "frame_000001.png" in e.message


def test_close_kills_the_browser(tmp_path, chromium):
    plan = make_plan(tmp_path / "plan", "<!doctype html><html><body></body></html>")

    async def go():
        s = await open_session(plan, tmp_path / "w", chromium)
        assert s.capture_mode == "screenshot" and s.browser_kind == "chromium"
        pid = s.browser_pid
        await s.close()
        await s.close()  # idempotent
        return pid

    pid = run(go())
    assert pid
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}")


def test_forced_beginframe_needs_the_headless_shell(tmp_path, chromium):
    plan = make_plan(tmp_path / "plan", "<!doctype html><html><body></body></html>")
    with pytest.raises(HyperdeskError) as ei:
        run(open_session(plan, tmp_path / "w", chromium, mode="beginframe"))
    assert ei.value.code == "INVALID_RENDER_CONFIG"


def test_auto_falls_back_to_screenshot_when_the_probe_fails(tmp_path, shell, monkeypatch):
    async def no_image(self):
        return False

    monkeypatch.setattr(LaunchedBrowser, "beginframe_probe", no_image)
    plan = make_plan(tmp_path / "plan", ANIM_PAGE)

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, mode="auto")
        try:
            return s.capture_mode, s.browser_kind, await s.capture(3)
        finally:
            await s.close()

    mode, kind, img = run(go())
    assert (mode, kind) == ("screenshot", "chromium-headless-shell")
    assert img.startswith(b"\xff\xd8\xff")
    with pytest.raises(HyperdeskError) as ei:
        run(open_session(plan, tmp_path / "w2", shell, mode="beginframe"))
    assert ei.value.code == "CAPTURE_TIMEOUT"


FONT_PAGE = """<!doctype html><html><body><script>
window.__widths = () => document.fonts.ready.then(() => {
  const c = document.createElement('canvas').getContext('2d');
  const w = (f) => { c.font = '40px ' + f; return c.measureText('Hamburgefonstiv 0123').width; };
  return {named: w('"DejaVu Sans"'), system: w('"Liberation Sans"'), generic: w('sans-serif'),
          serif: w('serif'), mono: w('monospace')};
});
</script></body></html>"""


def test_fonts_come_only_from_the_plan(tmp_path, shell):
    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    liberation = "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"
    if not (os.path.exists(dejavu) and os.path.exists(liberation)):
        pytest.skip("needs the DejaVu and Liberation system fonts")
    plan = make_plan(tmp_path / "plan", FONT_PAGE, {"fonts/DejaVuSans.ttf": open(dejavu, "rb").read()})

    async def go():
        s = await open_session(plan, tmp_path / "w", shell)
        try:
            return await s.evaluate("() => window.__widths()")
        finally:
            await s.close()

    w = run(go())
    # Liberation Sans is installed on the system but not in the plan: it must not be used.
    assert w["system"] == w["named"] == w["generic"] == w["serif"] == w["mono"], w
