"""compile_project end to end: project copy, outside-project files, integration with the asset
resolver and the font module (faked here), step order artefacts, determinism."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from hyperdesk.composition import compile as compile_mod
from hyperdesk.models import FontManifest, FrozenAsset, PlanWarning

from .conftest import FakeProber, Probe, page

MAIN = '<div data-composition-id="main" data-duration="2">{}</div>'


def tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_project_copy_skip_rules(project, tmp_path):
    project.write("index.html", page(MAIN.format("")))
    keep = ["a.txt", "sub/b.txt", "sub/node_modules/c.js", "sub/dist/d.js", "sub/output/e", "renders2/f"]
    skip = [".git/config", ".DS_Store", "sub/.hidden", "node_modules/x/i.js", "output/o.mp4", "renders/r.mp4",
            "dist/app.js", "__pycache__/m.pyc", "Thumbs.db", "desktop.ini", "planned/plan.json"]
    for rel in keep + skip:
        project.write(rel, rel)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shared.txt").write_text("shared")
    (outside / "dir").mkdir()
    (outside / "dir" / "inner.txt").write_text("inner")
    os.symlink(outside / "shared.txt", project.root / "link.txt")
    os.symlink(outside / "dir", project.root / "linkdir")
    os.symlink(project.root, project.root / "sub" / "loop")
    os.symlink(project.root / "missing", project.root / ".broken")  # dot-entries are never read
    os.mkfifo(project.root / "fifo")
    # links out of the project are followed only into an allowed folder (issue 10)
    project.compile(exclude=[project.root / "planned"], allow_outside=[outside])
    compiled = project.last_plan / "compiled"
    files = tree(compiled)
    for rel in keep:
        assert rel in files, rel
    for rel in skip:
        assert rel not in files, rel
    assert (compiled / "link.txt").read_text() == "shared" and not (compiled / "link.txt").is_symlink()
    assert (compiled / "linkdir" / "inner.txt").read_text() == "inner"
    assert not (compiled / "linkdir").is_symlink()
    assert ".broken" not in files and "fifo" not in files
    assert not any(p.startswith("sub/loop/") for p in files)
    assert files["index.html"] != hashlib.sha256((project.root / "index.html").read_bytes()).hexdigest()
    for dirpath, dirnames, filenames in os.walk(compiled):
        for name in dirnames + filenames:
            assert not os.path.islink(os.path.join(dirpath, name))


def test_project_copy_refuses_dangling_and_outside_links(project, tmp_path):
    project.write("index.html", page(MAIN.format("")))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shared.txt").write_text("shared")
    os.symlink(outside / "shared.txt", project.root / "link.txt")
    with pytest.raises(Exception) as exc:
        project.compile()
    assert exc.value.code == "OUTSIDE_PROJECT_REFERENCE"
    assert exc.value.details["link"] == "link.txt"
    os.unlink(project.root / "link.txt")
    os.symlink(project.root / "missing", project.root / "broken")
    with pytest.raises(Exception) as exc:
        project.compile()
    assert exc.value.code == "BROKEN_SYMLINK"
    assert exc.value.details == {"link": "broken", "target": str(project.root / "missing")}


def test_outside_and_skipped_references_are_copied_under_hd_external(project, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "logo.png").write_bytes(b"logo-bytes")
    project.write("node_modules/lib/lib.js", "window.lib = 1;")
    project.write("index.html", page(MAIN.format(
        '<img id="i" src="../shared/logo.png?x=1"><div id="d" style="background:url(../shared/logo.png)"></div>'),
        head='<script src="node_modules/lib/lib.js"></script><style>.b{background:url("../shared/logo.png")}</style>'))
    project.compile(allow_outside=[shared])  # outside files are read only from an allowed folder
    digest = hashlib.sha256(b"logo-bytes").hexdigest()
    site = f"/__hd/external/{digest}/logo.png"
    doc = project.doc()
    assert doc.get_element_by_id("i").get("src") == site + "?x=1"
    assert doc.get_element_by_id("d").get("style") == f'background:url("{site}")'
    assert f'url("{site}")' in project.html()
    js = next(s.get("src") for s in doc.iter("script") if s.get("src"))
    js_digest = hashlib.sha256(b"window.lib = 1;").hexdigest()
    assert js == f"/__hd/external/{js_digest}/lib.js"
    compiled = project.last_plan / "compiled"
    assert (compiled / site.lstrip("/")).read_bytes() == b"logo-bytes"
    assert (compiled / js.lstrip("/")).read_text() == "window.lib = 1;"


def test_text_rendering_first_and_charset(project):
    project.write("index.html", page(MAIN.format(""), head='<meta charset="windows-1252"><title>x</title>'))
    project.compile()
    head = project.doc().find("head")
    assert head[0].tag == "style" and head[0].text == "html,body,*{text-rendering:geometricPrecision}"
    assert head[1].tag == "meta" and head[1].get("charset") == "utf-8"
    assert [m.get("charset") for m in head.iter("meta")] == ["utf-8"]
    assert head[2].tag == "link" and head[2].get("href") == "/__hd/fonts/fonts.css"


def test_non_ascii_text_round_trips(project):
    project.write("index.html", page(MAIN.format('<p id="p">Grüße — 日本語 &amp; &lt;tag&gt; &nbsp;</p>')))
    project.compile()
    p = project.doc().get_element_by_id("p")
    assert p.text == "Grüße — 日本語 & <tag> \xa0"


def test_remote_iframe_is_invalid(project):
    project.write("index.html", page(MAIN.format('<iframe id="f" src="https://example.com/"></iframe>')))
    with pytest.raises(Exception) as exc:
        project.compile()
    assert exc.value.code == "INVALID_COMPOSITION"
    assert exc.value.details["attribute"] == "src"


class FakeResolver:
    def __init__(self, asset_dirs, cache_dir, plan_root, compiled_dir, fonts_dir=None):
        self.plan_root = Path(plan_root)
        self.compiled_dir = Path(compiled_dir)
        self.calls = []
        self._assets = {}
        self.missing = []  # AssetResolver.missing: assets left out under --allow-missing-assets

    def _site(self, url):
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        name = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "index"
        return digest, name

    def freeze(self, url, referenced_by, kind):
        self.calls.append((url, referenced_by, kind))
        digest, name = self._site(url)
        path = self.compiled_dir / "__hd" / "remote" / digest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(url.encode())
        self._assets[url] = FrozenAsset(url=url, path=f"compiled/__hd/remote/{digest}/{name}",
                                        sha256=hashlib.sha256(url.encode()).hexdigest(), size=len(url),
                                        content_type="application/octet-stream", tier="direct")
        return f"/__hd/remote/{digest}/{name}"

    def rewrite_css(self, css_text, base_url, referenced_by):
        from hyperdesk.composition.cssscope import rewrite_css_urls
        from hyperdesk.composition.subcomp import is_remote_url

        self.calls.append(("css", referenced_by, "css"))
        return rewrite_css_urls(css_text, lambda u: self.freeze(u, referenced_by, "css")
                                if is_remote_url(u) else None)

    @property
    def assets(self):
        return [self._assets[u] for u in sorted(self._assets)]


def test_integration_with_resolver_and_fonts(project, monkeypatch):
    made = {}

    def make(asset_dirs, cache_dir, plan_root, compiled_dir, fonts_dir, loopback_only=False, allow_missing=False):
        made["r"] = FakeResolver(asset_dirs, cache_dir, plan_root, compiled_dir, fonts_dir)
        made["args"] = (plan_root, compiled_dir, fonts_dir)
        return made["r"]

    embed_calls = []

    def normalize(css):
        if css == "sans-serif":
            return '"Inter", sans-serif'
        return css.replace("font-family:sans-serif", 'font-family:"Inter", sans-serif')

    def embed(texts, css_texts, fonts_dir, resolver, google_urls):
        embed_calls.append((texts, css_texts, fonts_dir, resolver, google_urls))
        (fonts_dir / "fonts.css").write_text("/* fonts */")
        return SimpleNamespace(manifest=FontManifest(), families=["Inter", "Roboto"],
                               warnings=[PlanWarning(code="FONT_NOT_FOUND", message="x")])

    monkeypatch.setattr(compile_mod, "_make_resolver", make)
    monkeypatch.setattr(compile_mod, "_font_api", lambda: (normalize, embed))
    project.write("index.html", page(MAIN.format(
        '<img id="i" src="https://cdn.example.com/a.png" srcset="//cdn.example.com/b.png 2x">'
        '<video id="v" src="https://cdn.example.com/v.mp4" poster="https://cdn.example.com/p.jpg"></video>'
        '<p id="p" style="font-family:sans-serif;background:url(https://cdn.example.com/bg.png)">Ünïcode</p>'
        '<svg><text id="t" font-family="sans-serif">svg</text></svg>'),
        head='<link rel="preconnect" href="https://fonts.gstatic.com">'
             '<link rel="stylesheet" href="https://fonts.googleapis.com/css2?family=Roboto:wght@400">'
             '<link rel="stylesheet" href="https://cdn.example.com/lib.css">'
             '<script src="https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"></script>'
             '<style>h1{font-family:sans-serif;background:url(https://cdn.example.com/h.png)}</style>'))
    r = project.compile(prober=FakeProber(default=Probe(3.0, 16, 9, False)))
    resolver = made["r"]
    plan = project.last_plan
    assert made["args"] == (plan, plan / "compiled", plan / "fonts")
    html = project.html()
    assert "https:" not in html and "//cdn" not in html and "fonts.googleapis" not in html
    kinds = {url: kind for url, _, kind in resolver.calls}
    assert kinds["https://cdn.example.com/a.png"] == "image"
    assert kinds["https://cdn.example.com/b.png"] == "image"
    assert kinds["https://cdn.example.com/v.mp4"] == "video"
    assert kinds["https://cdn.example.com/p.jpg"] == "image"
    assert kinds["https://cdn.example.com/lib.css"] == "stylesheet"
    assert kinds["https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"] == "script"
    refs = {url: ref for url, ref, _ in resolver.calls}
    assert refs["https://cdn.example.com/a.png"] == "index.html: <img#i> src"
    # the video was frozen before media discovery, so it is probed and listed from compiled/
    (video,) = r.videos
    assert video.src.startswith("__hd/remote/") and video.src.endswith("/v.mp4")
    # Google Fonts link removed and handed to embed_fonts; the preconnect dropped
    (texts, css_texts, fonts_dir, passed_resolver, google) = embed_calls[0]
    assert google == ["https://fonts.googleapis.com/css2?family=Roboto:wght@400"]
    assert passed_resolver is resolver and fonts_dir == plan / "fonts"
    assert any("Ünïcode" in t for t in texts)
    assert any('font-family:"Inter", sans-serif' in c for c in css_texts)
    doc = project.doc()
    assert doc.get_element_by_id("p").get("style").startswith('font-family:"Inter", sans-serif')
    assert doc.get_element_by_id("t").get("font-family") == '"Inter", sans-serif'
    assert r.fonts == ["Inter", "Roboto"]
    assert [w.code for w in r.warnings if w.code == "FONT_NOT_FOUND"] == ["FONT_NOT_FOUND"]
    assert [a.url for a in r.assets] == sorted(a.url for a in r.assets) and len(r.assets) >= 7
    assert not any(el.get("rel") == "preconnect" for el in doc.iter("link"))


def _rich_project(project, tmp_path):
    shared = tmp_path / "ext"
    shared.mkdir(exist_ok=True)
    (shared / "x.png").write_bytes(b"x")
    project.write("index.html", page(
        '<div data-composition-id="main" data-duration="5" '
        "data-composition-variables='[{\"id\":\"t\",\"type\":\"string\",\"default\":\"d\"}]'>"
        '<h1 data-var-text="t">x</h1><img src="../ext/x.png">'
        '<div data-composition-id="card" data-composition-src="c/card.html" data-start="1"></div>'
        '<div data-composition-id="card" data-composition-src="c/card.html" data-start="card + 1"></div>'
        '<video src="media/v.mp4"></video></div>',
        head="<style>@import url(a.css);.t{color:red}</style>"))
    project.write("a.css", ".a{}")
    project.write("media/v.mp4", b"v")
    project.write("c/card.html", '<template><div id="r" data-composition-id="card"><img src="i.png"></div>'
                                 '<style>#r{top:0} .x{left:0}</style>'
                                 '<script>window.__timelines["card"] = 1;</script></template>')
    project.write("c/i.png", b"i")


def test_compile_is_deterministic(project, tmp_path):
    _rich_project(project, tmp_path)
    r1 = project.compile(variables={"t": "Hello"}, name="one", allow_outside=[tmp_path / "ext"])
    r2 = project.compile(variables={"t": "Hello"}, name="two", allow_outside=[tmp_path / "ext"])
    t1 = tree(project.out / "one" / "compiled")
    t2 = tree(project.out / "two" / "compiled")
    assert t1 == t2
    assert any(p.startswith("__hd/external/") for p in t1)
    assert r1 == r2


def test_step_order_leaves_no_sub_composition_sources(project, tmp_path):
    _rich_project(project, tmp_path)
    project.compile(allow_outside=[tmp_path / "ext"])
    doc = project.doc()
    assert not [e for e in doc.iter() if isinstance(e.tag, str) and e.get("data-composition-src")]
    assert [e.get("data-composition-file") for e in doc.iter()
            if isinstance(e.tag, str) and e.get("data-composition-file")] == ["c/card.html", "c/card.html"]


def test_bound_remote_source_is_frozen(project, monkeypatch):
    made = {}

    def make(*args, loopback_only=False, allow_missing=False):
        made["r"] = FakeResolver(*args)
        return made["r"]

    monkeypatch.setattr(compile_mod, "_make_resolver", make)
    project.write("index.html", page(
        "<div data-composition-id=\"main\" data-duration=\"1\" data-composition-variables='"
        '[{"id":"logo","type":"string","default":"a.png"}]\'>'
        '<img id="logo" src="a.png" data-var-src="logo"></div>'))
    project.write("a.png", b"a")
    project.compile(variables={"logo": "https://cdn.example.com/brand/logo.png"})
    src = project.doc().get_element_by_id("logo").get("src")
    assert src.startswith("/__hd/remote/") and src.endswith("/logo.png")
    assert made["r"].calls[0][:1] == ("https://cdn.example.com/brand/logo.png",)
