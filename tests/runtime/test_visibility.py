"""Clip windows, visibility rule and start-time resolution (sections 3, 4; checklist 5-12)."""
from __future__ import annotations

import pytest

from hd_rt_helpers import seek, seek_frame, visible

HEAD = """<!doctype html><html><head><style>
*{margin:0;padding:0;box-sizing:border-box}
.abs{position:absolute;left:0;top:0;width:20px;height:20px;background:red}
.row{height:40px;background:blue}
</style></head><body>"""


def doc(body: str, *, duration: float = 10, extra: str = "") -> str:
    return (HEAD + f'<div id="main" data-composition-id="main" data-width="320" data-height="180" '
            f'data-duration="{duration}" data-no-timeline style="position:relative;width:320px;height:180px">'
            + body + "</div>" + extra + "</body></html>")


def vis_at(page, sel, frames):
    out = {}
    for f in frames:
        seek_frame(page, f)
        out[f] = visible(page, sel)
    return out


def test_half_open_window(rt):
    """Checklist 5."""
    page = rt.open(doc('<div id="c" class="abs" data-start="1" data-duration="1"></div>'))
    assert vis_at(page, "#c", [29, 30, 59, 60]) == {29: False, 30: True, 59: True, 60: False}
    # inline styles per 3.3 step 4 (absolutely positioned: visibility only, no display:none)
    seek_frame(page, 10)
    assert page.evaluate("document.getElementById('c').style.visibility") == "hidden"
    assert page.evaluate("document.getElementById('c').style.display") == ""
    seek_frame(page, 40)
    assert page.evaluate("document.getElementById('c').style.visibility") == "visible"


def test_ancestor_rule(rt):
    """Checklist 6: child [0,3) inside parent [1,2)."""
    page = rt.open(doc('<div id="p" class="abs" data-start="1" data-duration="1">'
                       '<div id="ch" class="abs" data-start="0" data-duration="3" style="visibility:visible"></div></div>'))
    res = {}
    for f in (0, 45, 75):
        seek_frame(page, f)
        res[f] = page.evaluate("getComputedStyle(document.getElementById('ch')).visibility")
    assert res == {0: "hidden", 45: "visible", 75: "hidden"}


def test_data_hidden(rt):
    """Checklist 7, and 3.3 step 1: removing the attribute restores the previous inline display."""
    page = rt.open(doc('<div id="h" class="row" data-start="0" data-duration="10" data-hidden style="display:flex"></div>'))
    for f in (0, 30, 150, 299):
        seek_frame(page, f)
        assert page.evaluate("getComputedStyle(document.getElementById('h')).display") == "none"
        assert not visible(page, "#h")
    page.evaluate("document.getElementById('h').removeAttribute('data-hidden')")
    seek_frame(page, 30)
    assert page.evaluate("document.getElementById('h').style.display") == "flex"
    assert visible(page, "#h")


def test_in_flow_leaf(rt):
    """Checklist 8: the second in-flow clip moves to the first's place at frame 30."""
    page = rt.open(doc('<div id="a" class="row" data-start="0" data-duration="1"></div>'
                       '<div id="b" class="row" data-start="0" data-duration="5"></div>'
                       '<div id="wrap" data-start="0" data-duration="1"><div id="inner" class="row" data-start="0" data-duration="5"></div></div>'))
    top = "document.getElementById('b').getBoundingClientRect().top"
    seek_frame(page, 29)
    assert page.evaluate(top) == 40
    seek_frame(page, 30)
    assert page.evaluate(top) == 0
    assert page.evaluate("getComputedStyle(document.getElementById('a')).display") == "none"
    # a hidden clip with timed descendants keeps its box (visibility only)
    assert page.evaluate("getComputedStyle(document.getElementById('wrap')).display") == "block"
    assert page.evaluate("getComputedStyle(document.getElementById('wrap')).visibility") == "hidden"
    assert not visible(page, "#inner")
    # and comes back
    seek_frame(page, 0)
    assert page.evaluate(top) == 40
    assert page.evaluate("document.getElementById('a').style.display") == ""


def test_reference_start(rt):
    """Checklist 9: intro + 0.5 with intro [1,3): first visible at frame 105."""
    page = rt.open(doc('<div id="intro" class="abs" data-start="1" data-duration="2"></div>'
                       '<div id="c" class="abs" data-start="intro + 0.5" data-duration="1"></div>'
                       '<div id="c2" class="abs" data-start="intro+2" data-duration="1"></div>'
                       '<div id="c3" class="abs" data-start="intro - 1" data-duration="1"></div>'
                       '<div id="c4" class="abs" data-start="  intro  "></div>'))
    assert vis_at(page, "#c", [104, 105]) == {104: False, 105: True}
    starts = page.evaluate("['c','c2','c3','c4'].map(id => window.__hd.resolveStart(document.getElementById(id)))")
    assert starts == [3.5, 5, 2, 3]


def test_id_with_hyphen(rt):
    """Checklist 10: intro-2 references the element intro-2, not intro minus 2 s."""
    page = rt.open(doc('<div id="intro" class="abs" data-start="0" data-duration="1"></div>'
                       '<div id="intro-2" class="abs" data-start="2" data-duration="2"></div>'
                       '<div id="c" class="abs" data-start="intro-2" data-duration="1"></div>'))
    assert page.evaluate("window.__hd.resolveStart(document.getElementById('c'))") == 4
    assert vis_at(page, "#c", [0, 119, 120]) == {0: False, 119: False, 120: True}


def test_missing_reference(rt):
    """Checklist 11: an absent reference starts at 0 with exactly one warning."""
    page = rt.open(doc('<div id="c" class="abs" data-start="nosuch" data-duration="1"></div>'))
    for f in (0, 10, 20):
        seek_frame(page, f)
        assert visible(page, "#c")
    seek_frame(page, 30)
    assert not visible(page, "#c")
    warns = [w for w in page.evaluate("window.__hd.state().warnings") if w["code"] == "START_REFERENCE_MISSING"]
    assert len(warns) == 1 and "nosuch" in warns[0]["message"]


def test_nested_time_base(rt):
    """Checklist 12: clip data-start=1 inside a host starting at 5 is first visible at frame 180."""
    page = rt.open(doc('<div id="host" data-composition-id="h" data-start="5" data-duration="4" data-no-timeline '
                       'style="position:absolute;inset:0">'
                       '<div id="c" class="abs" data-start="1" data-duration="1"></div></div>'))
    assert vis_at(page, "#c", [0, 150, 179, 180, 209, 210]) == {
        0: False, 150: False, 179: False, 180: True, 209: True, 210: False}


def test_worked_example_time_bases(rt):
    """Section 4.3 table, plus negative clamp, cycles and legacy data-end."""
    body = """
<div id="scene" data-composition-id="scene" data-composition-file="compositions/scene.html" data-start="2" data-duration="6" data-no-timeline>
  <div id="scene-root" data-composition-id="scene" data-no-timeline>
    <div id="a1" class="abs" data-start="1" data-duration="2"></div>
    <div id="badge" data-composition-id="badge" data-composition-file="compositions/badge.html" data-start="0.5" data-duration="3" data-no-timeline>
      <div id="badge-root" data-composition-id="badge" data-no-timeline>
        <div id="b1" class="abs" data-start="1" data-duration="1"></div>
      </div>
    </div>
    <div id="a2" class="abs" data-start="a1 + 0.5" data-duration="1"></div>
  </div>
</div>
<div id="neg" class="abs" data-start="-1" data-duration="1"></div>
<div id="x" class="abs" data-start="y" data-duration="1"></div>
<div id="y" class="abs" data-start="x + 1" data-duration="1"></div>
<div id="leg" class="abs" data-start="1" data-end="2.5"></div>
<div id="emp" class="abs" data-start=""></div>
"""
    page = rt.open(doc(body))
    ids = ["main", "scene", "scene-root", "a1", "badge", "badge-root", "b1", "a2", "neg", "x", "y", "leg", "emp"]
    starts = page.evaluate("ids => ids.map(id => window.__hd.resolveStart(document.getElementById(id)))", ids)
    assert dict(zip(ids, starts)) == {
        "main": 0, "scene": 2, "scene-root": 2, "a1": 3, "badge": 2.5, "badge-root": 2.5, "b1": 3.5,
        "a2": 5.5, "neg": 0, "y": 0, "x": 1, "leg": 1, "emp": 0}
    assert page.evaluate("window.__hd.resolveDuration(document.getElementById('leg'))") == 1.5
    assert page.evaluate("document.getElementById('main').getAttribute('data-start')") == "0"
    codes = [w["code"] for w in page.evaluate("window.__hd.state().warnings")]
    assert "START_REFERENCE_CYCLE" in codes
    # b1 [3.5, 4.5) through two nested hosts
    assert vis_at(page, "#b1", [104, 105, 134, 135]) == {104: False, 105: True, 134: True, 135: False}


def test_host_window_hides_slot(rt):
    """5.6 / 3.3: a host window shorter than its content hides the slot (ancestor rule)."""
    page = rt.open(doc('<div id="host" data-composition-id="h" data-start="1" data-duration="1" data-no-timeline '
                       'style="position:absolute;inset:0"><div id="c" class="abs"></div>'
                       '<div id="d" class="abs" data-start="0" data-duration="5"></div></div>'))
    res = {}
    for f in (0, 45, 60):
        seek_frame(page, f)
        res[f] = (visible(page, "#c"), visible(page, "#d"))
    assert res == {0: (False, False), 45: (True, True), 60: (False, False)}


def test_never_visible_tags_untouched(rt):
    page = rt.open(doc('<style data-start="1" id="s">.q{color:red}</style><div class="abs" data-start="0"></div>'))
    seek(page, 0)
    assert page.evaluate("document.getElementById('s').getAttribute('style')") is None
