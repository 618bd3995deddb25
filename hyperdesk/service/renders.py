"""RenderService: the one API the command line and the desktop app render through.

    service = RenderService()
    service.add_listener(print_event)              # every event of every job (hyperdesk.farm.events)
    job_id = await service.start(request)          # plan (through the plan cache), then farm the chunks
    outcome = await service.wait(job_id)           # JobOutcome(state, error, result)

and pause / resume / cancel / retry_chunks (optionally avoiding a node) / assemble / detach /
live_jobs on a job id. Neither front end reaches into the controller or the scheduler; this is
the only place that builds controllers and executors. Planning runs in the caller's thread
(`plan_now`, the CLI: Ctrl-C stops it and the planner cleans up) or, awaited, in a child process
(`plan`, the app and queues: the window never blocks and a cancel stops the planner at once).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperdesk.composition.boundary import ProjectBoundary
from hyperdesk.composition.project import project_files
from hyperdesk.composition.references import static_references
from hyperdesk.dirs import data_root, plan_cache_dir
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.farm import events as ev
from hyperdesk.farm.executor import Executor, SlotPool
from hyperdesk.farm.controller import FarmController, FarmSettings, JobOutcome, new_job_id
from hyperdesk.farm.local import default_local_slots
from hyperdesk.models import AssembleResult, ChunkResult, PlanResult, WorkerEnv
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.cache import cached_plan, find_cached_plan, plan_key
from hyperdesk.plan.env import local_worker_env
from hyperdesk.plan.config import check_format, check_variables
from hyperdesk.plan.paths import check_output
from hyperdesk.plan.evict import RECENT_S
from hyperdesk.service import caches
from hyperdesk.service.child import ChildCall, plan_payload
from hyperdesk.service.executors import ExecutorFactory, resolve_cluster
from hyperdesk.service.facts import CompositionFacts, facts_from_plan
from hyperdesk.service.request import FarmRequest, RenderRequest, job_name
from hyperdesk.store.db import JobStore
from hyperdesk.store.locks import check_output_free, lock_job, lock_output
from hyperdesk.store.models import JobRecord, NodeConfig

Listener = Callable[[ev.Event], None]
FINAL_STATES = ("done", "failed", "cancelled")


async def _discard(executors: list[Executor]) -> None:
    """A job that never started: end what its executors prestarted (`Executor.discard`)."""
    for executor in executors:
        with contextlib.suppress(Exception):
            await executor.discard()


class RenderService:
    def __init__(self, store: JobStore | None = None, *, faults: FaultPlan | None = None,
                 settings: FarmSettings | None = None, worker_command: list[str] | None = None,
                 worker_env: dict[str, str] | None = None, data_dir: Path | None = None) -> None:
        self.store = store or JobStore()
        self.faults = faults
        self.base_settings = settings or FarmSettings()  # retry policy and timeouts; a request adds its own
        self.data_dir = Path(data_dir) if data_dir is not None else data_root()
        self.executors = ExecutorFactory(self.store, faults=faults, worker_command=worker_command,
                                         worker_env=worker_env)
        self._listeners: list[Listener] = []
        self._live: dict[str, FarmController] = {}
        self._watchers: dict[str, asyncio.Task] = {}
        self._outcomes: dict[str, JobOutcome] = {}
        self._planning: dict[str, asyncio.Task] = {}
        self._env: WorkerEnv | None = None

    @staticmethod
    def warm_up() -> None:
        """Import now what a job may need later: asyncssh takes 0.3-0.5 s to import, which mid-render would
        freeze an app's window (the CLI imports it only when a job has SSH nodes)."""
        importlib.import_module("hyperdesk.farm.ssh")

    # ---- events --------------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Called in the loop for every event of every job, in order."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _emit(self, event: ev.Event) -> None:
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a listener's bug must not stop a job
                listener(event)

    # ---- checks before any work ---------------------------------------------------------------------

    def check(self, request: RenderRequest) -> Path:
        """Every typed refusal that needs no planning: bad farm settings, a project over its caps, an
        output that would destroy something (the composition, a file it references, an earlier
        render's frames that changed) or cannot be written. Returns the absolute output path."""
        request.check()
        check_format(request.config.format)
        check_variables(request.config.variables)
        self.executors.for_request(request.farm)  # node addresses and ports, at least one worker: no connection yet
        project = request.project()
        out = Path(request.output).expanduser().absolute()
        config = request.config
        boundary = ProjectBoundary(project.root, [Path(p) for p in config.allow_outside])
        project_files(project, (out,), boundary, [], include=config.include, variables=config.variables,
                      limits=config.project_limits())  # PROJECT_TOO_LARGE, by stat only
        referenced = static_references(project.root, project.entry, variables=config.variables, outside=True)
        check_output_free(self.store.path, out)  # OUTPUT_LOCKED before planning, not after it
        return check_output(out, config.format, project=project.root, entry=project.entry,
                            overwrite=request.overwrite, referenced=referenced)

    # ---- planning -----------------------------------------------------------------------------------

    def worker_env(self) -> WorkerEnv:
        """This machine's worker environment (Chromium, ffmpeg, hyperdesk), found once."""
        if self._env is None:
            self._env = local_worker_env(faults=self.faults)
        return self._env

    def _plan_inputs(self, request: RenderRequest) -> tuple[str, Any, tuple[Path, ...]]:
        return request.composition, request.config, (Path(request.output).expanduser().absolute(),)

    def plan_now(self, request: RenderRequest, *, job_id: str | None = None) -> PlanResult:
        """Plan in this thread, through the plan cache (the CLI: Ctrl-C interrupts the planner)."""
        composition, config, exclude = self._plan_inputs(request)
        t0 = self._planning_started(request, job_id)
        try:
            planned = cached_plan(composition, config, env=self.worker_env(), exclude=exclude, faults=self.faults)
        except HyperdeskError as err:
            self._planning_failed(job_id, err)
            raise
        if not planned.reused:
            self.enforce_cache_caps()
        self._planning_done(request, job_id, planned, t0)
        return planned

    async def plan(self, request: RenderRequest, *, job_id: str | None = None) -> PlanResult:
        """Plan without blocking the loop: a cached plan is found in a thread, a new one is made in a
        child process that a cancel interrupts (its partial planDir is removed)."""
        composition, config, exclude = self._plan_inputs(request)
        t0 = self._planning_started(request, job_id)
        try:
            env = await asyncio.to_thread(self.worker_env)
            planned = await asyncio.to_thread(find_cached_plan, composition, config, env=env, exclude=exclude)
            if planned is None:
                call = ChildCall("plan", plan_payload(composition, config, env, [str(p) for p in exclude]),
                                 faults=self.faults)
                planned = PlanResult.model_validate(await call.run())
                await asyncio.to_thread(self.enforce_cache_caps)
        except HyperdeskError as err:
            self._planning_failed(job_id, err)
            raise
        except asyncio.CancelledError:
            if job_id:
                self._emit(ev.JobCancelled(job_id=job_id))
            raise
        self._planning_done(request, job_id, planned, t0)
        return planned

    def _planning_started(self, request: RenderRequest, job_id: str | None) -> float:
        if job_id:
            self._emit(ev.JobPlanning(job_id=job_id, composition=request.composition, output=request.output,
                                      name=request.name))
        return time.monotonic()

    def _planning_failed(self, job_id: str | None, err: HyperdeskError) -> None:
        if job_id:
            self._emit(ev.JobFailed.from_error(job_id, err, stage="planning"))

    def _planning_done(self, request: RenderRequest, job_id: str | None, planned: PlanResult, t0: float) -> None:
        if job_id:
            m = planned.manifest
            self._emit(ev.JobPlanned(job_id=job_id, plan_hash=m.plan_hash, plan_dir=planned.plan_dir,
                                     reused=planned.reused, total_frames=m.total_frames, chunk_count=m.chunk_count,
                                     plan_seconds=round(time.monotonic() - t0, 3),
                                     warnings=[w.model_dump(mode="json") for w in m.warnings],
                                     project_dir=str(request.project().root), project_scope=m.project_scope,
                                     project_files=m.project_files, project_bytes=m.project_bytes))

    async def inspect(self, request: RenderRequest) -> CompositionFacts:
        """The composition's facts from the plan a render of this request uses (planned once, cached)."""
        try:
            planned = await self.plan(request)
        except HyperdeskError as err:
            return CompositionFacts(path=request.composition, error=err.to_dict())
        return facts_from_plan(request.composition, planned)

    async def still(self, planned: PlanResult, frame: int, out: Path) -> Path:
        """Frame `frame` of a plan as a PNG, rendered in a child process."""
        await ChildCall("still", {"plan_dir": planned.plan_dir, "frame": frame, "out": str(out)},
                        faults=self.faults).run(timeout=300)
        return out

    # ---- jobs ---------------------------------------------------------------------------------------

    def new_job_id(self) -> str:
        return new_job_id()

    @staticmethod
    def default_local_slots() -> int:
        """How many local workers this machine runs by default."""
        return default_local_slots()

    def _settings(self, farm: FarmRequest, overwrite: bool, project_dir: str | None) -> FarmSettings:
        base = self.base_settings
        return FarmSettings(stall_timeout_s=farm.stall_timeout_s or base.stall_timeout_s,
                            heartbeat_timeout_s=base.heartbeat_timeout_s, policy=base.policy,
                            keep_chunks=farm.keep_chunks, overwrite=overwrite, project_dir=project_dir,
                            reconnect_delays_s=base.reconnect_delays_s, log_lines_per_s=base.log_lines_per_s)

    async def start(self, request: RenderRequest, *, job_id: str | None = None, planned: PlanResult | None = None,
                    paused: bool = False, pool: SlotPool | None = None, name: str = "") -> str:
        """Check, plan (unless `planned` is given) and start a job; returns its id. Events follow.
        With `pool`, this machine's workers are shared with the other jobs using the pool (the queue)."""
        out = self.check(request)
        executors = self.executors.for_request(request.farm, pool)
        job_id = job_id or new_job_id()
        if planned is None:
            task = asyncio.current_task()
            if task is not None:
                self._planning[job_id] = task
            try:
                for executor in executors:  # local workers start while the plan is made
                    await executor.prestart()
                planned = await self.plan(request, job_id=job_id)
            except BaseException:
                await _discard(executors)  # no job: the idle workers end
                raise
            finally:
                self._planning.pop(job_id, None)
        # The Dask clusters' workers: connected after planning, before any chunk, so no chunk is lost to a bad one.
        try:
            executors += await self.executors.dask_workers(request.farm.dask)
        except BaseException as err:
            await _discard(executors)  # no job: prestarted workers end
            if isinstance(err, HyperdeskError):
                self._emit(ev.JobFailed.from_error(job_id, err, stage="connecting"))
            raise
        controller = FarmController(executors, store=self.store, data_dir=self.data_dir,
                                    settings=self._settings(request.farm, request.overwrite,
                                                            str(request.project().root)))
        self._attach(job_id, controller)
        try:
            await controller.start(planned.plan_dir, out, job_id=job_id, paused=paused, name=name or job_name(request),
                                   spec_extra={"composition": request.composition,
                                               "request": request.model_dump(mode="json")})
        except BaseException:
            self._live.pop(job_id, None)
            with contextlib.suppress(Exception):
                await controller.aclose()
            raise
        self._watch(job_id, controller)
        return job_id

    def _attach(self, job_id: str, controller: FarmController) -> None:
        controller.add_listener(self._emit)
        self._live[job_id] = controller
        self._outcomes.pop(job_id, None)

    def _watch(self, job_id: str, controller: FarmController) -> None:
        """When the job ends, close its controller (locks, node connections) and keep the outcome."""

        async def watch() -> None:
            try:
                outcome = await controller.wait()
            finally:
                if self._live.get(job_id) is controller:
                    del self._live[job_id]
                with contextlib.suppress(Exception):
                    await controller.aclose()
            self._outcomes[job_id] = outcome

        self._watchers[job_id] = asyncio.ensure_future(watch())

    async def wait(self, job_id: str) -> JobOutcome:
        """The job's outcome once it ends (done, failed, cancelled)."""
        watcher = self._watchers.get(job_id)
        if watcher is None:
            outcome = self._outcomes.get(job_id)
            if outcome is None:
                raise HyperdeskError("INVALID_RENDER_CONFIG", f"job {job_id} is not running here")
            return outcome
        await asyncio.shield(watcher)
        return self._outcomes[job_id]

    def at_tail(self, job_id: str) -> bool:
        """The job has started its last chunks (or is not running): idle slots may take another job's."""
        controller = self._live.get(job_id)
        return controller is None or not controller.running or controller.pending_chunks() == 0

    def live_jobs(self) -> list[str]:
        """Jobs this process plans or runs right now."""
        return sorted(j for j in set(self._live) | set(self._planning) if self.is_live(j))

    def is_live(self, job_id: str) -> bool:
        controller = self._live.get(job_id)
        return job_id in self._planning or (controller is not None and controller.running)

    async def _settled(self, job_id: str) -> None:
        """Let an ended job's controller finish closing (its locks released) before the job is taken up again."""
        watcher = self._watchers.get(job_id)
        controller = self._live.get(job_id)
        if watcher is not None and not watcher.done() and (controller is None or not controller.running):
            with contextlib.suppress(BaseException):
                await asyncio.shield(watcher)

    async def pause(self, job_id: str) -> None:
        """Start no new chunk of the job; running chunks finish."""
        await self._controller(job_id).pause()

    async def resume(self, job_id: str, *, local: int | None = None, accept_host_keys: list[str] | None = None,
                     retry_chunks: list[int] | None = None, pool: SlotPool | None = None) -> str:
        """Continue a paused job here, or a stored one (its controller died, it failed or was cancelled) with
        the executors it was started with: every chunk whose file still verifies is kept. `retry_chunks`
        ([] = the failed ones, else every unfinished one) are rendered again."""
        await self._settled(job_id)
        live = self._live.get(job_id)
        if live is not None and live.running:
            await live.resume()
            return job_id
        job = self._job(job_id)
        # JOB_LOCKED while another controller runs it: taken before any chunk state is touched.
        job_lock = lock_job(self.store.path, job.id)
        try:
            job = self.store.get_job(job.id) or job
            if retry_chunks is not None:
                chunks = self.store.chunks(job.id)
                targets = retry_chunks or [c.index for c in chunks if c.state == "failed"] \
                    or [c.index for c in chunks if c.state != "done"]
                for index in targets:
                    self.store.set_chunk(job.id, index, "pending", None)
            executors = self.executors.from_spec(job.spec, local=local, accept_host_keys=accept_host_keys, pool=pool)
            clusters = list(((job.spec or {}).get("request") or {}).get("farm", {}).get("dask") or [])
            executors += await self.executors.dask_workers(clusters)
            saved = (job.spec or {}).get("settings", {})
            farm = FarmRequest(stall_timeout_s=saved.get("stall_timeout_s"),
                               keep_chunks=bool(saved.get("keep_chunks", False)))
            controller = FarmController(executors, store=self.store,
                                        settings=self._settings(farm, bool(saved.get("overwrite", False)),
                                                                saved.get("project_dir")),
                                        data_dir=self.data_dir)
        except BaseException:
            job_lock.release()
            raise
        self._attach(job.id, controller)
        try:
            await controller.resume_job(job.id, job_lock=job_lock)
        except BaseException:
            self._live.pop(job.id, None)
            with contextlib.suppress(Exception):
                await controller.aclose()
            raise
        self._watch(job.id, controller)
        return job.id

    # ---- after a fix: re-plan, re-render frames ------------------------------------------------------

    def stored_request(self, job_id: str) -> RenderRequest | None:
        """The request a job was started from (None for a job made from a planDir by hand)."""
        data = (self._job(job_id).spec or {}).get("request")
        return None if not data else RenderRequest.model_validate(data)

    def sources_changed(self, job_id: str) -> bool | None:
        """Whether the composition's files (or this machine's worker environment) changed since the job was
        planned, so that retrying its frozen plan would render the old composition. None: cannot tell (the
        job's plan is not from the plan cache)."""
        job = self._job(job_id)
        request = self.stored_request(job.id)
        plan_dir = Path(job.plan_dir) if job.plan_dir else None
        if request is None or plan_dir is None or plan_dir.parent != plan_cache_dir():
            return None
        composition, config, exclude = self._plan_inputs(request)
        try:
            return plan_key(composition, config, env=self.worker_env(), exclude=exclude) != plan_dir.name
        except HyperdeskError:
            return True  # the composition is gone or unreadable: planning again will say why

    async def replan(self, job_id: str, *, pool: SlotPool | None = None) -> str:
        """A new job from the same settings, planned from the files as they are now: nothing of the old
        plan is reused (a chunk of the old plan may differ anywhere after a fix). Returns the new job's id."""
        job = self._job(job_id)
        if self.is_live(job.id):
            raise HyperdeskError("JOB_LOCKED", f"job {job.id} is running: cancel it before planning it again",
                                 hint="Cancel the job, then re-plan it.")
        request = self.stored_request(job.id)
        if request is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"job {job.id} was not started from a composition, so it "
                                 "cannot be planned again", hint="Render the composition again instead.")
        return await self.start(request, pool=pool, name=job.name)

    def chunks_for_frames(self, job_id: str, first: int, last: int) -> list[int]:
        """The chunks of the job whose frames meet [first, last] (inclusive): what a frame-range re-render
        renders again before the video is assembled again."""
        chunks = self.store.chunks(self._job(job_id).id)
        total = max((c.end_frame for c in chunks), default=0)
        if not 0 <= first <= last < total:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"frames {first}-{last} are not within the job's "
                                 f"frames 0-{total - 1}", details={"field": "frames", "frames": total})
        return [c.index for c in chunks if c.start_frame <= last and c.end_frame > first]

    def chunks_without_files(self, job_id: str) -> list[int]:
        """Done chunks whose files are gone (removed after assembly unless kept): a resume renders them again."""
        return [c.index for c in self.store.chunks(self._job(job_id).id) if c.state == "done"
                and not Path(str((c.result or {}).get("output_path") or "")).is_file()]

    async def cancel(self, job_id: str) -> None:
        """Stop every attempt of the job (or its planning) and end it as cancelled."""
        planning = self._planning.get(job_id)
        if planning is not None:
            planning.cancel()
            return
        controller = self._live.get(job_id)
        if controller is not None:
            await controller.cancel()

    async def retry_chunks(self, job_id: str, indices: list[int] | None = None, *,
                           avoid_node: str | None = None) -> list[int]:
        """Render chunks again (None: the failed ones). A running job requeues them; an ended one is
        resumed with them, keeping every other verified chunk. Returns the chunks requeued."""
        await self._settled(job_id)
        controller = self._live.get(job_id)
        if controller is None or not controller.running:
            failed = [c.index for c in self.store.chunks(job_id) if c.state == "failed"]
            targets = failed if indices is None else list(indices)
            if not targets:
                return []
            await self.resume(job_id, retry_chunks=targets)
            controller = self._live.get(job_id)
            if avoid_node and controller is not None:
                for index in targets:
                    await controller.retry_chunk(index, avoid_node=avoid_node)
            return targets
        targets = controller.failed_chunks() if indices is None else list(indices)
        for index in targets:
            await controller.retry_chunk(index, avoid_node=avoid_node)
        return targets

    async def assemble(self, job_id: str) -> AssembleResult:
        """Stitch a stopped job's verified chunks into its output by hand (they were kept)."""
        job = self._job(job_id)
        await self._settled(job.id)
        if self.is_live(job.id):
            raise HyperdeskError("JOB_LOCKED", f"job {job.id} is running: it assembles when its chunks are done")
        chunks = self.store.chunks(job.id)
        missing = [c.index for c in chunks if c.state != "done" or not c.result]
        if missing:
            raise HyperdeskError("ASSEMBLE_INPUT_MISSING", f"chunks {missing[:10]} are not done",
                                 hint="Render them first (Retry failed / Re-render selected).")
        results = [ChunkResult.model_validate(c.result) for c in sorted(chunks, key=lambda c: c.index)]
        saved = (job.spec or {}).get("settings", {})
        overwrite = bool(saved.get("overwrite", False))
        lock = lock_output(self.store.path, Path(job.output), job.id)
        self._emit(ev.AssembleStarted(job_id=job.id))
        t0 = time.monotonic()
        try:
            result = await asyncio.to_thread(assemble, Path(job.plan_dir), results, Path(job.output),
                                             overwrite=overwrite, project=saved.get("project_dir"))
        except HyperdeskError as err:
            self._emit(ev.JobFailed.from_error(job.id, err, stage="assembling"))
            raise
        finally:
            lock.release()
        data = result.model_dump(mode="json")
        self.store.update_job(job.id, state="done", result=data, error=None)
        self._emit(ev.JobDone(job_id=job.id, output=result.output_path, sha256=result.sha256, frames=result.frames,
                              seconds=round(time.monotonic() - t0, 3), result=data))
        return result

    async def detach(self, job_id: str | None = None) -> None:
        """Stop the job (every live job when None) as a crash would: its workers are killed and the job
        stays `running` in the store with this process's pid, so it is resumable once this process ends."""
        for jid in [job_id] if job_id else list(self._live):
            controller = self._live.pop(jid, None)
            watcher = self._watchers.pop(jid, None)
            if watcher is not None:
                watcher.cancel()
            if controller is not None:
                await controller.detach()
        for jid, task in list(self._planning.items()):
            if job_id in (None, jid):
                task.cancel()

    async def aclose(self) -> None:
        await self.detach()

    def _controller(self, job_id: str) -> FarmController:
        controller = self._live.get(job_id)
        if controller is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"job {job_id} is not running here",
                                 hint="Resume it (hyperdesk jobs resume JOB).")
        return controller

    def _job(self, job_id: str) -> JobRecord:
        job = self.store.find_job(job_id)
        if job is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"no job {job_id!r}", hint="See hyperdesk jobs list.")
        return job

    # ---- reading the store ---------------------------------------------------------------------------

    def job(self, job_id: str) -> JobRecord | None:
        return self.store.find_job(job_id)

    def sweep_old_gui_plans(self) -> int:
        """Earlier versions of the app planned into <data>/gui-plans/ (never cleaned): keep the planDirs
        of jobs that may still run (not done or cancelled), remove the rest. Returns how many went."""
        root = self.data_dir / "gui-plans"
        if not root.is_dir():
            return 0
        needed = {str(Path(j.plan_dir)) for j in self.store.list_jobs(limit=100_000)
                  if j.state not in ("done", "cancelled")}
        removed = 0
        for entry in root.iterdir():
            if entry.is_dir() and str(entry) not in needed:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        with contextlib.suppress(OSError):
            root.rmdir()  # only when empty
        return removed

    # ---- caches and leftovers ------------------------------------------------------------------------

    def sweep_leftovers(self) -> dict[str, int]:
        """Remove what dead processes and ended jobs left on this machine (service/caches.py); at start-up."""
        return caches.sweep_leftovers(self.store, self.data_dir)

    def enforce_cache_caps(self) -> dict[str, int]:
        """Evict the least recently used plans and assets past their caps (after a new plan)."""
        try:
            return caches.enforce_caps(self.store)
        except OSError:  # a cache that cannot be cleaned must not fail the render that filled it
            return {}

    async def cache_info(self, *, nodes: bool = True) -> dict[str, Any]:
        """Bytes per cache on this machine and, with `nodes`, on each saved node (or the error reaching it)."""
        machine = await asyncio.to_thread(caches.usage, self.store, self.data_dir)
        return {"machine": machine, "nodes": await self._on_saved_nodes("usage") if nodes else []}

    async def prune_caches(self, *, everything: bool = False, nodes: bool = True) -> dict[str, Any]:
        """Sweep leftovers and evict past the caps here and on each saved node; with `everything`, every plan,
        asset and kept chunk file no job needs (used a moment ago or not)."""

        def here() -> dict[str, Any]:
            swept = caches.sweep_leftovers(self.store, self.data_dir)
            freed = caches.enforce_caps(self.store, everything=everything, min_age_s=0.0 if everything else RECENT_S)
            jobs = caches.prune_finished_jobs(self.store, self.data_dir) if everything else 0
            return {**swept, **freed, "done_job_dirs": jobs}

        machine = await asyncio.to_thread(here)
        swept = await self._on_saved_nodes("sweep", everything=everything) if nodes else []
        return {"machine": machine, "nodes": swept}

    async def _on_saved_nodes(self, what: str, *, everything: bool = False) -> list[dict[str, Any]]:
        from hyperdesk.farm.ssh import SshExecutor  # asyncssh costs 0.3 s to import: only for SSH nodes

        async def one(cfg: NodeConfig) -> dict[str, Any]:
            executor = SshExecutor(cfg, self.store, connect_timeout=10.0, faults=self.faults)
            try:
                await executor.open()
                reply = await (executor.cache_usage() if what == "usage" else executor.sweep(everything=everything))
                if reply.get("ok") is False:
                    raise HyperdeskError("NODE_INCOMPATIBLE", f"node {cfg.name}: node-sync {what} failed: "
                                         f"{reply.get('error')}", details={"node": cfg.name})
                return {"node": cfg.name, **reply}
            except HyperdeskError as err:
                return {"node": cfg.name, "error": err.to_dict()}
            finally:
                with contextlib.suppress(Exception):
                    await executor.close()

        configs = [NodeConfig.model_validate(rec.model_dump()) for rec in self.store.list_nodes()]
        return list(await asyncio.gather(*(one(c) for c in configs)))

    # ---- nodes ---------------------------------------------------------------------------------------

    def nodes(self) -> list[Any]:
        return self.store.list_nodes()

    def save_node(self, cfg: NodeConfig, *, previous_name: str | None = None) -> None:
        if previous_name and previous_name != cfg.name:
            self.store.remove_node(previous_name)
        self.store.upsert_node(cfg)

    def remove_node(self, name: str) -> bool:
        """Forget a node; its pinned host key goes too when no other node uses that address."""
        rec = self.store.get_node(name)
        if rec is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"no node named {name!r}")
        self.store.remove_node(name)
        others = [n for n in self.store.list_nodes() if (n.host, n.port) == (rec.host, rec.port)]
        if not others:
            self.store.unpin_host_key(rec.host, rec.port)
        return not others

    async def test_cluster(self, cluster: str, *, preflight: bool = True) -> dict[str, Any]:
        """Connect to a Dask cluster (a saved name or tcp://HOST:PORT), list its render workers and their slots,
        and preflight each. Returns {"state", "address", "workers": [{name, address, slots, state, reason}],
        "slots", "error"}; state is online (a compatible worker), incompatible or offline."""
        address, _ = resolve_cluster(cluster, self.store)
        try:
            executors = await self.executors.dask_workers([cluster])
        except HyperdeskError as err:
            state = "offline" if err.code == "NODE_UNREACHABLE" else "incompatible"
            return {"state": state, "address": address, "workers": [], "slots": 0, "error": err.to_dict()}
        env = await asyncio.to_thread(self.worker_env) if preflight else None

        async def one(executor: Any) -> dict[str, Any]:
            row: dict[str, Any] = {"name": executor.name, "address": getattr(executor, "address", ""),
                                   "slots": executor.slots, "state": "online", "reason": None}
            if env is not None:
                report = await executor.preflight(env)
                if not report.compatible:
                    row.update(state="incompatible", reason=report.reason)
            return row

        try:
            workers = list(await asyncio.gather(*(one(e) for e in executors)))
        finally:
            for executor in executors:
                with contextlib.suppress(Exception):
                    await executor.close()
        usable = [w for w in workers if w["state"] == "online"]
        return {"state": "online" if usable else "incompatible", "address": address, "workers": workers,
                "slots": sum(w["slots"] for w in usable), "error": None}

    async def test_node(self, cfg: NodeConfig, *, accept_fingerprint: str | None = None,
                        preflight: bool = True, connect_timeout: float = 10.0) -> dict[str, Any]:
        """Connect (host key pinned, or confirmed by `accept_fingerprint`), run the preflight, record it.

        Returns {"state", "reason", "report", "fingerprint", "error", "connect_s"}; an unknown host key comes
        back as error HOST_KEY_UNKNOWN with its fingerprint, for the user to confirm.
        """
        from hyperdesk.farm.ssh import SshExecutor  # asyncssh costs 0.3 s to import: only for SSH nodes

        executor = SshExecutor(cfg, self.store, accept_fingerprint=accept_fingerprint,
                               connect_timeout=connect_timeout, faults=self.faults)
        t0 = time.monotonic()
        try:
            await executor.open()
            connect_s = time.monotonic() - t0
            report = await executor.preflight(await asyncio.to_thread(self.worker_env)) if preflight else None
        except HyperdeskError as err:
            state = "refused" if err.code in ("HOST_KEY_CHANGED", "HOST_KEY_UNKNOWN", "NODE_AUTH_FAILED") else "offline"
            return {"state": state, "reason": err.message, "report": None, "error": err.to_dict(),
                    "fingerprint": err.details.get("fingerprint") or err.details.get("presented"), "connect_s": None}
        finally:
            with contextlib.suppress(Exception):
                await executor.close()
        pin = self.store.host_key(cfg.host, cfg.port)
        out: dict[str, Any] = {"state": "online", "reason": None, "report": None, "error": None,
                               "fingerprint": pin.fingerprint if pin else None, "connect_s": round(connect_s, 3)}
        if report is not None:
            if self.store.get_node(cfg.name) is not None:
                self.store.set_node_preflight(cfg.name, report.report or None,
                                              None if report.compatible else report.reason)
            out.update(state="online" if report.compatible else "incompatible", reason=report.reason,
                       report=report.report or {})
        return out

