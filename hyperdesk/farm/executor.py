"""What the scheduler needs from a place that runs workers: the executor interface.

An executor is one *node* in the scheduler's sense (the local worker pool is the node `local`). It
runs one attempt per call of `run()`, reports the worker's events through a callback and returns a
ChunkResult whose output is on this machine and verified against its sha256. Cancelling the task
that awaits `run()` stops the worker and its whole process group.
"""
from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.hashing import frame_dir_hash, sha256_file
from hyperdesk.models import ChunkResult, WorkerEnv

EventCallback = Callable[[Any], None]  # receives protocol events (hyperdesk.farm.protocol) and Notices
LogCallback = Callable[[str], None]  # receives worker stderr lines


@dataclass
class AttemptSpec:
    job_id: str
    attempt_id: str
    chunk_index: int
    plan_dir: Path  # the controller's planDir
    plan_hash: str
    output_kind: str  # "file" | "frame-dir"
    local_out: Path  # where the verified output must be on this machine


@dataclass
class PreflightReport:
    compatible: bool
    reason: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanTransfer:
    files_total: int = 0
    files_uploaded: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0


@dataclass
class Notice:
    """Something the executor itself noticed during an attempt (e.g. a re-fetch), for the event stream."""

    code: str
    message: str


class NodeLost(HyperdeskError):
    """WORKER_LOST because the node itself went away (connection dropped, heartbeats stopped)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__("WORKER_LOST", message, details={"node_lost": True, **details})


class SlotPool:
    """Slots that several jobs of one process share, e.g. this machine's workers while the render queue
    runs the next job at the tail of the current one: each attempt takes a slot when it starts and gives
    it back when it ends; a job's controller starts no more attempts than the pool has free."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._listeners: list[Callable[[], None]] = []

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.in_use)

    def take(self) -> None:
        self.in_use += 1

    def give(self) -> None:
        self.in_use = max(0, self.in_use - 1)
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Called whenever a slot comes back (a waiting job's controller wakes up)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


class Executor(abc.ABC):
    """`run`, `kill_attempt` and `close` every executor implements; `open`, `abandon` and `clean_job`
    are hooks that do nothing unless the executor has a connection or remote files (SSH)."""

    name: str
    slots: int
    kind: str
    pool: SlotPool | None = None  # slots shared with other jobs of this process, if any

    def shared_free(self) -> int | None:
        """Free slots of the shared pool (None: this executor's slots are its own)."""
        return None if self.pool is None else self.pool.free

    @property
    def connected(self) -> bool:
        return True

    async def prestart(self) -> None:  # noqa: B027 (a hook: only the local pool starts workers ahead)
        """Start workers now, before the job's plan exists, so their start overlaps the planning; they
        idle until their first chunk (`close()` ends them when no job comes)."""

    async def discard(self) -> None:
        """No job came (its planning failed or was cancelled): end at once what `prestart` started."""
        await self.close()

    async def open(self) -> None:  # noqa: B027 (a hook: the local pool has nothing to connect)
        """Connect (SSH); raise HyperdeskError when the node cannot be used at all."""

    async def preflight(self, worker_env: WorkerEnv) -> PreflightReport:
        return PreflightReport(True)

    async def prepare_plan(self, plan_dir: Path, plan_hash: str, *, force: bool = False,
                           job_id: str = "adhoc") -> PlanTransfer:
        """Make the plan available to this node's workers (upload what the node lacks)."""
        return PlanTransfer()

    @abc.abstractmethod
    async def run(self, spec: AttemptSpec, on_event: EventCallback, on_log: LogCallback | None = None) -> ChunkResult:
        ...

    @abc.abstractmethod
    async def kill_attempt(self, attempt_id: str) -> None:
        """Stop an attempt's process group now (stall); the awaiting `run()` then fails."""

    async def alive(self) -> bool:
        """Is the node reachable right now (used when heartbeats stop)?"""
        return True

    async def abandon(self) -> None:  # noqa: B027 (a hook: no connection to drop locally)
        """The node stopped answering: drop the connection without talking to it any more."""

    async def release_idle(self) -> None:  # noqa: B027 (a hook: only warm local workers hold anything idle)
        """No more attempts for now (the job assembles or ended): end the workers kept warm."""

    async def clean_job(self, job_id: str) -> None:  # noqa: B027 (a hook: local outputs are the job's own files)
        """Remove what the job left on the node (chunk outputs)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop every running attempt and release the node."""


def output_digest(path: Path, kind: str) -> str:
    """sha256 of a chunk output: the file bytes, or the directory rule of plan-contract 9.6."""
    if kind == "frame-dir":
        return frame_dir_hash(path)[0]
    return sha256_file(path)


def remove_output(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def verify_output(path: Path, kind: str, expected: str) -> None:
    """OUTPUT_HASH_MISMATCH unless the output at path hashes to expected (hashing off the loop)."""
    if not path.exists():
        raise HyperdeskError("ASSEMBLE_INPUT_MISSING", f"the chunk output {path} is missing",
                             details={"path": str(path)})
    got = await asyncio.to_thread(output_digest, path, kind)
    if got != expected:
        raise HyperdeskError("OUTPUT_HASH_MISMATCH",
                             f"the chunk output hashes to {got[:12]}…, its result says {expected[:12]}…",
                             details={"path": str(path), "expected": expected, "computed": got})
