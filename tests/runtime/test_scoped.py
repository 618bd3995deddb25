"""Scoped scripts of sub-composition instances (section 5.5), as the compiler's wrapper calls them."""
from __future__ import annotations

import pytest

from hd_rt_helpers import seek_frame

INSTANCE = """
<div data-composition-id="card__hf{n}" data-hf-original-composition-id="card" data-composition-file="card.html"
     data-start="{start}" data-duration="3" {values} style="position:absolute;left:0;top:{top}px;width:320px;height:40px">
  <div data-composition-id="card__hf{n}" data-hf-authored-id="card-root" id="card-root-{n}"
       data-composition-variables='[{{"id":"color","type":"color","default":"#f00"}}]' style="position:absolute;inset:0">
    <div class="dot" style="position:absolute;left:0;top:0;width:10px;height:10px;background:red"></div>
  </div>
</div>"""

CARD_SCRIPT = """
var dot = document.querySelector('.dot');
window.__timelines = window.__timelines || {};
window.__timelines["card"] = gsap.timeline({paused: true}).to(dot, {x: 100, duration: 1, ease: 'none'});
dot.setAttribute('data-color', window.__hyperframes.getVariables().color);
document.querySelectorAll('[data-composition-id="card"]').forEach(function (b) { b.setAttribute('data-seen', 'yes'); });
document.getElementById('card-root').setAttribute('data-by-authored-id', 'yes');
window.setTimeout(function () {}, 0);
"""


def wrapped(n: int, body: str, file: str = "card.html", variables: str = "undefined") -> str:
    return (f"<script>window.__hd.runScoped({{id: 'card__hf{n}', authoredId: 'card', file: '{file}', variables: {variables}}}, "
            f"function (window, document, __timelines, __hyperframes, self, globalThis) {{{body}\n}});</script>")


def test_scoped_instances(rt, gsap_url):
    """5.5 (and checklist 14/16 page side): each instance's script moves only its own dot, registers
    its runtime key and sees its own variables; exceptions are recorded with the file name."""
    html = ("<!doctype html><html><body><div id=\"main\" data-composition-id=\"main\" data-duration=\"6\" "
            "style=\"position:relative;width:320px;height:180px\">"
            + INSTANCE.format(n=1, start=0, top=0, values="")
            + INSTANCE.format(n=2, start=1, top=50, values="data-variable-values='{\"color\":\"#00f\"}'")
            + "</div>"
            f"<script src=\"{gsap_url}\"></script>"
            "<script>window.__timelines['main'] = gsap.timeline({paused: true});</script>"
            + wrapped(1, CARD_SCRIPT) + wrapped(2, CARD_SCRIPT)
            + wrapped(3, "throw new Error('instance boom');", file="compositions/bad.html")
            + "</body></html>")
    page = rt.open(html)
    keys = page.evaluate("Object.keys(window.__timelines).sort()")
    assert keys == ["card__hf1", "card__hf2", "main"]
    seek_frame(page, 15)  # t = 0.5: instance 1 local 0.5, instance 2 not started (local 0)
    xs = page.evaluate("Array.from(document.querySelectorAll('.dot')).map(d => gsap.getProperty(d, 'x'))")
    assert xs == [pytest.approx(50), pytest.approx(0)]
    seek_frame(page, 45)  # t = 1.5: instance 1 held at 1 s, instance 2 local 0.5
    xs = page.evaluate("Array.from(document.querySelectorAll('.dot')).map(d => gsap.getProperty(d, 'x'))")
    assert xs == [pytest.approx(100), pytest.approx(50)]
    colors = page.evaluate("Array.from(document.querySelectorAll('.dot')).map(d => d.getAttribute('data-color'))")
    assert colors == ["#f00", "#00f"]
    # the authored-id selector names this instance's box (the inner root); getElementById by authored id
    seen = page.evaluate("Array.from(document.querySelectorAll('[data-seen]')).map(e => e.id)")
    assert seen == ["card-root-1", "card-root-2"]
    by_id = page.evaluate("Array.from(document.querySelectorAll('[data-by-authored-id]')).map(e => e.id)")
    assert by_id == ["card-root-1", "card-root-2"]
    errs = page.evaluate("window.__hd.errors")
    bad = [e for e in errs if "instance boom" in e["message"]]
    assert len(bad) == 1 and bad[0]["source"].startswith("compositions/bad.html")
    assert not [e for e in errs if "instance boom" not in e["message"]]


def test_scope_explicit_variables_and_real_document(rt):
    page = rt.open("<!doctype html><html><body><div id=\"main\" data-composition-id=\"main\" data-duration=\"2\" data-no-timeline>"
                   "<div data-composition-id=\"x\"><p class=\"q\">in</p></div></div><p class=\"q\">out</p>"
                   + "<script>window.__hd.runScoped({id: 'x', file: 'x.html', variables: {a: 1}}, "
                     "function (window, document, __timelines, __hyperframes) {"
                     "window.res = [document.querySelectorAll('.q').length, window.__hyperframes.getVariables().a,"
                     " document.createElement('div').tagName, document.body.tagName, typeof window.requestAnimationFrame,"
                     " window.document === document, window.Math === Math];"
                     "__timelines['x'] = {duration() { return 1; }, pause() {}, totalTime() {}};"
                     "});</script></body></html>")
    assert page.evaluate("window.res") == [1, 1, "DIV", "BODY", "function", True, True]
    assert page.evaluate("Object.keys(window.__timelines)") == ["x"]
