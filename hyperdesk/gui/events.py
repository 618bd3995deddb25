"""What the GUI hears from the farm: small immutable events, one per thing a user can see change.

The farm bridge (`farm_bridge.py`) translates the controller's own events into these, so the
models and views below never depend on the farm's internals. Every event carries the job id; `at`
is this machine's monotonic clock when the event arrived (remote nodes' clocks never reach a
duration shown in the GUI).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Union


def now() -> float:
    return time.monotonic()


@dataclass(frozen=True)
class JobOpened:
    """A job exists (new, resumed or reopened from history): its chunks and where things are."""

    job_id: str
    plan_dir: str
    output: str
    work_dir: str
    chunks: tuple[tuple[int, int, int], ...]  # (index, start_frame, end_frame)
    fps: float
    total_frames: int
    composition: str = ""
    format: str = "mp4"
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class JobStateChanged:
    job_id: str
    state: str  # planning, running, pausing, paused, assembling, done, failed, cancelled
    error: dict[str, Any] | None = None  # HyperdeskError.to_dict() of a failed job
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class AttemptStarted:
    job_id: str
    index: int
    attempt_id: str
    number: int  # 1, 2, ... per chunk
    node: str
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class ChunkProgress:
    job_id: str
    index: int
    attempt_id: str
    frames_done: int
    frames_total: int
    fps: float
    node: str = ""
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class ChunkHeartbeat:
    job_id: str
    index: int
    attempt_id: str
    node: str = ""
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class ChunkLog:
    job_id: str
    index: int
    attempt_id: str
    line: str
    node: str = ""
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class ChunkDone:
    job_id: str
    index: int
    attempt_id: str
    sha256: str
    output_path: str
    result: dict[str, Any] | None = None  # the accepted ChunkResult
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class ChunkFailed:
    """One attempt failed; `final` says the chunk stays failed (no automatic retry follows)."""

    job_id: str
    index: int
    attempt_id: str
    node: str
    code: str
    message: str
    hint: str = ""
    retryable: bool = False
    final: bool = False
    log_tail: tuple[str, ...] = ()
    details: dict[str, Any] | None = None
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class ChunkQueued:
    """The chunk waits for a slot again (retry, re-render, or requeued after a lost node)."""

    job_id: str
    index: int
    reason: str = ""
    attempt_id: str = ""  # the attempt that ended without a result (cancelled, lost), if any
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class NodeUpdate:
    name: str
    state: str  # online, busy, offline, incompatible, blocklisted
    address: str = ""
    slots: int = 1
    busy_slots: int = 0
    last_heartbeat: float | None = None  # monotonic
    reason: str | None = None
    preflight: dict[str, Any] | None = None
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class AssembleStarted:
    job_id: str
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class AssembleFinished:
    job_id: str
    ok: bool
    output: str = ""
    result: dict[str, Any] | None = None  # AssembleResult
    error: dict[str, Any] | None = None
    at: float = field(default_factory=now)


@dataclass(frozen=True)
class Notice:
    """A one-line message for the job's activity log and the status bar (plan transfer, re-plan...)."""

    job_id: str
    text: str
    level: str = "info"  # info, warning, error
    at: float = field(default_factory=now)


GuiEvent = Union[JobOpened, JobStateChanged, AttemptStarted, ChunkProgress, ChunkHeartbeat, ChunkLog, ChunkDone,
                 ChunkFailed, ChunkQueued, NodeUpdate, AssembleStarted, AssembleFinished, Notice]
