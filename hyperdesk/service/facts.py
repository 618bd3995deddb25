"""What a planned composition is: the facts the app's composition panel shows, read from its plan.

A plan's meta files are exactly the compiler's facts (size, fps, duration, frames, sub-compositions,
media, assets, variable declarations, warnings), so the panel shows the plan the Render button will
use, never a second planning of the same composition.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperdesk.models import AssetTable, CompositionMeta, PlanManifest, PlanResult


@dataclass
class CompositionFacts:
    path: str
    ok: bool = False
    meta: CompositionMeta | None = None
    manifest: PlanManifest | None = None
    plan: PlanResult | None = None
    assets: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None  # HyperdeskError.to_dict() when planning failed
    thumbnail: str | None = None
    thumbnail_error: dict[str, Any] | None = None

    @property
    def fps_text(self) -> str:
        if self.meta is None:
            return ""
        f = self.meta.fps
        return str(f.num) if f.den == 1 else f"{f.num}/{f.den} ({f.num / f.den:.3f})"


def facts_from_plan(path: str, planned: PlanResult) -> CompositionFacts:
    facts = CompositionFacts(path=path, plan=planned, manifest=planned.manifest)
    plan_dir = Path(planned.plan_dir)
    try:
        facts.meta = CompositionMeta.model_validate_json((plan_dir / "meta" / "composition.json").read_text())
        assets = AssetTable.model_validate_json((plan_dir / "meta" / "assets.json").read_text())
    except (OSError, ValueError) as exc:
        facts.error = {"code": "INVALID_PLAN_METADATA", "message": f"cannot read the plan: {exc}",
                       "hint": "", "retryable": False, "details": {}}
        return facts
    facts.assets = [a.model_dump(mode="json") for a in assets.assets]
    facts.warnings = [w.model_dump(mode="json") for w in planned.manifest.warnings]
    facts.ok = True
    return facts
