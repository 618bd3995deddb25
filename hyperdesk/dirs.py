"""Where hyperdesk keeps things on this machine, and small process facts every layer may use.

The base layer (beside errors.py and models.py): every other layer may import it, it imports
nothing of hyperdesk. One place computes the user directories, so a test or a render node that
sets HYPERDESK_CACHE_DIR / HYPERDESK_DATA_DIR moves every cache and store together.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

CACHE_ENV = "HYPERDESK_CACHE_DIR"
DATA_ENV = "HYPERDESK_DATA_DIR"

# Top-level project entries that never belong to a plan (plan contract 1): build outputs, package
# folders and OS litter. Dot-entries are skipped at every level besides these.
PROJECT_SKIP = frozenset({"node_modules", "output", "renders", "dist", "__pycache__", "Thumbs.db", "desktop.ini"})


def cache_root() -> Path:
    """The user cache root: HYPERDESK_CACHE_DIR, else the platform's user cache dir."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("hyperdesk"))


def data_root() -> Path:
    """The user data root (job store, pinned host keys): HYPERDESK_DATA_DIR, else the platform's."""
    configured = os.environ.get(DATA_ENV)
    return Path(configured) if configured else Path(platformdirs.user_data_dir("hyperdesk"))


def asset_cache_dir() -> Path:
    """Fetched remote assets and npm tarballs, shared by every plan."""
    return cache_root() / "assets"


def plan_cache_dir() -> Path:
    """Reusable planDirs, keyed by their source (plan/cache.py)."""
    return cache_root() / "plans"


def env_cache_dir() -> Path:
    """Memoised facts about this machine's tools (ffmpeg identity, Chromium version)."""
    return cache_root() / "env"


def pid_alive(pid: int | None) -> bool:
    """Does a process with this pid exist (on this machine)?"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True
