"""Advisory locks between controllers: one controller per job, one job per output path.

A lock is an OS file lock (flock) on a small file under `<store dir>/locks/`, so it dies with its
process: a crashed or killed controller never leaves a stale lock behind, and `jobs resume` works
right after. The file holds who took the lock (pid, host, job), for the error message. Two
handles in one process conflict too (flock locks belong to the open file, not the process).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from hyperdesk.errors import HyperdeskError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class Lock:
    """One held lock; release() (or process exit) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
    import msvcrt  # pragma: no cover - Windows only (no fcntl there)

    try:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:  # pragma: no cover
        return False


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    import msvcrt  # pragma: no cover - Windows only (no fcntl there)

    os.lseek(fd, 0, os.SEEK_SET)  # pragma: no cover
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # pragma: no cover


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def acquire(path: Path, info: dict[str, Any]) -> Lock | None:
    """The lock at `path`, or None when someone holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            return None
        if _still_linked(path, fd):
            break
        os.close(fd)  # a sweep removed the file between our open and our lock: lock the new one
    data = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), **info}, sort_keys=True).encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    return Lock(path, fd)


def _still_linked(path: Path, fd: int) -> bool:
    """Is the locked file still the one at `path` (not unlinked by sweep_stale_locks meanwhile)?"""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def sweep_stale_locks(store_path: Path) -> int:
    """Remove the lock files nobody holds (one is left per job and output ever rendered); returns how many.

    Each is locked before it is unlinked, and acquire() re-checks the path after locking, so a
    lock being taken at the same moment is never lost."""
    removed = 0
    folder = locks_dir(store_path)
    try:
        names = sorted(p for p in folder.iterdir() if p.suffix == ".lock" and p.is_file())
    except OSError:
        return 0
    for path in names:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            if _try_lock(fd):
                if _still_linked(path, fd):
                    path.unlink()
                    removed += 1
                _unlock(fd)
        finally:
            os.close(fd)
    return removed


def locks_dir(store_path: Path) -> Path:
    return Path(store_path).parent / "locks"


def _who(holder: dict[str, Any]) -> str:
    if not holder.get("pid"):
        return "another hyperdesk process"
    job = f" (job {holder['job']})" if holder.get("job") else ""
    return f"process {holder['pid']} on {holder.get('host', '?')}{job}"


def lock_job(store_path: Path, job_id: str) -> Lock:
    """Hold job `job_id`, or JOB_LOCKED naming the controller that holds it."""
    path = locks_dir(store_path) / f"job-{job_id}.lock"
    lock = acquire(path, {"job": job_id})
    if lock is None:
        holder = _holder(path)
        raise HyperdeskError("JOB_LOCKED", f"job {job_id} is being run by {_who(holder)}",
                             details={"job_id": job_id, "holder": holder})
    return lock


def output_key(out: Path) -> str:
    """One key per output file or folder, however it is spelled (symlinks and `..` resolved)."""
    return hashlib.sha256(os.fsencode(str(Path(out).expanduser().absolute().resolve()))).hexdigest()[:32]


def check_output_free(store_path: Path, out: Path) -> None:
    """OUTPUT_LOCKED now, before any planning, when another job writes `out` (nothing is held: the
    job takes the lock itself when it starts, see lock_output)."""
    path = locks_dir(store_path) / f"output-{output_key(out)}.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # never locked, or swept
    try:
        if fcntl is None:  # pragma: no cover - Windows: the job's own lock_output decides
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            raise HyperdeskError("OUTPUT_LOCKED", f"{out} is being written by {_who(holder)}",
                                 details={"path": str(out), "holder": holder}) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_output(store_path: Path, out: Path, job_id: str) -> Lock:
    """Hold the output path for job `job_id`, or OUTPUT_LOCKED naming the job that writes it."""
    path = locks_dir(store_path) / f"output-{output_key(out)}.lock"
    lock = acquire(path, {"job": job_id, "output": str(out)})
    if lock is None:
        holder = _holder(path)
        raise HyperdeskError("OUTPUT_LOCKED", f"{out} is being written by {_who(holder)}",
                             details={"path": str(out), "holder": holder})
    return lock
