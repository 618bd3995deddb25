"""Least-recently-used eviction of a cache folder down to a size cap.

A cache is a list of entries (a planDir, an asset file), each with its size and the time it was last
used (its mtime: a cache hit touches it). Eviction removes the oldest first until the rest fits the
cap; it never removes an entry the caller keeps (a plan a job still needs) nor one used within
`min_age_s` (another process may be using it right now and the caller cannot know).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Collection

# Entries used this recently are left alone: another hyperdesk process (the app planning, a node's
# worker of another controller) may be reading them without any record the caller could ask.
RECENT_S = 3600.0


@dataclass
class Entry:
    path: Path
    size: int
    used: float  # seconds since the epoch


def tree_size(path: Path) -> int:
    """Bytes under `path` (a file or a folder), links not followed; hard-linked files count once."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return st.st_size
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                fst = os.lstat(os.path.join(root, name))
                key = (fst.st_dev, fst.st_ino)
                if key not in seen:
                    seen.add(key)
                    total += fst.st_size
    return total


def folder_entries(root: Path, *, skip: Collection[str] = ()) -> list[Entry]:
    """One entry per folder directly in `root` (a planDir), except names containing one of `skip`."""
    out: list[Entry] = []
    try:
        children = list(os.scandir(root))
    except OSError:
        return out
    for child in children:
        if not child.is_dir(follow_symlinks=False) or any(s in child.name for s in skip):
            continue
        with contextlib.suppress(OSError):
            out.append(Entry(Path(child.path), tree_size(Path(child.path)), child.stat(follow_symlinks=False).st_mtime))
    return out


def file_entries(root: Path) -> list[Entry]:
    """One entry per file anywhere under `root` (the asset cache: records, objects, tarballs)."""
    out: list[Entry] = []
    for base, _dirs, names in os.walk(root):
        for name in names:
            path = Path(base) / name
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                out.append(Entry(path, st.st_size, st.st_mtime))
    return out


def touch(path: Path) -> None:
    """Mark a cache entry as used now (a hit)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def remove_entry(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def evict(entries: list[Entry], cap: int, *, keep: Collection[Path | str] = (), min_age_s: float = RECENT_S,
          now: float | None = None) -> list[Entry]:
    """Remove the least recently used entries until the total fits `cap`; returns what went."""
    now = time.time() if now is None else now
    kept = {os.path.realpath(p) for p in keep}
    total = sum(e.size for e in entries)
    removed: list[Entry] = []
    for entry in sorted(entries, key=lambda e: e.used):
        if total <= cap:
            break
        if os.path.realpath(entry.path) in kept or now - entry.used < min_age_s:
            continue
        remove_entry(entry.path)
        total -= entry.size
        removed.append(entry)
    return removed
