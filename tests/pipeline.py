"""Test helpers that run the real pipeline: write a composition, plan it, render its chunks, assemble."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

from hyperdesk.faults import FaultPlan
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.chunk import render_chunk
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan

GSAP_URL = "https://cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js"


def write_project(root: Path, html: str, files: Optional[dict[str, str | bytes]] = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(textwrap.dedent(html).strip() + "\n")
    for rel, content in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(textwrap.dedent(content))
    return root


def render_pipeline(project: Path, out: Path, work: Path, *, faults: FaultPlan | None = None, **config: Any):
    """plan -> every chunk in this process -> assemble; returns (plan result, chunk results, assemble result)."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = RenderConfig(**config)
    planned = plan(project, cfg, work / "plan")
    ext = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "png-sequence": ""}[planned.manifest.format]
    results = [render_chunk(planned.plan_dir, i, work / f"chunk_{i:04d}{ext}", faults=faults)
               for i in range(planned.manifest.chunk_count)]
    assembled = assemble(planned.plan_dir, results, out)
    return planned, results, assembled


def run_cli(*args: str, timeout: float = 600, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperdesk", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
