"""FarmController: one render job on local workers and SSH nodes, as an asyncio object.

    controller = FarmController([LocalExecutor(2), SshExecutor(node, store)], store=store)
    job_id = await controller.start(plan_dir, out)
    async for event in controller.events():   # typed events (hyperdesk.farm.events)
        ...
    outcome = await controller.wait()          # JobOutcome(state, error, result)

`pause()` stops dispatching (running chunks finish), `resume()` continues, `cancel()` stops every
attempt's process group, `retry_chunk(i)` requeues a chunk (superseding a running attempt). The
controller is the only writer of the job's rows in the store, and writes every state change at once,
so `resume_job()` in a new process continues a job whose controller died: chunks whose output still
hashes to the recorded sha256 are kept, everything else is rendered again.

Only the render service (hyperdesk/service) builds controllers; the command line and the app listen to
the service. No Qt here: the app runs the service on its qasync loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator, Callable

from hyperdesk.capture.server import project_locations
from hyperdesk.dirs import data_root
from hyperdesk.errors import HyperdeskError, jsonable, unexpected_error
from hyperdesk.farm import events as ev
from hyperdesk.farm.executor import AttemptSpec, Executor, NodeLost, Notice, output_digest, remove_output
from hyperdesk.farm.protocol import AcceptedEvent, HeartbeatEvent, ProgressEvent
from hyperdesk.farm.scheduler import Policy, Scheduler
from hyperdesk.models import AssembleResult, ChunkResult, WorkerEnv
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.paths import check_planned_output
from hyperdesk.plan.verify import load_plan
from hyperdesk.store.db import JobStore
from hyperdesk.store.locks import lock_job, lock_output
from hyperdesk.store.models import AttemptRecord, JobRecord

EXT = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "png-sequence": ""}
# Chunk warnings of requests the page could not make: the user hears of each URL once (a notice).
REQUEST_WARNINGS = ("REQUEST_BLOCKED", "REQUEST_FAILED")


@dataclass
class FarmSettings:
    stall_timeout_s: float = 60.0  # no event from an attempt for this long: kill it, WORKER_LOST, requeue
    heartbeat_timeout_s: float = 10.0  # no event for this long: check that the attempt's node still answers
    policy: Policy = field(default_factory=Policy)
    keep_chunks: bool = False
    overwrite: bool = False  # png-sequence: replace our own frame files in a non-empty output folder
    project_dir: str | None = None  # the composition's project: the output is never a file it reads
    reconnect_delays_s: tuple[float, ...] = (5.0, 15.0, 30.0)
    log_lines_per_s: float = 4.0  # AttemptLog events per attempt, at most


@dataclass
class JobOutcome:
    job_id: str
    state: str  # done | failed | cancelled
    error: HyperdeskError | None = None
    result: AssembleResult | None = None


@dataclass
class _Attempt:
    id: str
    chunk_index: int
    node: str
    number: int
    spec: AttemptSpec
    started: float
    last_event: float
    task: asyncio.Task | None = None
    frames_done: int = 0
    frames_total: int = 0
    kill_error: HyperdeskError | None = None
    probing: bool = False
    log_budget_t: float = 0.0


@dataclass
class _NodeRun:
    executor: Executor
    setup_task: asyncio.Task | None = None
    next_reconnect: float = 0.0
    plan_ready: bool = False


def describe_executor(executor: Executor) -> dict[str, Any]:
    """What the store keeps so that a resume can build the same executors again."""
    if executor.kind == "local":
        return {"kind": "local", "name": executor.name, "slots": executor.slots,
                "env": getattr(executor, "env", None) or {}}
    node = getattr(executor, "node", None)
    if executor.kind == "ssh" and node is not None:
        return {"kind": "ssh", "node": node.model_dump(mode="json")}
    return {"kind": executor.kind, "name": executor.name}


def new_job_id() -> str:
    return secrets.token_hex(4)


class FarmController:
    def __init__(self, executors: list[Executor], *, store: JobStore | None = None,
                 settings: FarmSettings | None = None, data_dir: Path | None = None) -> None:
        names = [e.name for e in executors]
        if len(set(names)) != len(names):
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"two nodes share a name: {names}")
        self.executors = {e.name: e for e in executors}
        self.store = store or JobStore()
        self.settings = settings or FarmSettings()
        if data_dir is None:
            data_dir = data_root()
        self.data_dir = Path(data_dir)
        self.job_id: str | None = None
        self.job: JobRecord | None = None
        self.sched: Scheduler | None = None
        self._nodes: dict[str, _NodeRun] = {n: _NodeRun(e) for n, e in self.executors.items()}
        self._attempts: dict[str, _Attempt] = {}
        self._results: dict[int, ChunkResult] = {}
        # The result a re-render replaces, kept to compare bytes with (plan-contract 9.7).
        self._replaced: dict[int, tuple[ChunkResult, str]] = {}
        self._subscribers: list[asyncio.Queue] = []
        self._listeners: list[Callable[[ev.FarmEvent], None]] = []
        self._wake = asyncio.Event()
        for executor in executors:
            if executor.pool is not None:  # a slot another job gives back wakes this one
                executor.pool.subscribe(self._wake.set)
        self._locks: list[Any] = []  # the job's and the output's (store/locks.py), held until aclose()
        self._main: asyncio.Task | None = None
        self._cancelling = False
        self._job_error: HyperdeskError | None = None
        self._outcome: JobOutcome | None = None
        self._aux: set[asyncio.Task] = set()
        self._worker_env: WorkerEnv | None = None
        self._t0 = time.monotonic()
        self._assemble_retries = 0
        self._warned: set[tuple[str, str]] = set()  # request warnings already told, once per job
        self.bytes_uploaded = 0

    # ---- public API -------------------------------------------------------------------------

    def events(self) -> AsyncIterator[ev.FarmEvent]:
        """An async iterator over every event from now on; it ends after the job's final event."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)

        async def gen() -> AsyncIterator[ev.FarmEvent]:
            try:
                while True:
                    item = await queue.get()
                    if item is None:
                        return
                    yield item
            finally:
                with contextlib.suppress(ValueError):
                    self._subscribers.remove(queue)

        return gen()

    def add_listener(self, callback: Callable[[ev.FarmEvent], None]) -> None:
        """A synchronous listener, called in the loop for every event (CLI output, tests)."""
        self._listeners.append(callback)

    async def start(self, plan_dir: Path | str, out: Path | str, *, job_id: str | None = None,
                    spec_extra: dict[str, Any] | None = None, paused: bool = False, name: str = "") -> str:
        """Create the job and start it; returns the job id. Failures arrive as events / in wait().

        With `paused`, nodes connect, preflight and receive the plan, but no chunk starts until resume().
        """
        plan_dir = Path(plan_dir).absolute()
        out = Path(out).absolute()
        job_id = job_id or new_job_id()
        self._take_locks(job_id, out)  # OUTPUT_LOCKED: another job writes there; nothing recorded
        try:
            loaded = await asyncio.to_thread(load_plan, plan_dir, verify_hash=False)
            await asyncio.to_thread(check_planned_output, out, loaded, overwrite=self.settings.overwrite,
                                    project=self.settings.project_dir)
        except HyperdeskError as err:
            # A planDir that does not even load: record the job as failed, so it shows in `jobs list`.
            self._new_job_record(job_id, plan_dir, out, "", "mp4", [], spec_extra, name)
            self._begin(self._fail_now(err))
            return job_id
        m = loaded.manifest
        chunks = [(c.index, c.start_frame, c.end_frame) for c in loaded.chunks.chunks]
        self._new_job_record(job_id, plan_dir, out, m.plan_hash, m.format, chunks, spec_extra, name)
        self.sched = Scheduler(chunks, self.settings.policy)
        if paused:
            self.sched.paused = True
            self._store_job(state="paused")
        self._begin(self._run(resumed=False, kept=[]))
        return job_id

    def _take_locks(self, job_id: str, out: Path, job_lock: Any = None) -> None:
        """Hold the job and its output (JOB_LOCKED / OUTPUT_LOCKED when another controller has them)."""
        taken = [job_lock] if job_lock is not None else []
        try:
            if job_lock is None:
                taken.append(lock_job(self.store.path, job_id))
            taken.append(lock_output(self.store.path, out, job_id))
        except BaseException:
            for lock in taken:
                lock.release()
            raise
        self.release_locks()
        self._locks = taken

    def release_locks(self) -> None:
        """Let another controller take the job and its output (aclose() does it; so does a crash)."""
        locks, self._locks = self._locks, []
        for lock in locks:
            lock.release()

    async def resume_job(self, job_id: str, *, job_lock: Any = None) -> str:
        """Continue a stored job (its controller died or it failed): keep every chunk that still verifies.

        JOB_LOCKED while another controller runs it (`job_lock`: the caller holds it already).
        """
        job = self.store.find_job(job_id)
        if job is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"no job {job_id!r} in {self.store.path}",
                                 hint="List jobs with hyperdesk jobs list.")
        self._take_locks(job.id, Path(job.output), job_lock)
        job = self.store.get_job(job.id) or job  # as the previous holder left it
        self.job_id, self.job = job.id, job
        self.store.close_running_attempts(job.id)
        records = self.store.chunks(job.id)
        self.sched = Scheduler([(c.index, c.start_frame, c.end_frame) for c in records], self.settings.policy)
        kept: list[int] = []
        for rec in records:
            if rec.state == "done" and rec.result:
                try:
                    result = ChunkResult.model_validate(rec.result)
                    path = Path(result.output_path)
                    ok = path.exists() and (await asyncio.to_thread(output_digest, path, result.output_kind)
                                            == result.sha256)
                except Exception:
                    ok = False
                if ok:
                    self._results[rec.index] = result
                    self.sched.mark_done(rec.index)
                    kept.append(rec.index)
                    continue
            if rec.state != "pending" or rec.result:
                self.store.set_chunk(job.id, rec.index, "pending", None)
        self.store.update_job(job.id, state="running", error=None, controller_pid=os.getpid(),
                              controller_host=socket.gethostname())
        self._begin(self._run(resumed=True, kept=kept))
        return job.id

    async def pause(self) -> None:
        """Start no new chunk; running chunks finish."""
        if self.sched and not self.sched.paused and not self._finished():
            self.sched.paused = True
            self._store_job(state="paused")
            self._emit(ev.JobPaused(job_id=self._jid(), running=len(self._attempts)))
            self._wake.set()

    async def resume(self) -> None:
        if self.sched and self.sched.paused and not self._finished():
            self.sched.paused = False
            self._store_job(state="running")
            self._emit(ev.JobResumed(job_id=self._jid()))
            self._wake.set()

    async def cancel(self) -> None:
        """Stop every attempt (SIGINT, then kill its process group) and end the job as cancelled."""
        if self._finished():
            return
        self._cancelling = True
        self._wake.set()
        if self._main is not None:
            await asyncio.shield(self._main)

    async def retry_chunk(self, index: int, *, avoid_node: str | None = None) -> None:
        """Render chunk `index` again (a failed one, a done one, or a running one: that attempt is superseded).

        With `avoid_node`, every other usable node is preferred for it (the node counts as having failed it).
        """
        if self.sched is None or index not in self.sched.chunks:
            raise HyperdeskError("CHUNK_INDEX_OUT_OF_RANGE", f"no chunk {index} in this job")
        for attempt_id in self.sched.retry_chunk(index):
            await self._kill(attempt_id, HyperdeskError("CANCELLED", "superseded by a manual retry"))
        if avoid_node:
            self.sched.avoid_node(index, avoid_node)
        previous = self._results.pop(index, None)
        if previous is not None:
            self._replaced[index] = (previous, previous.worker.host)
        self.store.set_chunk(self._jid(), index, "pending", None)
        self._emit(ev.ChunkQueued(job_id=self._jid(), chunk_index=index,
                                  reason=f"manual retry{f', avoiding {avoid_node}' if avoid_node else ''}"))
        if self._finished():
            # The job had ended (failed): run it again from here.
            self._job_error = None
            self._outcome = None
            self._store_job(state="running", error=None)
            self._begin(self._run(resumed=True, kept=sorted(self._results)))
        self._wake.set()

    def failed_chunks(self) -> list[int]:
        """Chunks that failed for good in this job (no automatic retry follows)."""
        if self.sched is None:
            return []
        return sorted(i for i, c in self.sched.chunks.items() if c.state == "failed")

    @property
    def running(self) -> bool:
        """The job is live here: started or resumed, and not ended."""
        return self._main is not None and not self._finished()

    async def detach(self) -> None:
        """Stop as a crash would: kill every attempt, close the nodes, release the locks; the job record
        keeps its state (running, with this process's pid), so it is resumable once this process is gone."""
        main = self._main
        if main is not None and not main.done():
            main.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(main), 15)
        for task in list(self._aux):
            task.cancel()
        for executor in self.executors.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(executor.close(), 10)
        self.release_locks()

    async def wait(self) -> JobOutcome:
        while True:
            main = self._main
            if main is None:
                raise RuntimeError("the job was not started")
            await asyncio.shield(main)
            if self._main is main:  # not restarted by retry_chunk meanwhile
                assert self._outcome is not None
                return self._outcome

    async def aclose(self) -> None:
        """Stop everything this controller started and close the node connections."""
        if self._main is not None and not self._main.done():
            await self.cancel()
        for task in list(self._aux):
            task.cancel()
        for run in self._nodes.values():
            if run.setup_task is not None:
                run.setup_task.cancel()
        for executor in self.executors.values():
            if executor.pool is not None:
                executor.pool.unsubscribe(self._wake.set)
            with contextlib.suppress(Exception):
                await executor.close()
        self.release_locks()

    # ---- job records ------------------------------------------------------------------------

    def _jid(self) -> str:
        assert self.job_id is not None
        return self.job_id

    def _new_job_record(self, job_id: str, plan_dir: Path, out: Path, plan_hash: str, fmt: str,
                        chunks: list[tuple[int, int, int]], spec_extra: dict[str, Any] | None,
                        name: str = "") -> None:
        now = time.time()
        work = self.data_dir / "jobs" / job_id
        (work / "chunks").mkdir(parents=True, exist_ok=True)
        spec = {"executors": [describe_executor(e) for e in self.executors.values()],
                "settings": {"stall_timeout_s": self.settings.stall_timeout_s,
                             "keep_chunks": self.settings.keep_chunks, "overwrite": self.settings.overwrite,
                             "project_dir": self.settings.project_dir},
                **(spec_extra or {})}
        job = JobRecord(id=job_id, state="running", plan_dir=str(plan_dir), plan_hash=plan_hash, output=str(out),
                        format=fmt, chunk_count=len(chunks), created_at=now, updated_at=now, work_dir=str(work),
                        spec=spec, controller_pid=os.getpid(), controller_host=socket.gethostname(), name=name)
        self.store.create_job(job, chunks)
        self.job_id, self.job = job_id, self.store.get_job(job_id) or job

    def _store_job(self, **fields: Any) -> None:
        if self.job_id:
            self.store.update_job(self.job_id, **fields)

    def _finished(self) -> bool:
        return self._outcome is not None

    def _begin(self, coro: Any) -> None:
        self._main = asyncio.ensure_future(coro)

    # ---- events -----------------------------------------------------------------------------

    def _emit(self, event: ev.FarmEvent) -> None:
        for q in list(self._subscribers):
            q.put_nowait(event)
        for cb in list(self._listeners):
            with contextlib.suppress(Exception):  # a listener's bug must not stop the job
                cb(event)

    def _end_streams(self) -> None:
        for q in list(self._subscribers):
            q.put_nowait(None)

    def _node_event(self, name: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        assert self.sched is not None
        node = self.sched.nodes[name]
        executor = self.executors[name]
        self._emit(ev.NodeStateChanged(job_id=self._jid(), node=name, kind=executor.kind, state=node.state,
                                       slots=node.slots, address=getattr(executor, "address", ""),
                                       reason=node.reason, code=code, details=details or {}))

    # ---- the job ----------------------------------------------------------------------------

    async def _fail_now(self, err: HyperdeskError) -> None:
        self._finish_failed(err)

    def _finish_failed(self, err: HyperdeskError, stage: str = "running") -> None:
        self._store_job(state="failed", error=err.to_dict(), controller_pid=None)
        # The outcome first: a listener of the final event already sees the job ended.
        self._outcome = JobOutcome(self._jid(), "failed", error=err)
        self._emit(ev.JobFailed.from_error(self._jid(), err, stage))
        self._end_streams()

    async def _run(self, *, resumed: bool, kept: list[int]) -> None:
        assert self.sched is not None and self.job is not None
        sched = self.sched
        job = self.job
        self._t0 = time.monotonic()
        try:
            # The controller's own copy first: a tampered plan fails the job before any chunk is sent.
            try:
                loaded = await asyncio.to_thread(load_plan, Path(job.plan_dir))
            except HyperdeskError as err:
                self._finish_failed(err)
                return
            self._worker_env = loaded.manifest.worker_env
            m = loaded.manifest
            self._emit(ev.JobStarted(job_id=job.id, plan_hash=job.plan_hash, plan_dir=job.plan_dir, output=job.output,
                                     chunk_count=job.chunk_count, total_frames=m.total_frames,
                                     nodes=list(self.executors), resumed=resumed, kept_chunks=kept,
                                     chunks=[(c.index, c.start_frame, c.end_frame) for c in loaded.chunks.chunks],
                                     fps=m.fps.num / m.fps.den, format=job.format, work_dir=job.work_dir,
                                     composition=str((job.spec or {}).get("composition", ""))))
            for name, executor in self.executors.items():
                node = sched.add_node(name, executor.slots)
                run = self._nodes[name]
                if node.state == "connecting" and (run.setup_task is None or run.setup_task.done()):
                    self._node_event(name)
                    run.setup_task = asyncio.create_task(self._setup_node(name))
            await self._loop()
        except asyncio.CancelledError:
            await self._stop_all(HyperdeskError("CANCELLED", "the controller stopped"))
            raise
        except Exception as exc:  # a bug in the controller still ends the job with a typed error
            bug = unexpected_error(exc, Path(job.output).parent)
            await self._stop_all(bug)
            if not self._finished():
                self._finish_failed(bug)

    async def _loop(self) -> None:
        sched = self.sched
        assert sched is not None
        while True:
            now = time.monotonic()
            if self._cancelling:
                await self._stop_all(HyperdeskError("CANCELLED", "the job was cancelled"))
                await self._leave_nothing(local_work=True)
                self._store_job(state="cancelled", controller_pid=None)
                self._outcome = JobOutcome(self._jid(), "cancelled",
                                           error=HyperdeskError("CANCELLED", "the job was cancelled"))
                self._emit(ev.JobCancelled(job_id=self._jid()))
                self._end_streams()
                return
            if self._job_error is not None and not self._attempts:
                # The job fails once the chunks that were running have finished (and been kept).
                await self._leave_nothing(local_work=False)
                self._finish_failed(self._job_error)
                return
            if self._job_error is None and sched.complete():
                if await self._assemble():
                    return
                continue
            self._reconnect_nodes(now)
            if self._job_error is None:  # a failing job starts no new chunk
                for index, node_name in sched.assignments(now, self._shared_limits()):
                    self._launch(index, node_name)
            self._watch(now)
            if self._job_error is None and sched.no_usable_node() and not sched.running_attempts():
                self._job_error = self._no_node_error()
                continue
            self._wake.clear()
            timeout = 0.5
            wake_at = sched.next_wakeup(now)
            if wake_at is not None:
                timeout = max(0.01, min(timeout, wake_at - now))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _leave_nothing(self, *, local_work: bool) -> None:
        """Once every attempt has stopped: the job's folder on each node goes (nothing there is inspected or
        resumed), and with `local_work` the local attempts' work dirs too (Chromium profiles, captured frames).
        A failed job keeps its local ones for the inspector; verified chunks stay for a resume."""
        assert self.job is not None
        await self._release_idle()
        if local_work:
            chunks = Path(self.job.work_dir) / "chunks"
            for work in chunks.glob("*.work.*") if chunks.is_dir() else []:
                if work.is_dir() and not work.is_symlink():
                    shutil.rmtree(work, ignore_errors=True)
        for executor in self.executors.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(executor.clean_job(self._jid()), 30)

    async def _release_idle(self) -> None:
        """End the workers kept warm between chunks (their browsers and folders): no attempt follows."""
        for executor in self.executors.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(executor.release_idle(), 15)

    def _shared_limits(self) -> dict[str, int]:
        """Free slots of pools this job shares with other jobs of this process (the queue's tail overlap)."""
        limits = {}
        for name, executor in self.executors.items():
            free = executor.shared_free()
            if free is not None:
                limits[name] = free
        return limits

    def pending_chunks(self) -> int:
        """Chunks not started yet: 0 at the job's tail, when the next job of a queue may take idle slots."""
        if self.sched is None or self._job_error is not None or self._cancelling:
            return 0
        return len(self.sched.pending())

    def _no_node_error(self) -> HyperdeskError:
        assert self.sched is not None
        errors = [n.error for n in self.sched.nodes.values() if n.error is not None]
        reasons = "; ".join(f"{n.name}: {n.state}" + (f" ({n.reason})" if n.reason else "")
                            for n in self.sched.nodes.values())
        if len(errors) == len(self.sched.nodes) and errors:
            first = errors[0]
            return HyperdeskError(first.code, f"no node can render this job: {reasons}", hint=first.hint,
                                  retryable=False, details={**first.details, "nodes": reasons})
        last = next((c.last_error for c in self.sched.chunks.values() if c.last_error is not None), None)
        code = last.code if last is not None else "WORKER_LOST"
        return HyperdeskError(code, f"no node is left to render the remaining chunks: {reasons}",
                              hint="Check the nodes (hyperdesk nodes test NAME), then hyperdesk jobs resume JOB.",
                              retryable=False, details={"nodes": reasons})

    # ---- nodes ------------------------------------------------------------------------------

    async def _setup_node(self, name: str, *, force_plan: bool = False) -> None:
        """Connect, preflight and transfer the plan; the node goes online or says why not."""
        assert self.sched is not None and self._worker_env is not None and self.job is not None
        executor = self.executors[name]
        sched = self.sched
        try:
            await executor.open()
            report = await executor.preflight(self._worker_env)
            if executor.kind == "ssh":
                self.store.set_node_preflight(name, report.report or None,
                                              None if report.compatible else report.reason)
            if not report.compatible:
                sched.set_node(name, "incompatible", report.reason,
                               HyperdeskError("NODE_INCOMPATIBLE", f"node {name} is incompatible: {report.reason}",
                                              hint="Install the same hyperdesk, Chromium and ffmpeg on the node."))
                self._node_event(name, code="NODE_INCOMPATIBLE", details={"report": jsonable(report.report)})
                return
            transfer = await executor.prepare_plan(Path(self.job.plan_dir), self.job.plan_hash, force=force_plan,
                                                   job_id=self.job.id)
            self.bytes_uploaded += transfer.bytes_uploaded
            if executor.kind != "local":
                self._emit(ev.PlanTransferred(job_id=self._jid(), node=name, files_total=transfer.files_total,
                                              files_uploaded=transfer.files_uploaded,
                                              bytes_uploaded=transfer.bytes_uploaded,
                                              seconds=round(transfer.seconds, 3)))
            node = sched.nodes[name]
            if node.state in ("connecting", "offline"):
                sched.set_node(name, "online")
                node.reconnects_left = len(self.settings.reconnect_delays_s)
                self._node_event(name)
        except asyncio.CancelledError:
            raise
        except HyperdeskError as err:
            if err.code in ("NODE_UNREACHABLE", "WORKER_LOST"):
                self._node_offline(name, err.message)
            else:
                sched.set_node(name, "refused", err.message, err)
                self._node_event(name, code=err.code, details=jsonable(err.details))
        except Exception as exc:
            self._node_offline(name, f"node {name}: {type(exc).__name__}: {exc}")
        finally:
            self._wake.set()

    def _node_offline(self, name: str, reason: str) -> None:
        assert self.sched is not None
        node = self.sched.nodes[name]
        if node.state in ("incompatible", "refused", "closed"):
            return
        was = node.state
        node.state = "offline"
        node.reason = reason
        delays = self.settings.reconnect_delays_s
        used = len(delays) - node.reconnects_left
        self._nodes[name].next_reconnect = (time.monotonic() + delays[min(max(used, 0), len(delays) - 1)]
                                            if delays else 0)
        if was != "offline":
            self._node_event(name, code="WORKER_LOST")
        # Every attempt still running there is lost with it.
        for attempt in list(self._attempts.values()):
            if attempt.node == name and attempt.kill_error is None:
                self._spawn(self._kill(attempt.id, NodeLost(f"node {name} went offline: {reason}", node=name)))

    def _reconnect_nodes(self, now: float) -> None:
        assert self.sched is not None
        for name, node in self.sched.nodes.items():
            run = self._nodes[name]
            if node.state == "offline" and node.reconnects_left > 0 and now >= run.next_reconnect \
                    and (run.setup_task is None or run.setup_task.done()):
                node.reconnects_left -= 1
                run.setup_task = asyncio.create_task(self._setup_node(name))

    # ---- attempts ---------------------------------------------------------------------------

    def _launch(self, index: int, node_name: str) -> None:
        assert self.sched is not None and self.job is not None
        executor = self.executors[node_name]
        if not executor.connected:
            self.sched.unreserve(index)
            self._node_offline(node_name, "the connection is closed")
            return
        chunk = self.sched.chunks[index]
        number = self.store.next_attempt_number(self.job.id, index)
        attempt_id = f"{self.job.id}-c{index}-a{number}"
        out = Path(self.job.work_dir) / "chunks" / f"{attempt_id}{EXT.get(self.job.format, '')}"
        spec = AttemptSpec(job_id=self.job.id, attempt_id=attempt_id, chunk_index=index,
                           plan_dir=Path(self.job.plan_dir), plan_hash=self.job.plan_hash,
                           output_kind="frame-dir" if self.job.format == "png-sequence" else "file", local_out=out)
        now = time.monotonic()
        self.store.add_attempt(AttemptRecord(id=attempt_id, job_id=self.job.id, chunk_index=index, number=number,
                                             node=node_name, state="running", started_at=time.time()))
        self.store.set_chunk(self.job.id, index, "running")
        self.sched.start_attempt(attempt_id, index, node_name, number)
        attempt = _Attempt(id=attempt_id, chunk_index=index, node=node_name, number=number, spec=spec, started=now,
                           last_event=now, frames_total=chunk.frames)
        self._attempts[attempt_id] = attempt
        self._emit(ev.AttemptStarted(job_id=self.job.id, chunk_index=index, attempt_id=attempt_id, node=node_name,
                                     number=number, frames_total=chunk.frames))
        attempt.task = asyncio.create_task(self._run_attempt(attempt, executor))
        pool = executor.pool
        if pool is not None:  # the slot is taken now and given back however the attempt ends
            pool.take()
            attempt.task.add_done_callback(lambda _task: pool.give())

    async def _run_attempt(self, attempt: _Attempt, executor: Executor) -> None:
        def on_event(event: Any) -> None:
            attempt.last_event = time.monotonic()
            if isinstance(event, AcceptedEvent):
                self._emit(ev.AttemptAccepted(job_id=self._jid(), chunk_index=attempt.chunk_index,
                                              attempt_id=attempt.id, node=attempt.node, pid=event.pid,
                                              pgid=event.pgid, host=event.host))
            elif isinstance(event, ProgressEvent):
                attempt.frames_done, attempt.frames_total = event.frames_done, event.frames_total
                self._emit(ev.ChunkProgress(job_id=self._jid(), chunk_index=attempt.chunk_index, attempt_id=attempt.id,
                                            node=attempt.node, frames_done=event.frames_done,
                                            frames_total=event.frames_total, fps=event.fps))
            elif isinstance(event, HeartbeatEvent):
                attempt.frames_done = max(attempt.frames_done, event.frames_done)
                self._emit(ev.AttemptHeartbeat(job_id=self._jid(), chunk_index=attempt.chunk_index,
                                               attempt_id=attempt.id, node=attempt.node,
                                               frames_done=attempt.frames_done))
            elif isinstance(event, Notice):
                self._emit(ev.AttemptNotice(job_id=self._jid(), chunk_index=attempt.chunk_index, attempt_id=attempt.id,
                                            node=attempt.node, code=event.code, message=event.message))

        def on_log(line: str) -> None:
            now = time.monotonic()
            if now - attempt.log_budget_t >= 1.0 / max(0.1, self.settings.log_lines_per_s):
                attempt.log_budget_t = now
                self._emit(ev.AttemptLog(job_id=self._jid(), chunk_index=attempt.chunk_index, attempt_id=attempt.id,
                                         node=attempt.node, line=line[:500]))

        result: ChunkResult | None = None
        err: HyperdeskError | None = None
        try:
            result = await executor.run(attempt.spec, on_event, on_log)
        except asyncio.CancelledError:
            err = attempt.kill_error or HyperdeskError("CANCELLED", "the attempt was cancelled")
        except HyperdeskError as exc:
            err = attempt.kill_error or exc
        except Exception as exc:  # an executor bug: the attempt is lost, the chunk can run elsewhere
            err = attempt.kill_error or HyperdeskError("WORKER_LOST", f"{type(exc).__name__}: {exc}")
        self._attempts.pop(attempt.id, None)
        try:
            if result is not None:
                self._accept(attempt, result)
            else:
                assert err is not None
                self._reject(attempt, err)
        finally:
            self._wake.set()

    def _check_identical(self, attempt: _Attempt, result: ChunkResult, kept: ChunkResult, kept_node: str) -> None:
        """Two successful attempts of one chunk must give the same bytes (plan-contract 9.7)."""
        if kept.sha256 == result.sha256 and kept.frame_sha256 == result.frame_sha256:
            return
        self._emit(ev.AttemptNotice(
            job_id=self._jid(), chunk_index=attempt.chunk_index, attempt_id=attempt.id, node=attempt.node,
            code="NONDETERMINISTIC_OUTPUT",
            message=(f"chunk {attempt.chunk_index} rendered differently on {kept_node} ({kept.sha256[:12]}…) and "
                     f"{attempt.node} ({result.sha256[:12]}…); run the admission self-test on both nodes")))

    def _tell_request_warnings(self, attempt: _Attempt, result: ChunkResult) -> None:
        """A file the page could not load (blocked, or a 404) renders as missing: said once per job
        and URL, as a notice the front ends show."""
        for w in result.warnings:
            key = (w.code, w.message)  # not the URL: each chunk's loopback server has its own port
            if w.code not in REQUEST_WARNINGS or key in self._warned:
                continue
            self._warned.add(key)
            self._emit(ev.AttemptNotice(job_id=self._jid(), chunk_index=attempt.chunk_index, attempt_id=attempt.id,
                                        node=attempt.node, code=w.code, message=w.message))

    def _accept(self, attempt: _Attempt, result: ChunkResult) -> None:
        assert self.sched is not None
        if not self.sched.succeeded(attempt.id):
            kept = self._results.get(attempt.chunk_index)
            if kept is not None:  # the first verified result stays; a different late one is reported
                self._check_identical(attempt, result, kept, kept.worker.host)
            self.store.end_attempt(attempt.id, "superseded", sha256=result.sha256)
            remove_output(Path(result.output_path))
            return
        replaced = self._replaced.pop(attempt.chunk_index, None)
        if replaced is not None:
            self._check_identical(attempt, result, *replaced)
        self._tell_request_warnings(attempt, result)
        data = result.model_dump(mode="json")
        self.store.finish_chunk(self._jid(), attempt.chunk_index, data, attempt.id)
        self._results[attempt.chunk_index] = result
        self._emit(ev.ChunkDone(job_id=self._jid(), chunk_index=attempt.chunk_index, attempt_id=attempt.id,
                                node=attempt.node, sha256=result.sha256, output_path=result.output_path,
                                seconds=round(time.monotonic() - attempt.started, 3), frames=result.frames_encoded))

    def _in_project(self, err: HyperdeskError) -> None:
        """Point the error at the project's files instead of the worker's loopback server (the CLI,
        the app and the job store all show the message made here)."""
        composition = str((self.job.spec or {}).get("composition", "")) if self.job is not None else ""
        if not composition or "127.0.0.1:" not in err.message + str(err.details.get("source") or ""):
            return
        project = Path(composition) if Path(composition).is_dir() else Path(composition).parent
        err.message = project_locations(err.message, str(project))
        for key in ("source", "message"):
            if isinstance(err.details.get(key), str):
                err.details[key] = project_locations(err.details[key], str(project))

    def _reject(self, attempt: _Attempt, err: HyperdeskError) -> None:
        assert self.sched is not None
        self._in_project(err)
        decision = self.sched.failed(attempt.id, err, time.monotonic(), cancelling=self._cancelling)
        remove_output(attempt.spec.local_out)
        if decision.action == "ignored":
            state = "superseded"
        elif decision.action == "cancelled":
            state = "cancelled"
        elif err.details.get("stalled"):
            state = "stalled"
        elif err.code == "WORKER_LOST":
            state = "lost"
        else:
            state = "failed"
        tail = list(err.details.get("log_tail") or [])[-20:] or list(err.details.get("stderr_tail") or [])[-20:]
        self.store.end_attempt(attempt.id, state, error_code=err.code, error_message=err.message, log_tail=tail)
        chunk = self.sched.chunks[attempt.chunk_index]
        if chunk.state in ("pending", "failed"):
            self.store.set_chunk(self._jid(), attempt.chunk_index, chunk.state, None)
        self._emit(ev.AttemptFailed(job_id=self._jid(), chunk_index=attempt.chunk_index, attempt_id=attempt.id,
                                    node=attempt.node, code=err.code, message=err.message, hint=err.hint,
                                    retryable=err.retryable, action=decision.action,
                                    retry_in_s=round(decision.retry_in_s, 3),
                                    node_blocklisted=decision.node_blocklisted, log_tail=tail,
                                    details=jsonable({k: v for k, v in err.details.items() if k != "log_tail"})))
        if decision.action == "node_incompatible":
            if self.executors[attempt.node].kind == "ssh":
                self.store.set_node_preflight(attempt.node, None, err.message)
            self._node_event(attempt.node, code=err.code)
        elif decision.action == "node_lost":
            self._node_offline(attempt.node, err.message)
        elif decision.action == "retransfer":
            self._spawn(self._retransfer(attempt.node))
        elif decision.action in ("fail_job", "chunk_failed") and self._job_error is None:
            self._job_error = decision.job_error or err
        if decision.node_blocklisted:
            self._node_event(attempt.node, code=err.code)

    async def _retransfer(self, name: str) -> None:
        """PLAN_HASH_MISMATCH on a node: our copy intact -> send it again; tampered -> fail the job."""
        assert self.job is not None and self.sched is not None
        try:
            await asyncio.to_thread(load_plan, Path(self.job.plan_dir))
        except HyperdeskError as err:
            if self._job_error is None:
                self._job_error = err
            self._wake.set()
            return
        node = self.sched.nodes[name]
        if node.state == "online" and self.executors[name].kind == "ssh":
            node.state = "connecting"
            node.reason = "re-transferring the plan"
            self._node_event(name)
            await self._setup_node(name, force_plan=True)

    def _watch(self, now: float) -> None:
        """Stall detection per attempt; a silent attempt first makes us ask whether its node is alive."""
        hb = min(self.settings.heartbeat_timeout_s, self.settings.stall_timeout_s / 2)
        for attempt in list(self._attempts.values()):
            if attempt.kill_error is not None:
                continue
            silent = now - attempt.last_event
            if silent >= self.settings.stall_timeout_s:
                self._spawn(self._kill(attempt.id, HyperdeskError(
                    "WORKER_LOST", f"chunk {attempt.chunk_index} on {attempt.node} sent no event for {silent:.0f} s",
                    details={"stalled": True, "node": attempt.node, "frames_done": attempt.frames_done})))
            elif silent >= hb and not attempt.probing and self.executors[attempt.node].kind != "local":
                attempt.probing = True
                self._spawn(self._probe(attempt))

    async def _probe(self, attempt: _Attempt) -> None:
        executor = self.executors[attempt.node]
        try:
            alive = await executor.alive()
        finally:
            attempt.probing = False
        if not alive and attempt.kill_error is None:
            with contextlib.suppress(Exception):
                await executor.abandon()
            self._node_offline(attempt.node, "its heartbeats stopped and it does not answer")

    async def _kill(self, attempt_id: str, err: HyperdeskError) -> None:
        attempt = self._attempts.get(attempt_id)
        if attempt is None or attempt.kill_error is not None:
            return
        attempt.kill_error = err
        executor = self.executors[attempt.node]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(executor.kill_attempt(attempt_id), 15)
        if attempt.task is not None and not attempt.task.done():
            attempt.task.cancel()

    async def _stop_all(self, err: HyperdeskError) -> None:
        tasks = []
        for attempt in list(self._attempts.values()):
            if attempt.kill_error is None:
                attempt.kill_error = err
            if attempt.task is not None and not attempt.task.done():
                attempt.task.cancel()
                tasks.append(attempt.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for run in self._nodes.values():
            if run.setup_task is not None and not run.setup_task.done():
                run.setup_task.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._aux.add(task)
        task.add_done_callback(self._aux.discard)

    # ---- assembly ---------------------------------------------------------------------------

    async def _assemble(self) -> bool:
        """True when the job ended (done or failed); False when chunks were requeued."""
        assert self.sched is not None and self.job is not None
        job = self.job
        # Nothing unverified is stitched: a chunk whose file changed is rendered again.
        bad = []
        for index in sorted(self.sched.chunks):
            result = self._results.get(index)
            ok = False
            if result is not None:
                path = Path(result.output_path)
                with contextlib.suppress(Exception):
                    ok = path.exists() and (await asyncio.to_thread(output_digest, path, result.output_kind)
                                            == result.sha256)
            if not ok:
                bad.append(index)
        if bad:
            if self._assemble_retries >= 2:
                self._finish_failed(HyperdeskError("OUTPUT_HASH_MISMATCH",
                                                   f"chunks {bad} keep changing after rendering",
                                                   details={"chunks": bad}))
                return True
            self._assemble_retries += 1
            for index in bad:
                self._results.pop(index, None)
                self.sched.requeue(index)
                self.store.set_chunk(job.id, index, "pending", None)
                self._emit(ev.ChunkQueued(job_id=job.id, chunk_index=index,
                                          reason="its file no longer matches its sha256"))
            return False
        await self._release_idle()  # their memory and CPU go to the assembly
        self._store_job(state="assembling")
        self._emit(ev.AssembleStarted(job_id=job.id))
        results = [self._results[i] for i in sorted(self._results)]
        for attempt_left in (1, 0):
            try:
                assembled = await asyncio.to_thread(assemble, Path(job.plan_dir), results, Path(job.output),
                                                    overwrite=self.settings.overwrite,
                                                    project=self.settings.project_dir)
                break
            except HyperdeskError as err:
                if err.code == "ENCODE_FAILED" and attempt_left:
                    continue
                self._finish_failed(err, stage="assembling")
                return True
        self._store_job(state="done", result=assembled.model_dump(mode="json"), error=None, controller_pid=None)
        if not self.settings.keep_chunks:
            for result in results:
                remove_output(Path(result.output_path))
                with contextlib.suppress(OSError):
                    os.unlink(result.perf_path)
            shutil.rmtree(Path(job.work_dir) / "chunks", ignore_errors=True)
        await self._leave_nothing(local_work=True)
        self._outcome = JobOutcome(job.id, "done", result=assembled)
        self._emit(ev.JobDone(job_id=job.id, output=assembled.output_path, sha256=assembled.sha256,
                              frames=assembled.frames, seconds=round(time.monotonic() - self._t0, 3),
                              result=assembled.model_dump(mode="json")))
        self._end_streams()
        return True

