"""Fixtures for the asset resolver and font tests.

Network rule: tests reach only 127.0.0.1 (the local server below) or the npm registry through the
npm client. Every resolver a test makes is loopback-only unless the test says otherwise, so the
direct tier can never leave the machine.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hyperdesk.composition.resolver import AssetResolver

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="no npm client on this machine")


@pytest.fixture(autouse=True)
def _user_npm(monkeypatch):
    monkeypatch.delenv("HYPERDESK_NPM", raising=False)


@pytest.fixture(scope="session")
def npm_cache(tmp_path_factory) -> Path:
    """One asset cache for the whole session, so each npm tarball is packed once."""
    return tmp_path_factory.mktemp("asset-cache")


@pytest.fixture(scope="session")
def default_font(npm_cache):
    if shutil.which("npm") is None:
        pytest.skip("no npm client on this machine")
    from hyperdesk.composition.fonts import ensure_default_font

    return ensure_default_font(npm_cache)


class Plan:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.compiled = root / "compiled"
        self.fonts = root / "fonts"
        self.compiled.mkdir(parents=True)

    def resolver(self, cache: Path, asset_dirs=(), loopback_only=True, **kw) -> AssetResolver:
        return AssetResolver(list(asset_dirs), cache, self.root, self.compiled,
                             loopback_only=loopback_only, **kw)

    def file(self, site_path: str) -> Path:
        assert site_path.startswith("/__hd/")
        if site_path.startswith("/__hd/fonts/"):
            return self.fonts / site_path[len("/__hd/fonts/"):]
        return self.compiled / site_path[1:]


@pytest.fixture
def make_plan(tmp_path):
    n = [0]

    def make() -> Plan:
        n[0] += 1
        return Plan(tmp_path / f"plan{n[0]}")

    return make


def make_font(family: str = "Test Face", flavor: str | None = None) -> bytes:
    """A tiny valid TrueType font (optionally as WOFF/WOFF2)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "A"])
    fb.setupCharacterMap({0x41: "A"})
    pen = TTGlyphPen(None)
    pen.moveTo((0, 0))
    pen.lineTo((500, 0))
    pen.lineTo((500, 700))
    pen.closePath()
    glyph = pen.glyph()
    fb.setupGlyf({".notdef": glyph, "A": glyph})
    fb.setupHorizontalMetrics({".notdef": (500, 0), "A": (500, 0)})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    fb.font["head"].created = fb.font["head"].modified = 0
    fb.font.flavor = flavor
    buf = io.BytesIO()
    fb.font.save(buf)
    return buf.getvalue()


def make_tarball(path: Path, package_json: dict, files: dict[str, bytes]) -> Path:
    """An npm-style tarball (everything under package/)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        entries = {"package.json": json.dumps(package_json).encode(), **files}
        for name, data in sorted(entries.items()):
            info = tarfile.TarInfo("package/" + name)
            info.size = len(data)
            info.mtime = 499162500
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


class LocalServer:
    """A small HTTP server on 127.0.0.1 with scripted routes; counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.hits: dict[str, int] = {}
        self.headers_seen: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                server.headers_seen.append(dict(self.headers))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, headers, body = route
                if headers.get("X-Sleep"):
                    time.sleep(float(headers["X-Sleep"]))
                self.send_response(status)
                for k, v in headers.items():
                    if k != "X-Sleep":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, body: bytes, status: int = 200, **headers) -> str:
        self.routes[path] = (status, {k.replace("_", "-"): v for k, v in headers.items()}, body)
        return self.origin + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = LocalServer()
    try:
        yield s
    finally:
        s.close()
