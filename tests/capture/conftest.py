"""Shared helpers for capture tests: tiny sites on disk, browsers, an asyncio runner."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hyperdesk.capture.browser import BrowserInfo
from hyperdesk.capture.session import CaptureSession, PageSpec, Timeouts
from hyperdesk.faults import FaultPlan
from hyperdesk.models import Fps

from .stub_runtime import stub_init_script

SHELL = "/usr/lib/chromium/chromium-headless-shell"
CHROMIUM = "/usr/lib/chromium/chromium"
W, H = 320, 180


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERDESK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HYPERDESK_BROWSER", raising=False)


def _need(path: str) -> BrowserInfo:
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not installed")
    return BrowserInfo.from_path(path)


@pytest.fixture
def shell() -> BrowserInfo:
    return _need(SHELL)


@pytest.fixture
def chromium() -> BrowserInfo:
    return _need(CHROMIUM)


def make_plan(root: Path, html: str, files: dict[str, bytes | str] | None = None) -> Path:
    """planDir-like layout: compiled/index.html (+ files), fonts/ (empty unless given)."""
    (root / "compiled").mkdir(parents=True, exist_ok=True)
    (root / "fonts").mkdir(parents=True, exist_ok=True)
    (root / "compiled" / "index.html").write_text(html, encoding="utf-8")
    for rel, data in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            p.write_text(data, encoding="utf-8")
        else:
            p.write_bytes(data)
    return root


def spec_for(plan: Path, *, fmt="jpeg", transparent=False, fps=Fps.of(30), videos=None, quality=90, png_fast=True) -> PageSpec:
    return PageSpec(
        compiled_dir=plan / "compiled", fonts_dir=plan / "fonts", plan_dir=plan,
        width=W, height=H, fps=fps, variables={}, capture_format=fmt, jpeg_quality=quality,
        png_fast=png_fast, transparent=transparent, videos=list(videos or []),
    )


async def open_session(plan: Path, work: Path, browser: BrowserInfo, *, mode="auto", stub=True,
                       timeouts: Timeouts | None = None, faults: FaultPlan | None = None,
                       **spec_kw) -> CaptureSession:
    return await CaptureSession.open(
        spec_for(plan, **spec_kw), work, browser=browser, mode=mode, timeouts=timeouts,
        init_script=stub_init_script if stub else None, faults=faults,
    )
