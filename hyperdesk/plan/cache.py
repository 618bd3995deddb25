"""Plan reuse: planDirs kept in the user cache under a source key (plan-contract.md 4.3)."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from hyperdesk.composition.boundary import ProjectBoundary
from hyperdesk.composition.project import Project, find_project, project_files
from hyperdesk.errors import HyperdeskError
from hyperdesk.dirs import plan_cache_dir
from hyperdesk.faults import FaultPlan
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.evict import touch
from hyperdesk.plan.hashing import canonical_json, sha256_file
from hyperdesk.models import PlanResult, WorkerEnv
from hyperdesk.plan.planner import plan
from hyperdesk.plan.verify import load_plan


def source_key(project_dir: Path, config: RenderConfig, env: WorkerEnv, skip: tuple[Path, ...] = (), *,
               whole: bool = True) -> str:
    """The plan cache key: the request, the worker environment and every file the project copy
    (composition/project.py project_files) takes, by content: the whole folder, or (`whole` False)
    the files the entry references and the --include globs match. The walk is the copy's own:
    links are followed only while they stay inside the project or an allowed folder (never round
    a cycle); a dangling link or a link out of the project is recorded by its target, not followed,
    so the key of such a project never names an earlier successful plan and planning reports the
    typed error (BROKEN_SYMLINK, OUTSIDE_PROJECT_REFERENCE). PROJECT_TOO_LARGE before any file is
    read when the files pass the request's caps."""
    # v3: the auto chunk table splits its last chunk (plan/chunking.py: split_last); v4: it says whether the
    # seam audit found the page pure (ChunkTable.page_pure). Plans cached before either re-plan.
    h = hashlib.sha256(b"hyperdesk-plan-source-v4\0")
    h.update(canonical_json(config.model_dump(mode="json")) + b"\0")
    h.update(canonical_json(env.model_dump(mode="json")) + b"\0")
    h.update(b"folder\0" if whole else b"referenced\0")
    boundary = ProjectBoundary(project_dir, [Path(p) for p in config.allow_outside])
    project = Project(Path(project_dir), config.entry, whole)
    entries = project_files(project, skip, boundary, [], include=config.include, variables=config.variables,
                            limits=config.project_limits())
    files: list[tuple[str, str]] = []
    for entry in entries:
        if entry.kind == "file":
            files.append((entry.rel, sha256_file(entry.path)))
        elif entry.kind in ("broken", "outside"):
            try:
                target = os.readlink(entry.path)
            except OSError:
                target = ""
            files.append((entry.rel, f"{entry.kind}-link:{target}"))
    for rel, digest in sorted(files, key=lambda f: f[0].encode("utf-8")):
        h.update(rel.encode("utf-8") + b"\0" + digest.encode() + b"\0")
    for allowed in sorted(config.allow_outside):
        h.update(b"allowed\0" + _folder_stamp(Path(allowed)).encode() + b"\0")
    return h.hexdigest()


def _folder_stamp(folder: Path) -> str:
    """What an --allow-outside folder holds, by name, size and mtime (a stat walk, no reading):
    a changed file there is read through `../` by the plan, so it must change the key too."""
    h = hashlib.sha256()
    for root, dirs, names in os.walk(folder):  # links are not followed
        dirs.sort()
        for name in sorted(names):
            p = Path(root) / name
            try:
                st = p.stat()
            except OSError:
                continue
            rel = p.relative_to(folder).as_posix()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _cache_target(composition: Path | str, config: RenderConfig, env: WorkerEnv, exclude: tuple[Path, ...],
                  root: Path | None) -> Path:
    project = find_project(composition, config.entry if config.entry != "index.html" else None)
    config = config.model_copy(update={"entry": project.entry})
    return (root or plan_cache_dir()) / source_key(project.root, config, env, exclude, whole=project.whole)


def plan_key(composition: Path | str, config: RenderConfig, *, env: WorkerEnv, exclude: tuple[Path, ...] = ()) -> str:
    """The cache key the composition's files have now: a job whose cached planDir has another name was
    planned from other files (or for another worker environment)."""
    return _cache_target(composition, config, env, exclude, None).name


def _load_cached(target: Path) -> PlanResult | None:
    if (target / "plan.json").is_file():
        try:
            loaded = load_plan(target)
            touch(target)  # the cache's least-recently-used order (plan/evict.py)
            return PlanResult(plan_dir=str(target), plan_hash=loaded.manifest.plan_hash,
                              manifest=loaded.manifest, reused=True)
        except HyperdeskError:
            pass  # a damaged cache entry is planned again
    if target.exists():
        shutil.rmtree(target, ignore_errors=True)
    return None


def find_cached_plan(composition: Path | str, config: RenderConfig, *, env: WorkerEnv,
                     exclude: tuple[Path, ...] = (), root: Path | None = None) -> PlanResult | None:
    """The cached planDir of an unchanged composition, if one is there and verifies."""
    return _load_cached(_cache_target(composition, config, env, exclude, root))


def cached_plan(composition: Path | str, config: RenderConfig, *, env: WorkerEnv,
                exclude: tuple[Path, ...] = (), root: Path | None = None,
                faults: FaultPlan | None = None) -> PlanResult:
    """Reuse the cached planDir of an unchanged composition, or plan it into the cache."""
    target = _cache_target(composition, config, env, exclude, root)
    found = _load_cached(target)
    if found is not None:
        return found
    target.parent.mkdir(parents=True, exist_ok=True)
    return plan(composition, config, target, worker_env=env, exclude=exclude, faults=faults)
