"""`hyperdesk node-sync`: the node side of plan transfer (runs on a render node, over SSH).

The node keeps a content-addressed blob cache, `<cache root>/blobs/<sha256>` (default cache root
`~/.cache/hyperdesk`, or HYPERDESK_CACHE_DIR). The controller sends the plan's file list
(path -> sha256) as JSON on stdin:

  check   -> which blobs are missing, and where to stage uploads and put chunk outputs
  commit  -> verify every staged upload's sha256, move it into the cache, and materialise the
             planDir `<cache root>/farm-plans/<plan_hash>/` from hard links to the blobs
  clean   -> remove a job's chunk outputs on the node

Only what the cache lacks is uploaded, so rendering an unchanged plan again sends no plan bytes.
A blob is trusted once verified; `commit` with `force` re-hashes every blob of the plan (after a
worker reported PLAN_HASH_MISMATCH) and reports the bad ones so the controller sends them again.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

from hyperdesk.dirs import cache_root
from hyperdesk.plan.hashing import sha256_file

_HEX = set("0123456789abcdef")


def _roots() -> dict[str, Path]:
    root = cache_root().expanduser().absolute()
    return {"cache_root": root, "blob_dir": root / "blobs", "staging_dir": root / "blobs" / ".staging",
            "plans_dir": root / "farm-plans", "outputs_dir": root / "farm-out"}


def _is_sha(value: str) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _safe_rel(rel: str) -> str:
    """A relative path that stays inside the planDir (the controller is trusted, but be exact)."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe plan path {rel!r}")
    return rel


def _safe_name(value: str) -> str:
    if not value or "/" in value or value in (".", "..") or "\0" in value:
        raise ValueError(f"unsafe name {value!r}")
    return value


def check(req: dict[str, Any]) -> dict[str, Any]:
    r = _roots()
    for key in ("blob_dir", "staging_dir", "plans_dir", "outputs_dir"):
        r[key].mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = req.get("files", {})
    shas = sorted({sha for sha in files.values() if _is_sha(sha)})
    missing = [sha for sha in shas if not (r["blob_dir"] / sha).is_file()]
    plan_hash = req.get("plan_hash", "")
    out_dir = r["outputs_dir"] / _safe_name(req.get("job_id") or "adhoc")
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_dir = r["plans_dir"] / _safe_name(plan_hash) if plan_hash else None
    ready = bool(plan_dir and plan_dir.is_dir() and (r["plans_dir"] / f"{plan_hash}.complete").is_file())
    return {**{k: str(v) for k, v in r.items()}, "missing": missing, "out_dir": str(out_dir),
            "plan_dir": str(plan_dir) if plan_dir else None, "ready": ready}


def commit(req: dict[str, Any]) -> dict[str, Any]:
    r = _roots()
    r["blob_dir"].mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = req["files"]
    dirs: list[str] = req.get("dirs", [])
    plan_hash = _safe_name(req["plan_hash"])
    staged: dict[str, str] = req.get("staged", {})
    force = bool(req.get("force"))
    bad: list[str] = []
    for sha, name in staged.items():
        src = r["staging_dir"] / _safe_name(name)
        if not _is_sha(sha) or not src.is_file():
            bad.append(sha)
            continue
        if sha256_file(src) != sha:  # verify after upload: a truncated or altered transfer never enters
            src.unlink(missing_ok=True)
            bad.append(sha)
            continue
        os.chmod(src, 0o444)
        os.replace(src, r["blob_dir"] / sha)
    wanted = sorted(set(files.values()))
    if force:
        for sha in wanted:
            blob = r["blob_dir"] / sha
            if blob.is_file() and sha256_file(blob) != sha:
                blob.unlink()
                bad.append(sha)
    missing = [sha for sha in wanted if not (r["blob_dir"] / sha).is_file()]
    if missing:
        return {"ok": False, "bad": sorted(set(bad)), "missing": missing}
    plans = r["plans_dir"]
    plans.mkdir(parents=True, exist_ok=True)
    plan_dir = plans / plan_hash
    marker = plans / f"{plan_hash}.complete"
    if force or not (plan_dir.is_dir() and marker.is_file()):
        marker.unlink(missing_ok=True)
        partial = plans / f"{plan_hash}.partial.{secrets.token_hex(4)}"
        partial.mkdir()
        for rel in sorted(dirs):
            (partial / _safe_rel(rel)).mkdir(parents=True, exist_ok=True)
        for rel, sha in sorted(files.items()):
            dst = partial / _safe_rel(rel)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(r["blob_dir"] / sha, dst)
            except OSError:  # a file system without hard links: copy
                shutil.copyfile(r["blob_dir"] / sha, dst)
        if plan_dir.exists():
            trash = plans / f"{plan_hash}.old.{secrets.token_hex(4)}"
            os.replace(plan_dir, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(partial, plan_dir)
        marker.write_text(plan_hash + "\n")
    return {"ok": True, "bad": sorted(set(bad)), "missing": [], "plan_dir": str(plan_dir)}


def clean(req: dict[str, Any]) -> dict[str, Any]:
    r = _roots()
    target = r["outputs_dir"] / _safe_name(req["job_id"])
    shutil.rmtree(target, ignore_errors=True)
    return {"ok": True}


ACTIONS = {"check": check, "commit": commit, "clean": clean}


def main_action(action: str) -> int:
    try:
        req = json.loads(sys.stdin.read() or "{}")
        reply = ACTIONS[action](req)
    except Exception as exc:  # the controller reads the reason from stdout
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(reply))
    return 0


def add_arguments(parser: Any) -> None:
    parser.add_argument("action", choices=sorted(ACTIONS))


def command(args: Any) -> int:
    return main_action(args.action)
