"""Start-time grammar (4.1), static resolution (4.2) and the nested time-base example (4.3)."""
from __future__ import annotations

import lxml.html
import pytest

from hyperdesk.composition.document import find_root
from hyperdesk.composition.timing import StartExpr, StartSyntaxError, StaticTiming, parse_start
from hyperdesk.errors import HyperdeskError

from .conftest import page


@pytest.mark.parametrize("value,expected", [
    ("2", StartExpr(number=2.0)),
    (" 1.25 ", StartExpr(number=1.25)),
    ("-1", StartExpr(number=-1.0)),
    ("+3", StartExpr(number=3.0)),
    (".5", StartExpr(number=0.5)),
    ("1e2", StartExpr(number=100.0)),
    ("intro", StartExpr(ref="intro")),
    ("intro-2", StartExpr(ref="intro-2")),
    ("scene.a:b_c", StartExpr(ref="scene.a:b_c")),
    ("intro + 0.5", StartExpr(ref="intro", offset=0.5)),
    ("intro+2", StartExpr(ref="intro", offset=2.0)),
    ("intro - 1", StartExpr(ref="intro", offset=-1.0)),
    ("intro -.5", StartExpr(ref="intro", offset=-0.5)),
    ("a-b - 2", StartExpr(ref="a-b", offset=-2.0)),
])
def test_start_grammar(value, expected):
    assert parse_start(value) == expected


@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_start_means_no_start(value):
    assert parse_start(value) is None


@pytest.mark.parametrize("value", ["0x10", "Infinity", "2s", "1.5ms"])
def test_non_numbers_are_identifiers(value):
    # Hexadecimal, Infinity and unit suffixes are not numbers; they match the identifier form.
    assert parse_start(value) == StartExpr(ref=value)


@pytest.mark.parametrize("value", ["intro + ", "intro * 2", "a b", "2 s", "intro + 1e2", "intro + -1",
                                   "(1)", "+", "intro +"])
def test_bad_start_expressions(value):
    with pytest.raises(StartSyntaxError):
        parse_start(value)


def _timing(html: str):
    doc = lxml.html.document_fromstring(html)
    root = find_root(doc)
    warnings = []
    return doc, StaticTiming(root, warn=warnings), warnings


def _by_id(doc, el_id):
    return next(e for e in doc.iter() if isinstance(e.tag, str) and e.get("id") == el_id)


def test_reference_resolution_and_clamping():
    doc, t, warnings = _timing(page(
        '<div data-composition-id="main">'
        '<div id="intro" data-start="1" data-duration="2"></div>'
        '<div id="a" data-start="intro + 0.5"></div>'
        '<div id="b" data-start="intro - 5"></div>'
        '<div id="c" data-start="-3"></div>'
        '<div id="intro-2" data-start="4" data-end="6"></div>'
        '<div id="d" data-start="intro-2"></div>'
        '<div id="e" data-start="open + 1"></div><div id="open" data-start="2"></div>'
        '<div id="f" data-start="nothing"></div>'
        '</div>'))
    start = lambda i: t.start(_by_id(doc, i)).value  # noqa: E731
    assert start("a") == 3.5
    assert start("b") == 0.0
    assert start("c") == 0.0
    assert start("d") == 6.0        # intro-2 is an id, not intro minus 2 s; data-end gives 2 s
    assert start("e") == 3.0        # unknown duration: target start + offset
    assert start("f") == 0.0
    assert [w.code for w in warnings] == ["START_REFERENCE_MISSING"]


def test_reference_cycle_resolves_to_zero_with_a_warning():
    doc, t, warnings = _timing(page(
        '<div data-composition-id="main">'
        '<div id="x" data-start="y + 1" data-duration="1"></div>'
        '<div id="y" data-start="x" data-duration="1"></div></div>'))
    # x is resolved first (document order); y closes the cycle.
    assert t.start(_by_id(doc, "y")).value == 0.0
    assert t.start(_by_id(doc, "x")).value == 2.0
    assert [w.code for w in warnings] == ["START_REFERENCE_CYCLE"]


def test_reference_by_composition_id():
    doc, t, _ = _timing(page(
        '<div data-composition-id="main">'
        '<div data-composition-id="scene" data-start="1" data-duration="3"></div>'
        '<div id="after" data-start="scene"></div>'
        '<div data-composition-id="open-host" data-start="2"></div>'
        '<div id="after2" data-start="open-host + 1"></div></div>'))
    assert t.start(_by_id(doc, "after")).value == 4.0
    after2 = t.start(_by_id(doc, "after2"))
    assert after2.value == 3.0 and after2.certain is False  # a timeline's duration is unknown here


def test_worked_example_of_4_3(project):
    project.write("index.html", page(
        '<div data-composition-id="main" data-duration="10">'
        '<div id="scene-host" data-composition-id="scene" data-composition-src="compositions/scene.html" '
        'data-start="2" data-duration="6"></div></div>'))
    project.write("compositions/scene.html",
                  '<template><div data-composition-id="scene">'
                  '<div id="a1" data-start="1" data-duration="2"></div>'
                  '<div id="badge-host" data-composition-id="badge" data-composition-src="compositions/badge.html" '
                  'data-start="0.5" data-duration="2"></div>'
                  '<div id="a2" data-start="a1 + 0.5" data-duration="1"></div>'
                  '</div></template>')
    project.write("compositions/badge.html",
                  '<template><div data-composition-id="badge"><div id="b1" data-start="1"></div></div></template>')
    result = project.compile()
    doc = project.doc()
    root = find_root(doc)
    t = StaticTiming(root)
    inner = next(e for e in doc.iter() if isinstance(e.tag, str) and e.get("data-composition-id") == "scene"
                 and e.get("data-composition-file") is None)
    assert t.start(root).value == 0
    assert t.start(_by_id(doc, "scene-host")).value == 2
    assert t.start(inner).value == 2
    assert t.start(_by_id(doc, "a1")).value == 3
    assert t.start(_by_id(doc, "badge-host")).value == 2.5
    assert t.start(_by_id(doc, "b1")).value == 3.5
    assert t.start(_by_id(doc, "a2")).value == 5.5
    subs = {s.runtime_id: s for s in result.sub_compositions}
    assert (subs["scene"].start_s, subs["scene"].duration_s) == (2.0, 6.0)
    assert (subs["badge"].start_s, subs["badge"].duration_s) == (2.5, 2.0)
    assert subs["badge"].file == "compositions/badge.html"


def test_bad_start_is_invalid_composition(project):
    project.write("index.html", page(
        '<div data-composition-id="main"><div id="clip" class="c" data-start="2 s"></div></div>'))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert (e.details["attribute"], e.details["value"], e.details["file"]) == ("data-start", "2 s", "index.html")
    assert e.details["element"]["id"] == "clip"


def test_bad_start_in_sub_composition_names_its_file(project):
    project.write("index.html", page(
        '<div data-composition-id="main"><div data-composition-src="c.html"></div></div>'))
    project.write("c.html", '<template><div data-composition-id="c"><i data-start="soon !"></i></div></template>')
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    assert exc.value.details["file"] == "c.html"
    assert exc.value.details["element"]["start_tag"] == '<i data-start="soon !">'


def test_root_start_is_ignored(project):
    project.write("index.html", page('<div data-composition-id="main" data-start="whenever" data-duration="1"></div>'))
    assert project.compile().duration_s == 1.0


def test_references_prefer_the_own_instance(project):
    project.write("index.html", page(
        '<div data-composition-id="main" data-duration="10">'
        '<div data-composition-id="card" data-composition-src="card.html" data-start="1"></div>'
        '<div data-composition-id="card" data-composition-src="card.html" data-start="4"></div>'
        '<div id="late" data-start="intro"></div></div>'))
    project.write("card.html", '<template><div data-composition-id="card">'
                               '<div id="intro" data-start="0" data-duration="1"></div>'
                               '<video src="v.mp4" data-start="intro + 0.5" data-duration="1"></video>'
                               '</div></template>')
    project.write("v.mp4", b"v")
    r = project.compile()
    assert [(v.start_s, v.end_s) for v in r.videos] == [(2.5, 3.5), (5.5, 6.5)]
    doc = project.doc()
    t = StaticTiming(find_root(doc))
    assert t.start(_by_id(doc, "late")).value == 2.0  # outside any instance: the first intro
