"""Tier 1: --asset-dir (host path, manifest.json, npm tarballs) and the user asset cache."""
from __future__ import annotations

import hashlib
import json

import pytest

from hyperdesk.errors import HyperdeskError

from .conftest import make_tarball

JS = b"console.log('hello');\n"


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_asset_dir_host_path_hit(tmp_path, make_plan):
    d = tmp_path / "assets"
    (d / "cdn.example.com" / "lib").mkdir(parents=True)
    (d / "cdn.example.com" / "lib" / "x.js").write_bytes(JS)
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache", [d])
    site = r.freeze("https://cdn.example.com/lib/x.js", "index.html: <script> src", "script")
    assert site == f"/__hd/remote/{sha(JS)}/x.js"
    assert plan.file(site).read_bytes() == JS
    [rec] = r.assets
    assert rec.url == "https://cdn.example.com/lib/x.js"
    assert rec.path == f"compiled/__hd/remote/{sha(JS)}/x.js"
    assert (rec.tier, rec.sha256, rec.size) == ("asset-dir", sha(JS), len(JS))
    assert rec.content_type == "text/javascript"
    assert rec.package is None and rec.version is None


def test_protocol_relative_and_memo(tmp_path, make_plan):
    d = tmp_path / "assets"
    (d / "cdn.example.com").mkdir(parents=True)
    (d / "cdn.example.com" / "a.js").write_bytes(JS)
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache", [d])
    a = r.freeze("//cdn.example.com/a.js", "x", "script")
    b = r.freeze("https://cdn.example.com/a.js", "y", "script")
    assert a == b
    assert [x.url for x in r.assets] == ["https://cdn.example.com/a.js"]


def test_manifest_hit_with_query(tmp_path, make_plan):
    d = tmp_path / "assets"
    (d / "files").mkdir(parents=True)
    (d / "files" / "data.json").write_bytes(b'{"a": 1}')
    url = "https://api.example.com/v1/data?id=7"
    (d / "manifest.json").write_text(json.dumps({url: "files/data.json"}))
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache", [d])
    site = r.freeze(url, "index.html", "other")
    assert site.endswith("/data")  or site.endswith("/data.json")
    assert plan.file(site).read_bytes() == b'{"a": 1}'
    assert r.assets[0].tier == "asset-dir"
    assert r.assets[0].content_type == "application/json"


def test_manifest_cannot_escape_the_dir(tmp_path, make_plan):
    d = tmp_path / "assets"
    d.mkdir()
    (tmp_path / "secret.txt").write_text("no")
    (d / "manifest.json").write_text(json.dumps({"https://e.example.com/s": "../secret.txt"}))
    r = make_plan().resolver(tmp_path / "cache", [d], npm_exe="")
    with pytest.raises(HyperdeskError):
        r.freeze("https://e.example.com/s", "x", "other")


def test_npm_tarball_in_asset_dir(tmp_path, make_plan):
    d = tmp_path / "assets"
    d.mkdir()
    make_tarball(d / "mylib-1.0.0.tgz", {"name": "mylib", "version": "1.0.0"},
                 {"dist/mylib.min.js": b"v100", "dist/mylib.js": b"v100 full"})
    make_tarball(d / "mylib-1.2.0.tgz", {"name": "mylib", "version": "1.2.0"},
                 {"dist/mylib.min.js": b"v120"})
    make_tarball(d / "mylib-2.0.0.tgz", {"name": "mylib", "version": "2.0.0"},
                 {"dist/mylib.min.js": b"v200"})
    make_tarball(d / "acme-widgets-0.3.1.tgz",
                 {"name": "@acme/widgets", "version": "0.3.1", "unpkg": "./umd/widgets.js"},
                 {"umd/widgets.js": b"widgets"})
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache", [d], npm_exe="")
    exact = r.freeze("https://cdn.jsdelivr.net/npm/mylib@1.0.0/dist/mylib.min.js", "x", "script")
    assert plan.file(exact).read_bytes() == b"v100"
    ranged = r.freeze("https://cdn.jsdelivr.net/npm/mylib@1/dist/mylib.min.js", "x", "script")
    assert plan.file(ranged).read_bytes() == b"v120"
    entry = r.freeze("https://unpkg.com/@acme/widgets@0.3.1", "x", "script")
    assert plan.file(entry).read_bytes() == b"widgets"
    recs = {a.url: a for a in r.assets}
    rec = recs["https://cdn.jsdelivr.net/npm/mylib@1/dist/mylib.min.js"]
    assert (rec.tier, rec.package, rec.version) == ("asset-dir", "mylib", "1.2.0")
    rec = recs["https://unpkg.com/@acme/widgets@0.3.1"]
    assert (rec.tier, rec.package, rec.version) == ("asset-dir", "@acme/widgets", "0.3.1")
    assert rec.path.endswith("/widgets.js")


def test_cache_hit_reports_original_tier(tmp_path, make_plan):
    d = tmp_path / "assets"
    (d / "cdn.example.com").mkdir(parents=True)
    (d / "cdn.example.com" / "a.js").write_bytes(JS)
    make_tarball(d / "mylib-1.0.0.tgz", {"name": "mylib", "version": "1.0.0"},
                 {"dist/m.js": b"m"})
    cache = tmp_path / "cache"
    urls = ["https://cdn.example.com/a.js", "https://cdn.jsdelivr.net/npm/mylib@1.0.0/dist/m.js"]
    p1 = make_plan()
    r1 = p1.resolver(cache, [d])
    sites1 = [r1.freeze(u, "x", "script") for u in urls]
    # Re-plan with no --asset-dir and no npm: only the cache can supply the bytes.
    p2 = make_plan()
    r2 = p2.resolver(cache, [], npm_exe="")
    sites2 = [r2.freeze(u, "x", "script") for u in urls]
    assert sites1 == sites2
    assert r1.assets == r2.assets
    assert [a.tier for a in r2.assets] == ["asset-dir", "asset-dir"]
    for s in sites1:
        assert p1.file(s).read_bytes() == p2.file(s).read_bytes()


def test_unresolvable_url_fails_with_hint(tmp_path, make_plan):
    r = make_plan().resolver(tmp_path / "cache", [tmp_path])
    url = "https://cdn.example.invalid/lib/thing.js"
    with pytest.raises(HyperdeskError) as ei:
        r.freeze(url, "index.html: <script> src", "script")
    e = ei.value
    assert e.code == "ASSET_FETCH_FAILED"
    assert url in e.message and "--asset-dir" in e.message
    assert "cdn.example.invalid/lib/thing.js" in e.message
    assert e.details["url"] == url
    assert e.details["referenced_by"] == "index.html: <script> src"
    assert [a["tier"] for a in e.details["attempts"]] == ["asset-dir", "cache", "direct", "npm"]
    assert e.retryable is False
    assert "--asset-dir" in e.hint


def test_no_npm_client_hint(tmp_path, make_plan, monkeypatch):
    monkeypatch.setenv("HYPERDESK_NPM", "none")
    r = make_plan().resolver(tmp_path / "cache")
    url = "https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"
    with pytest.raises(HyperdeskError) as ei:
        r.freeze(url, "index.html", "script")
    e = ei.value
    assert e.code == "ASSET_FETCH_FAILED" and url in e.message
    assert "No npm client was found" in e.hint
    assert {"tier": "npm", "outcome": "skipped: no npm client found"} in e.details["attempts"]
    assert e.retryable is False


def test_non_remote_urls_are_left_alone(tmp_path, make_plan):
    r = make_plan().resolver(tmp_path / "cache")
    for u in ("data:text/plain,hi", "img/a.png", "blob:xyz"):
        assert r.freeze(u, "x", "image") == u
    assert r.assets == []


def test_google_fonts_link_is_queued_not_stored(tmp_path, make_plan):
    r = make_plan().resolver(tmp_path / "cache")
    url = "https://fonts.googleapis.com/css2?family=Roboto&display=swap"
    assert r.freeze(url, "x", "stylesheet") == "/__hd/fonts/fonts.css"
    assert r.google_font_urls == [url]
    assert r.assets == []


def test_rewrite_css_document_styles(tmp_path, make_plan):
    d = tmp_path / "assets"
    (d / "img.example.com").mkdir(parents=True)
    (d / "img.example.com" / "bg.png").write_bytes(b"PNG")
    (d / "img.example.com" / "x.css").write_bytes(b"b{background:url(bg.png)}")
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache", [d])
    css = (
        "/* keep https://img.example.com/bg.png in comments */\n"
        '@import url("https://fonts.googleapis.com/css2?family=Lobster");\n'
        "@import 'https://img.example.com/x.css' screen;\n"
        "a { background: url( https://img.example.com/bg.png ) no-repeat; }\n"
        "b { background-image: url(local.png), url('data:image/png;base64,AAAA'); }\n"
        "c { mask: url(#m); }\n"
    )
    out = r.rewrite_css(css, None, "index.html <style>")
    bg = f"/__hd/remote/{sha(b'PNG')}/bg.png"
    assert f"url({bg})" in out
    assert "url(local.png)" in out and "data:image/png" in out and "url(#m)" in out
    assert "fonts.googleapis.com" not in out
    assert r.google_font_urls == ["https://fonts.googleapis.com/css2?family=Lobster"]
    assert out.startswith("/* keep https://img.example.com/bg.png in comments */\n")
    # The imported stylesheet was frozen and rewritten against its own URL.
    imp = [a for a in r.assets if a.url == "https://img.example.com/x.css"][0]
    text = (plan.root / imp.path).read_text()
    assert text == f"b{{background:url({bg})}}"
    assert f"@import '/__hd/remote/{imp.sha256}/x.css' screen;" in out
    # Nothing to do -> the very same text.
    same = "a{color:red}\r\n"
    assert r.rewrite_css(same, None, "x") is same


def test_rewrite_css_declaration_list(tmp_path, make_plan):
    d = tmp_path / "assets"
    (d / "img.example.com").mkdir(parents=True)
    (d / "img.example.com" / "bg.png").write_bytes(b"PNG")
    r = make_plan().resolver(tmp_path / "cache", [d])
    out = r.rewrite_css("color: red; background: url('//img.example.com/bg.png')", None, "style")
    assert out == f"color: red; background: url('/__hd/remote/{sha(b'PNG')}/bg.png')"
