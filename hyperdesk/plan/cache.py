"""Plan reuse: planDirs kept in the user cache under a source key (plan-contract.md 4.3)."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Optional

from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.config import RenderConfig, cache_root
from hyperdesk.plan.hashing import canonical_json, sha256_file
from hyperdesk.plan.models import PlanResult, WorkerEnv
from hyperdesk.plan.planner import PROJECT_SKIP, plan, resolve_composition
from hyperdesk.plan.verify import load_plan


def source_key(project_dir: Path, config: RenderConfig, env: WorkerEnv, skip: tuple[Path, ...] = ()) -> str:
    h = hashlib.sha256(b"hyperdesk-plan-source-v1\0")
    h.update(canonical_json(config.model_dump(mode="json")) + b"\0")
    h.update(canonical_json(env.model_dump(mode="json")) + b"\0")
    skip_resolved = {p.resolve() for p in skip}
    files = []
    for root, dirs, names in os.walk(project_dir, followlinks=True):
        rootp = Path(root)
        top = rootp == project_dir
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (top and d in PROJECT_SKIP)
                         and (rootp / d).resolve() not in skip_resolved)
        for name in names:
            if name.startswith(".") or (top and name in PROJECT_SKIP) or (rootp / name).resolve() in skip_resolved:
                continue
            files.append((rootp / name).relative_to(project_dir).as_posix())
    for rel in sorted(files, key=lambda p: p.encode("utf-8")):
        h.update(rel.encode("utf-8") + b"\0" + sha256_file(project_dir / rel).encode() + b"\0")
    return h.hexdigest()


def cached_plan(composition: Path | str, config: RenderConfig, *, env: WorkerEnv,
                exclude: tuple[Path, ...] = (), root: Optional[Path] = None) -> PlanResult:
    """Reuse the cached planDir of an unchanged composition, or plan it into the cache."""
    project_dir, _entry = resolve_composition(composition, config.entry if config.entry != "index.html" else None)
    key = source_key(project_dir, config, env, exclude)
    plans = (root or cache_root() / "plans")
    plans.mkdir(parents=True, exist_ok=True)
    target = plans / key
    if (target / "plan.json").is_file():
        try:
            loaded = load_plan(target)
            return PlanResult(plan_dir=str(target), plan_hash=loaded.manifest.plan_hash,
                              manifest=loaded.manifest, reused=True)
        except HyperdeskError:
            shutil.rmtree(target, ignore_errors=True)  # a damaged cache entry is planned again
    elif target.exists():
        shutil.rmtree(target, ignore_errors=True)
    return plan(composition, config, target, worker_env=env, exclude=exclude)
