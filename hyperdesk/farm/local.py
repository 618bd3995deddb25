"""The local executor: a pool of `hyperdesk worker` subprocesses on this machine.

Each worker runs in its own session (so its process group holds it, Chromium and ffmpeg), with a
stdin pipe it watches: if this controller dies, the pipe closes and the worker kills its group.
Cancel = SIGINT to the worker, a grace period, then SIGKILL to the whole group.
A test's FaultPlan reaches the workers as `hyperdesk --faults JSON worker …`.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
from pathlib import Path

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.executor import (
    AttemptSpec,
    EventCallback,
    Executor,
    SlotPool,
    LogCallback,
    remove_output,
    verify_output,
)
from hyperdesk.farm.protocol import DoneEvent, FailedEvent, parse_event
from hyperdesk.faults import FaultPlan, fault_args
from hyperdesk.models import ChunkResult

GIB = 1024 ** 3
STDERR_TAIL = 40
_LINE_LIMIT = 64 * 1024 * 1024  # a DoneEvent lists every frame's sha256: long chunks make long lines


def default_local_slots(cores: int | None = None, memory_bytes: int | None = None) -> int:
    """About 2 cores and 1.5 GiB per worker (plan-contract 12), at least 1."""
    if cores is None:
        cores = os.cpu_count() or 1
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory_bytes = 4 * GIB
    return max(1, min(cores // 2, int(memory_bytes // (1.5 * GIB))))


def worker_command(faults: FaultPlan | None = None) -> list[str]:
    """This Python's `hyperdesk [--faults JSON] worker`, without the attempt's arguments."""
    return [sys.executable, "-m", "hyperdesk", *fault_args(faults), "worker"]


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(pgid, sig)


class LocalExecutor(Executor):
    kind = "local"

    def __init__(self, slots: int | None = None, *, name: str = "local", command: list[str] | None = None,
                 env: dict[str, str] | None = None, grace_s: float = 3.0, faults: FaultPlan | None = None,
                 pool: SlotPool | None = None) -> None:
        """`command` replaces the worker program (tests run stand-ins); `faults` (tests only) goes to the
        default command's workers; `pool`: slots this executor shares with other jobs' executors."""
        self.name = name
        self.slots = slots if slots and slots > 0 else default_local_slots()
        self.pool = pool
        self.command = list(command or worker_command(faults))
        self.env = env  # extra environment for the workers
        self.grace_s = grace_s
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    async def run(self, spec: AttemptSpec, on_event: EventCallback, on_log: LogCallback | None = None) -> ChunkResult:
        out = spec.local_out
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_output(out)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        argv = [*self.command, str(spec.plan_dir), str(spec.chunk_index), "-o", str(out),
                "--attempt-id", spec.attempt_id, "--watchdog"]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, start_new_session=True, limit=_LINE_LIMIT)
        self._procs[spec.attempt_id] = proc
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        final: list[object] = []
        protocol_error: list[HyperdeskError] = []

        async def read_stderr() -> None:
            assert proc.stderr is not None
            async for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    tail.append(line)
                    if on_log:
                        on_log(line)

        async def read_stdout() -> None:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                if not raw.strip():
                    continue
                try:
                    event = parse_event(raw)
                except HyperdeskError as err:
                    protocol_error.append(err)
                    kill_group(proc.pid)
                    return
                if isinstance(event, (DoneEvent, FailedEvent)):
                    final.append(event)
                on_event(event)

        readers = [asyncio.create_task(read_stdout()), asyncio.create_task(read_stderr())]
        try:
            await asyncio.gather(*readers)
            status = await proc.wait()
        except asyncio.CancelledError:
            await self._stop(proc)
            for r in readers:
                r.cancel()
            raise
        finally:
            self._procs.pop(spec.attempt_id, None)
            # Whatever happened, nothing of this attempt may outlive it (a killed worker's Chromium).
            kill_group(proc.pid)
            if proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.close()

        if protocol_error:
            raise protocol_error[0]
        if final and isinstance(final[0], DoneEvent):
            result = final[0].result
            await verify_output(Path(result.output_path), result.output_kind, result.sha256)
            return result
        if final and isinstance(final[0], FailedEvent):
            err = final[0].to_error()
            err.details.setdefault("stderr_tail", list(tail))
            raise err
        raise HyperdeskError("WORKER_LOST", f"the worker exited with status {status} without a result",
                             details={"exit_status": status, "stderr_tail": list(tail)})

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """SIGINT (the worker reports CANCELLED and cleans up), then SIGKILL to the group."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(proc.wait(), self.grace_s)
        kill_group(proc.pid)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)

    async def kill_attempt(self, attempt_id: str) -> None:
        proc = self._procs.get(attempt_id)
        if proc is not None:
            kill_group(proc.pid)

    async def close(self) -> None:
        for proc in list(self._procs.values()):
            kill_group(proc.pid)
