"""Load and verify a planDir: the validation steps a worker and the assembler run first.

plan-contract.md 4.2 and 9.2 steps 1-4. A LoadedPlan carries the parsed, hash-verified models.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.env import local_worker_env
from hyperdesk.plan.hashing import canonical_json, compute_plan_hash
from hyperdesk.models import (
    SCHEMA_VERSION,
    ChunkTable,
    CompositionMeta,
    FontManifest,
    LockedRenderConfig,
    PlanManifest,
    PlanProtocol,
    ProjectSources,
    VideoTable,
    AssetTable,
)

META_FILES: dict[str, type[BaseModel]] = {
    "meta/composition.json": CompositionMeta,
    "meta/encoder.json": LockedRenderConfig,
    "meta/chunks.json": ChunkTable,
    "meta/videos.json": VideoTable,
    "meta/assets.json": AssetTable,
    "meta/sources.json": ProjectSources,
}


@dataclass
class LoadedPlan:
    plan_dir: Path
    manifest: PlanManifest
    composition: CompositionMeta
    encoder: LockedRenderConfig
    encoder_bytes: bytes
    chunks: ChunkTable
    videos: VideoTable
    file_hashes: dict[str, str]
    sources: ProjectSources


def _missing(plan_dir: Path, rel: str) -> HyperdeskError:
    return HyperdeskError("MISSING_PLAN_ARTIFACT", f"the plan directory lacks {rel}",
                          details={"plan_dir": str(plan_dir), "path": rel})


def _read_json(plan_dir: Path, rel: str) -> Any:
    try:
        return json.loads((plan_dir / rel).read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HyperdeskError("INVALID_PLAN_METADATA", f"{rel} is not valid JSON: {exc}",
                             details={"path": rel, "reason": str(exc)}) from None


def _validate(model: type[BaseModel], data: Any, rel: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise HyperdeskError("INVALID_PLAN_METADATA", f"{rel} does not validate: {where}: {first.get('msg')}",
                             details={"path": rel, "errors": json.loads(exc.json())[:5]}) from None


def load_plan(plan_dir: Path | str, *, verify_hash: bool = True) -> LoadedPlan:
    """Steps 1, 2 and 4 of plan-contract 9.2 (the chunk index, step 3, is the caller's)."""
    plan_dir = Path(plan_dir)
    # Step 1: every artefact the worker needs exists.
    if not plan_dir.is_dir():
        raise HyperdeskError("MISSING_PLAN_ARTIFACT", f"plan directory not found: {plan_dir}",
                             details={"plan_dir": str(plan_dir), "path": ""})
    required = ["plan.json", *META_FILES, "compiled/index.html", "fonts/manifest.json"]
    for rel in required:
        if not (plan_dir / rel).is_file():
            raise _missing(plan_dir, rel)
    if not (plan_dir / "video-frames").is_dir():
        raise _missing(plan_dir, "video-frames/")
    # Step 2: protocol first (before full validation), then every model.
    raw_manifest = _read_json(plan_dir, "plan.json")
    proto = raw_manifest.get("protocol") if isinstance(raw_manifest, dict) else None
    known = PlanProtocol()
    if not isinstance(proto, dict) or (proto.get("name"), proto.get("layout"), proto.get("hash_schema")) != (
            known.name, known.layout, known.hash_schema):
        raise HyperdeskError("PLAN_PROTOCOL_UNSUPPORTED", f"unknown plan protocol {proto!r}",
                             details={"protocol": proto})
    raw = {rel: _read_json(plan_dir, rel) for rel in META_FILES}
    raw["fonts/manifest.json"] = _read_json(plan_dir, "fonts/manifest.json")
    for rel, data in [("plan.json", raw_manifest), *raw.items()]:
        version = data.get("schema_version") if isinstance(data, dict) else None
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise HyperdeskError("PLAN_PROTOCOL_UNSUPPORTED",
                                 f"{rel} has schema_version {version}; this hyperdesk reads {SCHEMA_VERSION}",
                                 details={"path": rel, "schema_version": version})
    manifest = _validate(PlanManifest, raw_manifest, "plan.json")
    models = {rel: _validate(model, raw[rel], rel) for rel, model in META_FILES.items()}
    _validate(FontManifest, raw["fonts/manifest.json"], "fonts/manifest.json")
    videos: VideoTable = models["meta/videos.json"]
    for video in videos.videos:
        if not (plan_dir / video.frames_dir).is_dir():
            raise _missing(plan_dir, video.frames_dir + "/")
    encoder_bytes = (plan_dir / "meta/encoder.json").read_bytes()
    hashes: dict[str, str] = {}
    if verify_hash:
        # Step 4 (plan-contract 4.2): content intact, encoder.json canonical, hash equal.
        if canonical_json(json.loads(encoder_bytes)) != encoder_bytes:
            raise HyperdeskError("PLAN_HASH_MISMATCH", "meta/encoder.json is not canonical",
                                 details={"reason": "encoder.json is not canonical"})
        computed, hashes = compute_plan_hash(plan_dir, encoder_bytes, manifest.worker_env.model_dump(mode="json"))
        if computed != manifest.plan_hash:
            raise HyperdeskError("PLAN_HASH_MISMATCH",
                                 f"plan content hashes to {computed[:12]}…, plan.json says {manifest.plan_hash[:12]}…",
                                 details={"expected": manifest.plan_hash, "computed": computed})
    return LoadedPlan(plan_dir=plan_dir, manifest=manifest, composition=models["meta/composition.json"],
                      encoder=models["meta/encoder.json"], encoder_bytes=encoder_bytes,
                      chunks=models["meta/chunks.json"], videos=videos, file_hashes=hashes,
                      sources=models["meta/sources.json"])


def check_worker_env(loaded: LoadedPlan, own: Any | None) -> None:
    """Steps 5-7: this worker's environment against the plan's recorded one."""
    if own is None:
        own = local_worker_env()
    want = loaded.manifest.worker_env
    for field, code, label in (
        ("ffmpeg_identity", "FFMPEG_VERSION_MISMATCH", "ffmpeg"),
        ("browser_version", "BROWSER_VERSION_MISMATCH", "Chromium"),
        ("hyperdesk_version", "RENDERER_VERSION_MISMATCH", "hyperdesk"),
    ):
        mine, theirs = getattr(own, field), getattr(want, field)
        if mine != theirs:
            raise HyperdeskError(code, f"this worker's {label} is {mine}, the plan needs {theirs}",
                                 details={"field": field, "worker": mine, "plan": theirs})
