"""Tier 2: direct download, against a server on 127.0.0.1 only."""
from __future__ import annotations

import hashlib

import pytest

import hyperdesk.composition.download as download_mod
from hyperdesk.errors import HyperdeskError

from .conftest import make_font


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_direct_download(server, tmp_path, make_plan):
    url = server.add("/lib/app.js", b"app()", Content_Type="application/javascript")
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache")
    site = r.freeze(url, "index.html: <script> src", "script")
    assert site == f"/__hd/remote/{sha(b'app()')}/app.js"
    assert plan.file(site).read_bytes() == b"app()"
    [rec] = r.assets
    assert (rec.url, rec.tier, rec.content_type) == (url, "direct", "text/javascript")
    ua = server.headers_seen[-1]["User-Agent"]
    assert ua == download_mod.USER_AGENT and "Chrome/" in ua and "Windows NT 10.0" in ua
    # A second resolver finds it in the cache: no new request, same record.
    r2 = make_plan().resolver(tmp_path / "cache")
    r2.freeze(url, "x", "script")
    assert server.hits["/lib/app.js"] == 1
    assert r2.assets == r.assets


def test_content_type_from_response_when_no_extension(server, tmp_path, make_plan):
    url = server.add("/img", b"\x89PNG", Content_Type="image/png")
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache")
    site = r.freeze(url, "x", "image")
    assert site.endswith("/img.png")
    assert r.assets[0].content_type == "image/png"


def test_redirects_at_most_three(server, tmp_path, make_plan):
    server.add("/final.js", b"ok")
    for i in range(1, 5):
        target = "/final.js" if i == 1 else f"/r{i - 1}"
        server.add(f"/r{i}", b"", status=302, Location=server.origin + target)
    r = make_plan().resolver(tmp_path / "cache")
    assert r.freeze(server.origin + "/r3", "x", "script")
    with pytest.raises(HyperdeskError) as ei:
        r.freeze(server.origin + "/r4", "x", "script")
    direct = [a for a in ei.value.details["attempts"] if a["tier"] == "direct"][0]
    assert "redirect" in direct["outcome"]


@pytest.mark.parametrize("status,retryable", [(404, False), (500, True), (503, True), (204, False)])
def test_status_other_than_200_fails(server, tmp_path, make_plan, status, retryable):
    url = server.add("/s.js", b"x" if status != 204 else b"", status=status)
    r = make_plan().resolver(tmp_path / "cache")
    with pytest.raises(HyperdeskError) as ei:
        r.freeze(url, "index.html", "script")
    e = ei.value
    assert e.code == "ASSET_FETCH_FAILED" and url in e.message and "--asset-dir" in e.message
    assert e.retryable is retryable
    assert any(a["tier"] == "direct" and str(status) in a["outcome"] for a in e.details["attempts"])


def test_timeout_is_retryable(server, tmp_path, make_plan, monkeypatch):
    monkeypatch.setattr(download_mod, "DIRECT_TIMEOUT_S", 0.3)
    url = server.add("/slow.js", b"late", X_Sleep="1.0")
    r = make_plan().resolver(tmp_path / "cache")
    with pytest.raises(HyperdeskError) as ei:
        r.freeze(url, "x", "script")
    assert ei.value.retryable is True
    assert {"tier": "direct", "outcome": "timeout"} in ei.value.details["attempts"]


def test_size_cap(server, tmp_path, make_plan, monkeypatch):
    monkeypatch.setattr(download_mod, "MAX_BYTES", 10)
    url = server.add("/big.bin", b"x" * 11)
    r = make_plan().resolver(tmp_path / "cache")
    with pytest.raises(HyperdeskError) as ei:
        r.freeze(url, "x", "other")
    assert any("256 MiB" in a["outcome"] for a in ei.value.details["attempts"])


def test_plain_http_needs_the_test_switch(server, tmp_path, make_plan):
    url = server.add("/a.js", b"a")
    # Without the switch an http: URL is fetched over https (which this server does not speak).
    r = make_plan().resolver(tmp_path / "cache", loopback_only=False, npm_exe="")
    with pytest.raises(HyperdeskError):
        r.freeze(url, "x", "script")
    assert server.hits.get("/a.js") is None


def test_stylesheet_processed_recursively(server, tmp_path, make_plan):
    font = make_font("Remote Face", flavor="woff2")
    server.add("/css/fonts/face.woff2", font)
    server.add("/img/bg.png", b"PNG")
    server.add("/css/sub.css", b"a { background: url('../img/bg.png'); }\n")
    server.add("/css/cycle.css", b"@import url(main.css);\ni { color: red }\n")
    main = (
        b"@import \"sub.css\";\n@import url(cycle.css);\n"
        b"body { background: url(/img/bg.png) }\n"
        b"@font-face { font-family: 'Remote Face'; font-weight: 700; "
        b"src: url(fonts/face.woff2) format('woff2'), local('Arial'); }\n"
        b"@media print { @font-face { font-family: Nested; src: url(fonts/face.woff2); } }\n"
    )
    url = server.add("/css/main.css", main, Content_Type="text/css")
    plan = make_plan()
    r = plan.resolver(tmp_path / "cache")
    site = r.freeze(url, "index.html: <link> href", "stylesheet")
    text = plan.file(site).read_text()
    assert server.origin not in text and "127.0.0.1" not in text
    bg = f"/__hd/remote/{sha(b'PNG')}/bg.png"
    assert f"url({bg})" in text
    assert "@font-face { font-family: 'Remote Face'" not in text  # moved to fonts.css
    assert "url(/__hd/fonts/_remote/" in text  # the nested one is rewritten in place
    sub = [a for a in r.assets if a.url == server.origin + "/css/sub.css"][0]
    assert f"@import \"/__hd/remote/{sub.sha256}/sub.css\"" in text
    assert plan.file(f"/__hd/remote/{sub.sha256}/sub.css").read_text() == \
        f"a {{ background: url('{bg}'); }}\n"
    # The cyclic import back to main.css was dropped (browsers ignore it too).
    cyc = [a for a in r.assets if a.url.endswith("/cycle.css")][0]
    assert "main.css" not in (plan.root / cyc.path).read_text()
    # The remote face: TrueType in fonts/, listed, and recorded.
    [face] = [f for f in r.font_faces if f.family == "Remote Face"]
    assert face.weight == 700 and face.source == f"url:{server.origin}/css/fonts/face.woff2"
    data = (plan.fonts / face.file).read_bytes()
    assert data[:4] == b"\x00\x01\x00\x00"
    rec = [a for a in r.assets if a.url.endswith("face.woff2")][0]
    assert rec.path.startswith("fonts/") and rec.content_type == "font/ttf"
    assert rec.sha256 == sha(data) and rec.tier == "direct"
    assert server.hits["/css/fonts/face.woff2"] == 1
