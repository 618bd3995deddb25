"""The seam audit: does a chunk that starts on a fresh page draw what a one-process render draws?

A page whose seek is a pure function of time renders a chunk's frames the same whether the page
came through every earlier frame or was loaded at the chunk's start. A history-dependent page does
not (anime.js instances writing one property in list order, callbacks stamping a canvas with the
state of the moment, counters): its chunks must pre-roll, i.e. seek the frames before their start
without capturing them. The plan decides once, for every node (``ChunkTable.preroll_from``): it
renders the first frames of the last chunk (the seam with the longest history) twice, on a fresh
page and after a pre-roll, and turns pre-roll on when any of them differ.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hyperdesk.capture.session import CaptureSession, PageSpec, Timeouts
from hyperdesk.errors import CODES, HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.models import ChunkTable, PlanWarning

log = logging.getLogger("hyperdesk.plan")

# Frames compared from the seam on: state a page accumulated before the seam shows at the seam
# itself; a few more frames catch what surfaces a moment later (a tween that starts from it).
AUDIT_FRAMES = 6

PrerollMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class SeamAudit:
    seam: int
    frames_compared: int
    first_difference: int | None
    elapsed_ms: float

    @property
    def history_dependent(self) -> bool:
        return self.first_difference is not None


async def _frames(spec: PageSpec, work: Path, frames: range, preroll: bool, timeouts: Timeouts | None,
                  faults: FaultPlan | None) -> list[bytes]:
    session = await CaptureSession.open(spec, work, timeouts=timeouts, faults=faults)
    try:
        if preroll:
            await session.preroll(0, frames.start - 1)
        return [await session.capture(i) for i in frames]
    finally:
        await session.close()


async def audit_seam(spec: PageSpec, seam: int, end: int, *, timeouts: Timeouts | None = None,
                     faults: FaultPlan | None = None) -> SeamAudit:
    """Render frames [seam, seam + AUDIT_FRAMES) (at most up to *end*) on a fresh page and after a
    pre-roll, in two browsers at once, and report the first frame that differs. *timeouts*: the
    render's page limits (plan/timelines.py: no timeline wait when no script can register one)."""
    frames = range(seam, min(end, seam + AUDIT_FRAMES))
    if timeouts is None and faults and faults.ready_timeout_s:
        timeouts = Timeouts(ready_s=faults.ready_timeout_s)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hyperdesk-seam-") as work:
        try:
            async with asyncio.TaskGroup() as group:
                fresh = group.create_task(_frames(spec, Path(work) / "fresh", frames, False, timeouts, faults))
                rolled = group.create_task(_frames(spec, Path(work) / "prerolled", frames, True, timeouts, faults))
        except ExceptionGroup as failed:  # the page's own typed error, not the group around it
            typed: list[BaseException] = [e for e in failed.exceptions if isinstance(e, HyperdeskError)]
            raise (typed or list(failed.exceptions))[0] from None
    first = next((i for i, a, b in zip(frames, fresh.result(), rolled.result(), strict=True) if a != b), None)
    return SeamAudit(seam=seam, frames_compared=len(frames), first_difference=first,
                     elapsed_ms=round((time.monotonic() - t0) * 1000.0, 1))


async def decide_preroll(mode: PrerollMode, table: ChunkTable, spec: PageSpec, *,
                         timeouts: Timeouts | None = None,
                         faults: FaultPlan | None = None) -> tuple[ChunkTable, list[PlanWarning]]:
    """The chunk table with ``preroll_from`` set when chunks must pre-roll, and the plan warning
    that says so. One chunk never needs it; "on"/"off" skip the audit."""
    if mode == "off" or len(table.chunks) < 2:
        return table, []
    if mode == "on":
        message = "chunks pre-roll (asked for): each seeks the frames before its start without capturing them"
    else:
        last = table.chunks[-1]
        try:
            audit = await audit_seam(spec, last.start_frame, last.end_frame, timeouts=timeouts, faults=faults)
        except HyperdeskError as err:
            # The page fails before or at the seam. A page error (a script error, say: not retryable) fails
            # the render wherever pre-roll would replay it, so without pre-roll it fails once, on the chunk
            # where it happens, and a re-plan after the fix audits again. Anything else (a timeout on a busy
            # machine) says nothing about the page: pre-roll, which is right whatever its history does.
            if not CODES[err.code].retryable:
                log.info("seam audit at frame %d: the page fails (%s); no pre-roll", last.start_frame, err.code)
                return table, []
            log.info("seam audit at frame %d failed (%s): chunks pre-roll", last.start_frame, err.code)
            message = (f"the seam could not be audited ({err.code} at frame {last.start_frame}): chunks pre-roll, "
                       "seeking the frames before their start without capturing them")
            return table.model_copy(update={"preroll_from": 0}), [PlanWarning(code="PREROLL_ON", message=message)]
        log.info("seam audit at frame %d: %d frames compared in %.0f ms, %s", audit.seam, audit.frames_compared,
                 audit.elapsed_ms, "history-dependent" if audit.history_dependent else "pure")
        if not audit.history_dependent:
            return table.model_copy(update={"page_pure": True}), []
        message = (f"the page is history-dependent (frame {audit.first_difference} differs when its chunk starts "
                   f"on a fresh page): chunks pre-roll, seeking the frames before their start without capturing them")
    return table.model_copy(update={"preroll_from": 0}), [PlanWarning(code="PREROLL_ON", message=message)]
