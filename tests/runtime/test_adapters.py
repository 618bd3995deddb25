"""Seek algorithm and adapters (sections 5.6, 7.5, 7.6; checklist 17, 18, 23-28, 34-36)."""
from __future__ import annotations

import json
import time

import pytest

from hd_rt_helpers import seek, seek_frame, visible

HEAD = """<!doctype html><html><head><style>
*{margin:0;padding:0;box-sizing:border-box}
.box{position:absolute;left:0;top:0;width:20px;height:20px;background:red}
</style></head><body>"""


def doc(body: str, scripts: str = "", *, duration="3", root_attrs: str = "") -> str:
    dur = f' data-duration="{duration}"' if duration is not None else ""
    return (HEAD + f'<div id="main" data-composition-id="main" data-width="320" data-height="180"{dur} {root_attrs} '
            'style="position:relative;width:320px;height:180px">' + body + "</div>" + scripts + "</body></html>")


def x_of(page, sel):
    return page.evaluate(f"gsap.getProperty({json.dumps(sel)}, 'x')")


# ---------------------------------------------------------------- GSAP

def test_gsap_tween(rt, gsap_url):
    """Checklist 23: x 0->100 px over 1 s linear is at 50 px at frame 15."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
const tl = gsap.timeline({{paused: true}});
tl.to('#b', {{x: 100, duration: 1, ease: 'none'}});
window.__timelines['main'] = tl;
</script>"""))
    seek_frame(page, 15)
    assert x_of(page, "#b") == pytest.approx(50, abs=1e-6)
    assert page.evaluate("document.getElementById('b').getBoundingClientRect().left") == pytest.approx(50, abs=0.01)
    assert page.evaluate("window.__timelines.main.paused()") is True
    seek_frame(page, 45)  # beyond the timeline: final state held
    assert x_of(page, "#b") == pytest.approx(100)
    seek_frame(page, 0)
    assert x_of(page, "#b") == pytest.approx(0)


def test_gsap_clamp_from(rt, gsap_url):
    """Checklist 24: timeline 2 s, composition 3 s, from() opacity: opaque at frame 80."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
const tl = gsap.timeline({{paused: true}});
tl.from('#b', {{opacity: 0, duration: 2, ease: 'none'}});
window.__timelines['main'] = tl;
</script>"""))
    op = "getComputedStyle(document.getElementById('b')).opacity"
    seek_frame(page, 30)
    assert float(page.evaluate(op)) == pytest.approx(0.5, abs=1e-3)
    seek_frame(page, 80)
    assert float(page.evaluate(op)) == 1


def test_gsap_callbacks_see_frame_time(rt, gsap_url):
    """Checklist 25: an onUpdate writing Date.now() shows the frame's time."""
    page = rt.open(doc('<div id="txt"></div>', f"""<script src="{gsap_url}"></script><script>
window.updates = 0;
const tl = gsap.timeline({{paused: true}});
tl.to({{}}, {{duration: 3, onUpdate: () => {{ window.updates++; document.getElementById('txt').textContent = String(Date.now()); }}}});
window.__timelines['main'] = tl;
</script>"""))
    seek_frame(page, 15)
    assert page.evaluate("document.getElementById('txt').textContent") == "500"
    n = page.evaluate("window.updates")
    seek_frame(page, 16)
    assert page.evaluate("document.getElementById('txt').textContent") == str(16 * 1000 / 30)
    assert page.evaluate("window.updates") == n + 1  # the refresh dance suppresses events


def test_gsap_free_tween_follows_virtual_clock(rt, gsap_url):
    """8.5: with lag smoothing off, a tween outside any timeline follows the virtual clock."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
window.__timelines['main'] = gsap.timeline({{paused: true}});
gsap.to('#b', {{x: 300, duration: 3, ease: 'none'}});
</script>"""))
    seek_frame(page, 0)
    seek_frame(page, 60)
    assert x_of(page, "#b") == pytest.approx(200, abs=0.5)


def test_timeline_callback_error_recorded(rt, gsap_url):
    """7.3: an exception in a timeline callback during a seek is recorded."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
const tl = gsap.timeline({{paused: true}});
tl.to('#b', {{x: 100, duration: 1, onComplete: () => {{ throw new Error('callback boom'); }}}});
window.__timelines['main'] = tl;
</script>"""))
    seek_frame(page, 45)
    errs = page.evaluate("window.__hd.errors")
    assert any("callback boom" in e["message"] for e in errs)


def test_host_seek_formula(rt, gsap_url):
    """Checklist 17: host start 2, playback-start 0.5, rate 2: x = 62.5 px at frame 90."""
    body = ('<div id="host" data-composition-id="sub" data-start="2" data-duration="10" '
            'data-playback-start="0.5" data-playback-rate="2" style="position:absolute;inset:0">'
            '<div id="sb" class="box"></div></div>')
    page = rt.open(doc(body, f"""<script src="{gsap_url}"></script><script>
window.__timelines['main'] = gsap.timeline({{paused: true}});
const sub = gsap.timeline({{paused: true}});
sub.to('#sb', {{x: 100, duration: 4, ease: 'none'}});
window.__timelines['sub'] = sub;
</script>""", duration="12"))
    seek_frame(page, 90)
    assert x_of(page, "#sb") == pytest.approx(62.5, abs=1e-6)
    seek_frame(page, 30)  # before the host: local = P = 0.5 s
    assert x_of(page, "#sb") == pytest.approx(12.5, abs=1e-6)
    assert page.evaluate("window.__timelines.sub.paused()") is True


def test_host_seek_media_start_fallback_and_rate_clamp(rt, gsap_url):
    """5.6: P falls back to data-media-start (negative values ignored); R is clamped to [0.1, 5]."""
    body = ('<div id="h1" data-composition-id="s1" data-start="1" data-duration="20" data-playback-start="-1" '
            'data-media-start="0.25" data-playback-rate="9" style="position:absolute;inset:0"><div id="b1" class="box"></div></div>'
            '<div id="h2" data-composition-id="s2" data-start="0" data-duration="20" data-playback-rate="0.01" '
            'style="position:absolute;inset:0"><div id="b2" class="box"></div></div>')
    page = rt.open(doc(body, f"""<script src="{gsap_url}"></script><script>
window.__timelines['main'] = gsap.timeline({{paused: true}});
window.__timelines['s1'] = gsap.timeline({{paused: true}}).to('#b1', {{x: 100, duration: 10, ease: 'none'}});
window.__timelines['s2'] = gsap.timeline({{paused: true}}).to('#b2', {{x: 100, duration: 10, ease: 'none'}});
</script>""", duration="20"))
    seek_frame(page, 45)  # t = 1.5
    assert x_of(page, "#b1") == pytest.approx((0.25 + 0.5 * 5) * 10, abs=1e-6)
    assert x_of(page, "#b2") == pytest.approx(1.5 * 0.1 * 10, abs=1e-6)


def test_short_inner_timeline_holds(rt, gsap_url):
    """Checklist 18: inner timeline 1 s in a 3 s host: final state held at frame 75."""
    body = ('<div id="host" data-composition-id="card" data-composition-file="card.html" data-start="0" data-duration="3" '
            'style="position:absolute;inset:0"><div id="inner" data-composition-id="card" style="position:absolute;inset:0">'
            '<div id="cb" class="box"></div></div></div>')
    page = rt.open(doc(body, f"""<script src="{gsap_url}"></script><script>
window.__timelines['main'] = gsap.timeline({{paused: true}});
const card = gsap.timeline({{paused: true}});
card.fromTo('#cb', {{x: 0}}, {{x: 100, duration: 1, ease: 'none'}});
window.__timelines['card'] = card;
</script>"""))
    seek_frame(page, 15)
    assert x_of(page, "#cb") == pytest.approx(50)
    seek_frame(page, 75)
    assert x_of(page, "#cb") == pytest.approx(100)
    assert visible(page, "#cb")
    assert page.evaluate("window.__timelines.card.time()") == pytest.approx(1)


def test_root_timeline_fallback_binding(rt, gsap_url):
    """7.3 item 2: one timeline under another key is bound as the root, with a warning."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
const tl = gsap.timeline({{paused: true}});
tl.to('#b', {{x: 100, duration: 1, ease: 'none'}});
window.__timelines['other-name'] = tl;
</script>"""))
    seek_frame(page, 15)
    assert x_of(page, "#b") == pytest.approx(50)
    st = page.evaluate("window.__hd.state()")
    assert st["ready"] and st["missingTimelines"] == []
    assert any(w["code"] == "ROOT_TIMELINE_FALLBACK" for w in st["warnings"])


# ---------------------------------------------------------------- CSS and WAAPI

CSS_ANIM = """<style>
@keyframes slide { from { left: 0px; } to { left: 300px; } }
.slider { animation: slide 3s linear both; width: 20px; height: 20px; background: lime; }
</style>"""


def test_css_animation_element_start(rt):
    """Checklist 26: left 0->300 px over 3 s on an element with data-start=1: 100 px at frame 60."""
    page = rt.open(doc(CSS_ANIM + '<div id="s" class="slider" style="position:absolute;top:0" data-start="1" data-duration="5"></div>'
                       '<div id="u" class="slider" style="position:absolute;top:30px"></div>', root_attrs="data-no-timeline"))
    seek_frame(page, 60)
    assert page.evaluate("getComputedStyle(document.getElementById('s')).left") == "100px"
    # an element without data-start uses s = 0
    assert page.evaluate("getComputedStyle(document.getElementById('u')).left") == "200px"
    assert page.evaluate("document.getAnimations().every(a => a.playState === 'paused')")


@pytest.mark.parametrize("first_frame", [0, 45])
def test_late_css_clip_chunked(rt, first_frame):
    """Checklist 27: in-flow clip displayed only from 1 s; a chunk starting at frame 45 agrees."""
    page = rt.open(doc(CSS_ANIM + '<div id="s" class="slider" style="position:relative" data-start="1" data-duration="5"></div>', root_attrs="data-no-timeline"))
    for f in range(first_frame, 61, 5):
        seek_frame(page, f)
        if f < 30:
            assert page.evaluate("getComputedStyle(document.getElementById('s')).display") == "none"
    assert page.evaluate("getComputedStyle(document.getElementById('s')).left") == "100px"


def test_waapi(rt):
    """Checklist 28: el.animate opacity 0->1 over 1000 ms at load: 0.5 at frame 15."""
    page = rt.open(doc('<div id="w" class="box"></div>', """<script>
window.anim = document.getElementById('w').animate([{opacity: 0}, {opacity: 1}], {duration: 1000, fill: 'both'});
</script>""", root_attrs="data-no-timeline"))
    assert page.evaluate("window.anim.playState") == "paused"
    seek_frame(page, 15)
    assert float(page.evaluate("getComputedStyle(document.getElementById('w')).opacity")) == pytest.approx(0.5, abs=1 / 255)
    seek_frame(page, 3)
    assert float(page.evaluate("getComputedStyle(document.getElementById('w')).opacity")) == pytest.approx(0.1, abs=1 / 255)


def test_waapi_created_during_seek_and_transitions(rt):
    """7.6: creation time c is the virtual time; other animations are pinned at first sight."""
    page = rt.open(doc('<div id="w" class="box"></div><div id="tr" class="box" style="top:40px;transition:opacity 1s linear"></div>', """<script>
addEventListener('hf-seek', e => {
  if (e.detail.time === 1 && !window.late) {
    window.late = document.getElementById('w').animate([{opacity: 0}, {opacity: 1}], {duration: 1000, fill: 'both'});
  }
});
</script>""", root_attrs="data-no-timeline"))
    seek_frame(page, 30)  # created at c = 1000 ms
    seek_frame(page, 45)
    assert float(page.evaluate("getComputedStyle(document.getElementById('w')).opacity")) == pytest.approx(0.5, abs=1 / 255)
    # a CSS transition started by a style change is pinned at first sight
    page.evaluate("document.getElementById('tr').style.opacity = '0'")
    seek_frame(page, 60)   # first seen at tq = 2
    seek_frame(page, 75)   # 500 ms later
    assert float(page.evaluate("getComputedStyle(document.getElementById('tr')).opacity")) == pytest.approx(0.5, abs=1 / 255)


# ---------------------------------------------------------------- Lottie and anime.js

LOTTIE = {
    "v": "5.7.4", "fr": 30, "ip": 0, "op": 60, "w": 320, "h": 180, "nm": "t", "ddd": 0, "assets": [],
    "layers": [{
        "ddd": 0, "ind": 1, "ty": 4, "nm": "box", "sr": 1, "ao": 0, "ip": 0, "op": 60, "st": 0, "bm": 0,
        "ks": {
            "o": {"a": 0, "k": 100}, "r": {"a": 0, "k": 0}, "a": {"a": 0, "k": [0, 0, 0]},
            "s": {"a": 0, "k": [100, 100, 100]},
            "p": {"a": 1, "k": [
                {"t": 0, "s": [0, 90, 0], "o": {"x": 0, "y": 0}, "i": {"x": 1, "y": 1}},
                {"t": 60, "s": [600, 90, 0]}]},
        },
        "shapes": [
            {"ty": "rc", "d": 1, "nm": "r", "s": {"a": 0, "k": [20, 20]}, "p": {"a": 0, "k": [0, 0]}, "r": {"a": 0, "k": 0}},
            {"ty": "fl", "nm": "f", "c": {"a": 0, "k": [1, 0, 0, 1]}, "o": {"a": 0, "k": 100}, "r": 1},
        ],
    }],
}


def test_lottie(rt, lottie_url):
    """Checklist 34: a 30 fps Lottie in __hfLottie shows its frame 15 at composition frame 15."""
    page = rt.open(doc('<div id="lot" style="position:absolute;inset:0"></div><div id="lot2" style="position:absolute;inset:0"></div>', f"""<script src="{lottie_url}"></script><script>
window.lot = lottie.loadAnimation({{container: document.getElementById('lot'), renderer: 'svg', loop: false,
  autoplay: false, animationData: {json.dumps(LOTTIE)}}});
window.__hfLottie.push(window.lot);
// not pushed: found through lottie.getRegisteredAnimations()
window.lot2 = lottie.loadAnimation({{container: document.getElementById('lot2'), renderer: 'svg', loop: false,
  autoplay: true, animationData: {json.dumps(LOTTIE)}}});
</script>""", root_attrs="data-no-timeline"))
    seek_frame(page, 15)
    assert page.evaluate("window.lot.currentFrame") == 15
    assert page.evaluate("window.lot2.currentFrame") == 15
    mats = page.evaluate("Array.from(document.querySelectorAll('#lot svg g[transform]')).map(g => g.getAttribute('transform'))")
    assert any("150" in m for m in mats), mats
    seek_frame(page, 45)
    assert page.evaluate("window.lot.currentFrame") == 45


def test_lottie_duration_probe(rt, lottie_url):
    """10.2: a Lottie contributes totalFrames / frameRate to the probed duration."""
    page = rt.open(doc('<div id="lot" style="position:absolute;inset:0"></div>', f"""<script src="{lottie_url}"></script><script>
window.__hfLottie.push(lottie.loadAnimation({{container: document.getElementById('lot'), renderer: 'svg',
  autoplay: false, animationData: {json.dumps(LOTTIE)}}}));
</script>""", duration=None, root_attrs="data-no-timeline"))
    assert page.evaluate("window.__hf.duration") == 2


def test_anime(rt, anime_url):
    """Checklist 35: translateX 0->100 linear over 1000 ms: 50 px at frame 15."""
    page = rt.open(doc('<div id="a" class="box"></div><div id="b" class="box" style="top:40px"></div>', f"""<script src="{anime_url}"></script><script>
window.inst = anime({{targets: '#a', translateX: [0, 100], duration: 1000, easing: 'linear', autoplay: false}});
window.__hfAnime.push(window.inst);
// v3 auto-discovery through anime.running
window.auto = anime({{targets: '#b', translateX: [0, 100], duration: 1000, easing: 'linear'}});
</script>""", root_attrs="data-no-timeline"))
    seek_frame(page, 15)
    assert page.evaluate("document.getElementById('a').getBoundingClientRect().left") == pytest.approx(50, abs=0.01)
    assert page.evaluate("document.getElementById('b').getBoundingClientRect().left") == pytest.approx(50, abs=0.01)
    assert page.evaluate("window.inst.paused && window.auto.paused")
    seek_frame(page, 6)  # discovered instances stay driven after they are paused
    assert page.evaluate("document.getElementById('b').getBoundingClientRect().left") == pytest.approx(20, abs=0.01)


# ---------------------------------------------------------------- hf-seek

def test_hf_seek_event_and_wait_until(rt):
    """Checklist 36: detail.time = 1.5 at frame 45; a 200 ms waitUntil delays the seek and its drawing lands."""
    page = rt.open(doc('<canvas id="c" width="40" height="10" style="position:absolute"></canvas>', """<script>
window.times = [];
window.threeTimes = [];
addEventListener('hf-seek', e => {
  times.push(e.detail.time);
  threeTimes.push(window.__hfThreeTime);
  e.detail.waitUntil(new Promise(r => setTimeout(() => {
    const g = document.getElementById('c').getContext('2d');
    g.fillStyle = '#00f'; g.fillRect(0, 0, 40, 10);
    r();
  }, 200)));
  try { Promise.resolve().then(() => { try { e.detail.waitUntil(Promise.resolve()); window.lateOk = true; } catch (err) { window.lateErr = err.name; } }); } catch (err) {}
});
</script>""", root_attrs="data-no-timeline"))
    t0 = time.monotonic()
    seek_frame(page, 45)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.19
    assert page.evaluate("times") == [1.5]
    assert page.evaluate("threeTimes") == [1.5]
    assert page.evaluate("window.__hfTypegpuTime") == 1.5
    assert page.evaluate("document.getElementById('c').getContext('2d').getImageData(5, 5, 1, 1).data[2]") == 255
    assert page.evaluate("window.lateErr") == "InvalidStateError"
    # once per distinct time; the post-injection re-dispatch is explicit
    seek_frame(page, 45)
    assert page.evaluate("times") == [1.5]
    page.evaluate("window.__hd.afterVideoInjection(1.5)")
    assert page.evaluate("times") == [1.5, 1.5]


def test_hf_seek_wait_until_rejection(rt):
    """7.2: seek rejects when a waitUntil promise rejects."""
    page = rt.open(doc("", """<script>
addEventListener('hf-seek', e => { if (e.detail.time === 1) e.detail.waitUntil(Promise.reject(new Error('nope'))); });
</script>""", root_attrs="data-no-timeline"))
    res = page.evaluate("window.__hf.seek(1).then(() => 'ok', e => 'rejected: ' + e.message)")
    assert res.startswith("rejected") and "nope" in res
    assert page.evaluate("window.__hf.seek(2).then(() => 'ok')") == "ok"


def test_seek_order_clock_first(rt, gsap_url):
    """7.5: every callback during a seek sees the frame's clock; rAF flush comes after hf-seek."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
window.order = [];
const tl = gsap.timeline({{paused: true}});
tl.to('#b', {{x: 100, duration: 3, ease: 'none', onUpdate: () => order.push(['tl', Date.now()])}});
window.__timelines['main'] = tl;
addEventListener('hf-seek', e => {{ order.push(['seek', Date.now()]); requestAnimationFrame(ts => order.push(['raf', ts])); }});
</script>"""))
    seek_frame(page, 30)
    seek_frame(page, 31)
    order = page.evaluate("order")
    # rAF callbacks registered inside hf-seek run in the same seek's flush (step 8 after step 7)
    t31 = (31 / 30) * 1000  # clock = t x 1000
    assert order == [["tl", 1000], ["seek", 1000], ["raf", 1000], ["tl", t31], ["seek", t31], ["raf", t31]]
