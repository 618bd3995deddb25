"""Typed events of a farm job, as the GUI and the CLI receive them from FarmController.

Each is a pydantic model with `type` and `job_id`; `model_dump(mode="json")` is what `--json`
prints (with the lead's `event`/`protocol`/`time` envelope added by the CLI).
"""
from __future__ import annotations

import time
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

EVENTS_VERSION = 1


class FarmEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int = EVENTS_VERSION
    job_id: str
    t: float = Field(default_factory=time.time)


class JobStarted(FarmEvent):
    type: Literal["job_started"] = "job_started"
    plan_hash: str
    plan_dir: str
    output: str
    chunk_count: int
    total_frames: int
    nodes: list[str]
    resumed: bool = False
    kept_chunks: list[int] = Field(default_factory=list)


class NodeStateChanged(FarmEvent):
    type: Literal["node_state"] = "node_state"
    node: str
    kind: str  # local | ssh
    state: str  # connecting | online | offline | incompatible | blocklisted | refused | closed
    slots: int
    reason: str | None = None
    code: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class PlanTransferred(FarmEvent):
    type: Literal["plan_transferred"] = "plan_transferred"
    node: str
    files_total: int
    files_uploaded: int
    bytes_uploaded: int
    seconds: float


class AttemptStarted(FarmEvent):
    type: Literal["attempt_started"] = "attempt_started"
    chunk_index: int
    attempt_id: str
    node: str
    number: int
    frames_total: int


class AttemptAccepted(FarmEvent):
    type: Literal["attempt_accepted"] = "attempt_accepted"
    chunk_index: int
    attempt_id: str
    node: str
    pid: int
    pgid: int
    host: str


class ChunkProgress(FarmEvent):
    type: Literal["chunk_progress"] = "chunk_progress"
    chunk_index: int
    attempt_id: str
    node: str
    frames_done: int
    frames_total: int
    fps: float


class AttemptLog(FarmEvent):
    type: Literal["attempt_log"] = "attempt_log"
    chunk_index: int
    attempt_id: str
    node: str
    line: str


class AttemptNotice(FarmEvent):
    """Something the controller noticed during an attempt, e.g. a chunk that failed verification after transfer."""

    type: Literal["attempt_notice"] = "attempt_notice"
    chunk_index: int
    attempt_id: str
    node: str
    code: str
    message: str


class ChunkDone(FarmEvent):
    type: Literal["chunk_done"] = "chunk_done"
    chunk_index: int
    attempt_id: str
    node: str
    sha256: str
    output_path: str
    seconds: float
    frames: int


class AttemptFailed(FarmEvent):
    type: Literal["attempt_failed"] = "attempt_failed"
    chunk_index: int
    attempt_id: str
    node: str
    code: str
    message: str
    hint: str = ""
    retryable: bool = False
    action: str  # what the scheduler does: retry | retransfer | node_incompatible | node_lost | chunk_failed | fail_job | cancelled | ignored
    retry_in_s: float = 0.0
    node_blocklisted: bool = False
    log_tail: list[str] = Field(default_factory=list)


class JobPaused(FarmEvent):
    type: Literal["job_paused"] = "job_paused"
    running: int


class JobResumed(FarmEvent):
    type: Literal["job_resumed"] = "job_resumed"


class AssembleStarted(FarmEvent):
    type: Literal["assemble_started"] = "assemble_started"


class JobDone(FarmEvent):
    type: Literal["job_done"] = "job_done"
    output: str
    sha256: str
    frames: int
    seconds: float
    result: dict[str, Any]


class JobFailed(FarmEvent):
    type: Literal["job_failed"] = "job_failed"
    code: str
    message: str
    hint: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class JobCancelled(FarmEvent):
    type: Literal["job_cancelled"] = "job_cancelled"


AnyFarmEvent = Union[JobStarted, NodeStateChanged, PlanTransferred, AttemptStarted, AttemptAccepted, ChunkProgress,
                     AttemptLog, AttemptNotice, ChunkDone, AttemptFailed, JobPaused, JobResumed, AssembleStarted, JobDone, JobFailed,
                     JobCancelled]
