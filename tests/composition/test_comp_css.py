"""The CSS scoping rule (5.4), @import hoisting (step 8) and URL rewriting in CSS."""
from __future__ import annotations

import pytest

from hyperdesk.composition.cssscope import (
    Scope,
    merge_styles,
    rewrite_css_urls,
    scope_css,
)

from .conftest import page

S = '[data-composition-id="card__hf2"]'
BOX = S + ":not([data-composition-file])"
SCOPE = Scope(authored_id="card", runtime_id="card__hf2", inner_root_id="card-root")


def scoped(css: str) -> str:
    out, imports = scope_css(css, SCOPE)
    assert imports == []
    return out


@pytest.mark.parametrize("authored,expected", [
    # `*` alone: unchanged
    ("*{a:b}", "*{a:b}"),
    # html, body or :root alone: the composition's box
    ("html{a:b}", BOX + "{a:b}"),
    ("BODY{a:b}", BOX + "{a:b}"),
    (":root{--c:red}", BOX + "{--c:red}"),
    # only [data-composition-id="<authored>"], optionally with data-start / data-duration
    ('[data-composition-id="card"]{a:b}', BOX + "{a:b}"),
    ("[data-composition-id=card]{a:b}", BOX + "{a:b}"),
    ('[data-composition-id="card"][data-start="0"]{a:b}', BOX + "{a:b}"),
    ('[data-duration="2"][data-composition-id="card"]{a:b}', BOX + "{a:b}"),
    # contains it elsewhere: that part replaced by S
    ('[data-composition-id="card"] .title{a:b}', S + " .title{a:b}"),
    ('.wrap > [data-composition-id="card"] p{a:b}', ".wrap > " + S + " p{a:b}"),
    # #<inner root id> outside brackets and strings
    ("#card-root{a:b}", S + ' [data-hf-authored-id="card-root"]{a:b}'),
    ("#card-root .x{a:b}", S + ' [data-hf-authored-id="card-root"] .x{a:b}'),
    ('[title="#card-root"]{a:b}', S + ' [title="#card-root"]{a:b}'),
    ("#card-root-2{a:b}", S + " #card-root-2{a:b}"),
    (":is(#card-root, .x) p{a:b}", S + ' :is([data-hf-authored-id="card-root"], .x) p{a:b}'),
    (':not([data-composition-id="card"]) p{a:b}', ":not(" + S + ") p{a:b}"),
    # anything else: S <selector>
    (".title{color:red}", S + " .title{color:red}"),
    ("div.a:hover::before{a:b}", S + " div.a:hover::before{a:b}"),
    ("body .x{a:b}", S + " body .x{a:b}"),
    ('[data-composition-id="other"]{a:b}', S + ' [data-composition-id="other"]{a:b}'),
    # selector lists: each selector on its own
    ("h1, h2 > b{a:b}", S + " h1," + S + " h2 > b{a:b}"),
    ("*, .x{a:b}", "*," + S + " .x{a:b}"),
])
def test_scoping_table(authored, expected):
    assert scoped(authored) == expected


def test_at_rules():
    css = ("@media (min-width: 10px){.m{a:b} @supports (display:grid){.n{c:d}}}"
           "@keyframes spin{from{transform:rotate(0)}to{transform:rotate(360deg)}}"
           "@font-face{font-family:X;src:url(x.woff2)}"
           "@layer base{h1{x:y}}@layer a, b;"
           ".p{color:red; & .q{color:blue}}")
    out = scoped(css)
    assert "@media (min-width: 10px){" + S + " .m{a:b}@supports (display:grid){" + S + " .n{c:d}}}" in out
    assert "@keyframes spin{from{transform:rotate(0)}to{transform:rotate(360deg)}}" in out
    assert "@font-face{font-family:X;src:url(x.woff2)}" in out
    assert "@layer base{" + S + " h1{x:y}}" in out
    assert "@layer a, b;" in out
    # nested rules inherit scope through nesting and are left alone
    assert S + " .p{color:red; & .q{color:blue}}" in out


def test_imports_are_returned_for_hoisting():
    out, imports = scope_css('.a{x:y}@import url("late.css");@import "b.css" screen;', SCOPE)
    assert imports == ['@import url("late.css");', '@import "b.css" screen;']
    assert "@import" not in out


def test_merge_puts_imports_first():
    merged = merge_styles(['.a{x:y}', '@charset "utf-8";.b{x:y}@import url(b.css);', '@import "c.css";'])
    lines = merged.splitlines()
    assert lines[0] == "@import url(b.css);"
    assert lines[1] == '@import "c.css";'
    assert ".a{x:y}" in merged and ".b{x:y}" in merged and "@charset" not in merged


def test_url_rewriting_in_css():
    text = ("a{background:url(img/x.png), url( 'y z.png' ) , url(data:image/png;base64,AA)}"
            " @import 'q.css'; @import url(r.css); b{c:image-set(url(a.png) 1x)}")
    out = rewrite_css_urls(text, lambda u: None if u.startswith("data:") else "P/" + u)
    assert 'url("P/img/x.png")' in out and 'url("P/y z.png")' in out
    assert "url(data:image/png;base64,AA)" in out
    assert '@import "P/q.css"' in out and '@import url("P/r.css")' in out
    assert 'image-set(url("P/a.png") 1x)' in out
    same = "a{b:url(x.png)}"
    assert rewrite_css_urls(same, lambda u: None) is same


def test_root_styles_are_never_scoped_and_sub_styles_are(project):
    project.write("index.html", page(
        '<div data-composition-id="main" data-duration="1"><p class="title">root</p>'
        '<div data-composition-src="card.html"></div></div>',
        head="<style>.title{color:blue}</style>"))
    project.write("card.html", '<template><div data-composition-id="card"><p class="title">c</p></div>'
                               '<style>.title{color:red}</style></template>')
    project.compile()
    style = [s for s in project.doc().find("head") if s.tag == "style"][1].text
    assert ".title{color:blue}" in style
    assert '[data-composition-id="card"] .title{color:red}' in style
    assert "\n.title{color:red}" not in style


def test_head_styles_are_merged_with_imports_first(project):
    project.write("index.html", page(
        '<div data-composition-id="main" data-duration="1"></div><style>.body-style{a:b}</style>',
        head='<link rel="stylesheet" href="a.css"><style>.one{a:b}</style><script>var x;</script>'
             '<style media="print">.p{a:b}</style><style>@import url("b.css");.two{a:b}</style>'))
    project.write("a.css", ".a{}")
    project.write("b.css", ".b{}")
    project.compile()
    head = project.doc().find("head")
    styles = [el for el in head if el.tag == "style"]
    assert len(styles) == 2  # the text-rendering style and the merged one
    assert styles[0].text == "html,body,*{text-rendering:geometricPrecision}"
    assert head[0] is styles[0]
    merged = styles[1].text
    assert merged.startswith('@import url("b.css");')
    assert merged.index(".one") < merged.index("@media print{.p{a:b}}") < merged.index(".two")
    # body styles are not merged
    assert [s.text for s in project.doc().find("body").iter("style")] == [".body-style{a:b}"]
    # the merged style takes the place of the first head style
    order = [el.tag if el.tag != "link" else el.get("href") for el in head]
    assert order[:6] == ["style", "meta", "/__hd/fonts/fonts.css", "a.css", "style", "script"]


def test_sub_composition_imports_are_hoisted_to_the_merged_style(project):
    project.write("index.html", page(
        '<div data-composition-id="main" data-duration="1"><div data-composition-src="c/x.html"></div></div>',
        head="<style>.root{a:b}</style>"))
    project.write("c/x.html", '<template><div data-composition-id="x"></div>'
                              '<style>.y{a:b} @import "theme.css"; @import url(../shared.css);</style></template>')
    project.write("c/theme.css", ".t{}")
    project.write("shared.css", ".s{}")
    project.compile()
    merged = [s for s in project.doc().find("head") if s.tag == "style"][1].text
    lines = merged.splitlines()
    assert lines[:2] == ['@import "c/theme.css";', '@import url("shared.css");']
    assert merged.index(".root{a:b}") < merged.index('[data-composition-id="x"] .y{a:b}')
