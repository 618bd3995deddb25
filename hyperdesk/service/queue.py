"""The render queue: jobs waiting in the job store, run by priority, so an editor can line up many renders
and walk away. `hyperdesk queue run` and the desktop app run it with this same code.

A queued job is a job record without a plan yet (state `queued`, its request in the spec). The runner
takes the highest priority first (then the earliest); when the running jobs are at their tail (every
chunk started), the next job starts and its chunks take the slots that come free: this machine's
workers are one `SlotPool` shared by the jobs. Jobs survive a restart of whoever runs the queue: one
left `running` with no live controller is `interrupted` and is resumed first (its verified chunks kept).
Job locks make two runners (the app and a `queue run`) safe: a job runs under one of them only.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.executor import SlotPool
from hyperdesk.farm.local import default_local_slots
from hyperdesk.service.renders import JobOutcome, RenderService
from hyperdesk.service.request import RenderRequest, job_name
from hyperdesk.store.locks import lock_job
from hyperdesk.store.models import FINAL_JOB_STATES, JobRecord

PAUSED_KEY = "queue_paused"
LIVE_STATES = ("running", "paused", "assembling")


@dataclass
class QueueEntry:
    """One job of the queue as `hyperdesk queue list --json` shows it."""

    id: str
    name: str
    priority: int
    state: str  # queued, running, paused, done, failed, interrupted, cancelled
    output: str
    composition: str
    queued_at: str | None
    finished_at: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


class RenderQueue:
    def __init__(self, service: RenderService, *, resume_interrupted: bool = True) -> None:
        self.service = service
        self.store = service.store
        # `queue run` resumes every interrupted job of the queue; the app resumes only those the user
        # chose (resume_requested), after offering them at launch.
        self.resume_interrupted = resume_interrupted
        self.resume_requested: set[str] = set()

    # ---- the queue in the store --------------------------------------------------------------------

    def add(self, request: RenderRequest, *, priority: int = 0, name: str | None = None) -> str:
        """Queue a render; typed refusals (output, farm settings) come now, not when it runs."""
        self.service.check(request)
        job_id = self.service.new_job_id()
        now = time.time()
        self.store.create_job(JobRecord(
            id=job_id, state="queued", plan_dir="", plan_hash="", output=request.output, format=request.config.format,
            chunk_count=0, created_at=now, updated_at=now, work_dir="", name=name or job_name(request),
            priority=priority, queued_at=now,
            spec={"composition": request.composition, "request": request.model_dump(mode="json")}), [])
        return job_id

    def jobs(self) -> list[JobRecord]:
        return self.store.queue_jobs()

    def state(self, job: JobRecord) -> str:
        """The job's state as users see it: one left running by a controller that died is interrupted."""
        if job.state in LIVE_STATES and not self.service.is_live(job.id) and not self._locked(job.id):
            return "interrupted"
        return job.state

    def _locked(self, job_id: str) -> bool:
        try:
            lock = lock_job(self.store.path, job_id)
        except HyperdeskError:
            return True
        lock.release()
        return False

    def entries(self) -> list[QueueEntry]:
        return [QueueEntry(id=j.id, name=j.name, priority=j.priority, state=self.state(j), output=j.output,
                           composition=str((j.spec or {}).get("composition", "")), queued_at=_iso(j.queued_at),
                           finished_at=_iso(j.finished_at), error=(j.error or {}).get("code"))
                for j in self.jobs()]

    def mark_interrupted(self) -> list[str]:
        """Record the jobs whose controller died (kill -9, a crash, a closed app) as interrupted."""
        found = []
        for job in self.store.list_jobs(limit=100_000):
            if job.state in LIVE_STATES and self.state(job) == "interrupted":
                self.store.update_job(job.id, state="interrupted", controller_pid=None)
                found.append(job.id)
        return found

    def set_priority(self, job_id: str, priority: int) -> None:
        job = self._job(job_id)
        self.store.update_job(job.id, priority=priority)

    def remove(self, job_id: str) -> None:
        """Take a job that is not running out of the queue (and the job list)."""
        job = self._job(job_id)
        if self.service.is_live(job.id) or (job.state in LIVE_STATES and self._locked(job.id)):
            raise HyperdeskError("JOB_LOCKED", f"job {job.id} is running: cancel it first",
                                 hint="Cancel the job, then remove it.")
        self.store.delete_job(job.id)

    @property
    def paused(self) -> bool:
        return self.store.get_meta(PAUSED_KEY) == "1"

    def pause(self, paused: bool = True) -> None:
        """A paused queue starts no new job; running jobs finish."""
        self.store.set_meta(PAUSED_KEY, "1" if paused else "0")

    def _job(self, job_id: str) -> JobRecord:
        job = self.store.find_job(job_id)
        if job is None or job.queued_at is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"no job {job_id!r} in the queue",
                                 hint="See hyperdesk queue list.")
        return job

    # ---- running it --------------------------------------------------------------------------------

    async def run(self, *, until_empty: bool = True, only: set[str] | None = None, local: int | None = None,
                  stop: asyncio.Event | None = None, poll_s: float = 0.5,
                  on_start: Callable[[str], None] | None = None,
                  on_paused: Callable[[int], None] | None = None) -> dict[str, JobOutcome]:
        """Run queued (and interrupted) jobs by priority until none is left (or `stop` is set); returns each
        job's outcome. `only` limits the run to those jobs (a batch). `on_paused(n)` is told once each time
        the queue is found paused with n jobs waiting."""
        pool = SlotPool(local if local is not None else default_local_slots())
        self.mark_interrupted()
        starting: dict[str, asyncio.Task] = {}
        running: set[str] = set()
        outcomes: dict[str, JobOutcome] = {}
        refused: set[str] = set()
        said_paused = False
        try:
            while stop is None or not stop.is_set():
                for job_id, task in list(starting.items()):
                    if task.done():
                        del starting[job_id]
                        err = None if task.cancelled() else task.exception()
                        if err is None and not task.cancelled():
                            running.add(job_id)
                        else:
                            self._start_failed(job_id, err, outcomes, refused)
                for job_id in list(running):
                    if not self.service.is_live(job_id):
                        running.discard(job_id)
                        with contextlib.suppress(HyperdeskError):
                            outcomes[job_id] = await self.service.wait(job_id)
                waiting = [j for j in self.jobs() if j.id not in refused and (only is None or j.id in only)
                           and j.id not in starting and j.id not in running and self._runnable(j)]
                paused = bool(waiting) and self.paused
                if paused and not said_paused and on_paused is not None:
                    on_paused(len(waiting))
                said_paused = paused
                if not waiting and not starting and not running:
                    if until_empty:
                        break
                elif waiting and not self.paused and not starting and (
                        not running or (all(self.service.at_tail(j) for j in running) and pool.free > 0)):
                    job = waiting[0]
                    starting[job.id] = asyncio.ensure_future(self._start(job, pool))
                    if on_start is not None:
                        on_start(job.id)
                await asyncio.sleep(poll_s)
        finally:
            for task in starting.values():
                task.cancel()
        return outcomes

    def _runnable(self, job: JobRecord) -> bool:
        return job.state == "queued" or (self.state(job) == "interrupted" and (
            self.resume_interrupted or job.id in self.resume_requested))

    def interrupted(self) -> list[JobRecord]:
        """Every job (queued or not) whose controller died mid-render, after marking them."""
        self.mark_interrupted()
        return [j for j in self.store.list_jobs(limit=100_000) if j.state == "interrupted"]

    def resume(self, job_ids: list[str]) -> None:
        """Resume these interrupted jobs through the queue (their done chunks kept), in their queue order."""
        now = time.time()
        for job_id in job_ids:
            job = self.store.get_job(job_id)
            if job is not None and job.queued_at is None:
                self.store.update_job(job.id, queued_at=now)
            self.resume_requested.add(job_id)

    async def _start(self, job: JobRecord, pool: SlotPool) -> None:
        if job.state == "queued":
            request = RenderRequest.model_validate((job.spec or {}).get("request") or {})
            await self.service.start(request, job_id=job.id, pool=pool, name=job.name)
        else:
            await self.service.resume(job.id, pool=pool)

    def _start_failed(self, job_id: str, err: BaseException | None, outcomes: dict[str, JobOutcome],
                      refused: set[str]) -> None:
        refused.add(job_id)  # not tried again in this run
        if isinstance(err, HyperdeskError) and err.code == "JOB_LOCKED":
            return  # another runner has it
        error = err if isinstance(err, HyperdeskError) else HyperdeskError(
            "INTERNAL_ERROR", f"{type(err).__name__}: {err}" if err else "the job did not start")
        job = self.store.get_job(job_id)
        if job is not None and job.state not in FINAL_JOB_STATES and not self.service.is_live(job_id):
            self.store.update_job(job_id, state="failed" if error.code != "CANCELLED" else "cancelled",
                                  error=error.to_dict())
        outcomes[job_id] = JobOutcome(job_id, "cancelled" if error.code == "CANCELLED" else "failed", error=error)
