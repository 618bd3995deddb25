"""Document shapes, fragment wrapping, root resolution and root attributes (contract 1, 2, 10.1)."""
from __future__ import annotations

import pytest

from hyperdesk.composition.document import RESET_CSS, is_full_document, parse_fps
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

from .conftest import page


def _style_texts(doc):
    return [s.text or "" for s in doc.iter("style")]


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("text,full", [
    ("<!DOCTYPE html><html></html>", True),
    ("\ufeff  <!-- a comment -->\n<!doctype HTML>", True),
    ("<HTML lang=en>", True),
    ("<!-- x --><div data-composition-id=a></div>", False),
    ("<div>hi</div>", False),
    ("<!doctype svg>", False),
])
def test_full_document_detection(text, full):
    assert is_full_document(text) is full


def test_fragment_is_wrapped_with_the_exact_reset(project):
    project.write("index.html", '<div data-composition-id="main" data-duration="1">'
                                '<div style="width:10px;height:10px;background:red"></div></div>')
    result = project.compile()
    html = project.html()
    assert html.startswith("<!DOCTYPE html>\n")
    doc = project.doc()
    head = doc.find("head")
    # text-rendering first, then the merged style holding the reset verbatim.
    assert head[0].tag == "style" and head[0].text == "html,body,*{text-rendering:geometricPrecision}"
    merged = [s for s in head if s.tag == "style"][1]
    assert merged.text.startswith(RESET_CSS)
    assert RESET_CSS == ("*{margin:0;padding:0;box-sizing:border-box}"
                         'body{overflow:hidden;background:#000;font-family:"Inter",sans-serif}')
    body = doc.find("body")
    assert body[0].get("data-composition-id") == "main"
    assert result.composition_id == "main"


def test_fragment_body_holds_the_fragment_unchanged(project):
    project.write("index.html", '<style>.x{color:red}</style><div data-composition-id="m" '
                                'data-duration="1"><p class="x">hi</p></div>')
    project.compile()
    doc = project.doc()
    body = doc.find("body")
    assert [c.tag for c in body][:2] == ["style", "div"]  # the fragment's style stays in body
    assert body[0].text == ".x{color:red}"


def test_full_document_gets_no_reset(project):
    project.write("index.html", page('<div data-composition-id="m" data-duration="1"></div>'))
    project.compile()
    assert "box-sizing:border-box" not in project.html()


def test_full_document_without_doctype_keeps_quirks(project):
    project.write("index.html", '<html><body><div data-composition-id="m" data-duration="1"></div></body></html>')
    project.compile()
    html = project.html()
    assert not html.lower().startswith("<!doctype")
    assert "http://" not in html


# ----------------------------------------------------------------------------- root


def test_root_defaults(project):
    project.write("index.html", page('<div data-composition-id="main"></div>'))
    r = project.compile()
    assert (r.width, r.height) == (1080, 1920)
    assert r.duration_s is None and r.duration_source == "probe"
    assert r.fps_attr is None and r.fps == Fps(num=30, den=1)
    assert r.root_timeline is True


def test_data_root_true_wins(project):
    project.write("index.html", page(
        '<div data-composition-id="outer" data-width="400" data-height="400">'
        '<div data-composition-id="inner" data-root="true" data-width="200" data-height="100" '
        'data-duration="2" data-no-timeline></div></div>'))
    r = project.compile()
    assert r.composition_id == "inner"
    assert (r.width, r.height, r.duration_s) == (200, 100, 2.0)
    assert r.root_timeline is False


def test_first_top_level_composition_is_root(project):
    project.write("index.html", page(
        '<p>x</p><section data-composition-id="a" data-width="320" data-height="180">'
        '<div data-composition-id="nested"></div></section><div data-composition-id="b"></div>'))
    r = project.compile()
    assert r.composition_id == "a" and r.width == 320


def test_no_root_is_invalid_composition(project):
    project.write("index.html", page('<div class="stage"></div>'))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert e.details["file"] == "index.html"
    assert e.details["element"]["tag"] == "body"
    assert e.details["attribute"] == "data-composition-id"
    assert e.details["reason"]


@pytest.mark.parametrize("attr,value", [
    ("data-width", "wide"),
    ("data-height", "12.5"),
    ("data-width", "8"),
    ("data-height", "9000"),
    ("data-duration", "5s"),
    ("data-composition-duration", "abc"),
    ("data-fps", "29.97"),
    ("data-fps", "fast"),
])
def test_unparsable_root_attribute(project, attr, value):
    project.write("index.html", page(
        f'<div id="stage" class="root big" data-composition-id="main" {attr}="{value}"></div>'))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION", e
    assert e.details["attribute"] == attr
    assert e.details["value"] == value
    el = e.details["element"]
    assert el["tag"] == "div" and el["id"] == "stage" and el["classes"] == ["root", "big"]
    assert el["start_tag"].startswith('<div id="stage" class="root big" data-composition-id="main"')
    assert len(el["start_tag"]) <= 120
    assert e.details["file"] == "index.html"
    assert attr in e.message and value in e.message


def test_start_tag_is_cut_to_120_characters(project):
    long = "x" * 300
    project.write("index.html", page(f'<div data-composition-id="main" data-note="{long}" data-width="wide"></div>'))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    assert len(exc.value.details["element"]["start_tag"]) == 120


@pytest.mark.parametrize("attr", ["data-duration", "data-composition-duration"])
@pytest.mark.parametrize("value", ["0", "-1", "0.0"])
def test_zero_duration(project, attr, value):
    project.write("index.html", page(f'<div data-composition-id="main" {attr}="{value}"></div>'))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    assert exc.value.code == "DURATION_ZERO"
    assert exc.value.details["value"] == value


def test_static_duration_forms(project):
    project.write("index.html", page('<div data-composition-id="main" data-composition-duration="2.5"></div>'))
    r = project.compile()
    assert r.duration_s == 2.5 and r.duration_source == "attribute"
    project.write("index.html", page('<div data-composition-id="main" data-duration="1e1" '
                                     'data-composition-duration="3"></div>'))
    assert project.compile().duration_s == 10.0


def test_missing_entry_is_composition_not_found(project):
    project.write("other.html", "<div></div>")
    with pytest.raises(HyperdeskError) as exc:
        project.compile("index.html")
    assert exc.value.code == "COMPOSITION_NOT_FOUND"


def test_binary_entry_is_composition_not_found(project):
    project.write("index.html", b"\x00\x01\x02PNG")
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    assert exc.value.code == "COMPOSITION_NOT_FOUND"


def test_other_entry_file_in_a_subdirectory(project):
    project.write("scenes/main.html", page(
        '<div data-composition-id="m" data-duration="1"><img src="../img/a.png"><img src="b.png"></div>'))
    project.write("img/a.png", b"png")
    project.write("scenes/b.png", b"png")
    project.compile("scenes/main.html")
    imgs = [i.get("src") for i in project.doc().iter("img")]
    assert imgs == ["img/a.png", "scenes/b.png"]


# ----------------------------------------------------------------------------- fps


@pytest.mark.parametrize("value,expected", [
    ("30", (30, 1)), ("60/2", (30, 1)), ("30000/1001", (30000, 1001)), (" 24 ", (24, 1)),
    (1, (1, 1)), (240, (240, 1)), ("480/2", (240, 1)), (Fps(num=120, den=4), (30, 1)),
])
def test_fps_forms(value, expected):
    fps = parse_fps(value)
    assert (fps.num, fps.den) == expected


@pytest.mark.parametrize("value", ["29.97", "30.0", "0", "241", "1/2", "30/0", "0/1", "abc", "", 0, 500, 29.97])
def test_fps_refused_from_config(value):
    with pytest.raises(HyperdeskError) as exc:
        parse_fps(value)
    assert exc.value.code == "INVALID_RENDER_CONFIG"
    assert exc.value.details["field"] == "fps"


def test_config_fps_is_validated_and_reduced(project):
    project.write("index.html", page('<div data-composition-id="m" data-duration="1" data-fps="25"></div>'))
    r = project.compile(fps=Fps(num=60, den=2))
    assert r.fps == Fps(num=30, den=1)
    assert r.fps_attr == Fps(num=25, den=1)
    with pytest.raises(HyperdeskError) as exc:
        project.compile(fps="29.97")
    assert exc.value.code == "INVALID_RENDER_CONFIG"


def test_data_fps_rational_is_reduced(project):
    project.write("index.html", page('<div data-composition-id="m" data-duration="1" data-fps="60/2"></div>'))
    r = project.compile()
    assert r.fps_attr == Fps(num=30, den=1) and r.fps == Fps(num=30, den=1)
