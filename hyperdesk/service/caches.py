"""This machine's caches and leftovers: their sizes, their caps, eviction and sweeps.

Caches: `plans` (planDirs, plan/cache.py) and `assets` (fetched remote files), each with a size cap
(dirs.cache_cap: HYPERDESK_PLAN_CACHE_MAX, HYPERDESK_ASSET_CACHE_MAX). A planDir that a job in the
store may still use (queued, running, paused, failed or cancelled: all resumable) is never evicted.
Leftovers: the work dirs of dead workers and ended jobs under `<data>/jobs`, assembly folders of
controllers killed mid-assembly, and lock files nobody holds.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from hyperdesk.dirs import abandoned, asset_cache_dir, cache_cap, pid_alive, plan_cache_dir
from hyperdesk.plan.assemble import sweep_assembly_leftovers
from hyperdesk.plan.evict import RECENT_S, Entry, evict, file_entries, folder_entries, tree_size
from hyperdesk.store.db import JobStore
from hyperdesk.store.locks import locks_dir, sweep_stale_locks
from hyperdesk.store.models import JobRecord

# planDirs being written (planner.py) are swept by the planner itself.
_PLAN_SKIP = (".partial.",)


def human_size(n: float) -> str:
    """Bytes for people: 0 B, 12.3 KiB, 4.5 MiB, 6.7 GiB."""
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def needed_plans(store: JobStore) -> set[str]:
    """The planDirs of every job that may still run: all but the done ones."""
    return {j.plan_dir for j in store.list_jobs(limit=1_000_000) if j.state != "done" and j.plan_dir}


def _plan_entries() -> list[Entry]:
    return folder_entries(plan_cache_dir(), skip=_PLAN_SKIP)


def usage(store: JobStore, data_dir: Path) -> dict[str, dict[str, Any]]:
    """Bytes per cache on this machine, with its folder and cap."""
    plans = _plan_entries()
    locks = locks_dir(store.path)
    lock_files = list(locks.glob("*.lock")) if locks.is_dir() else []
    return {
        "plans": {"path": str(plan_cache_dir()), "bytes": sum(e.size for e in plans), "entries": len(plans),
                  "cap": cache_cap("plans")},
        "assets": {"path": str(asset_cache_dir()), "bytes": tree_size(asset_cache_dir()), "cap": cache_cap("assets")},
        "jobs": {"path": str(data_dir / "jobs"), "bytes": tree_size(data_dir / "jobs")},
        "locks": {"path": str(locks), "bytes": tree_size(locks), "entries": len(lock_files)},
    }


def enforce_caps(store: JobStore, *, everything: bool = False, min_age_s: float = RECENT_S) -> dict[str, int]:
    """Evict the least recently used plans and assets past their caps (everything unneeded with
    `everything`); returns the bytes freed per cache."""
    plans = evict(_plan_entries(), 0 if everything else cache_cap("plans"), keep=needed_plans(store),
                  min_age_s=min_age_s)
    assets = evict(file_entries(asset_cache_dir()), 0 if everything else cache_cap("assets"), min_age_s=min_age_s)
    return {"plans": sum(e.size for e in plans), "assets": sum(e.size for e in assets),
            "plans_removed": len(plans), "assets_removed": len(assets)}


def _remove_work_dirs(chunks: Path, *, only_abandoned: bool) -> int:
    removed = 0
    for work in chunks.glob("*.work.*") if chunks.is_dir() else []:
        if work.is_dir() and not work.is_symlink() and (not only_abandoned or abandoned(work)):
            shutil.rmtree(work, ignore_errors=True)
            removed += 1
    return removed


def _controller_alive(job: JobRecord) -> bool:
    """Does the job's controller still run (anywhere but here it cannot be checked: assume so)?"""
    if not job.controller_pid:
        return False
    return job.controller_host != socket.gethostname() or pid_alive(job.controller_pid)


def sweep_leftovers(store: JobStore, data_dir: Path) -> dict[str, int]:
    """What dead processes and ended jobs left: attempt work dirs (a failed job's stay, for the
    inspector, until it ends), folders of jobs the store no longer knows, assembly folders beside
    the outputs of jobs that were stopped mid-assembly, lock files nobody holds."""
    counts = {"work_dirs": 0, "job_dirs": 0, "assembly": 0, "locks": 0}
    root = data_dir / "jobs"
    now = time.time()
    for job_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not job_dir.is_dir() or job_dir.is_symlink():
            continue
        job = store.get_job(job_dir.name)
        if job is None:
            # A controller makes the folder just before the job's record: leave young ones alone.
            with contextlib.suppress(OSError):
                if now - job_dir.stat().st_mtime > RECENT_S:
                    shutil.rmtree(job_dir, ignore_errors=True)
                    counts["job_dirs"] += 1
            continue
        if job.state == "failed" or (job.state in ("running", "paused", "assembling") and _controller_alive(job)):
            continue  # a failed attempt's dir is shown by the inspector while its job can still show it
        counts["work_dirs"] += _remove_work_dirs(job_dir / "chunks", only_abandoned=job.state != "done")
        if job.state == "done":
            with contextlib.suppress(OSError):
                (job_dir / "chunks").rmdir()  # these only when empty (no kept chunks)
                job_dir.rmdir()
    outputs = {str(Path(j.output).parent) for j in store.list_jobs(limit=1_000_000)
               if j.state in ("running", "paused", "assembling", "failed") and j.output}
    for folder in sorted(outputs):
        counts["assembly"] += len(sweep_assembly_leftovers(Path(folder)))
    counts["locks"] = sweep_stale_locks(store.path)
    return counts


def prune_finished_jobs(store: JobStore, data_dir: Path) -> int:
    """`cache prune --all`: the chunk files kept after done jobs (--keep-chunks) go too."""
    removed = 0
    root = data_dir / "jobs"
    for job_dir in sorted(root.iterdir()) if root.is_dir() else []:
        job = store.get_job(job_dir.name)
        if job is not None and job.state == "done" and job_dir.is_dir() and not job_dir.is_symlink():
            shutil.rmtree(job_dir, ignore_errors=True)
            removed += 1
    with contextlib.suppress(OSError):
        os.rmdir(root)  # only when empty
    return removed
