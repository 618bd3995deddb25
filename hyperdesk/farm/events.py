"""The one vocabulary of render events: what the service and the controller emit, what
`hyperdesk render --json` prints (one object per line, `event` = the `type`), and what the app's
Qt models apply directly. The worker protocol (farm/protocol.py) is the wire format below it.

Every event is a pydantic model with a `type`; job events carry the `job_id`. `t` is this
machine's wall clock when the event was made (a remote node's clock never reaches it).
"""
from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from hyperdesk.errors import HyperdeskError, jsonable

EVENTS_VERSION = 1
# What the scheduler does after a failed attempt when the chunk will not be retried on its own.
FINAL_ACTIONS = frozenset({"chunk_failed", "fail_job"})


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int = EVENTS_VERSION
    t: float = Field(default_factory=time.time)


class FarmEvent(Event):
    """An event of one job."""

    job_id: str


class JobPlanning(FarmEvent):
    """The service is planning the job's composition (a cached plan may be found at once)."""

    type: Literal["planning"] = "planning"
    composition: str
    output: str
    name: str = ""


class JobPlanned(FarmEvent):
    type: Literal["planned"] = "planned"
    plan_hash: str
    plan_dir: str
    reused: bool
    total_frames: int
    chunk_count: int
    plan_seconds: float
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    # What the project copy took, and from where: the whole folder or the files the entry references.
    project_dir: str | None = None
    project_scope: str | None = None  # "folder" | "referenced"
    project_files: int | None = None
    project_bytes: int | None = None


class JobStarted(FarmEvent):
    """The controller runs the job: its chunks and where things are."""

    type: Literal["job_started"] = "job_started"
    plan_hash: str
    plan_dir: str
    output: str
    chunk_count: int
    total_frames: int
    nodes: list[str]
    resumed: bool = False
    kept_chunks: list[int] = Field(default_factory=list)
    chunks: list[tuple[int, int, int]] = Field(default_factory=list)  # (index, start_frame, end_frame)
    fps: float = 30.0
    format: str = "mp4"
    work_dir: str = ""
    composition: str = ""


class NodeStateChanged(FarmEvent):
    type: Literal["node_state"] = "node_state"
    node: str
    kind: str  # local | ssh
    state: str  # connecting | online | offline | incompatible | blocklisted | refused | closed
    slots: int
    address: str = ""
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


class AttemptHeartbeat(FarmEvent):
    """The attempt's worker is alive (at most about one a second per attempt)."""

    type: Literal["attempt_heartbeat"] = "attempt_heartbeat"
    chunk_index: int
    attempt_id: str
    node: str
    frames_done: int


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
    # what the scheduler does: retry | retransfer | node_incompatible | node_lost | chunk_failed | fail_job |
    # cancelled (superseded by a retry or the job stopped) | ignored (a late duplicate)
    action: str
    retry_in_s: float = 0.0
    node_blocklisted: bool = False
    log_tail: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)  # e.g. work_dir, kept for diagnosis

    @property
    def final(self) -> bool:
        """The chunk stays failed: no automatic retry follows."""
        return self.action in FINAL_ACTIONS

    def error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint, "retryable": self.retryable,
                "details": self.details}


class ChunkQueued(FarmEvent):
    """The chunk waits for a slot again: a manual retry, or its file failed verification before assembly."""

    type: Literal["chunk_queued"] = "chunk_queued"
    chunk_index: int
    reason: str = ""


class JobPaused(FarmEvent):
    type: Literal["job_paused"] = "job_paused"
    running: int


class JobResumed(FarmEvent):
    type: Literal["job_resumed"] = "job_resumed"


class AssembleStarted(FarmEvent):
    type: Literal["assemble_started"] = "assemble_started"


class JobDone(FarmEvent):
    """The output is assembled and verified: the job is done. (`assembled` is the name scripts read.)"""

    type: Literal["assembled"] = "assembled"
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
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
    # assembling when it failed at assembly (the output's verification, for example)
    stage: str = "running"

    @classmethod
    def from_error(cls, job_id: str, err: HyperdeskError, stage: str = "running") -> JobFailed:
        return cls(job_id=job_id, code=err.code, message=err.message, hint=err.hint, retryable=err.retryable,
                   details=jsonable(err.details), stage=stage)

    def error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint, "retryable": self.retryable,
                "details": self.details}


class JobCancelled(FarmEvent):
    type: Literal["job_cancelled"] = "job_cancelled"


class CommandFailed(Event):
    """A command failed before or outside a job (bad input): the last line of a `--json` command."""

    type: Literal["failed"] = "failed"
    code: str
    message: str
    hint: str = ""
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_error(cls, err: HyperdeskError) -> CommandFailed:
        return cls(code=err.code, message=err.message, hint=err.hint, retryable=err.retryable,
                   details=jsonable(err.details))


AnyEvent = Annotated[
    JobPlanning | JobPlanned | JobStarted | NodeStateChanged | PlanTransferred | AttemptStarted | AttemptAccepted
    | AttemptHeartbeat | ChunkProgress | AttemptLog | AttemptNotice | ChunkDone | AttemptFailed | ChunkQueued
    | JobPaused | JobResumed | AssembleStarted | JobDone | JobFailed | JobCancelled | CommandFailed,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """An event from its JSON (a `--json` line, with or without the CLI's `event` key)."""
    if isinstance(data, (str, bytes)):
        return _ADAPTER.validate_json(data)
    fields = {k: v for k, v in data.items() if k not in ("event", "protocol", "time")}
    fields.setdefault("type", data.get("event"))
    return _ADAPTER.validate_python(fields)
