"""Where hyperdesk keeps things on this machine, and small process facts every layer may use.

The base layer (beside errors.py and models.py): every other layer may import it, it imports
nothing of hyperdesk. One place computes the user directories, so a test or a render node that
sets HYPERDESK_CACHE_DIR / HYPERDESK_DATA_DIR moves every cache and store together.
"""
from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import platformdirs

CACHE_ENV = "HYPERDESK_CACHE_DIR"
DATA_ENV = "HYPERDESK_DATA_DIR"

GIB = 1024 ** 3
# Size caps of the caches (cli `cache prune`, eviction after a new plan, node-sync at connect), and the
# variables that change them: a number of bytes with an optional K/M/G/T suffix ("10G", "500M").
CACHE_CAPS = {"plans": 10 * GIB, "assets": 5 * GIB, "farm-plans": 10 * GIB}
CAP_ENV = {"plans": "HYPERDESK_PLAN_CACHE_MAX", "assets": "HYPERDESK_ASSET_CACHE_MAX",
           "farm-plans": "HYPERDESK_NODE_CACHE_MAX"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)

# A work folder hyperdesk makes records its owner here, so a later sweep removes it only when it is
# ours and its process is gone (never a folder a user happened to name alike).
OWNER_FILE = ".hyperdesk-owner"

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
    # A process that has exited but is not reaped yet (a zombie: its parent died and init has not
    # collected it, which some init processes never do) still answers signal 0; it is gone.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux), or it went away meanwhile: as signal 0 said


def parse_size(text: str) -> int:
    """Bytes from "10G", "500M", "1.5 GiB" or a plain number; ValueError otherwise."""
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 500M or 10G)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index((m.group(2) or " ").lower()))


def cache_cap(name: str) -> int:
    """The size cap of cache `name` ("plans", "assets", "farm-plans"): its variable, else the default."""
    configured = os.environ.get(CAP_ENV[name], "").strip()
    return parse_size(configured) if configured else CACHE_CAPS[name]


def claim(folder: Path) -> None:
    """Record this process as the owner of a work folder it has just made. The record appears whole
    (written aside, then renamed): a kill between creating and writing it left an empty record, which
    no sweep could read, so the folder was never swept."""
    record = Path(folder) / OWNER_FILE
    aside = record.with_name(f"{OWNER_FILE}.{os.getpid()}.tmp")
    aside.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    os.replace(aside, record)


def abandoned(folder: Path) -> bool:
    """Is this a work folder hyperdesk made (it holds the owner record) whose process on this machine is gone?"""
    try:
        owner = json.loads((Path(folder) / OWNER_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    return isinstance(pid, int) and pid > 0 and not pid_alive(pid)
