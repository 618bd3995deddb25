"""Fixtures for the page runtime tests: one Chromium per session, a loopback file server,
JS libraries from npm tarballs, and a helper that opens hand-written pages with the init script."""
from __future__ import annotations

import functools
import http.server
import itertools
import os
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Optional

import pytest

from hyperdesk.runtime import init_script

BROWSER_PATH = os.environ.get("HYPERDESK_BROWSER", "/usr/lib/chromium/chromium-headless-shell")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu-compositing",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
]

# npm package -> (file inside the tarball, name served under /lib/)
NPM_LIBS = {
    "gsap@3.12.5": ("package/dist/gsap.min.js", "gsap.min.js"),
    "lottie-web@5.12.2": ("package/build/player/lottie.min.js", "lottie.min.js"),
    "animejs@3.2.2": ("package/lib/anime.min.js", "anime.min.js"),
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the stdlib
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@pytest.fixture(scope="session")
def site_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "lib").mkdir()
    return root


@pytest.fixture(scope="session")
def server(site_root):
    handler = functools.partial(_QuietHandler, directory=str(site_root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def npm_libs(site_root, tmp_path_factory) -> dict[str, Optional[str]]:
    """Fetch the libraries with `npm pack` once per session; value None when unavailable."""
    out: dict[str, Optional[str]] = {}
    npm = shutil.which("npm")
    pack_dir = tmp_path_factory.mktemp("npm")
    for spec, (member, served) in NPM_LIBS.items():
        out[spec] = None
        if not npm:
            continue
        try:
            proc = subprocess.run(
                [npm, "pack", spec, "--pack-destination", str(pack_dir), "--silent"],
                capture_output=True, text=True, timeout=180,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode != 0:
            continue
        name = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        tgz = pack_dir / name
        if not tgz.is_file():
            continue
        with tarfile.open(tgz) as tf:
            fh = tf.extractfile(member)
            if fh is None:
                continue
            (site_root / "lib" / served).write_bytes(fh.read())
        out[spec] = f"/lib/{served}"
    return out


def _lib(npm_libs, spec) -> str:
    url = npm_libs.get(spec)
    if not url:
        pytest.skip(f"{spec} could not be fetched with `npm pack` (npm missing or registry unreachable)")
    return url


@pytest.fixture
def gsap_url(npm_libs) -> str:
    return _lib(npm_libs, "gsap@3.12.5")


@pytest.fixture
def lottie_url(npm_libs) -> str:
    return _lib(npm_libs, "lottie-web@5.12.2")


@pytest.fixture
def anime_url(npm_libs) -> str:
    return _lib(npm_libs, "animejs@3.2.2")


@pytest.fixture(scope="session")
def browser():
    if not Path(BROWSER_PATH).exists():
        pytest.skip(f"no Chromium at {BROWSER_PATH}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=BROWSER_PATH, args=BROWSER_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


_page_counter = itertools.count(1)


class PageOpener:
    """Writes hand-written HTML into the site and opens it with the runtime installed."""

    def __init__(self, browser, server, site_root: Path, name: str):
        self.browser = browser
        self.server = server
        self.site_root = site_root
        self.name = name
        self.contexts = []

    def write(self, html: str, files: Optional[dict[str, str]] = None) -> str:
        d = self.site_root / f"{self.name}-{next(_page_counter)}"
        d.mkdir()
        (d / "index.html").write_text(html, encoding="utf-8")
        for rel, text in (files or {}).items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        return f"{self.server}/{d.name}/index.html"

    def open(self, html: str, *, fps=(30, 1), variables=None, files=None, wait_ready: bool = True,
             width: int = 320, height: int = 180):
        ctx = self.browser.new_context(viewport={"width": width, "height": height},
                                       timezone_id="UTC", locale="en-US", device_scale_factor=1)
        self.contexts.append(ctx)
        ctx.add_init_script(script=init_script(fps[0], fps[1], variables or {}))
        page = ctx.new_page()
        page.goto(self.write(html, files), wait_until="domcontentloaded")
        if wait_ready:
            page.wait_for_function("() => window.__hf.ready", timeout=15000, polling=25)
        return page

    def close(self):
        for c in self.contexts:
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture
def rt(browser, server, site_root, request):
    opener = PageOpener(browser, server, site_root, request.node.name.replace("[", "_").replace("]", "_"))
    yield opener
    opener.close()
