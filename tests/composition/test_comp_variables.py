"""Variables (contract 6): declarations, overrides, instance values, bindings, custom properties."""
from __future__ import annotations

import json

import pytest

from hyperdesk.errors import HyperdeskError

from .conftest import page

DECLS = json.dumps([
    {"id": "title", "type": "string", "label": "Title", "default": "Default title"},
    {"id": "accent", "type": "color", "default": "#ff0000"},
    {"id": "count", "type": "number", "default": 3},
    {"id": "show", "type": "boolean", "default": False},
    {"id": "mode", "type": "enum", "options": ["light", "dark"], "default": "light"},
    {"id": "logo", "type": "string", "default": "img/logo.png"},
])


def _project(project, body: str, *, on_html: bool = False):
    attr = f" data-composition-variables='{DECLS}'"
    root = f'<div data-composition-id="main" data-duration="1"{"" if on_html else attr}>{body}</div>'
    project.write("index.html", page(root, html_attrs=attr if on_html else ""))
    project.write("img/logo.png", b"png")
    project.write("img/other.png", b"png")


@pytest.mark.parametrize("on_html", [False, True])
def test_declarations_and_defaults(project, on_html):
    _project(project, '<h1 id="t" data-var-text="title">x</h1>', on_html=on_html)
    r = project.compile()
    assert [v.id for v in r.variables] == ["title", "accent", "count", "show", "mode", "logo"]
    assert r.variables[4].options == ["light", "dark"]
    assert r.variables[0].label == "Title"
    assert project.doc().get_element_by_id("t").text == "Default title"


def test_overrides_bindings_and_custom_properties(project):
    _project(project,
             '<h1 id="t" data-var-text="title">Old <b>bold</b> tail</h1>'
             '<p id="empty" data-var-text="count"><span>child</span> after</p>'
             '<img id="logo" src="img/logo.png" data-var-src="logo">'
             '<img id="keep" src="img/logo.png" data-var-src="missing">'
             '<div id="div" data-var-src="logo"></div>')
    r = project.compile(variables={"title": "Hello", "accent": "#00ff00", "count": 2.5, "show": True,
                                   "logo": "img/other.png", "undeclared": 1})
    doc = project.doc()
    t = doc.get_element_by_id("t")
    assert t.text == "Hello" and t[0].text == "bold" and t[0].tail == " tail"
    p = doc.get_element_by_id("empty")
    assert p.text is None and p[0].tail == "2.5"  # the first direct text node
    assert doc.get_element_by_id("logo").get("src") == "img/other.png"
    assert doc.get_element_by_id("keep").get("src") == "img/logo.png"
    assert doc.get_element_by_id("div").get("src") is None  # not an img/video/audio/source
    root = [e for e in doc.iter() if isinstance(e.tag, str) and e.get("data-composition-id") == "main"][0]
    assert root.get("style") == ("--title: Hello;--accent: #00ff00;--count: 2.5;--show: true;"
                                 "--mode: light;--logo: img/other.png")
    css = [s.text for s in doc.find("head") if s.tag == "style"][1]
    assert '[data-hd-scope="root"]{--title: Hello;--accent: #00ff00;' in css
    assert [w.code for w in r.warnings if w.code == "VARIABLE_NOT_DECLARED"] == ["VARIABLE_NOT_DECLARED"]
    assert r.variable_values["accent"] == "#00ff00"


def test_custom_property_values_are_sanitised(project):
    _project(project, "")
    project.compile(variables={"title": "a;b{c}<d>\ne"})
    assert "--title: abcde" in project.html()


@pytest.mark.parametrize("key,value", [
    ("title", 5), ("accent", 1), ("count", "3"), ("count", True), ("show", "yes"), ("mode", "sepia"),
])
def test_override_type_errors(project, key, value):
    _project(project, "")
    with pytest.raises(HyperdeskError) as exc:
        project.compile(variables={key: value})
    e = exc.value
    assert e.code == "INVALID_RENDER_CONFIG"
    assert e.details["field"] == f"variables.{key}"
    assert e.details["value"] == value


@pytest.mark.parametrize("decls,reason", [
    ("[{bad json", "not valid JSON"),
    ('{"id":"x"}', "JSON array"),
    ('[{"id":"1x","type":"string"}]', "must match"),
    ('[{"id":"x","type":"text"}]', "type"),
    ('[{"id":"x","type":"enum","default":"a"}]', "options"),
    ('[{"id":"x","type":"enum","options":["a"],"default":"b"}]', "not one of the options"),
    ('[{"id":"x","type":"number","default":"3"}]', "not a number"),
    ('[{"id":"x","type":"string"},{"id":"x","type":"string"}]', "twice"),
    ('["x"]', "object"),
])
def test_bad_declarations(project, decls, reason):
    project.write("index.html", page(
        f"<div id=\"r\" data-composition-id=\"main\" data-composition-variables='{decls}'></div>"))
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert e.details["attribute"] == "data-composition-variables"
    assert e.details["value"] == decls
    assert e.details["element"]["id"] == "r"
    assert reason in e.details["reason"]


CARD_DECLS = json.dumps([{"id": "color", "type": "color", "default": "#ff0000"},
                         {"id": "label", "type": "string", "default": "card"}])
CARD = ("<template><div id=\"c\" data-composition-id=\"card\" data-composition-variables='" + CARD_DECLS + "'>"
        '<span class="label" data-var-text="label">x</span><b data-var-text="title">t</b></div>'
        "<script>window.vars = (window.vars || []).concat([__hyperframes.getVariables()]);</script></template>")


def test_instance_values(project):
    project.write("index.html", page(
        "<div data-composition-id=\"main\" data-duration=\"1\" data-composition-variables='"
        + json.dumps([{"id": "title", "type": "string", "default": "T"}]) + "'>"
        "<div data-composition-id=\"card\" data-composition-src=\"card.html\" "
        "data-variable-values='{\"color\":\"#0000ff\",\"label\":\"first\"}'></div>"
        '<div data-composition-id="card" data-composition-src="card.html"></div></div>'))
    project.write("card.html", CARD)
    project.compile(variables={"title": "Top"})
    doc = project.doc()
    labels = [e.text for e in doc.iter("span")]
    assert labels == ["first", "card"]
    # top-level overrides do not reach instances
    assert [e.text for e in doc.iter("b")] == ["t", "t"]
    boxes = [e for e in doc.iter() if isinstance(e.tag, str) and e.get("data-hf-authored-id") == "c"]
    assert boxes[0].get("style") == "--color: #0000ff;--label: first"
    assert boxes[1].get("style") == "--color: #ff0000;--label: card"
    css = [s.text for s in doc.find("head") if s.tag == "style"][1]
    assert '[data-hd-scope="1"]{--color: #0000ff;--label: first}' in css
    assert '[data-hd-scope="2"]{--color: #ff0000;--label: card}' in css
    scripts = [s.text for s in doc.find("body").iter("script") if s.get("data-hd-instance")]
    assert '"variables":{"color":"#0000ff","label":"first"}' in scripts[0]
    assert '"variables":{"color":"#ff0000","label":"card"}' in scripts[1]


@pytest.mark.parametrize("values,reason", [
    ("{nope", "not valid JSON"), ("[1]", "JSON object"), ('{"color": 5}', "not a valid color"),
])
def test_bad_instance_values(project, values, reason):
    project.write("index.html", page(
        f"<div data-composition-id=\"main\"><div id=\"h\" data-composition-src=\"card.html\" "
        f"data-variable-values='{values}'></div></div>"))
    project.write("card.html", CARD)
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert (e.details["attribute"], e.details["file"], e.details["element"]["id"]) == (
        "data-variable-values", "index.html", "h")
    assert reason in e.details["reason"]


def test_bad_declaration_in_sub_composition_names_the_file(project):
    project.write("index.html", page('<div data-composition-id="main"><div data-composition-src="c.html"></div></div>'))
    project.write("c.html", "<template><div id=\"inner\" data-composition-id=\"c\" "
                            "data-composition-variables='[oops'></div></template>")
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert (e.details["file"], e.details["element"]["id"]) == ("c.html", "inner")
    assert "data-hd-scope" not in e.details["element"]["start_tag"]
