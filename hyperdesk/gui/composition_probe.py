"""What the composition panel shows, found out in subprocesses (never in the GUI process).

Opening a composition plans it once with the `hyperdesk plan` command into a scratch planDir:
the plan's meta files are exactly the compiler's facts (size, fps, duration, frames,
sub-compositions, media, assets, variable declarations, warnings). The first-frame thumbnail is
chunk 0 of that scratch plan (planned with one-frame chunks, as an opaque mp4 like most renders),
rendered by `hyperdesk render-chunk` — the same pipeline a render uses — and decoded by ffmpeg.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperdesk.models import AssetTable, CompositionMeta, PlanManifest


@dataclass
class CompositionFacts:
    path: str
    ok: bool = False
    meta: CompositionMeta | None = None
    manifest: PlanManifest | None = None
    assets: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None  # HyperdeskError.to_dict() when planning failed
    thumbnail: str | None = None
    thumbnail_error: dict[str, Any] | None = None
    scratch_dir: str | None = None

    @property
    def fps_text(self) -> str:
        if self.meta is None:
            return ""
        f = self.meta.fps
        return str(f.num) if f.den == 1 else f"{f.num}/{f.den} ({f.num / f.den:.3f})"


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def hyperdesk_command() -> list[str]:
    return [sys.executable, "-m", "hyperdesk"]


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _error_from(stdout: str, stderr: str, status: int) -> dict[str, Any]:
    data = _last_json(stdout)
    if data and data.get("event") == "failed":
        return {k: data.get(k) for k in ("code", "message", "hint", "retryable", "details")}
    code, message, hint = "INTERNAL_ERROR", f"exit status {status}", ""
    for line in stderr.splitlines():
        s = line.strip()
        if s.startswith("error ") and ":" in s:
            head, _, message = s[6:].partition(":")
            code, message = head.strip(), message.strip()
        elif s.startswith("hint:"):
            hint = s[5:].strip()
    return {"code": code, "message": message, "hint": hint, "retryable": False,
            "details": {"stderr_tail": stderr.splitlines()[-20:]}}


async def run_command(argv: list[str], *, timeout: float = 600.0) -> tuple[int, str, str]:
    """Run a command in its own process group; cancelling this interrupts, then kills, the group."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        # SIGINT first: hyperdesk commands clean up (a plan removes its .partial dir), then the group dies.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGINT)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 3)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 5)
        raise
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


async def probe_composition(path: str, *, variables: dict[str, Any] | None = None, thumbnail: bool = True,
                            scratch_root: Path | None = None, on_facts: Any = None) -> CompositionFacts:
    """Plan `path` into a scratch dir and read its facts; then render frame 0 for the thumbnail.

    `on_facts(facts)` is called as soon as the facts are known, before the (slower) thumbnail.
    """
    facts = CompositionFacts(path=str(path))
    scratch = Path(tempfile.mkdtemp(prefix="hyperdesk-inspect-", dir=str(scratch_root) if scratch_root else None))
    facts.scratch_dir = str(scratch)
    plan_dir = scratch / "plan"
    argv = [*hyperdesk_command(), "plan", str(path), "-o", str(plan_dir), "--json", "--format", "mp4", "--quality", "draft",
            "--keyframe-interval", "1", "--chunk-size", "1", "--no-audio"]
    p = Path(path)
    if p.is_file():
        argv += ["--entry", p.name]
    if variables:
        argv += ["--variables", json.dumps(variables)]
    status, out, err = await run_command(argv)
    if status != 0 or not (plan_dir / "plan.json").is_file():
        facts.error = _error_from(out, err, status)
        return facts
    try:
        facts.manifest = PlanManifest.model_validate_json((plan_dir / "plan.json").read_text())
        facts.meta = CompositionMeta.model_validate_json((plan_dir / "meta" / "composition.json").read_text())
        assets = AssetTable.model_validate_json((plan_dir / "meta" / "assets.json").read_text())
        facts.assets = [a.model_dump(mode="json") for a in assets.assets]
        facts.warnings = [w.model_dump(mode="json") for w in facts.manifest.warnings]
        facts.ok = True
    except (OSError, ValueError) as exc:
        facts.error = {"code": "INVALID_PLAN_METADATA", "message": f"cannot read the plan: {exc}",
                       "hint": "", "retryable": False, "details": {}}
        return facts
    if on_facts is not None:
        on_facts(facts)
    if thumbnail:
        chunk0 = scratch / "chunk0.mp4"
        thumb = scratch / "thumbnail.png"
        status, out, err = await run_command([*hyperdesk_command(), "render-chunk", str(plan_dir), "0",
                                              "-o", str(chunk0), "--json"])
        if status == 0 and chunk0.is_file():
            status, out, err = await run_command([ffmpeg_exe(), "-v", "error", "-y", "-i", str(chunk0),
                                                  "-frames:v", "1", str(thumb)], timeout=60)
        if status == 0 and thumb.is_file():
            facts.thumbnail = str(thumb)
        else:
            facts.thumbnail_error = _error_from(out, err, status)
    return facts


def discard_scratch(facts: CompositionFacts | None) -> None:
    if facts is not None and facts.scratch_dir:
        shutil.rmtree(facts.scratch_dir, ignore_errors=True)
