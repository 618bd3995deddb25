"""The conformance corpus: one composition folder per checklist line, rendered through the real pipeline.

`corpus_render(name, **config)` plans tests/compositions/<name>/, renders every chunk and assembles,
caching the result per (name, config, faults) for the test session (`faults=FaultPlan(...)` reaches the
planner and every chunk). It returns a Rendered with the output path, decoded frames (RGB or RGBA numpy
arrays), the plan and chunk results.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

import mediautil as mu
from hyperdesk.faults import FaultPlan
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.aio import run_coroutine
from hyperdesk.plan.chunk import WarmBrowser, render_chunk_async
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan

CORPUS = Path(__file__).resolve().parent


@dataclass
class Rendered:
    output: Path
    plan_dir: Path
    manifest: Any
    results: list
    assembled: Any
    _frames: Optional[list] = field(default=None, repr=False)
    alpha: bool = False

    @property
    def frames(self) -> list:
        if self._frames is None:
            if self.output.is_dir():
                self._frames = mu.decode_frames(self.output / "frame_%06d.png", start_number=1, alpha=self.alpha)
            else:
                self._frames = mu.decode_frames(self.output, alpha=self.alpha)
        return self._frames

    def pixel(self, frame: int, x: int, y: int) -> tuple:
        return mu.pixel(self.frames[frame], x, y)

    @property
    def frame_sha256(self) -> list[str]:
        return [h for r in self.results for h in r.frame_sha256]

    @property
    def warnings(self) -> list:
        return list(self.manifest.warnings) + [w for r in self.results for w in r.warnings]


async def _render_chunks(plan_dir: Path, count: int, work: Path, ext: str, faults: Optional[FaultPlan]) -> list:
    """Every chunk in order on one warm browser, as a render's warm worker takes them (a plan with
    pre-roll still gets a cold browser per chunk; a warm chunk is the bytes of a cold one:
    tests/farm/test_warm_workers.py)."""
    warm = WarmBrowser()
    try:
        return [await render_chunk_async(plan_dir, i, work / f"chunk{i}{ext}", faults=faults, warm=warm)
                for i in range(count)]
    finally:
        await warm.end()


@pytest.fixture(scope="session")
def corpus_render(tmp_path_factory):
    cache: dict[str, Rendered] = {}
    root = tmp_path_factory.mktemp("corpus")

    def render(name: str, *, project: Optional[Path] = None, faults: Optional[FaultPlan] = None,
               **config: Any) -> Rendered:
        key = json.dumps([name, str(project), config, faults.to_arg() if faults else None],
                         sort_keys=True, default=str)
        if key in cache:
            return cache[key]
        work = root / f"{name}-{len(cache)}"
        work.mkdir()
        cfg = RenderConfig(**config)
        planned = plan(project or CORPUS / name, cfg, work / "plan", faults=faults)
        m = planned.manifest
        ext = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "png-sequence": ""}[m.format]
        results = run_coroutine(_render_chunks(Path(planned.plan_dir), m.chunk_count, work, ext, faults))
        out = work / ("out" + (ext or ""))
        assembled = assemble(planned.plan_dir, results, out)
        cache[key] = Rendered(output=out, plan_dir=Path(planned.plan_dir), manifest=m, results=results,
                              assembled=assembled, alpha=m.format in ("mov", "webm", "png-sequence"))
        return cache[key]

    return render
