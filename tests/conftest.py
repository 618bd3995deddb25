"""Shared test set-up: Qt offscreen, an isolated hyperdesk cache that shares the asset cache."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Without a display Qt aborts the process; tests always run offscreen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))


def _user_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("hyperdesk"))


@pytest.fixture(scope="session", autouse=True)
def hyperdesk_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plans and chunk files go to a per-session cache; fetched assets (GSAP, fonts) are shared."""
    if "HYPERDESK_CACHE_DIR" in os.environ and os.environ.get("HYPERDESK_TEST_KEEP_CACHE"):
        yield Path(os.environ["HYPERDESK_CACHE_DIR"])
        return
    root = tmp_path_factory.mktemp("hyperdesk-cache")
    shared = _user_cache() / "assets"
    shared.mkdir(parents=True, exist_ok=True)
    (root / "assets").symlink_to(shared, target_is_directory=True)
    data = tmp_path_factory.mktemp("hyperdesk-data")
    old = {k: os.environ.get(k) for k in ("HYPERDESK_CACHE_DIR", "HYPERDESK_DATA_DIR")}
    os.environ["HYPERDESK_CACHE_DIR"] = str(root)
    os.environ["HYPERDESK_DATA_DIR"] = str(data)  # the job store and pinned host keys of this session
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
