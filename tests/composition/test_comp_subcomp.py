"""Sub-composition inlining (1.3, 5.1-5.3): template rule, head hoisting, errors, repeated
mounts, relative URL rewriting."""
from __future__ import annotations

import json

import pytest

from hyperdesk.errors import HyperdeskError

from .conftest import page

ROOT = '<div data-composition-id="main" data-duration="4">{}</div>'


def comp_elements(doc, comp_id=None):
    return [e for e in doc.iter() if isinstance(e.tag, str) and e.get("data-composition-id") is not None
            and (comp_id is None or e.get("data-composition-id") == comp_id)]


def test_template_only_content(project):
    project.write("index.html", page(ROOT.format('<div data-composition-src="compositions/x.html"></div>')))
    project.write("compositions/x.html",
                  '<!doctype html><html><head><style>.red{background:red}</style></head><body>'
                  '<div class="red" id="outside">outside</div>'
                  '<template><div data-composition-id="x"><div id="inside" class="blue"></div></div>'
                  '<style>.blue{background:blue}</style></template>'
                  '<template><div id="second-template"></div></template></body></html>')
    result = project.compile()
    html = project.html()
    doc = project.doc()
    assert doc.get_element_by_id("inside") is not None
    assert 'id="outside"' not in html and "second-template" not in html
    assert "background:red" not in html  # the file's <head> is discarded with a template
    assert '[data-composition-id="x"] .blue{background:blue}' in html
    host = comp_elements(doc, "x")[0]
    assert host.get("data-composition-file") == "compositions/x.html"
    assert host.get("data-composition-src") is None
    assert [s.runtime_id for s in result.sub_compositions] == ["x"]


def test_body_content_with_head_hoisting(project):
    project.write("index.html", page(ROOT.format('<div id="h" data-composition-src="b.html"></div>')))
    project.write("b.html",
                  '<!doctype html><html><head><title>ignored</title><meta name="x" content="y">'
                  '<style>.dot{color:green}</style><script>window.__hoisted = 1;</script></head>'
                  '<body><div data-composition-id="b" data-width="300" data-height="200"><i class="dot"></i></div>'
                  '</body></html>')
    project.compile()
    doc = project.doc()
    host = doc.get_element_by_id("h")
    # a host without data-composition-id adopts the inner root's
    assert host.get("data-composition-id") == "b"
    assert host.get("data-width") == "300" and host.get("data-height") == "200"
    assert host.get("style") == "width:300px;height:200px"
    html = project.html()
    assert '[data-composition-id="b"] .dot{color:green}' in html
    assert "window.__hoisted = 1;" in html  # runs as the instance's scoped script
    assert "ignored" not in html and 'name="x"' not in html


def test_host_keeps_other_style_and_its_own_size(project):
    project.write("index.html", page(ROOT.format(
        '<div data-composition-id="c" data-composition-src="c.html" data-width="50" '
        'style="opacity:0.5; width: 10%"><p>placeholder</p></div>')))
    project.write("c.html", '<template><div data-composition-id="c" data-width="100" data-height="60"></div></template>')
    project.compile()
    host = comp_elements(project.doc(), "c")[0]
    assert host.get("style") == "opacity:0.5;width:50px;height:60px"
    assert "placeholder" not in project.html()


@pytest.mark.parametrize("content,reason_part", [
    ("", "no content"),
    ("   \n  ", "no content"),
    ("<template></template>", "no content"),
    ("<template><div class='x'></div></template>", "no element with data-composition-id"),
    ("<div>no id</div>", "no element with data-composition-id"),
])
def test_unusable_sub_composition_files(project, content, reason_part):
    project.write("index.html", page(ROOT.format('<div id="host" data-composition-src="s.html"></div>')))
    project.write("s.html", content)
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert e.details["attribute"] == "data-composition-src"
    assert e.details["value"] == "s.html"
    assert e.details["element"]["id"] == "host"
    assert reason_part in e.details["reason"]


def test_missing_sub_composition_file(project):
    project.write("index.html", page(ROOT.format(
        '<div id="scene" class="slot a" data-composition-id="scene" data-composition-src="compositions/nope.html"></div>')))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert e.details["file"] == "index.html"
    assert e.details["attribute"] == "data-composition-src"
    assert e.details["value"] == "compositions/nope.html"
    assert e.details["element"] == {
        "tag": "div", "id": "scene", "classes": ["slot", "a"],
        "start_tag": '<div id="scene" class="slot a" data-composition-id="scene" '
                     'data-composition-src="compositions/nope.html">',
    }
    assert "does not exist" in e.details["reason"]


@pytest.mark.parametrize("src", ["https://example.com/x.html", "../outside.html", "/../../etc/passwd"])
def test_sub_composition_outside_project(project, src):
    project.write("index.html", page(ROOT.format(f'<div data-composition-src="{src}"></div>')))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    assert exc.value.code == "INVALID_COMPOSITION"


def test_cycle_is_invalid(project):
    project.write("index.html", page(ROOT.format('<div data-composition-src="a.html"></div>')))
    project.write("a.html", '<template><div data-composition-id="a"><div data-composition-src="b.html"></div></div></template>')
    project.write("b.html", '<template><div data-composition-id="b"><div id="back" data-composition-src="a.html"></div></div></template>')
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert e.details["file"] == "b.html"
    assert e.details["element"]["id"] == "back"
    assert "index.html -> a.html -> b.html -> a.html" in e.details["reason"]


def test_self_inclusion_is_a_cycle(project):
    project.write("index.html", page(ROOT.format('<div data-composition-src="index.html"></div>')))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    assert "includes itself" in exc.value.details["reason"]


def _chain(project, levels: int) -> None:
    project.write("index.html", page(ROOT.format('<div data-composition-src="l1.html"></div>')))
    for i in range(1, levels + 1):
        inner = f'<div data-composition-src="l{i + 1}.html"></div>' if i < levels else '<i id="deepest"></i>'
        project.write(f"l{i}.html", f'<template><div data-composition-id="l{i}">{inner}</div></template>')


def test_depth_16_is_allowed(project):
    _chain(project, 16)
    result = project.compile()
    assert len(result.sub_compositions) == 16
    assert project.doc().get_element_by_id("deepest") is not None


def test_depth_17_is_invalid(project):
    _chain(project, 17)
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert e.details["file"] == "l16.html"
    assert e.details["value"] == "l17.html"
    assert "16" in e.details["reason"]


def test_breadth_first_order(project):
    project.write("index.html", page(ROOT.format(
        '<div data-composition-src="a.html"></div><div data-composition-src="b.html"></div>')))
    project.write("a.html", '<template><div data-composition-id="a"><div data-composition-src="a1.html"></div></div></template>')
    project.write("b.html", '<template><div data-composition-id="b"><div data-composition-src="b1.html"></div></div></template>')
    project.write("a1.html", '<template><div data-composition-id="a1"></div></template>')
    project.write("b1.html", '<template><div data-composition-id="b1"></div></template>')
    result = project.compile()
    assert [s.runtime_id for s in result.sub_compositions] == ["a", "b", "a1", "b1"]


CARD = ('<template><div id="card-root" data-composition-id="card">'
        '<div class="dot"></div></div>'
        '<style>.dot{left:0} #card-root{top:0} [data-composition-id="card"] .dot{right:0}</style>'
        '<script>window.__timelines["card"] = {duration: function(){return 1}};'
        'document.querySelector(\'[data-composition-id="card"] .dot\');</script></template>')


def test_repeated_mounts(project):
    project.write("index.html", page(ROOT.format(
        '<div data-composition-id="card" data-composition-src="card.html" data-start="0"></div>'
        '<div data-composition-id="card" data-composition-src="card.html" data-start="1"></div>'
        '<div data-composition-id="solo" data-composition-src="solo.html"></div>')))
    project.write("card.html", CARD)
    project.write("solo.html", '<template><div data-composition-id="solo"></div></template>')
    result = project.compile()
    assert [(s.runtime_id, s.authored_id, s.start_s) for s in result.sub_compositions] == [
        ("card__hf1", "card", 0.0), ("card__hf2", "card", 1.0), ("solo", "solo", 0.0)]
    doc = project.doc()
    for n in (1, 2):
        els = comp_elements(doc, f"card__hf{n}")
        assert len(els) == 2  # the host and the inner root
        assert all(e.get("data-hf-original-composition-id") == "card" for e in els)
    assert comp_elements(doc, "card") == []
    solo = comp_elements(doc, "solo")
    assert solo and all(e.get("data-hf-original-composition-id") is None for e in solo)
    head_css = [s.text for s in doc.find("head") if s.tag == "style"][1]
    for n in (1, 2):
        s = f'[data-composition-id="card__hf{n}"]'
        assert f"{s} .dot{{left:0}}" in head_css
        assert f'{s} [data-hf-authored-id="card-root"]{{top:0}}' in head_css
        assert f"{s} .dot{{right:0}}" in head_css
    scripts = [s.text for s in doc.find("body").iter("script") if s.get("data-hd-instance")]
    assert len(scripts) == 2
    for n, text in zip((1, 2), scripts):
        start = text.index("runScoped(") + len("runScoped(")
        opt = json.loads(text[start:text.index(", function(window", start)])
        assert opt["authoredId"] == "card" and opt["id"] == f"card__hf{n}"
        assert opt["file"] == "card.html"
        assert 'window.__timelines["card"]' in text  # mapped to the runtime key by the scope
    # the inner roots carry the authored id marker and their scope markers
    roots = [e for e in doc.iter() if isinstance(e.tag, str) and e.get("data-hf-authored-id") == "card-root"]
    assert [r.get("data-hd-scope") for r in roots] == ["1", "2"]


def test_relative_urls_are_rewritten_from_the_files_directory(project):
    project.write("index.html", page(ROOT.format('<div data-composition-src="compositions/scene/s.html"></div>')))
    for rel in ("compositions/scene/img/a.png", "compositions/b.png", "media/c.png", "compositions/scene/d.png",
                "compositions/scene/e.png", "compositions/scene/f.png", "compositions/scene/g.png"):
        project.write(rel, b"png")
    project.write("compositions/scene/s.html",
                  '<template><div data-composition-id="s">'
                  '<img id="i1" src="img/a.png"><img id="i2" src="../b.png"><img id="i3" src="../../media/c.png?v=1#x">'
                  '<img id="i4" srcset="d.png 1x, e.png 2x"><div id="d1" style="background:url(f.png)"></div>'
                  '<img id="i5" src="/abs.png"><img id="i6" src="data:image/png;base64,AA"><a id="a1" href="#top"></a>'
                  '<svg><image id="s1" href="g.png"></image><use id="u1" href="#sym"></use></svg>'
                  '<div data-composition-src="compositions/scene/nested.html"></div>'
                  '</div><style>.x{background:url("img/a.png")}</style></template>')
    project.write("compositions/scene/nested.html", '<template><div data-composition-id="n"><img id="n1" src="img/a.png"></div></template>')
    project.compile()
    doc = project.doc()
    get = lambda i, a="src": doc.get_element_by_id(i).get(a)  # noqa: E731
    assert get("i1") == "compositions/scene/img/a.png"
    assert get("i2") == "compositions/b.png"
    assert get("i3") == "media/c.png?v=1#x"
    assert get("i4", "srcset") == "compositions/scene/d.png 1x, compositions/scene/e.png 2x"
    assert get("d1", "style") == 'background:url("compositions/scene/f.png")'
    assert get("i5") == "/abs.png"
    assert get("i6") == "data:image/png;base64,AA"
    assert get("a1", "href") == "#top"
    assert get("s1", "href") == "compositions/scene/g.png"
    assert get("u1", "href") == "#sym"
    assert get("n1") == "compositions/scene/img/a.png"  # data-composition-src paths resolve from the root
    assert 'url("compositions/scene/img/a.png")' in project.html()


def test_local_stylesheet_link_in_sub_composition_is_scoped(project):
    project.write("index.html", page(ROOT.format('<div data-composition-src="c/x.html"></div>')))
    project.write("c/x.html", '<template><link rel="stylesheet" href="x.css"><div data-composition-id="x"></div></template>')
    project.write("c/x.css", ".t{background:url(bg.png)}")
    project.write("c/bg.png", b"png")
    project.compile()
    html = project.html()
    assert '[data-composition-id="x"] .t{background:url("c/bg.png")}' in html
    assert 'href="c/x.css"' not in html


def test_external_scripts_deduplicated_and_appended(project):
    project.write("index.html", page(ROOT.format(
        '<div data-composition-src="a.html"></div><div data-composition-src="b.html"></div>'),
        head='<script src="lib/gsap.js"></script>'))
    project.write("lib/gsap.js", "window.gsap = {};")
    project.write("lib/other.js", "")
    project.write("a.html", '<template><div data-composition-id="a"></div><script src="lib/gsap.js"></script>'
                            '<script src="lib/other.js"></script><script>window.a = 1;</script>'
                            '<script type="application/json" id="data">{"k": 1}</script></template>')
    project.write("b.html", '<template><div data-composition-id="b"></div><script src="lib/other.js"></script>'
                            '<script src="lib/b.js"></script><script>window.b = 1;</script></template>')
    project.write("lib/b.js", "")
    project.compile()
    body = project.doc().find("body")
    tail = [s for s in body if s.tag == "script"]
    assert [s.get("src") for s in tail[:2]] == ["lib/other.js", "lib/b.js"]  # gsap already loaded
    assert [s.get("data-hd-instance") for s in tail[2:]] == ["1", "2"]
    assert "window.a = 1;" in tail[2].text and "window.b = 1;" in tail[3].text
    # a data script stays where it was, untouched
    data = project.doc().get_element_by_id("data")
    assert data.text == '{"k": 1}' and data.getparent().tag == "div"


def test_preview_runtimes_are_stripped(project):
    project.write("index.html", page(ROOT.format(
        '<script src="https://cdn.example/hyperframe.runtime.iife.js"></script>'
        '<script data-hyperframes-preview-runtime>window.preview = 1</script>'
        '<div data-composition-src="a.html"></div>'),
        head='<script src="vendor/hyperframe-runtime.modular-runtime.inline.js?v=2"></script>'))
    project.write("a.html", '<template><div data-composition-id="a"></div>'
                            '<script src="../hyperframe.runtime.iife.js"></script></template>')
    project.compile()
    html = project.html()
    assert "hyperframe" not in html and "window.preview" not in html
