"""Virtual time shim (contract section 8; checklist 29-33, 37, 62)."""
from __future__ import annotations

import pytest

from hd_rt_helpers import seek, seek_frame

from hyperdesk.models import Fps
from hyperdesk.runtime import RUNTIME_JS_SHA256, init_script, runtime_js

ROOT = """<!doctype html><html><head><style>*{margin:0;padding:0}</style></head><body>
<div id="main" data-composition-id="main" data-width="320" data-height="180" data-duration="5" data-no-timeline>
{body}
</div>
{scripts}
</body></html>"""


def page_html(body: str = "", scripts: str = "") -> str:
    return ROOT.replace("{body}", body).replace("{scripts}", scripts)


REF_T0 = [0.3588899802416563, 0.10590326134115458, 0.675290479324758]
REF_T500 = [0.08995197480544448, 0.9550680709071457, 0.19168146210722625]


def test_init_script_text():
    s = init_script(30000, 1001, {"title": "Hi"})
    assert s.startswith("Object.defineProperty(window,'__hdRuntimeConfig'")
    assert '"num":30000' in s and '"den":1001' in s and '"title":"Hi"' in s
    assert s.endswith(runtime_js())
    assert len(RUNTIME_JS_SHA256) == 64
    # Fps model accepted, reduced
    s2 = init_script(Fps(num=60, den=2), {"a": 1})
    assert '"num":30' in s2 and '"den":1' in s2 and '"a":1' in s2
    with pytest.raises(ValueError):
        init_script(0, 1, {})
    with pytest.raises(ValueError):
        init_script(30, 1, {"x": float("nan")})


def test_random_reference_values(rt):
    """Checklist 31: reference values at 0 and 500 ms; one-process and chunked agree."""
    page = rt.open(page_html(scripts="<script>window.loadRandom = Math.random();</script>"))
    # document creation seeds for time 0
    assert page.evaluate("window.loadRandom") == REF_T0[0]
    seek_frame(page, 0)
    assert page.evaluate("[Math.random(), Math.random(), Math.random()]") == REF_T0
    seek(page, 0.5)
    assert page.evaluate("[Math.random(), Math.random(), Math.random()]") == REF_T500
    # "chunked": a later frame first, then frame 0 again
    seek_frame(page, 90)
    page.evaluate("Math.random()")
    seek_frame(page, 0)
    assert page.evaluate("Math.random()") == REF_T0[0]


def test_get_random_values_and_uuid(rt):
    """Checklist 32: 4 bytes at frame 0 are [184, 54, 224, 91]."""
    page = rt.open(page_html())
    seek_frame(page, 0)
    assert page.evaluate("Array.from(crypto.getRandomValues(new Uint8Array(4)))") == [184, 54, 224, 91]
    seek_frame(page, 0)
    # a 32-bit view of the same generator state gives the same little-endian word
    assert page.evaluate("crypto.getRandomValues(new Uint32Array(1))[0]") == 184 + (54 << 8) + (224 << 16) + (91 << 24)
    seek_frame(page, 0)
    # trailing bytes come from floor(next * 256)
    assert page.evaluate("Array.from(crypto.getRandomValues(new Uint8Array(5)))[4]") == int(REF_T0[1] * 256)
    uuid = page.evaluate("crypto.randomUUID()")
    import re
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid)
    assert page.evaluate("(() => { try { crypto.getRandomValues(new Float32Array(2)); return 'no'; } catch (e) { return e.name; } })()") == "TypeMismatchError"


def test_date_and_performance(rt):
    """Checklist 30: new Date().toISOString() at frame 45; Date semantics."""
    page = rt.open(page_html())
    seek_frame(page, 45)
    r = page.evaluate("""() => ({
        iso: new Date().toISOString(),
        now: Date.now(),
        perf: performance.now(),
        str: Date(),
        inst: new Date() instanceof Date,
        ctor: new Date().constructor === Date,
        args: new Date(2020, 0, 2).toISOString(),
        parse: Date.parse('2001-02-03T04:05:06Z'),
        utc: Date.UTC(2001, 1, 3),
        sub: (() => { class D extends Date {}; const d = new D(); return d instanceof D && d.getTime(); })(),
        tag: Object.prototype.toString.call(new Date()),
    })""")
    assert r["iso"] == "1970-01-01T00:00:01.500Z"
    assert r["now"] == 1500 and r["perf"] == 1500
    assert r["str"].startswith("Thu Jan 01 1970 00:00:01 GMT+0000")
    assert r["inst"] and r["ctor"]
    assert r["args"] == "2020-01-02T00:00:00.000Z"
    assert r["parse"] == 981173106000
    assert r["utc"] == 981158400000
    assert r["sub"] == 1500
    assert r["tag"] == "[object Date]"


def test_time_zone(rt):
    """Checklist 62."""
    page = rt.open(page_html())
    assert page.evaluate("new Date(0).getTimezoneOffset()") == 0
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "UTC"


def test_timers_not_virtual(rt):
    """Checklist 33: setTimeout is the native function."""
    page = rt.open(page_html())
    assert "[native code]" in page.evaluate("Function.prototype.toString.call(setTimeout)")
    assert "[native code]" in page.evaluate("Function.prototype.toString.call(setInterval)")
    # and it still runs on wall-clock time, while the virtual clock stays put
    assert page.evaluate("new Promise(r => { const a = Date.now(); setTimeout(() => r(Date.now() - a), 30); })") == 0


def test_frame_time_ntsc(rt):
    """Checklist 37: at 30000/1001 frame 1 is t = 1001/30000 s and Date.now() reads 33.366..."""
    page = rt.open(page_html(), fps=(30000, 1001))
    t = seek_frame(page, 1, fps=(30000, 1001))
    assert t == 1001 / 30000
    now = page.evaluate("Date.now()")
    assert now == pytest.approx(33.36666666, abs=1e-6)
    assert page.evaluate("performance.now()") == now
    assert page.evaluate("window.__hd.quantise(1001/30000)") == pytest.approx(1001 / 30000, abs=1e-12)


RAF_CANVAS = """
<canvas id="c" width="320" height="20" style="position:absolute;left:0;top:0"></canvas>
"""
RAF_SCRIPT = """<script>
const ctx = document.getElementById('c').getContext('2d');
window.rafCalls = [];
function draw(ts) {
  window.rafCalls.push(ts);
  ctx.clearRect(0, 0, 320, 20);
  ctx.fillStyle = '#f00';
  ctx.fillRect(0, 0, performance.now() / 10, 20);
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
</script>"""


def test_raf_canvas_bar(rt):
    """Checklist 29: a bar of width performance.now()/10 is 100 px wide at frame 30."""
    page = rt.open(page_html(RAF_CANVAS, RAF_SCRIPT))
    assert page.evaluate("window.rafCalls.length") == 0  # native rAF never runs
    seek_frame(page, 30)
    alpha = page.evaluate("""() => {
        const d = document.getElementById('c').getContext('2d').getImageData(0, 10, 320, 1).data;
        return [d[99 * 4 + 3], d[100 * 4 + 3]];
    }""")
    assert alpha == [255, 0]
    assert page.evaluate("window.rafCalls") == [1000]
    seek_frame(page, 31)
    assert page.evaluate("window.rafCalls.length") == 2


def test_raf_semantics(rt):
    """8.2: one flush per seek, cancellation, callbacks added during a flush run next seek, errors recorded."""
    page = rt.open(page_html(scripts="""<script>
window.log = [];
const a = requestAnimationFrame(() => log.push('a'));
const b = requestAnimationFrame(() => { log.push('b'); cancelAnimationFrame(c); requestAnimationFrame(() => log.push('d')); });
const c = requestAnimationFrame(() => log.push('c'));
const e = requestAnimationFrame(() => log.push('e'));
cancelAnimationFrame(e);
requestAnimationFrame(() => { throw new Error('raf boom'); });
</script>"""))
    seek(page, 0)
    assert page.evaluate("log") == ["a", "b"]
    errs = page.evaluate("window.__hd.errors")
    assert any("raf boom" in e["message"] for e in errs)
    seek(page, 0.1)
    assert page.evaluate("log") == ["a", "b", "d"]


def test_intl_format_uses_virtual_now(rt):
    page = rt.open(page_html())
    seek(page, 3723.5)
    r = page.evaluate("""() => {
        const f = new Intl.DateTimeFormat('en-US', {hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: 'UTC'});
        return [f.format(), f.formatToParts().map(p => p.value).join(''), f.format(new Date(0)), f.format === f.format];
    }""")
    assert r == ["01:02:03", "01:02:03", "00:00:00", True]
