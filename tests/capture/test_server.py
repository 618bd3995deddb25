"""The loopback server: roots, Range, MIME, no listings, no escapes."""
from __future__ import annotations

import http.client
import os

import pytest

from hyperdesk.capture.server import LoopbackServer


@pytest.fixture
def site(tmp_path):
    compiled = tmp_path / "plan" / "compiled"
    fonts = tmp_path / "plan" / "fonts"
    (compiled / "sub").mkdir(parents=True)
    (compiled / "withindex").mkdir()
    fonts.mkdir(parents=True)
    (compiled / "index.html").write_text("<!doctype html><p>hi</p>")
    (compiled / "withindex" / "index.html").write_text("inner")
    (compiled / "sub" / "data.bin").write_bytes(bytes(range(256)) * 4)
    (compiled / "sp ace.txt").write_text("spaced")
    for ext in ("js", "mjs", "css", "json", "svg", "woff2", "ttf", "otf", "mp4", "webm", "mov", "mp3", "wav",
                "m4a", "png", "jpg", "jpeg", "gif", "webp", "wasm", "xyz"):
        (compiled / f"f.{ext}").write_bytes(b"x")
    (fonts / "Inter-400.ttf").write_bytes(b"TTFDATA")
    (fonts / "fonts.css").write_text("@font-face{}")
    (tmp_path / "plan" / "secret.txt").write_text("SECRET")
    (tmp_path / "outside.txt").write_text("OUTSIDE")
    os.symlink(tmp_path / "outside.txt", compiled / "link.txt")
    srv = LoopbackServer(compiled, fonts).start()
    yield srv
    srv.close()


def get(srv, path, method="GET", headers=None):
    port = int(srv.origin.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest(method, path, skip_accept_encoding=True)  # raw path: no client-side normalisation
    for k, v in (headers or {}).items():
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def test_origin_and_roots(site):
    assert site.origin.startswith("http://127.0.0.1:") and int(site.origin.rsplit(":", 1)[1]) > 0
    r, body = get(site, "/index.html")
    assert r.status == 200 and body == b"<!doctype html><p>hi</p>"
    assert r.getheader("Content-Type").startswith("text/html")
    assert r.getheader("Accept-Ranges") == "bytes"
    r, body = get(site, "/__hd/fonts/Inter-400.ttf")
    assert r.status == 200 and body == b"TTFDATA" and r.getheader("Content-Type") == "font/ttf"
    r, body = get(site, "/__hd/fonts/fonts.css")
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/css")
    r, body = get(site, "/sp%20ace.txt?v=1#frag")
    assert r.status == 200 and body == b"spaced"
    r, _ = get(site, "/missing.png")
    assert r.status == 404


def test_mime_types(site):
    expect = {
        "js": "text/javascript", "mjs": "text/javascript", "css": "text/css", "json": "application/json",
        "svg": "image/svg+xml", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
        "mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime", "mp3": "audio/mpeg",
        "wav": "audio/wav", "m4a": "audio/mp4", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
        "gif": "image/gif", "webp": "image/webp", "wasm": "application/wasm", "xyz": "application/octet-stream",
    }
    for ext, mime in expect.items():
        r, _ = get(site, f"/f.{ext}")
        assert r.status == 200
        assert r.getheader("Content-Type").split(";")[0] == mime, ext


def test_range_requests(site):
    data = bytes(range(256)) * 4
    r, body = get(site, "/sub/data.bin", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and body == data[10:20]
    assert r.getheader("Content-Range") == "bytes 10-19/1024" and r.getheader("Content-Length") == "10"
    r, body = get(site, "/sub/data.bin", headers={"Range": "bytes=1000-"})
    assert r.status == 206 and body == data[1000:] and r.getheader("Content-Range") == "bytes 1000-1023/1024"
    r, body = get(site, "/sub/data.bin", headers={"Range": "bytes=-24"})
    assert r.status == 206 and body == data[-24:]
    r, body = get(site, "/sub/data.bin", headers={"Range": "bytes=1000-5000"})
    assert r.status == 206 and body == data[1000:]
    r, body = get(site, "/sub/data.bin", headers={"Range": "bytes=2000-"})
    assert r.status == 416 and r.getheader("Content-Range") == "bytes */1024"
    r, body = get(site, "/sub/data.bin")
    assert r.status == 200 and body == data
    r, body = get(site, "/sub/data.bin", method="HEAD", headers={"Range": "bytes=0-9"})
    assert r.status == 206 and body == b"" and r.getheader("Content-Length") == "10"


def test_no_directory_listings(site):
    for p in ("/sub", "/sub/", "/__hd/fonts/", "/__hd/fonts", "/__hd/"):
        r, body = get(site, p)
        assert r.status == 404, p
        assert b"data.bin" not in body and b"Inter" not in body
    r, body = get(site, "/withindex/")
    assert r.status == 200 and body == b"inner"


def test_no_escape(site):
    for p in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt",
              "/__hd/fonts/../secret.txt", "/__hd/fonts/%2e%2e/%2e%2e/outside.txt", "/..%2fsecret.txt",
              "/link.txt", "/%2fetc/passwd", "//etc/passwd", "/..\\secret.txt", "/%00index.html"):
        r, body = get(site, p)
        assert r.status == 404, p
        assert b"SECRET" not in body and b"OUTSIDE" not in body and b"root:" not in body


def test_close_stops_serving(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "index.html").write_text("x")
    srv = LoopbackServer(tmp_path / "c", tmp_path / "c").start()
    port = int(srv.origin.rsplit(":", 1)[1])
    srv.close()
    with pytest.raises(OSError):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/index.html")
        c.getresponse()
