"""`hyperdesk node-sync`: the node side of plan transfer (runs on a render node, over SSH).

The node keeps a content-addressed blob cache, `<cache root>/blobs/<sha256>` (default cache root
`~/.cache/hyperdesk`, or HYPERDESK_CACHE_DIR). The controller sends the plan's file list
(path -> sha256) as JSON on stdin:

  check   -> which blobs are missing, and where to stage uploads and put chunk outputs
  commit  -> verify every staged upload's sha256, move it into the cache, and materialise the
             planDir `<cache root>/farm-plans/<plan_hash>/` from hard links to the blobs
  clean   -> remove a job's chunk outputs on the node
  sweep   -> remove what dead workers and finished jobs left in farm-out, and evict the least recently
             used planDirs past the size cap (never one the controller keeps, nor one used within the
             hour: another controller may be rendering it); `check` runs it first when asked
  usage   -> the bytes each of these folders holds

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

from hyperdesk.dirs import abandoned, cache_cap, cache_root
from hyperdesk.plan.evict import RECENT_S, evict, folder_entries, touch, tree_size
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
    swept = sweep(req["sweep"]) if isinstance(req.get("sweep"), dict) else None
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
    if ready and plan_dir is not None:
        touch(plan_dir)  # the least-recently-used order of the sweep
    return {**{k: str(v) for k, v in r.items()}, "missing": missing, "out_dir": str(out_dir),
            "plan_dir": str(plan_dir) if plan_dir else None, "ready": ready, "swept": swept}


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


def sweep(req: dict[str, Any]) -> dict[str, Any]:
    """{"finished_jobs": [...], "keep_plans": [...], "cap": bytes, "all": bool}: remove work dirs of dead
    workers, the outputs of finished jobs, then planDirs past the cap (every unkept one with "all") and
    the blobs no planDir links any more."""
    r = _roots()
    finished = {_safe_name(j) for j in req.get("finished_jobs") or []}
    work_dirs = jobs = 0
    outputs = r["outputs_dir"]
    for job_dir in sorted(outputs.iterdir()) if outputs.is_dir() else []:
        if not job_dir.is_dir() or job_dir.is_symlink():
            continue
        if job_dir.name in finished:
            shutil.rmtree(job_dir, ignore_errors=True)
            jobs += 1
            continue
        for child in list(job_dir.iterdir()):
            if ".work." in child.name and child.is_dir() and abandoned(child):
                shutil.rmtree(child, ignore_errors=True)
                work_dirs += 1
    plans = r["plans_dir"]
    keep = [plans / _safe_name(h) for h in req.get("keep_plans") or []]
    cap = 0 if req.get("all") else int(req.get("cap") or cache_cap("farm-plans"))
    entries = folder_entries(plans, skip=(".partial.", ".old."))
    removed = evict(entries, cap, keep=keep, min_age_s=float(req.get("min_age_s", RECENT_S)))
    for entry in removed:
        (plans / f"{entry.path.name}.complete").unlink(missing_ok=True)
    blobs = 0
    if removed and r["blob_dir"].is_dir():
        for blob in r["blob_dir"].iterdir():
            try:
                if _is_sha(blob.name) and blob.stat().st_nlink == 1:  # no planDir links it any more
                    blob.unlink()
                    blobs += 1
            except OSError:
                continue
    return {"ok": True, "work_dirs": work_dirs, "jobs": jobs, "plans": len(removed),
            "plan_bytes": sum(e.size for e in removed), "blobs": blobs}


def usage(req: dict[str, Any]) -> dict[str, Any]:
    r = _roots()
    return {"ok": True, "cache_root": str(r["cache_root"]), "farm-plans": tree_size(r["plans_dir"]),
            "blobs": tree_size(r["blob_dir"]), "farm-out": tree_size(r["outputs_dir"])}


ACTIONS = {"check": check, "commit": commit, "clean": clean, "sweep": sweep, "usage": usage}


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
