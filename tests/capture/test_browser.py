"""Browser discovery order, kinds, and the cached version."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hyperdesk.capture import browser as B
from hyperdesk.capture.browser import BrowserInfo, browser_version, find_browser
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.plan.env import local_worker_env

from .conftest import SHELL


def fake_exe(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def test_kind_from_name():
    assert BrowserInfo.from_path("/usr/lib/chromium/chromium-headless-shell").kind == "chromium-headless-shell"
    assert BrowserInfo.from_path("/x/chrome-linux/headless_shell").beginframe is True
    assert BrowserInfo.from_path("/x/chrome-headless-shell-win64/chrome-headless-shell.exe").kind == "chromium-headless-shell"
    info = BrowserInfo.from_path("/usr/lib/chromium/chromium")
    assert (info.kind, info.beginframe) == ("chromium", False)
    assert BrowserInfo.from_path("/opt/google/chrome/chrome").kind == "chromium"


def test_configured_path_wins(tmp_path, monkeypatch):
    a = fake_exe(tmp_path / "a" / "chromium")
    b = fake_exe(tmp_path / "b" / "chromium-headless-shell")
    sys_path = fake_exe(tmp_path / "sys" / "chromium-headless-shell")
    # argument beats env beats system paths
    monkeypatch.setenv("HYPERDESK_BROWSER", b)
    assert find_browser(a, search_paths=[sys_path]).path == a
    info = find_browser(search_paths=[sys_path])
    assert info.path == b and info.kind == "chromium-headless-shell"
    monkeypatch.delenv("HYPERDESK_BROWSER")
    assert find_browser(search_paths=[sys_path]).path == sys_path


def test_bad_configured_path_is_not_found(tmp_path, monkeypatch):
    sys_path = fake_exe(tmp_path / "sys" / "chromium")
    missing = str(tmp_path / "nope" / "chromium")
    with pytest.raises(HyperdeskError) as ei:
        find_browser(missing, search_paths=[sys_path])
    assert ei.value.code == "BROWSER_NOT_FOUND"
    assert ei.value.details["tried"] == [missing]
    assert missing in ei.value.message
    # a file that is not executable is not a browser either
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(HyperdeskError) as ei:
        find_browser(str(plain))
    assert ei.value.code == "BROWSER_NOT_FOUND"
    monkeypatch.setenv("HYPERDESK_BROWSER", missing)
    with pytest.raises(HyperdeskError) as ei:
        find_browser(search_paths=[sys_path])
    assert ei.value.code == "BROWSER_NOT_FOUND"


def test_system_paths_in_order(tmp_path):
    first = str(tmp_path / "missing" / "chromium-headless-shell")
    second = fake_exe(tmp_path / "s2" / "chromium")
    third = fake_exe(tmp_path / "s3" / "chromium-headless-shell")
    pw = tmp_path / "pw"
    fake_exe(pw / "chromium_headless_shell-1300" / "chrome-headless-shell-linux64" / "chrome-headless-shell")
    info = find_browser(search_paths=[first, second, third], playwright_dir=str(pw))
    assert info.path == second and info.kind == "chromium"


def test_playwright_dir_fallback_prefers_shell_and_newest(tmp_path):
    pw = tmp_path / "ms-playwright"
    fake_exe(pw / "chromium-1400" / "chrome-linux64" / "chrome")
    old = fake_exe(pw / "chromium_headless_shell-1200" / "chrome-headless-shell-linux64" / "chrome-headless-shell")
    new = fake_exe(pw / "chromium_headless_shell-1300" / "chrome-headless-shell-linux64" / "chrome-headless-shell")
    info = find_browser(search_paths=[str(tmp_path / "none")], playwright_dir=str(pw))
    assert info.path == new and info.beginframe
    assert old != new
    # only a full Chromium there
    pw2 = tmp_path / "pw2"
    full = fake_exe(pw2 / "chromium-1400" / "chrome-linux" / "chrome")
    assert find_browser(search_paths=[], playwright_dir=str(pw2)).path == full


def test_nothing_found_lists_what_was_tried(tmp_path):
    with pytest.raises(HyperdeskError) as ei:
        find_browser(search_paths=[str(tmp_path / "x" / "chromium")], playwright_dir=str(tmp_path / "pw"))
    e = ei.value
    assert e.code == "BROWSER_NOT_FOUND"
    assert str(tmp_path / "x" / "chromium") in e.details["tried"]
    assert any("ms-playwright" in t or str(tmp_path / "pw") in t for t in e.details["tried"])
    assert e.hint


def test_default_discovery_uses_the_real_headless_shell():
    if not os.access(SHELL, os.X_OK):
        pytest.skip("headless shell not installed")
    info = find_browser()
    assert info.path == SHELL and info.kind == "chromium-headless-shell" and info.beginframe


def test_version_fault_and_cache(tmp_path, monkeypatch):
    exe = fake_exe(tmp_path / "chromium")
    info = BrowserInfo.from_path(exe)
    # A test's FaultPlan stands in for the version this machine reports (its worker environment).
    faults = FaultPlan(browser_version="1.2.3.4", ffmpeg_identity="n0.0-test+sha256:" + "0" * 64)
    assert local_worker_env(exe, faults=faults).browser_version == "1.2.3.4"

    B.record_browser_version(info, "9.9.9.9")
    cache_file = Path(os.environ["HYPERDESK_CACHE_DIR"]) / "browser-versions.json"
    data = json.loads(cache_file.read_text())
    assert data[exe]["version"] == "9.9.9.9" and "size" in data[exe] and "mtime_ns" in data[exe]

    def boom(path):
        raise AssertionError("must not launch: the cache has it")

    monkeypatch.setattr(B, "_launch_for_version", boom)
    assert browser_version(info) == "9.9.9.9"
    # a changed executable (mtime) misses the cache
    st = os.stat(exe)
    os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    assert B.cached_browser_version(info) is None
    monkeypatch.setattr(B, "_launch_for_version", lambda p: "7.7.7.7")
    assert browser_version(info) == "7.7.7.7"
    assert B.cached_browser_version(info) == "7.7.7.7"


def test_real_version_is_read_and_cached(monkeypatch):
    if not os.access(SHELL, os.X_OK):
        pytest.skip("headless shell not installed")
    info = BrowserInfo.from_path(SHELL)
    v = browser_version(info)
    parts = v.split(".")
    assert len(parts) == 4 and all(p.isdigit() for p in parts), v
    monkeypatch.setattr(B, "_launch_for_version", lambda p: (_ for _ in ()).throw(AssertionError("cached")))
    assert browser_version(info) == v
