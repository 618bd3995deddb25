"""The worker's loopback HTTP server (plan contract 7.2 step 3).

``compiled/`` at ``/``, ``fonts/`` at ``/__hd/fonts/``, on 127.0.0.1 with an ephemeral port.
GET and HEAD only, single-range ``Range`` requests, MIME types by extension from a fixed table (never
from the host's mime database, so every node serves the same headers), no directory listings, and
no path that resolves (symlinks included) outside its root.
"""
from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

FONTS_PREFIX = "/__hd/fonts/"

MIME_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".vtt": "text/vtt; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".apng": "image/apng",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".ogv": "video/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wasm": "application/wasm",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".lottie": "application/zip",
    ".bin": "application/octet-stream",
}
DEFAULT_MIME = "application/octet-stream"

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


# What the page's errors call the project's files: http://127.0.0.1:<ephemeral port>/<path in compiled/>
LOOPBACK_URL = re.compile(r"http://127\.0\.0\.1:\d+/(?!__hd/)")


def project_locations(text: str, project_dir: str) -> str:
    """*text* with the loopback server's URLs turned into paths of the project the page was compiled
    from (``compiled/`` keeps the project's layout), so ``http://127.0.0.1:56479/index.html:46:28``
    reads ``<project>/index.html:46:28``."""
    root = project_dir.rstrip("/") + "/"
    return LOOPBACK_URL.sub(lambda _m: root, text)


def mime_type(path: str) -> str:
    return MIME_TYPES.get(os.path.splitext(path)[1].lower(), DEFAULT_MIME)


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Handler(BaseHTTPRequestHandler):
    server_version = "hyperdesk"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # quiet: the access log goes to the debug logger, never to stderr
    def log_message(self, format: str, *args) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def _error(self, status: int, body: bool, extra: dict[str, str] | None = None) -> None:
        msg = f"{status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(msg)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(msg)

    def _resolve(self) -> str | None:
        assert isinstance(self.server, _Server)
        srv = self.server.owner
        raw = urlsplit(self.path).path
        path = unquote(raw)
        if "\x00" in path or "\\" in path:
            return None
        if path.startswith(FONTS_PREFIX):
            root, rel = srv._fonts_root, path[len(FONTS_PREFIX):]
        else:
            root, rel = srv._compiled_root, path.lstrip("/")
        if root is None:
            return None
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            return None
        norm = posixpath.join(*parts) if parts else ""
        full = os.path.realpath(os.path.join(root, *norm.split("/"))) if norm else root
        if not _inside(root, full):
            return None
        if os.path.isdir(full):
            index = os.path.join(full, "index.html")
            if raw.endswith("/") and os.path.isfile(index):
                return index
            return None  # no directory listings
        return full if os.path.isfile(full) else None

    def _serve(self, body: bool) -> None:
        try:
            full = self._resolve()
            if full is None:
                self._error(404, body)
                return
            size = os.path.getsize(full)
            start, end = 0, size - 1
            status = 200
            rng = self.headers.get("Range")
            if rng:
                m = _RANGE_RE.match(rng)
                if m and (m.group(1) or m.group(2)):
                    a, b = m.group(1), m.group(2)
                    if a == "":  # suffix: the last b bytes
                        n = int(b)
                        if n == 0:
                            self._error(416, body, {"Content-Range": f"bytes */{size}"})
                            return
                        start, end = max(0, size - n), size - 1
                    else:
                        start = int(a)
                        end = min(int(b), size - 1) if b else size - 1
                        if start >= size or (b and int(b) < start):
                            self._error(416, body, {"Content-Range": f"bytes */{size}"})
                            return
                    status = 206
                # anything else (multiple ranges, other units): serve the whole file
            length = end - start + 1 if size else 0
            self.send_response(status)
            self.send_header("Content-Type", mime_type(full))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Access-Control-Allow-Origin", "*")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if body and length:
                with open(full, "rb") as f:
                    f.seek(start)
                    remaining = length
                    while remaining > 0:
                        chunk = f.read(min(1 << 20, remaining))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        remaining -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except OSError:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._error(404, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    owner: LoopbackServer  # the roots a request resolves against

    def handle_error(self, request, client_address) -> None:  # quiet
        log.debug("loopback server error for %s", client_address, exc_info=True)


class LoopbackServer:
    """``LoopbackServer(compiled_dir, fonts_dir).start()``; ``.origin`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, compiled_dir: str | os.PathLike[str], fonts_dir: str | os.PathLike[str] | None) -> None:
        self._compiled_root = os.path.realpath(compiled_dir)
        self._fonts_root = os.path.realpath(fonts_dir) if fonts_dir is not None else None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.origin: str | None = None

    @property
    def port(self) -> int | None:
        return self._httpd.server_address[1] if self._httpd else None

    def start(self) -> LoopbackServer:
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.origin = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="hyperdesk-loopback", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["LoopbackServer", "mime_type", "MIME_TYPES", "FONTS_PREFIX"]
