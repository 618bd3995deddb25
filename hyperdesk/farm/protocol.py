"""The worker protocol: one JSON event per line on a worker's stdout.

A `hyperdesk worker` process runs one chunk attempt and reports it with these events, in order:
`accepted` once, then `heartbeat` (at least every 2 s) and `progress` (after each frame) interleaved,
then exactly one final event, `done` with the ChunkResult or `failed` with the error. The controller
parses every line with `parse_event`; a line that does not parse is a protocol error (the worker is
then treated as lost), so nothing but events may ever reach a worker's stdout.
"""
from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hyperdesk.errors import HyperdeskError, jsonable
from hyperdesk.models import ChunkResult

PROTOCOL_VERSION = 1
HEARTBEAT_INTERVAL_S = 1.0  # the contract promises <= 2 s; 1 s leaves room for a busy machine


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int = PROTOCOL_VERSION
    attempt_id: str
    t: float = Field(default_factory=time.time)  # wall clock of the worker, informational


class AcceptedEvent(_Event):
    type: Literal["accepted"] = "accepted"
    chunk_index: int
    pid: int
    pgid: int
    host: str
    hyperdesk_version: str


class HeartbeatEvent(_Event):
    type: Literal["heartbeat"] = "heartbeat"
    frames_done: int = 0


class ProgressEvent(_Event):
    type: Literal["progress"] = "progress"
    frames_done: int
    frames_total: int
    fps: float


class DoneEvent(_Event):
    type: Literal["done"] = "done"
    result: ChunkResult


class FailedEvent(_Event):
    type: Literal["failed"] = "failed"
    code: str
    message: str
    hint: str = ""
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
    log_tail: list[str] = Field(default_factory=list)

    def to_error(self) -> HyperdeskError:
        details = dict(self.details)
        if self.log_tail:
            details.setdefault("log_tail", self.log_tail)
        return HyperdeskError(self.code, self.message, hint=self.hint or None,
                              retryable=self.retryable, details=details)

    @classmethod
    def from_error(cls, attempt_id: str, err: HyperdeskError, log_tail: list[str]) -> FailedEvent:
        return cls(attempt_id=attempt_id, code=err.code, message=err.message, hint=err.hint,
                   retryable=err.retryable, details=jsonable(err.details), log_tail=log_tail)


WorkerEvent = Annotated[
    AcceptedEvent | HeartbeatEvent | ProgressEvent | DoneEvent | FailedEvent,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(WorkerEvent)


def dump_event(event: _Event) -> str:
    """One line of JSON, no newline."""
    return event.model_dump_json()


def parse_event(line: str | bytes) -> WorkerEvent:
    """Parse one stdout line; a malformed line or an unknown protocol version is WORKER_LOST."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        raise HyperdeskError("WORKER_LOST", f"the worker printed a line that is not an event: {text[:200]!r}",
                             details={"line": text[:2000]}) from None
    if not isinstance(data, dict) or data.get("v") != PROTOCOL_VERSION:
        got = data.get("v") if isinstance(data, dict) else None
        raise HyperdeskError("WORKER_LOST",
                             f"the worker speaks protocol version {got!r}, this controller {PROTOCOL_VERSION}",
                             retryable=False, details={"line": text[:2000]})
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise HyperdeskError("WORKER_LOST", f"the worker sent an invalid event: {exc.errors()[0].get('msg')}",
                             details={"line": text[:2000]}) from None

