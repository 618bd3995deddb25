"""Which Chromium executable renders, and what version it is.

Discovery order (``find_browser``): the configured path (argument, else ``HYPERDESK_BROWSER``) —
which must exist, there is no fallback when it does not — then the known system paths, then
Playwright's own browsers directory (``ms-playwright``). Launch the real binaries, never the
``/usr/bin`` shell wrappers when the real ones are there (the wrappers add flags).

``browser_version`` is the Chromium product version as Playwright's ``browser.version`` reports it
(plan contract 5), cached in ``<cache root>/browser-versions.json`` keyed by path, size and mtime.
"""
from __future__ import annotations

import glob
import json
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from collections.abc import Sequence

from hyperdesk.dirs import cache_root
from hyperdesk.errors import HyperdeskError

BrowserKind = Literal["chromium-headless-shell", "chromium"]

ENV_BROWSER = "HYPERDESK_BROWSER"

_VERSION_CACHE_FILE = "browser-versions.json"
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class BrowserInfo:
    path: str
    kind: BrowserKind
    beginframe: bool  # the binary supports HeadlessExperimental.beginFrame

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> BrowserInfo:
        p = str(path)
        kind = browser_kind_of(p)
        return cls(path=p, kind=kind, beginframe=(kind == "chromium-headless-shell"))


def browser_kind_of(path: str) -> BrowserKind:
    """The headless shell is recognised by its file name (Debian, Playwright and Chrome for Testing
    spell it ``chromium-headless-shell``, ``headless_shell`` and ``chrome-headless-shell``)."""
    name = os.path.basename(path).lower()
    if name.endswith(".exe"):
        name = name[:-4]
    if "headless" in name and "shell" in name:
        return "chromium-headless-shell"
    return "chromium"


def system_paths() -> list[str]:
    """Known install locations, best first (headless shell before full browsers)."""
    if sys.platform.startswith("linux"):
        return [
            "/usr/lib/chromium/chromium-headless-shell",
            "/usr/lib/chromium/chromium",
            "/usr/bin/chromium-headless-shell",
            "/usr/lib/chromium-browser/chromium-browser",
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/opt/google/chrome/chrome",
            "/usr/bin/google-chrome-stable",
            "/usr/bin/google-chrome",
            "/snap/chromium/current/usr/lib/chromium-browser/chrome",
        ]
    if sys.platform == "darwin":
        home = os.path.expanduser("~")
        apps = ["/Applications", os.path.join(home, "Applications")]
        out = []
        for a in apps:
            out += [
                os.path.join(a, "Chromium.app/Contents/MacOS/Chromium"),
                os.path.join(a, "Google Chrome.app/Contents/MacOS/Google Chrome"),
            ]
        return out
    if sys.platform.startswith("win"):
        out = []
        for env in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA"):
            base = os.environ.get(env)
            if base:
                out += [
                    os.path.join(base, "Chromium", "Application", "chrome.exe"),
                    os.path.join(base, "Google", "Chrome", "Application", "chrome.exe"),
                ]
        return out
    return []


def playwright_browsers_dir() -> str | None:
    env = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if env and env != "0":
        return env
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/ms-playwright")
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA")
        return os.path.join(base, "ms-playwright") if base else None
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ms-playwright")


# (directory glob, executable inside it), best first: headless shell, then full Chromium.
_PLAYWRIGHT_LAYOUTS: list[tuple[str, str]] = [
    ("chromium_headless_shell-*", "chrome-headless-shell-linux64/chrome-headless-shell"),
    ("chromium_headless_shell-*", "chrome-linux/headless_shell"),
    ("chromium_headless_shell-*", "chrome-headless-shell-mac-arm64/chrome-headless-shell"),
    ("chromium_headless_shell-*", "chrome-headless-shell-mac-x64/chrome-headless-shell"),
    ("chromium_headless_shell-*", "chrome-headless-shell-win64/chrome-headless-shell.exe"),
    ("chromium-*", "chrome-linux64/chrome"),
    ("chromium-*", "chrome-linux/chrome"),
    ("chromium-*", "chrome-mac-arm64/Chromium.app/Contents/MacOS/Chromium"),
    ("chromium-*", "chrome-mac/Chromium.app/Contents/MacOS/Chromium"),
    ("chromium-*", "chrome-win64/chrome.exe"),
    ("chromium-*", "chrome-win/chrome.exe"),
]


def _revision(dirname: str) -> int:
    m = re.search(r"-(\d+)$", dirname)
    return int(m.group(1)) if m else -1


def playwright_candidates(browsers_dir: str | None = None) -> tuple[list[str], list[str]]:
    """(existing executables, patterns tried) in Playwright's browsers directory, newest first."""
    root = browsers_dir if browsers_dir is not None else playwright_browsers_dir()
    if not root:
        return [], []
    found: list[str] = []
    tried: list[str] = []
    for dir_glob, exe in _PLAYWRIGHT_LAYOUTS:
        pattern = os.path.join(root, dir_glob, exe)
        tried.append(pattern)
        dirs = sorted(glob.glob(os.path.join(root, dir_glob)), key=lambda d: _revision(os.path.basename(d)),
                      reverse=True)
        for d in dirs:
            cand = os.path.join(d, exe)
            if _is_executable(cand) and cand not in found:
                found.append(cand)
    return found, tried


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_browser(
    configured: str | os.PathLike[str] | None = None,
    *,
    search_paths: Sequence[str] | None = None,
    playwright_dir: str | None = None,
) -> BrowserInfo:
    """Pick the Chromium executable; ``search_paths``/``playwright_dir`` replace the defaults (tests)."""
    if configured is None:
        configured = os.environ.get(ENV_BROWSER) or None
    if configured is not None:
        path = os.path.abspath(os.path.expanduser(str(configured)))
        if _is_executable(path):
            return BrowserInfo.from_path(path)
        raise HyperdeskError(
            "BROWSER_NOT_FOUND",
            f"The configured browser {path} does not exist or is not an executable file",
            details={"tried": [path]},
        )
    tried: list[str] = []
    for cand in (list(search_paths) if search_paths is not None else system_paths()):
        tried.append(cand)
        if _is_executable(cand):
            return BrowserInfo.from_path(cand)
    found, patterns = playwright_candidates(playwright_dir)
    tried += patterns
    if found:
        return BrowserInfo.from_path(found[0])
    raise HyperdeskError(
        "BROWSER_NOT_FOUND",
        "No Chromium executable found (tried " + ", ".join(tried) + ")",
        details={"tried": tried},
    )


# ---------------------------------------------------------------------------------------- version

def _cache_key(path: str) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_cache(file: Path) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached_browser_version(info: BrowserInfo) -> str | None:
    """The cached version of this exact executable (same path, size and mtime), or None."""
    try:
        key = _cache_key(info.path)
    except OSError:
        return None
    entry = _read_cache(cache_root() / _VERSION_CACHE_FILE).get(os.path.abspath(info.path))
    if isinstance(entry, dict) and entry.get("size") == key["size"] and entry.get("mtime_ns") == key["mtime_ns"]:
        v = entry.get("version")
        return v if isinstance(v, str) and v else None
    return None


def record_browser_version(info: BrowserInfo, version: str) -> None:
    """Store a version read from a running browser (the capture session does this for free)."""
    try:
        key = _cache_key(info.path)
    except OSError:
        return
    root = cache_root()
    file = root / _VERSION_CACHE_FILE
    with _cache_lock:
        try:
            root.mkdir(parents=True, exist_ok=True)
            data = _read_cache(file)
            data[os.path.abspath(info.path)] = {**key, "version": version}
            fd, tmp = tempfile.mkstemp(prefix=".browser-versions.", dir=str(root))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, file)
        except OSError:
            pass  # a read-only cache only costs a launch next time


def _launch_for_version(path: str) -> str:
    # Lazy: Playwright takes ~0.35 s to import, and a cached version never needs it.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=["--disable-gpu-compositing"])
        try:
            return browser.version
        finally:
            browser.close()


def browser_version(info: BrowserInfo) -> str:
    """Chromium product version, e.g. ``156.0.8078.108``."""
    cached = cached_browser_version(info)
    if cached:
        return cached
    # Playwright's sync API refuses to run inside a running asyncio loop: use a thread always.
    result: dict = {}

    def work() -> None:
        try:
            result["version"] = _launch_for_version(info.path)
        except BaseException as e:  # noqa: BLE001 - reported below
            result["error"] = e

    t = threading.Thread(target=work, name="hyperdesk-browser-version", daemon=True)
    t.start()
    t.join(120)
    if "version" not in result:
        err = result.get("error")
        raise HyperdeskError(
            "BROWSER_CRASHED",
            f"Could not start {info.path} to read its version: {err or 'timed out'}",
            details={"browser": info.path},
        )
    version = str(result["version"])
    record_browser_version(info, version)
    return version
