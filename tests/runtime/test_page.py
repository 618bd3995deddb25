"""Readiness, duration, errors, iframes, variables and video injection
(sections 6, 7.2-7.3, 10, 11.1, 11.3; checklist 22, 53, 63, 64, 47)."""
from __future__ import annotations

import pytest

from hd_rt_helpers import seek, seek_frame, visible

HEAD = """<!doctype html><html><head><style>
*{margin:0;padding:0;box-sizing:border-box}
.box{position:absolute;left:0;top:0;width:20px;height:20px;background:red}
</style></head><body>"""


def doc(body: str, scripts: str = "", *, root_attrs: str = 'data-duration="4" data-no-timeline') -> str:
    return (HEAD + f'<div id="main" data-composition-id="main" data-width="320" data-height="180" {root_attrs} '
            'style="position:relative;width:320px;height:180px">' + body + "</div>" + scripts + "</body></html>")


# ---------------------------------------------------------------- readiness and duration

def test_duration_getter_static(rt, gsap_url):
    """Checklist 22: __hf.duration is data-duration after readiness and 0 before."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
setTimeout(() => {{ window.__timelines['main'] = gsap.timeline({{paused: true}}).to('#b', {{x: 10, duration: 1}}); }}, 400);
</script>""", root_attrs='data-duration="4"'), wait_ready=False)
    page.wait_for_function("() => document.readyState !== 'loading'", polling=25)
    before = page.evaluate("[window.__hf.ready, window.__hf.duration, window.__hd.state()]")
    assert before[0] is False and before[1] == 0
    assert before[2]["conditions"]["rootTimeline"] is False
    assert before[2]["missingTimelines"] == ["main"]
    page.wait_for_function("() => window.__hf.ready", timeout=10000, polling=25)
    assert page.evaluate("window.__hf.duration") == 4
    st = page.evaluate("window.__hd.state()")
    assert st["ready"] and all(st["conditions"].values()) and st["missingTimelines"] == []


def test_duration_probe_timeline(rt, gsap_url):
    """10.2: no data-duration, root timeline 4 s: duration 4."""
    page = rt.open(doc('<div id="b" class="box"></div>', f"""<script src="{gsap_url}"></script><script>
window.__timelines['main'] = gsap.timeline({{paused: true}}).to('#b', {{x: 10, duration: 4}});
</script>""", root_attrs=""))
    assert page.evaluate("window.__hf.duration") == 4


def test_duration_probe_css_media_hosts(rt):
    """10.2: CSS animations (element start + end time), media windows and direct child hosts."""
    page = rt.open(doc(
        '<style>@keyframes f{from{opacity:0}to{opacity:1}} .a{animation:f 2s 1} .inf{animation:f 1s infinite}</style>'
        '<div class="box a" data-start="1.5"></div><div class="box inf"></div>'
        '<audio data-start="0.5" data-duration="2"></audio>', root_attrs="data-no-timeline"))
    assert page.evaluate("window.__hf.duration") == 3.5
    page2 = rt.open(doc('<div data-composition-id="h" data-start="1" data-duration="4.25" data-no-timeline></div>'
                        '<video data-start="2" data-duration="1" data-hd-media-id="v"></video>',
                        root_attrs="data-no-timeline"))
    assert page2.evaluate("window.__hf.duration") == 5.25


def test_never_ready_missing_timeline(rt):
    """Checklist 64: a root that never registers its timeline is not ready; state() names the id."""
    page = rt.open(doc('<div class="box"></div>', root_attrs='data-duration="2"'), wait_ready=False)
    page.wait_for_timeout(300)
    st = page.evaluate("window.__hd.state()")
    assert st["ready"] is False
    assert st["missingTimelines"] == ["main"]
    assert st["conditions"]["domContentLoaded"] is True
    assert st["conditions"]["rootTimeline"] is False
    assert page.evaluate("window.__hf.duration") == 0


def test_sub_timeline_missing_then_registered(rt, gsap_url):
    """7.3 item 3: every composition element's timeline must be registered."""
    page = rt.open(doc('<div data-composition-id="card" data-start="0" data-duration="2"><div id="cb" class="box"></div></div>',
                       f"""<script src="{gsap_url}"></script><script>
window.__timelines['main'] = gsap.timeline({{paused: true}});
</script>""", root_attrs='data-duration="4"'), wait_ready=False)
    page.wait_for_timeout(200)
    st = page.evaluate("window.__hd.state()")
    assert st["ready"] is False and st["missingTimelines"] == ["card"]
    page.evaluate("() => { window.__timelines.card = gsap.timeline({paused: true}).to('#cb', {x: 10, duration: 1}); }")
    page.wait_for_function("() => window.__hf.ready", timeout=5000, polling=25)


def test_readiness_waits_for_images_and_fonts(rt):
    page = rt.open(doc('<img id="im" src="pic.svg" width="10" height="10">'),
                   files={"pic.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>'})
    assert page.evaluate("document.getElementById('im').complete")
    st = page.evaluate("window.__hd.state()")
    assert st["conditions"]["images"] and st["conditions"]["fonts"]


def test_adapter_thenables(rt):
    page = rt.open(doc("", """<script>
window.__hfD3 = [new Promise(r => setTimeout(r, 300))];
</script>"""), wait_ready=False)
    page.wait_for_timeout(100)
    assert page.evaluate("window.__hd.state().conditions.adapters") is False
    page.wait_for_function("() => window.__hf.ready", timeout=5000, polling=25)


# ---------------------------------------------------------------- errors

def test_script_error_recorded(rt):
    """Checklist 63: a script that throws at load is recorded with its message and source."""
    page = rt.open(doc('<div class="box"></div>', """<script>
throw new Error('boom at load');
</script><script>
Promise.reject(new Error('rejected at load'));
</script>"""))
    errs = page.evaluate("window.__hd.state().errors")
    load = [e for e in errs if "boom at load" in e["message"]]
    assert len(load) == 1 and "index.html" in load[0]["source"]
    assert any("rejected at load" in e["message"] for e in errs)
    assert page.evaluate("window.__hd.errors.length") == len(errs)


def test_failed_script_src_listed(rt):
    page = rt.open(doc("", '<script src="missing.js"></script>'))
    st = page.evaluate("window.__hd.state()")
    assert any(s.endswith("missing.js") for s in st["failedScripts"])


# ---------------------------------------------------------------- iframes

def test_iframe_time(rt):
    """Checklist 53: a same-origin iframe's performance.now() equals the parent's at frames 0, 15, 45."""
    child = """<!doctype html><html><body><canvas id="c" width="10" height="10"></canvas><script>
window.rafTs = [];
(function loop(ts) { if (ts !== undefined) rafTs.push(ts); requestAnimationFrame(loop); })();
window.w = document.body.animate([{opacity: 0}, {opacity: 1}], {duration: 1000, fill: 'both'});
</script></body></html>"""
    page = rt.open(doc('<iframe id="f1" src="child.html" width="100" height="50"></iframe>'
                       '<iframe id="f2" srcdoc="<p>x</p><script>window.r = Math.random()</script>" width="50" height="50"></iframe>'),
                   files={"child.html": child})
    frames = {f.name or f.url: f for f in page.frames}
    f1 = page.frame_locator("#f1")  # noqa: F841 - just to be sure the frame exists
    child_frame = next(f for f in page.frames if f.url.endswith("child.html"))
    srcdoc_frame = next(f for f in page.frames if f.url == "about:srcdoc")
    assert srcdoc_frame.evaluate("typeof window.__hdFrame") == "object"
    for i in (0, 15, 45):
        seek_frame(page, i)
        parent_now = page.evaluate("performance.now()")
        assert child_frame.evaluate("performance.now()") == parent_now
        assert srcdoc_frame.evaluate("performance.now()") == parent_now
        assert child_frame.evaluate("Date.now()") == parent_now
    assert child_frame.evaluate("rafTs") == [0, 500, 1500]
    assert float(child_frame.evaluate("getComputedStyle(document.body).opacity")) == 1
    seek_frame(page, 15)
    assert float(child_frame.evaluate("getComputedStyle(document.body).opacity")) == pytest.approx(0.5, abs=1 / 255)
    # each frame reseeds its own generator by the same rule
    seek(page, 0.5)
    assert child_frame.evaluate("Math.random()") == 0.08995197480544448
    assert page.evaluate("Math.random()") == 0.08995197480544448
    # the parent-only objects do not exist in frames
    assert child_frame.evaluate("typeof window.__hf") == "undefined"
    # child frame errors reach the top frame's list
    child_frame.evaluate("setTimeout(() => { throw new Error('child boom'); }, 0)")
    page.wait_for_timeout(100)
    assert any("child boom" in e["message"] for e in page.evaluate("window.__hd.errors"))
    assert frames  # silence unused


# ---------------------------------------------------------------- variables

def test_variables_api(rt):
    page = rt.open(
        '<!doctype html><html data-composition-variables=\'[{"id":"bg","type":"color","default":"#000"}]\'><body>'
        '<div id="main" data-composition-id="main" data-duration="2" data-no-timeline '
        'data-composition-variables=\'[{"id":"title","type":"string","default":"Hi"},{"id":"n","type":"number","default":3}]\'>'
        '</div><script>window.early = window.__hfVariables; window.vars = window.__hyperframes.getVariables();</script></body></html>',
        variables={"title": "Hello"})
    assert page.evaluate("window.early") == {"title": "Hello"}
    assert page.evaluate("window.vars") == {"bg": "#000", "title": "Hello", "n": 3}


# ---------------------------------------------------------------- video injection API

VIDEO_PAGE = """
<div id="host" data-composition-id="h" data-start="0" data-duration="3" data-no-timeline style="position:absolute;inset:0">
  <div style="position:absolute;left:7px;top:5px;width:200px;height:120px">
    <video id="v1" data-hd-media-id="v1" data-start="1" data-duration="2" muted
      style="position:absolute;left:10px;top:20px;width:160px;height:90px;object-fit:cover;border-radius:6px;opacity:0.9"></video>
  </div>
</div>
<div style="display:flex;position:absolute;top:130px;left:0">
  <video id="v2" data-hd-media-id="v2" data-start="0" data-duration="4" width="64" height="36" style="margin-left:12px"></video>
</div>
<div data-hidden data-start="0"><video id="v3" data-hd-media-id="v3" data-start="0" data-duration="4"></video></div>
"""

FRAME_PNG_JS = """() => { const c = document.createElement('canvas'); c.width = 32; c.height = 18;
  const g = c.getContext('2d'); g.fillStyle = '#0f0'; g.fillRect(0, 0, 32, 18); return c.toDataURL('image/png'); }"""


def test_active_videos_and_injection(rt):
    """11.1 injection and checklist 47: the image box equals the video's box, object-fit kept."""
    page = rt.open(doc(VIDEO_PAGE))
    # images exist from initialisation, hidden
    imgs = page.evaluate("Array.from(document.querySelectorAll('img[data-hd-video-frame]')).map(i => [i.getAttribute('data-hd-video-frame'), i.previousElementSibling.id, getComputedStyle(i).visibility])")
    assert imgs == [["v1", "v1", "hidden"], ["v2", "v2", "hidden"], ["v3", "v3", "hidden"]]
    seek(page, 0.5)
    assert page.evaluate("window.__hd.activeVideos(0.5)") == [
        {"mediaId": "v1", "active": False}, {"mediaId": "v2", "active": True}, {"mediaId": "v3", "active": False}]
    seek(page, 1.5)
    assert page.evaluate("window.__hd.activeVideos(1.5)") == [
        {"mediaId": "v1", "active": True}, {"mediaId": "v2", "active": True}, {"mediaId": "v3", "active": False}]
    assert page.evaluate("window.__hd.videoFrames(3.5)")[0] == {"mediaId": "v1", "active": False}  # host ended
    uri = page.evaluate(FRAME_PNG_JS)
    for mid in ("v1", "v2"):
        assert page.evaluate("([m, u]) => window.__hd.setVideoFrame(m, u)", [mid, uri]) is True
        r = page.evaluate("""m => {
            const v = document.querySelector(`video[data-hd-media-id="${m}"]`);
            const i = document.querySelector(`img[data-hd-video-frame="${m}"]`);
            const a = v.getBoundingClientRect(), b = i.getBoundingClientRect();
            const cv = getComputedStyle(v), ci = getComputedStyle(i);
            return {a: [a.x, a.y, a.width, a.height], b: [b.x, b.y, b.width, b.height],
                    fit: ci.objectFit, radius: ci.borderTopLeftRadius, opacity: ci.opacity, vOpacity: cv.opacity,
                    vVis: cv.visibility, iVis: ci.visibility, prio: v.style.getPropertyPriority('visibility'),
                    complete: i.complete, nw: i.naturalWidth};
        }""", mid)
        for x, y in zip(r["a"], r["b"]):
            assert abs(x - y) <= 0.5, (mid, r)
        assert r["vVis"] == "hidden" and r["prio"] == "important" and r["iVis"] == "visible"
        assert r["complete"] and r["nw"] == 32
        assert r["opacity"] == r["vOpacity"]
        if mid == "v1":
            assert r["fit"] == "cover" and r["radius"] == "6px"
    # null hides the image
    page.evaluate("window.__hd.setVideoFrame('v1', null)")
    assert page.evaluate("getComputedStyle(document.querySelector('img[data-hd-video-frame=\"v1\"]')).visibility") == "hidden"
    # the next seek + injection cycle works again (visibility pass resets the video, injection hides it)
    seek(page, 1.6)
    page.evaluate("([m, u]) => window.__hd.setVideoFrame(m, u)", ["v1", uri])
    assert page.evaluate("getComputedStyle(document.getElementById('v1')).visibility") == "hidden"
    assert page.evaluate("getComputedStyle(document.querySelector('img[data-hd-video-frame=\"v1\"]')).visibility") == "visible"
    # unknown id rejects
    assert "no <video>" in page.evaluate("window.__hd.setVideoFrame('nope', null).then(() => '', e => e.message)")


def test_media_paused(rt):
    page = rt.open(doc('<audio id="a" autoplay data-start="0" data-duration="1"></audio>'))
    seek(page, 0)
    assert page.evaluate("document.getElementById('a').paused") is True


def test_seek_hides_stale_video_image(rt):
    page = rt.open(doc(VIDEO_PAGE))
    seek(page, 1.5)
    uri = page.evaluate(FRAME_PNG_JS)
    page.evaluate("([m, u]) => window.__hd.setVideoFrame(m, u)", ["v1", uri])
    img_vis = "getComputedStyle(document.querySelector('img[data-hd-video-frame=\"v1\"]')).visibility"
    assert page.evaluate(img_vis) == "visible"
    seek(page, 0.5)  # v1's window starts at 1 s
    assert page.evaluate(img_vis) == "hidden"


def test_runtime_objects_survive_reassignment(rt):
    page = rt.open(doc("", """<script type="module">
window.__hf = window.__hf || {seek() {}};
window.__hd = {errors: []};
window.reassigned = true;
</script>"""))
    page.wait_for_function("() => window.reassigned === true", polling=25)
    assert page.evaluate("typeof window.__hd.state") == "function"
    assert page.evaluate("window.__hf.ready") is True
    assert page.evaluate("window.__hd.errors.length") == 0
