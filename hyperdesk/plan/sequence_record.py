"""The record a png-sequence render keeps in its output folder: which files it wrote (issue 19, item 1).

`.hyperdesk-sequence.json` lists every frame and audio file the render placed there with its size
and sha256. `--overwrite` replaces or removes only files listed there whose bytes still match; any
other file named like ours (`frame_NNNNNN.png`, `audio.m4a`), or a record that cannot be read, is
OUTPUT_EXISTS naming it, before anything is written. The record is replaced atomically; while a
render moves its files in, it lists both the old and the new bytes of each name (`replacing`), so
a render killed halfway leaves a folder the next `--overwrite` still recognises.
"""
from __future__ import annotations

import functools
import json
import os
import re
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.hashing import sha256_file

RECORD_NAME = ".hyperdesk-sequence.json"
# What a png-sequence output folder may hold of ours: the frames and the audio track (plan-contract 9.6).
_OWN_NAME = re.compile(r"^frame_\d{6,}\.png$|^audio\.m4a$")


class RecordedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int
    sha256: str


class SequenceRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record: str = "hyperdesk-png-sequence"
    version: int = 1
    files: dict[str, RecordedFile] = Field(default_factory=dict)
    replacing: dict[str, RecordedFile] = Field(default_factory=dict)  # new bytes being moved in


def is_own_name(name: str) -> bool:
    """A name hyperdesk writes into a png-sequence folder."""
    return bool(_OWN_NAME.match(name))


@functools.lru_cache(maxsize=100_000)
def _digest(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    # Keyed by every stat value a write changes: the gate checks a folder several times per render.
    return sha256_file(Path(path))


def _unchanged(path: Path, recorded: list[RecordedFile]) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    sizes = [r for r in recorded if r.size == st.st_size]
    if not sizes:
        return False
    digest = _digest(str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return any(r.sha256 == digest for r in sizes)


def read_record(folder: Path) -> SequenceRecord | None:
    """The folder's record; None when it has none. OUTPUT_EXISTS when one is there but unreadable."""
    path = folder / RECORD_NAME
    if not os.path.lexists(path):
        return None
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a regular file")
        return SequenceRecord.model_validate(json.loads(path.read_bytes()))
    except (OSError, ValueError, ValidationError) as exc:
        raise HyperdeskError("OUTPUT_EXISTS", f"{path} is not a record hyperdesk can read ({exc}): the folder's "
                             "files cannot be told from hyperdesk's", hint="Choose a new or empty output folder.",
                             details={"path": str(folder), "file": RECORD_NAME}) from None


def recorded_files(folder: Path) -> tuple[dict[str, RecordedFile], list[str]]:
    """(our files: recorded and unchanged, by name; the folder's other entries, the record left out)."""
    record = read_record(folder) or SequenceRecord()
    ours: dict[str, RecordedFile] = {}
    others: list[str] = []
    for p in sorted(folder.iterdir()):
        if p.name == RECORD_NAME:
            continue
        accepted = [r for r in (record.files.get(p.name), record.replacing.get(p.name)) if r is not None]
        if is_own_name(p.name) and accepted and _unchanged(p, accepted):
            ours[p.name] = next(r for r in accepted if r.size == p.stat().st_size)
        else:
            others.append(p.name)
    return ours, others


def check_replaceable(folder: Path) -> dict[str, RecordedFile]:
    """With --overwrite: OUTPUT_EXISTS naming the first file named like ours that is not a recorded,
    unchanged file of an earlier render. Returns the files that may be replaced or removed."""
    ours, others = recorded_files(folder)
    clashing = [name for name in others if is_own_name(name)]
    if clashing:
        first = clashing[0]
        raise HyperdeskError(
            "OUTPUT_EXISTS",
            f"{folder / first} was not written by an earlier hyperdesk render (or changed since): --overwrite "
            f"replaces only the frames and audio a render recorded in {RECORD_NAME}",
            hint="Move or rename the file (or choose another output folder); nothing was written.",
            details={"path": str(folder), "file": first, "clashing": clashing[:10]})
    return ours


def write_record(folder: Path, record: SequenceRecord) -> None:
    """Replace the folder's record atomically."""
    tmp = folder / f"{RECORD_NAME}.{secrets.token_hex(4)}.partial"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(record.model_dump_json(indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / RECORD_NAME)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
