"""The capture layer against the real page runtime (hyperdesk/runtime/hf-runtime.js)."""
from __future__ import annotations

import hashlib
import time

import pytest

from hyperdesk.capture.session import Timeouts
from hyperdesk.errors import HyperdeskError

from .conftest import W, H, make_plan, open_session, run
from .imaging import decode_rgba, pixel, solid_png
from .test_session import _entry

COMP = """<!doctype html><html><head><style>
html, body { margin: 0; background: #fff; }
#main { position: relative; width: 320px; height: 180px; overflow: hidden; background: #fafafa; }
#a { position: absolute; left: 0; top: 20px; width: 60px; height: 60px; background: #c33; animation: mv .4s linear both; }
@keyframes mv { from { transform: translateX(0) } to { transform: translateX(250px) } }
#b { position: absolute; left: 130px; top: 100px; width: 50px; height: 50px; background: #36c; }
#c { position: absolute; left: 20px; top: 110px; width: 40px; height: 40px; background: #0a0; }
#g { position: absolute; left: 250px; top: 110px; width: 40px; height: 40px; background: #f80; }
</style></head><body>
<div id="main" data-composition-id="main" data-width="320" data-height="180" data-duration="1">
  <div id="a"></div><div id="b"></div><div id="c"></div><div id="g"></div>
</div>
<script>
document.getElementById('b').animate([{transform: 'rotate(0deg)'}, {transform: 'rotate(180deg)'}], {duration: 400, fill: 'both'});
document.getElementById('c').animate([{transform: 'scale(%s)'}, {transform: 'scale(%s)'}], {duration: 400, fill: 'both'});
const g = document.getElementById('g');
let tt = 0;
window.__timelines = window.__timelines || {};
window.__timelines.main = {
  duration() { return 1; }, totalDuration() { return 1; }, pause() { return this; },
  totalTime(t) { if (t === undefined) return tt; tt = t; g.style.transform = 'translateY(' + (-80 * Math.min(1, t)) + 'px)'; return this; },
};
</script></body></html>"""
GROW = COMP % (".7", "1.8")
SHRINK = COMP % ("1.8", ".7")


async def frames(plan, work, browser, mode, fmt, idx):
    s = await open_session(plan, work, browser, mode=mode, fmt=fmt, stub=False)
    try:
        out = {i: hashlib.sha256(await s.capture(i)).hexdigest() for i in idx}
        return s.capture_mode, await s.duration(), out
    finally:
        await s.close()


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_real_runtime_modes_and_chunks_agree(tmp_path, shell, chromium, fmt):
    plan = make_plan(tmp_path / "plan", GROW)
    bf = run(frames(plan, tmp_path / "a", shell, "auto", fmt, range(0, 12)))
    ss = run(frames(plan, tmp_path / "b", shell, "screenshot", fmt, range(0, 12)))
    ch = run(frames(plan, tmp_path / "c", chromium, "auto", fmt, range(0, 12)))
    part = run(frames(plan, tmp_path / "d", shell, "beginframe", fmt, range(6, 12)))
    assert (bf[0], ss[0], ch[0]) == ("beginframe", "screenshot", "screenshot")
    assert bf[1] == 1.0
    assert len(set(bf[2].values())) == 12
    assert bf[2] == ss[2] == ch[2]
    assert {i: bf[2][i] for i in range(6, 12)} == part[2]


@pytest.mark.parametrize("mode", ["beginframe", "screenshot"])
def test_real_runtime_shrinking_layer_is_deterministic_per_mode(tmp_path, shell, mode):
    plan = make_plan(tmp_path / "plan", SHRINK)
    a = run(frames(plan, tmp_path / "a", shell, mode, "png", range(0, 12)))[2]
    b = run(frames(plan, tmp_path / "b", shell, mode, "png", range(0, 12)))[2]
    c = run(frames(plan, tmp_path / "c", shell, mode, "png", range(5, 12)))[2]
    assert a == b
    assert {i: a[i] for i in range(5, 12)} == c


def test_real_runtime_shrinking_layer_same_in_both_modes(tmp_path, shell):
    """BeginFrame mode captures a forced redraw, not the first draw after the seek, which cc lays out
    in the previous frame's larger tiling when a layer shrinks (FrameCapture._capture_beginframe)."""
    plan = make_plan(tmp_path / "plan", SHRINK)
    bf = run(frames(plan, tmp_path / "a", shell, "beginframe", "png", range(0, 12)))[2]
    ss = run(frames(plan, tmp_path / "b", shell, "screenshot", "png", range(0, 12)))[2]
    assert bf == ss


@pytest.mark.parametrize("mode", ["beginframe", "screenshot"])
def test_real_runtime_frame_does_not_depend_on_the_frame_before(tmp_path, shell, mode):
    """Frame 3 of the shrinking layer captured fresh, after frame 2 (larger) and after frame 5
    (smaller), without the warm-up frame: one image, and the same in both modes. BeginFrame's own
    screenshot gave three different images here (the first draw after a scale decrease is laid out
    in the previous frame's tiling scale); the redraw capture does not see that draw."""
    plan = make_plan(tmp_path / "plan", SHRINK)

    async def go(order, work):
        s = await open_session(plan, work, shell, mode=mode, fmt="png", stub=False)
        s.warm_up = False
        try:
            return [hashlib.sha256(await s.capture(i)).hexdigest() for i in order][-1]
        finally:
            await s.close()

    got = {prev: run(go([3] if prev is None else [prev, 3], tmp_path / f"w{prev}")) for prev in (None, 2, 5)}
    assert len(set(got.values())) == 1, got
    ref = run(frames(plan, tmp_path / "ref", shell, "screenshot", "png", [3]))[2][3]
    assert got[2] == ref


def test_real_runtime_video_injection(tmp_path, shell):
    colours = [(255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255), (255, 255, 0, 255)]
    files = {f"video-frames/v1/frame_{k + 1:06d}.png": solid_png(16, 16, c) for k, c in enumerate(colours)}
    page = """<!doctype html><html><head><style>html, body { margin: 0; background: #000; }</style></head><body>
    <div id="main" data-composition-id="main" data-width="320" data-height="180" data-duration="1" data-no-timeline
         style="position:relative;width:320px;height:180px">
      <video data-hd-media-id="v1" data-start="0.1" data-duration="0.5" muted
             style="position:absolute;left:0;top:0;width:100px;height:100px"></video>
    </div></body></html>"""
    plan = make_plan(tmp_path / "plan", page, files)
    entry = _entry("v1", 0.1, 0.6, len(colours))

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, videos=[entry], fmt="png", stub=False)
        try:
            return [pixel(decode_rgba(await s.capture(i), W, H), W, 50, 50) for i in range(6)]
        finally:
            await s.close()

    px = run(go())
    assert [p[:3] for p in px[:3]] == [(0, 0, 0)] * 3
    assert [p[:3] for p in px[3:]] == [c[:3] for c in colours[:3]]


MISSING_TIMELINES_PAGE = """<!doctype html><html><body>
    <div id="main" data-composition-id="main" data-width="320" data-height="180" data-duration="1">
      <div data-composition-id="intro" data-start="0" data-duration="1"></div>
    </div></body></html>"""


def test_real_runtime_missing_timelines_warn_after_the_wait(tmp_path, shell):
    """7.3 item 3 (issue 10): unregistered timelines, the root's included, are waited for up to the
    timeline wait (derived from ready_s: 1.5 s -> 1 s), then the page is ready without them and
    the session reports one TIMELINE_NOT_REGISTERED warning per id."""
    plan = make_plan(tmp_path / "plan", MISSING_TIMELINES_PAGE)

    async def go():
        s = await open_session(plan, tmp_path / "w", shell, stub=False, timeouts=Timeouts(ready_s=1.5))
        try:
            await s.capture(0)
            return list(s.warnings)
        finally:
            await s.close()

    t0 = time.monotonic()
    warnings = run(go())
    assert time.monotonic() - t0 < 20
    assert sorted(w.code for w in warnings) == ["TIMELINE_NOT_REGISTERED"] * 2
    messages = sorted(w["message"] for w in warnings)
    assert messages[0].startswith('window.__timelines["intro"] was not registered within 1 s')
    assert messages[1].startswith('window.__timelines["main"] was not registered within 1 s; the root composition')


def test_real_runtime_missing_timeline_is_page_not_ready(tmp_path, shell):
    """A timeline wait longer than the readiness limit: PAGE_NOT_READY names the missing ids."""
    plan = make_plan(tmp_path / "plan", MISSING_TIMELINES_PAGE)
    t0 = time.monotonic()
    with pytest.raises(HyperdeskError) as ei:
        run(open_session(plan, tmp_path / "w", shell, stub=False,
                         timeouts=Timeouts(ready_s=1.5, timeline_wait_s=30)))
    assert time.monotonic() - t0 < 20
    e = ei.value
    assert e.code == "PAGE_NOT_READY"
    assert "intro" in e.details["missing_timelines"] and "main" in e.details["missing_timelines"]
    assert "timelines" in e.details["unmet"] or "rootTimeline" in e.details["unmet"]
    assert "intro" in e.message


def test_real_runtime_script_error(tmp_path, shell):
    page = """<!doctype html><html><body>
    <div id="main" data-composition-id="main" data-width="320" data-height="180" data-duration="1" data-no-timeline></div>
    <script>null.explode;</script></body></html>"""
    plan = make_plan(tmp_path / "plan", page)
    with pytest.raises(HyperdeskError) as ei:
        run(open_session(plan, tmp_path / "w", shell, stub=False))
    assert ei.value.code == "PAGE_SCRIPT_ERROR"
    assert "null" in ei.value.message
