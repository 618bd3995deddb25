"""The pinned ffmpeg: where it is, what it is (plan contract 5), and how it is run.

The pinned build is the static binary of the imageio-ffmpeg wheel. Its identity is the third word
of the first line of `ffmpeg -version`, `+sha256:`, and the sha256 of the executable; computing the
hash reads 170 MB, so the result is cached in the user cache dir keyed by path, size and mtime.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from hyperdesk.dirs import env_cache_dir
from hyperdesk.errors import HyperdeskError, disk_full, free_bytes

# What ffmpeg prints when a write fails because the disk is full (strerror(ENOSPC) / EDQUOT).
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")
# A failed ffmpeg whose output disk has less than this free ran out of space, even when its log
# (on the same disk) could not say so.
NEARLY_FULL_BYTES = 1 << 20

STDERR_TAIL_CHARS = 4000

_lock = threading.Lock()
_identity_memo: dict[tuple[str, int, int], str] = {}


def ffmpeg_exe() -> str:
    """Absolute path of the pinned ffmpeg (the imageio-ffmpeg binary)."""
    try:
        # Lazy: a missing imageio-ffmpeg is then a typed FFMPEG_NOT_FOUND, not an ImportError at startup.
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # ImportError, RuntimeError("No ffmpeg exe could be found")
        raise HyperdeskError(
            "FFMPEG_NOT_FOUND",
            f"the pinned ffmpeg (imageio-ffmpeg) is not available: {exc}",
            details={"error": str(exc)},
        ) from exc
    if not exe or not os.path.isfile(exe):
        raise HyperdeskError("FFMPEG_NOT_FOUND", f"the pinned ffmpeg is missing: {exe}", details={"path": exe})
    return str(Path(exe).resolve())


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version_word(exe: str) -> str:
    try:
        proc = subprocess.run([exe, "-version"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HyperdeskError("FFMPEG_NOT_FOUND", f"cannot run the pinned ffmpeg: {exc}", details={"path": exe}) from exc
    first = proc.stdout.decode("utf-8", "replace").splitlines()[:1]
    words = first[0].split() if first else []
    if proc.returncode != 0 or len(words) < 3:
        raise HyperdeskError(
            "FFMPEG_NOT_FOUND",
            "the pinned ffmpeg did not report a version",
            details={"path": exe, "returncode": proc.returncode,
                     "stdout": proc.stdout[:400].decode("utf-8", "replace")},
        )
    return words[2]


def compute_ffmpeg_identity(exe: str) -> str:
    """Identity without any cache: `<version word>+sha256:<hex>`."""
    return f"{_version_word(exe)}+sha256:{_sha256_file(exe)}"


def ffmpeg_identity(exe: str | None = None) -> str:
    """Plan contract 5: e.g. `n9.0.2-17-g2a571b6068-20260930+sha256:<64 hex>`.

    The value is cached in memory and in `<cache root>/env/ffmpeg-identity.json`, keyed by path,
    size and mtime.
    """
    exe = exe or ffmpeg_exe()
    st = os.stat(exe)
    key = (exe, st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _identity_memo:
            return _identity_memo[key]
        cache_file = env_cache_dir() / "ffmpeg-identity.json"
        entries: list[dict[str, Any]] = []
        try:
            data = json.loads(cache_file.read_text("utf-8"))
            entries = [e for e in data.get("entries", []) if isinstance(e, dict)]
        except (OSError, ValueError, AttributeError):
            entries = []
        for e in entries:
            if (e.get("path"), e.get("size"), e.get("mtime_ns")) == key and isinstance(e.get("identity"), str):
                _identity_memo[key] = e["identity"]
                return e["identity"]
        identity = compute_ffmpeg_identity(exe)
        _identity_memo[key] = identity
        entries = [e for e in entries if e.get("path") != exe][-15:]
        entries.append({"path": exe, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "identity": identity})
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"entries": entries}, indent=2, sort_keys=True) + "\n", "utf-8")
            os.replace(tmp, cache_file)
        except OSError:
            pass  # a read-only cache only costs a re-hash next time
        return identity


def stderr_tail(text: str | bytes | None, limit: int = STDERR_TAIL_CHARS) -> str:
    """The last `limit` characters of ffmpeg's stderr, cut at a line start where possible."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    nl = tail.find("\n")
    return tail[nl + 1 :] if 0 <= nl < 200 else tail


def read_tail(path: str | os.PathLike[str] | None, limit: int = STDERR_TAIL_CHARS) -> str:
    """stderr_tail of a log file (empty when it cannot be read)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit * 2))
            return stderr_tail(f.read(), limit)
    except OSError:
        return ""


def run_ffmpeg(
    args: Sequence[str | os.PathLike[str]],
    *,
    error_code: str,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    message: str | None = None,
    details: dict[str, Any] | None = None,
    input: bytes | None = None,
    capture_stdout: bool = True,
) -> subprocess.CompletedProcess:
    """Run the pinned ffmpeg with `args` (everything after the executable).

    `-hide_banner` is always added, and `-nostdin` unless `input` is given. stderr is captured (and
    written to `log_path` when given). A non-zero exit, a timeout or a failure to start raises
    `HyperdeskError(error_code)` with the command and the stderr tail in `details`. Returns the
    CompletedProcess (stdout bytes, stderr text).
    """
    exe = ffmpeg_exe()
    argv = [exe, "-hide_banner"]
    if input is None:
        argv.append("-nostdin")
    argv += [os.fspath(a) for a in args]
    base_details = dict(details or {})
    base_details["command"] = argv
    try:
        proc = subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        err = stderr_tail(exc.stderr)
        _write_log(log_path, argv, exc.stderr or b"")
        raise HyperdeskError(
            error_code,
            (message or "ffmpeg failed") + f": timed out after {timeout} s",
            details={**base_details, "timeout_s": timeout, "stderr_tail": err},
        ) from exc
    except OSError as exc:
        raise HyperdeskError(
            error_code, (message or "ffmpeg failed") + f": cannot start ffmpeg: {exc}", details=base_details
        ) from exc
    _write_log(log_path, argv, proc.stderr)
    stderr_text = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = stderr_tail(stderr_text)
        if failed_for_space(tail, output_folder(argv)):
            raise disk_full(output_folder(argv), what=message or "running ffmpeg",
                            cause=tail.splitlines()[-1] if tail else None)
        last = tail.splitlines()[-1] if tail else f"exit status {proc.returncode}"
        raise HyperdeskError(
            error_code,
            f"{message or 'ffmpeg failed'}: {last}",
            details={**base_details, "returncode": proc.returncode, "stderr_tail": tail},
        )
    return subprocess.CompletedProcess(argv, proc.returncode, proc.stdout, stderr_text)


def failed_for_space(stderr: str, folder: str | os.PathLike[str]) -> bool:
    """A failed ffmpeg ran out of disk space: it says so, or its output's disk is (nearly) full."""
    if any(text in stderr for text in DISK_FULL_TEXTS):
        return True
    free = free_bytes(folder)
    return free is not None and free < NEARLY_FULL_BYTES


def output_folder(argv: Sequence[str]) -> str:
    """The folder of an ffmpeg command's output (its last argument, by our commands' convention)."""
    last = os.fspath(argv[-1]) if argv else ""
    return os.path.dirname(os.path.abspath(last)) if last and not last.startswith("-") else os.getcwd()


def _write_log(log_path: str | os.PathLike[str] | None, argv: list[str], stderr: bytes) -> None:
    if log_path is None:
        return
    try:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as f:
            f.write(("$ " + " ".join(argv) + "\n").encode("utf-8", "replace"))
            f.write(stderr or b"")
            f.write(b"\n")
    except OSError:
        pass


def fmt_time(seconds: float) -> str:
    """A time argument with 6 decimals, as the contracts write them (`2.000000`)."""
    return f"{float(seconds):.6f}"


def fmt_num(value: float) -> str:
    """A plain number (gain, tempo factor): up to 6 decimals, no trailing zeros (`0.5`, `2`)."""
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
