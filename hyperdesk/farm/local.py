"""The local executor: a pool of `hyperdesk worker` subprocesses on this machine.

Each worker runs in its own session (so its process group holds it, Chromium and ffmpeg), with a
stdin pipe it watches: if this controller dies, the pipe closes and the worker kills its group.
Cancel = SIGINT to the worker, a grace period, then SIGKILL to the whole group.

Workers are warm (`hyperdesk worker --serve`): a slot's worker takes one attempt after another on
its stdin and keeps its browser and page for the next chunk of the same plan. A worker whose attempt
failed, was cancelled or stalled is killed; the next attempt starts a new one. `close()` ends the
idle ones.
A test's FaultPlan reaches the workers as `hyperdesk --faults JSON worker …`.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
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
from hyperdesk.farm.served import STDERR_TAIL, ServedWorker, attempt_request, take_idle
from hyperdesk.faults import FaultPlan, fault_args
from hyperdesk.models import ChunkResult

GIB = 1024 ** 3
_LINE_LIMIT = 64 * 1024 * 1024  # a DoneEvent lists every frame's sha256: long chunks make long lines


def default_local_slots(cores: int | None = None, memory_bytes: int | None = None) -> int:
    """One worker per core and 1.5 GiB per worker, at least 1 (measured: `benchmarks/workers.py`).

    A worker keeps about 1.2 cores busy on its own (Chromium, the encoder and the page's round trips
    take turns), so the contract's 2 cores per worker left a core idle: on 2 cores, 2 warm slots
    render the 720p benchmark in 0.89 of 1 slot's time, 3 slots in 0.93 (slower than 2, and a third
    browser's memory)."""
    if cores is None:
        cores = os.cpu_count() or 1
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory_bytes = 4 * GIB
    return max(1, min(cores, int(memory_bytes // (1.5 * GIB))))


def worker_command(faults: FaultPlan | None = None) -> list[str]:
    """This Python's `hyperdesk [--faults JSON] worker`, without the attempt's arguments."""
    return [sys.executable, "-m", "hyperdesk", *fault_args(faults), "worker"]


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(pgid, sig)


async def _reap(proc: asyncio.subprocess.Process, timeout: float = 5.0) -> None:
    """Wait (bounded) for a killed worker's exit, so its pipes close on this loop and not, later, in a
    garbage collection after the loop has closed ("Event loop is closed" printed at exit)."""
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(proc.wait(), timeout)


class _WarmWorker(ServedWorker):
    """One `hyperdesk worker --serve` subprocess, kept between a slot's attempts."""

    proc: asyncio.subprocess.Process

    def _event_lines(self) -> AsyncIterator[bytes]:
        assert self.proc.stdout is not None
        return aiter(self.proc.stdout)

    def _log_lines(self) -> AsyncIterator[bytes]:
        assert self.proc.stderr is not None
        return aiter(self.proc.stderr)

    def _protocol_error(self) -> None:
        kill_group(self.proc.pid)

    async def _ended(self) -> object:
        status = await self.proc.wait()
        return HyperdeskError("WORKER_LOST", f"the worker exited with status {status} without a result",
                              details={"exit_status": status, "stderr_tail": list(self.tail)})

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and super().alive


class LocalExecutor(Executor):
    kind = "local"

    def __init__(self, slots: int | None = None, *, name: str = "local", command: list[str] | None = None,
                 env: dict[str, str] | None = None, grace_s: float = 3.0, faults: FaultPlan | None = None,
                 pool: SlotPool | None = None, warm: bool | None = None, recycle_after: int | None = None,
                 memory_ceiling_mib: int | None = None) -> None:
        """`command` replaces the worker program (tests run stand-ins); `faults` (tests only) goes to the
        default command's workers; `pool`: slots this executor shares with other jobs' executors.
        `warm` (default: with the default worker program) keeps each slot's worker, browser and page
        between chunks; `recycle_after` and `memory_ceiling_mib` bound a warm browser's life."""
        self.name = name
        self.slots = slots if slots and slots > 0 else default_local_slots()
        self.pool = pool
        self.warm = command is None if warm is None else warm
        self.command = list(command or worker_command(faults))
        self.serve_args = ["--serve"] + (["--recycle-after", str(recycle_after)] if recycle_after else []) + \
            (["--memory-ceiling-mib", str(memory_ceiling_mib)] if memory_ceiling_mib else [])
        self.env = env  # extra environment for the workers
        self.grace_s = grace_s
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._idle: list[_WarmWorker] = []

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        return env

    async def run(self, spec: AttemptSpec, on_event: EventCallback, on_log: LogCallback | None = None) -> ChunkResult:
        if self.warm:
            return await self._run_warm(spec, on_event, on_log)
        out = spec.local_out
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_output(out)
        env = self._env()
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

    async def _run_warm(self, spec: AttemptSpec, on_event: EventCallback,
                        on_log: LogCallback | None) -> ChunkResult:
        out = spec.local_out
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_output(out)
        worker = take_idle(self._idle)
        if worker is None:
            worker = await self._spawn_warm()
        proc = worker.proc
        self._procs[spec.attempt_id] = proc
        final = worker.begin(on_event, on_log)
        keep = False
        try:
            assert proc.stdin is not None
            request = attempt_request(str(spec.plan_dir), spec.chunk_index, str(out), spec.attempt_id)
            try:
                proc.stdin.write(request.encode("utf-8"))
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the worker is gone: its reader says how
            event = await final
            if isinstance(event, DoneEvent):
                result = event.result
                await verify_output(Path(result.output_path), result.output_kind, result.sha256)
                keep = True
                return result
            assert isinstance(event, FailedEvent)
            err = event.to_error()
            err.details.setdefault("stderr_tail", list(worker.tail))
            raise err
        except asyncio.CancelledError:
            await self._stop(proc)
            raise
        finally:
            self._procs.pop(spec.attempt_id, None)
            worker.end_attempt()
            if keep and worker.alive:
                self._idle.append(worker)
            else:
                # A failed, cancelled or lost attempt's worker is not reused: nothing of it may outlive it.
                kill_group(proc.pid)
                if proc.stdin is not None:
                    with contextlib.suppress(Exception):
                        proc.stdin.close()
                await _reap(proc)
                worker.stop_reading()

    async def _spawn_warm(self) -> _WarmWorker:
        proc = await asyncio.create_subprocess_exec(
            *self.command, *self.serve_args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self._env(), start_new_session=True, limit=_LINE_LIMIT)
        return _WarmWorker(proc)

    async def prestart(self) -> None:
        """One idle warm worker per slot, started now: its Python start and Playwright's driver (about
        1.5 s of a core each) then overlap the job's planning instead of delaying its first frames.
        Not for a shared pool's executor (the queue's: its jobs wait their turn)."""
        if not self.warm or self.pool is not None:
            return
        while len(self._idle) < self.slots:
            try:
                self._idle.append(await self._spawn_warm())
            except OSError:  # the chunk that needs a worker starts one and reports what fails, typed
                return

    async def discard(self) -> None:
        """Kill the idle workers at once instead of letting them end gracefully: a worker that never took
        a chunk holds no browser and no folder, only its Playwright driver, which dies with its group (a
        cancelled planning must give the app its Render button back now, not after their exit)."""
        idle, self._idle = self._idle, []
        for worker in idle:
            kill_group(worker.proc.pid)
        for worker in idle:
            await _reap(worker.proc)
            worker.stop_reading()
        await self.close()

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
        await self.release_idle()

    async def release_idle(self) -> None:
        idle, self._idle = self._idle, []
        for worker in idle:  # EOF: an idle warm worker closes its browser, removes its folder and exits
            if worker.proc.stdin is not None:
                with contextlib.suppress(Exception):
                    worker.proc.stdin.close()
        for worker in idle:
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(worker.proc.wait(), 10.0)
            kill_group(worker.proc.pid)
            await _reap(worker.proc)
            worker.stop_reading()
