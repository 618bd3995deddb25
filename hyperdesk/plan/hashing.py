"""Canonical JSON and the plan hash (plan-contract.md sections 3 and 4)."""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from hyperdesk.errors import HyperdeskError

HASH_SCHEMA = "hyperdesk-plan-hash-v1"
_BUF = 1 << 20


def canonical_json(value: Any) -> bytes:
    """Sorted keys, compact separators, literal non-ASCII, no NaN, no trailing newline."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def pretty_json(value: Any) -> bytes:
    """Every other JSON file: sorted keys, two-space indent, one trailing newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_BUF):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def walk_plan_files(plan_dir: Path) -> list[str]:
    """Relative paths of every regular file except the top-level plan.json, sorted by UTF-8 bytes.

    Anything that is neither a regular file nor a directory is PLAN_HASH_MISMATCH (4.2 step 1).
    """
    out: list[str] = []
    for root, dirs, files in os.walk(plan_dir, followlinks=False):
        for name in dirs + files:
            full = os.path.join(root, name)
            mode = os.lstat(full).st_mode
            rel = os.path.relpath(full, plan_dir).replace(os.sep, "/")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise HyperdeskError(
                    "PLAN_HASH_MISMATCH",
                    f"plan directory holds a non-regular entry: {rel}",
                    details={"path": rel, "reason": "not a regular file or directory"},
                )
            if rel == "plan.json":
                continue
            out.append(rel)
    out.sort(key=lambda p: p.encode("utf-8"))
    return out


def compute_plan_hash(plan_dir: Path, encoder_canonical: bytes, worker_env: dict[str, Any],
                      file_hashes: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Return (plan_hash, {relative path: sha256}) per 4.1."""
    files = walk_plan_files(plan_dir)
    hashes: dict[str, str] = {}
    h = hashlib.sha256()
    h.update(HASH_SCHEMA.encode() + b"\0")
    h.update(b"files\0" + str(len(files)).encode() + b"\0")
    for rel in files:
        digest = (file_hashes or {}).get(rel) or sha256_file(plan_dir / rel)
        hashes[rel] = digest
        h.update(rel.encode("utf-8") + b"\0" + digest.encode() + b"\0")
    h.update(b"encoder\0" + encoder_canonical + b"\0")
    h.update(b"worker-env\0" + canonical_json(worker_env) + b"\0")
    return h.hexdigest(), hashes


def frame_dir_hash(directory: Path) -> tuple[str, dict[str, str]]:
    """sha256 of a png-sequence directory (plan-contract 9.6): `<name> NUL <sha256>` joined by NUL."""
    names = sorted(p.name for p in Path(directory).iterdir() if p.is_file() and p.name.lower().endswith(".png"))
    per_file = {name: sha256_file(Path(directory) / name) for name in names}
    joined = "\0".join(f"{name}\0{digest}" for name, digest in per_file.items())
    return sha256_bytes(joined.encode("utf-8")), per_file
