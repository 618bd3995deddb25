"""The one place the GUI touches the farm: FarmController, executors, nodes and the job store.

Everything the views need goes through `FarmBridge`; farm events are translated here into the
GUI's own events (`gui/events.py`), so a change in the farm's API changes this file only.

Process model: the controller runs on the GUI's asyncio loop (qasync), but every render step runs
in a subprocess — planning is `hyperdesk plan`, chunks are `hyperdesk worker` processes (local or
over SSH), a manual assembly is `hyperdesk assemble`. Closing the window stops the controller the
way a crash would (workers killed, job left `running` in the store), so the job stays resumable.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from collections.abc import Callable

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm import events as fe
from hyperdesk.farm.controller import FarmController, FarmSettings, executors_from_spec
from hyperdesk.farm.executor import Executor
from hyperdesk.farm.local import LocalExecutor, default_local_slots
from hyperdesk.farm.ssh import SshExecutor
from hyperdesk.gui import events as ev
from hyperdesk.gui.chunk_model import AttemptInfo, ChunkRow
from hyperdesk.gui.composition_probe import _error_from, hyperdesk_command, run_command
from hyperdesk.gui.settings_panel import EXTENSIONS, RenderSettings
from hyperdesk.models import PlanManifest, WorkerEnv
from hyperdesk.store import JobStore
from hyperdesk.store.models import JobRecord, NodeConfig

Emit = Callable[[Any], None]

FINAL_ACTIONS = ("chunk_failed", "fail_job")
# Jobs whose controller runs in this process (a job record's controller_pid alone cannot tell a
# closed window's job from a running one when both are this process).
LIVE_JOBS: set[str] = set()
NODE_STATES = {"connecting": "connecting", "online": "online", "offline": "offline", "incompatible": "incompatible",
               "blocklisted": "blocklisted", "refused": "refused", "closed": "offline"}


def warm_imports() -> None:
    """Import now what the controller imports lazily mid-job (plan verification, assembly).

    asyncssh + cryptography alone take ~0.3 s to import; done in the middle of a render that is a
    0.3 s freeze of the window. At start-up it is part of opening the app.
    """
    import importlib

    for module in ("hyperdesk.farm.ssh", "hyperdesk.plan.assemble", "hyperdesk.plan.verify"):
        importlib.import_module(module)


def data_dir() -> Path:
    from hyperdesk.dirs import data_root

    return data_root()


def attempt_work_dir(job: JobRecord, attempt_id: str, node: str) -> str | None:
    """Where a local attempt kept its work dir (plan contract 9.5: `<out>.work.<attempt id>`)."""
    if node != "local":
        return None
    out = Path(job.work_dir) / "chunks" / f"{attempt_id}{EXTENSIONS.get(job.format, '')}"
    return str(out.parent / f"{out.name}.work.{attempt_id}")


def error_from_dict(data: dict[str, Any]) -> HyperdeskError:
    return HyperdeskError(str(data.get("code") or "INTERNAL_ERROR"), str(data.get("message") or ""),
                          hint=data.get("hint"), retryable=data.get("retryable"), details=data.get("details") or {})


class FarmBridge:
    """Starts, steers and watches farm jobs for the GUI; talks to the job store for history and nodes."""

    def __init__(self, store: JobStore, emit: Emit | None = None, *, farm_settings: FarmSettings | None = None,
                 worker_env: dict[str, str] | None = None, worker_command: list[str] | None = None,
                 plans_dir: Path | None = None) -> None:
        self.store = store
        self.emit: Emit = emit or (lambda _e: None)
        self.farm_settings = farm_settings or FarmSettings()
        self.worker_env = worker_env  # extra environment for local workers (test hooks)
        self.worker_command = worker_command
        self.plans_dir = plans_dir
        self.controller: FarmController | None = None
        self.job_id: str | None = None
        self.job_state: str | None = None
        self._planning: asyncio.Task | None = None
        self._local_env: WorkerEnv | None = None
        self._closing = False

    # ---- jobs ---------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.job_state in ("planning", "running", "pausing", "paused", "assembling")

    def _status(self, job_id: str, state: str, error: dict[str, Any] | None = None) -> None:
        self.job_state = state
        if job_id:
            self._track(job_id, state)
        self.emit(ev.JobStateChanged(job_id, state, error))

    def _local_executor(self, slots: int) -> LocalExecutor:
        return LocalExecutor(slots, env=self.worker_env, command=self.worker_command)

    def executors_for(self, local_workers: int, nodes: list[NodeConfig]) -> list[Executor]:
        out: list[Executor] = []
        if local_workers > 0:
            out.append(self._local_executor(local_workers))
        out.extend(SshExecutor(n, self.store) for n in nodes)
        return out

    async def plan(self, composition: str, settings: RenderSettings, slots: int) -> tuple[str, PlanManifest]:
        """`hyperdesk plan` in a subprocess; the planDir lives with the job (needed to resume it)."""
        root = self.plans_dir or data_dir() / "gui-plans"
        root.mkdir(parents=True, exist_ok=True)
        plan_dir = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        argv = [*hyperdesk_command(), "plan", composition, "-o", str(plan_dir), "--json",
                "--format", settings.format, "--quality", settings.quality]
        if Path(composition).is_file():
            argv += ["--entry", Path(composition).name]
        if settings.fps:
            argv += ["--fps", settings.fps]
        if settings.chunk_frames > 0:
            argv += ["--chunk-size", str(settings.chunk_frames)]
        if settings.keyframe_interval > 0:
            argv += ["--keyframe-interval", str(settings.keyframe_interval)]
        if settings.variables:
            argv += ["--variables", json.dumps(settings.variables)]
        status, out, err = await run_command(argv, timeout=3600)
        if status != 0 or not (plan_dir / "plan.json").is_file():
            raise error_from_dict(_error_from(out, err, status))
        manifest = PlanManifest.model_validate_json((plan_dir / "plan.json").read_text())
        return str(plan_dir), manifest

    async def start(self, composition: str, settings: RenderSettings, *, local_workers: int,
                    nodes: list[NodeConfig]) -> str:
        """Plan the composition, then farm it out; returns the job id (events follow)."""
        if self.active:
            raise HyperdeskError("INVALID_RENDER_CONFIG", "a job is running already: pause or cancel it first")
        if local_workers <= 0 and not nodes:
            raise HyperdeskError("INVALID_RENDER_CONFIG", "no worker: set local workers above 0 or add a node",
                                 hint="Set the local worker count in the Nodes panel, or add an SSH node.")
        output = Path(settings.output).expanduser().absolute()
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"cannot create {output.parent}: {exc}") from None
        # Before planning: never the composition's own files, nor a non-empty frame folder.
        from hyperdesk.plan.paths import check_output
        from hyperdesk.plan.planner import resolve_composition

        project, entry = resolve_composition(composition)
        check_output(output, settings.format, project=project, entry=entry,
                     overwrite=bool(getattr(settings, "overwrite", False)))
        self._status("", "planning")
        slots = local_workers + sum(n.slots for n in nodes)
        self._planning = asyncio.current_task()
        try:
            plan_dir, _manifest = await self.plan(composition, settings, slots)
        except HyperdeskError as err:
            self._status("", "failed", err.to_dict())
            raise
        except asyncio.CancelledError:
            self._status("", "cancelled")  # the planning subprocess was killed with its group
            raise
        finally:
            self._planning = None
        await self._drop_controller()
        controller = FarmController(self.executors_for(local_workers, nodes), store=self.store,
                                    settings=self.farm_settings)
        self._attach(controller)
        job_id = await controller.start(plan_dir, output, spec_extra={
            "gui": {"composition": str(Path(composition).absolute()), "settings": asdict(settings),
                    "local_workers": local_workers, "nodes": [n.name for n in nodes]},
            "composition": str(Path(composition).absolute())})
        self.job_id = job_id
        return job_id

    async def resume(self, job_id: str, *, local_workers: int | None = None) -> str:
        """Continue a stored job with the executors it was started with (local slots may change)."""
        if self.active and self.job_id != job_id:
            raise HyperdeskError("INVALID_RENDER_CONFIG", "another job is running: pause or cancel it first")
        if self.controller is not None and self.job_id == job_id and self.active:
            await self.controller.resume()
            return job_id
        job = self.store.find_job(job_id)
        if job is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"no job {job_id} in the job store")
        await self._drop_controller()
        executors = executors_from_spec(job.spec, self.store)
        if local_workers is not None or self.worker_env or self.worker_command:
            slots = local_workers
            kept = [e for e in executors if not isinstance(e, LocalExecutor)]
            old = next((e for e in executors if isinstance(e, LocalExecutor)), None)
            if slots is None:
                slots = old.slots if old is not None else 0
            executors = ([self._local_executor(slots)] if slots > 0 else []) + kept
        controller = FarmController(executors, store=self.store, settings=self.farm_settings)
        self._attach(controller)
        self.job_id = job.id
        await controller.resume_job(job.id)  # JOB_LOCKED while another controller runs it
        self._status(job.id, "running")
        return job.id

    def _attach(self, controller: FarmController) -> None:
        self.controller = controller
        controller.add_listener(self._on_farm_event)

    def _track(self, job_id: str, state: str) -> None:
        if state in ("running", "pausing", "paused", "assembling"):
            LIVE_JOBS.add(job_id)
        else:
            LIVE_JOBS.discard(job_id)

    async def _drop_controller(self) -> None:
        c, self.controller = self.controller, None
        if c is not None:
            with contextlib.suppress(Exception):
                await c.aclose()

    async def pause(self) -> None:
        if self.controller is not None:
            await self.controller.pause()

    async def unpause(self) -> None:
        if self.controller is not None:
            await self.controller.resume()

    async def cancel(self) -> None:
        if self._planning is not None:
            self._planning.cancel()
            return
        if self.controller is not None:
            await self.controller.cancel()

    async def retry_chunk(self, job_id: str, index: int, *, avoid_node: str | None = None) -> None:
        """Render a chunk again; with avoid_node, prefer every other node for it."""
        await self._ensure_controller(job_id)
        assert self.controller is not None
        await self.controller.retry_chunk(index)
        if avoid_node:
            self._avoid(index, avoid_node)

    def _avoid(self, index: int, node: str) -> None:
        # The scheduler's distinct-node rule: a node in failed_nodes gets the chunk only when no
        # other usable node is left. FarmController.retry_chunk has no "elsewhere" option yet.
        sched = getattr(self.controller, "sched", None)
        chunk = sched.chunks.get(index) if sched is not None else None
        if chunk is not None:
            chunk.failed_nodes[node] = chunk.failed_nodes.get(node, 0) + 1
            others = [n for n in sched.nodes.values() if n.name != node and n.usable]
            self.emit(ev.Notice(self.job_id or "", f"chunk {index} will avoid {node}" if others else
                                f"chunk {index}: no other node is usable, {node} may render it again", "info"))

    async def retry_chunks(self, job_id: str, indices: list[int]) -> None:
        await self._ensure_controller(job_id)
        assert self.controller is not None
        for i in indices:
            await self.controller.retry_chunk(i)

    async def retry_failed(self, job_id: str) -> list[int]:
        failed = [c.index for c in self.store.chunks(job_id) if c.state == "failed"]
        if self.controller is not None and self.controller.sched is not None and self.job_id == job_id:
            failed = sorted(set(failed) | {i for i, c in self.controller.sched.chunks.items() if c.state == "failed"})
        if failed:
            await self.retry_chunks(job_id, failed)
        return failed

    async def _ensure_controller(self, job_id: str) -> None:
        if self.controller is not None and self.job_id == job_id and self.controller.sched is not None:
            return
        # A job from the history: resuming it builds a controller that keeps every verified chunk.
        await self.resume(job_id)

    async def assemble(self, job_id: str) -> ev.AssembleFinished:
        """Assemble by hand: `hyperdesk assemble` in a subprocess over the store's chunk results."""
        job = self.store.find_job(job_id)
        if job is None:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"no job {job_id}")
        chunks = self.store.chunks(job.id)
        missing = [c.index for c in chunks if c.state != "done" or not c.result]
        if missing:
            raise HyperdeskError("ASSEMBLE_INPUT_MISSING", f"chunks {missing[:10]} are not done",
                                 hint="Render them first (Retry failed / Re-render selected).")
        work = Path(job.work_dir) / "gui-assemble"
        work.mkdir(parents=True, exist_ok=True)
        paths = []
        for c in chunks:
            p = work / f"chunk_{c.index:05d}.result.json"
            p.write_text(json.dumps(c.result, sort_keys=True))
            paths.append(str(p))
        self.emit(ev.AssembleStarted(job.id))
        argv = [*hyperdesk_command(), "assemble", job.plan_dir, "-o", job.output, *paths, "--json"]
        status, out, err = await run_command(argv, timeout=3600)
        if status == 0:
            data = json.loads(out.strip().splitlines()[-1])
            done = ev.AssembleFinished(job.id, True, output=data.get("output_path", job.output), result=data)
        else:
            done = ev.AssembleFinished(job.id, False, output=job.output, error=_error_from(out, err, status))
        self.emit(done)
        return done

    # ---- reading the store --------------------------------------------------------------------

    def job(self, job_id: str) -> JobRecord | None:
        return self.store.find_job(job_id)

    def job_facts(self, job: JobRecord) -> tuple[float, int]:
        """(fps, total frames) from the job's plan, (30, 0) when the plan is gone."""
        try:
            m = PlanManifest.model_validate_json((Path(job.plan_dir) / "plan.json").read_text())
            return m.fps.num / m.fps.den, m.total_frames
        except (OSError, ValueError):
            return 30.0, 0

    def rows_from_store(self, job_id: str) -> list[ChunkRow]:
        """Chunk rows of a stored job: state, node, attempts with outcomes, sha256, last error, log tail."""
        job = self.store.find_job(job_id)
        if job is None:
            return []
        by_chunk: dict[int, list[Any]] = {}
        for a in self.store.attempts(job.id):
            by_chunk.setdefault(a.chunk_index, []).append(a)
        rows = []
        t0 = time.time()
        mono = ev.now()
        for c in self.store.chunks(job.id):
            state = {"pending": "waiting"}.get(c.state, c.state)
            if state == "running" and not self.active:
                state = "waiting"  # its controller is gone: the attempt did not survive
            row = ChunkRow(c.index, c.start_frame, c.end_frame, state=state)
            attempts = sorted(by_chunk.get(c.index, []), key=lambda a: a.number)
            for a in attempts:
                started = mono - (t0 - a.started_at)
                ended = None if a.ended_at is None else mono - (t0 - a.ended_at)
                row.attempts.append(AttemptInfo(a.id, a.number, a.node, started, ended, a.state, a.error_code,
                                                a.error_message))
                if a.log_tail:
                    row.log.append(f"--- attempt {a.number} ({a.id}) on {a.node}: {a.state}")
                    row.log.extend(a.log_tail)
            if attempts:
                last = attempts[-1]
                row.attempt, row.attempt_id, row.node = last.number, last.id, last.node
                row.started_at = row.attempts[-1].started_at
                row.finished_at = row.attempts[-1].ended_at
                failed = next((a for a in reversed(attempts) if a.error_code and a.state not in ("cancelled",)), None)
                if failed is not None and c.state != "done":
                    hint = HyperdeskError(failed.error_code, "").hint
                    retryable = HyperdeskError(failed.error_code, "").retryable
                    if job.error and job.error.get("code") == failed.error_code:
                        hint = job.error.get("hint") or hint
                    row.error = {"code": failed.error_code, "message": failed.error_message or "", "hint": hint,
                                 "retryable": retryable, "node": failed.node, "attempt_id": failed.id,
                                 "log_tail": list(failed.log_tail),
                                 "details": {k: v for k, v in {"work_dir": attempt_work_dir(job, failed.id, failed.node)}
                                             .items() if v}}
                    row.retrying = state == "waiting"
                if row.log:
                    row.last_line = row.log[-1]
            if c.state == "done" and c.result:
                row.sha256 = str(c.result.get("sha256", ""))
                row.output_path = str(c.result.get("output_path", ""))
                row.result = c.result
                row.frames_done = row.frames_total = row.frames
            rows.append(row)
        return rows

    # ---- farm events -> GUI events ------------------------------------------------------------

    def _on_farm_event(self, e: Any) -> None:
        if self._closing:
            return
        job_id = e.job_id
        if isinstance(e, fe.JobStarted):
            self.job_id = job_id
            job = self.store.get_job(job_id)
            fps, total = self.job_facts(job) if job else (30.0, e.total_frames)
            chunks = tuple((c.index, c.start_frame, c.end_frame) for c in self.store.chunks(job_id))
            self.emit(ev.JobOpened(job_id, e.plan_dir, e.output, job.work_dir if job else "", chunks, fps,
                                   e.total_frames or total,
                                   composition=str((job.spec or {}).get("composition", "")) if job else "",
                                   format=job.format if job else "mp4"))
            self._status(job_id, "running")
            if e.resumed and e.kept_chunks:
                self.emit(ev.Notice(job_id, f"resumed: {len(e.kept_chunks)} chunk(s) kept, their files still verify"))
        elif isinstance(e, fe.NodeStateChanged):
            rec = self.store.get_node(e.node) if e.kind == "ssh" else None
            preflight = (e.details or {}).get("report") or (rec.last_preflight if rec else None)
            reason = e.reason or (rec.incompatible_reason if rec and e.state == "incompatible" else None)
            self.emit(ev.NodeUpdate(e.node, NODE_STATES.get(e.state, e.state), address=rec.address if rec else "",
                                    slots=e.slots, reason=(f"{e.code}: {reason}" if e.code and reason and
                                                           e.code not in ("WORKER_LOST",) else reason),
                                    preflight=preflight))
        elif isinstance(e, fe.PlanTransferred):
            self.emit(ev.Notice(job_id, f"plan sent to {e.node}: {e.files_uploaded}/{e.files_total} files, "
                                        f"{e.bytes_uploaded} bytes in {e.seconds:.1f} s"))
        elif isinstance(e, fe.AttemptStarted):
            self.emit(ev.AttemptStarted(job_id, e.chunk_index, e.attempt_id, e.number, e.node))
        elif isinstance(e, fe.AttemptAccepted):
            self.emit(ev.ChunkLog(job_id, e.chunk_index, e.attempt_id, f"worker pid {e.pid} on {e.host}", node=e.node))
        elif isinstance(e, fe.ChunkProgress):
            self.emit(ev.ChunkProgress(job_id, e.chunk_index, e.attempt_id, e.frames_done, e.frames_total, e.fps,
                                       node=e.node))
        elif isinstance(e, fe.AttemptLog):
            self.emit(ev.ChunkLog(job_id, e.chunk_index, e.attempt_id, e.line, node=e.node))
        elif isinstance(e, fe.ChunkDone):
            rec = next((c for c in self.store.chunks(job_id) if c.index == e.chunk_index), None)
            self.emit(ev.ChunkDone(job_id, e.chunk_index, e.attempt_id, e.sha256, e.output_path,
                                   result=rec.result if rec else None))
        elif isinstance(e, fe.AttemptFailed):
            if e.action == "ignored":
                return
            if e.action == "cancelled":
                self.emit(ev.ChunkQueued(job_id, e.chunk_index, reason=e.message, attempt_id=e.attempt_id))
                return
            job = self.store.get_job(job_id)
            details: dict[str, Any] = {"action": e.action}
            work = attempt_work_dir(job, e.attempt_id, e.node) if job else None
            if work:
                details["work_dir"] = work
            if e.retry_in_s:
                details["retry_in_s"] = e.retry_in_s
            if e.node_blocklisted:
                details["node_blocklisted"] = True
            self.emit(ev.ChunkFailed(job_id, e.chunk_index, e.attempt_id, e.node, e.code, e.message, hint=e.hint,
                                     retryable=e.retryable, final=e.action in FINAL_ACTIONS,
                                     log_tail=tuple(e.log_tail), details=details))
        elif isinstance(e, fe.JobPaused):
            self._status(job_id, "pausing" if e.running else "paused")
        elif isinstance(e, fe.JobResumed):
            self._status(job_id, "running")
        elif isinstance(e, fe.AssembleStarted):
            self.emit(ev.AssembleStarted(job_id))
            self._status(job_id, "assembling")
        elif isinstance(e, fe.JobDone):
            self.emit(ev.AssembleFinished(job_id, True, output=e.output, result=e.result))
            self._status(job_id, "done")
        elif isinstance(e, fe.JobFailed):
            err = {"code": e.code, "message": e.message, "hint": e.hint, "details": e.details}
            if self.job_state == "assembling":
                self.emit(ev.AssembleFinished(job_id, False, error=err))
            self._status(job_id, "failed", err)
        elif isinstance(e, fe.JobCancelled):
            self._status(job_id, "cancelled")

    # ---- nodes --------------------------------------------------------------------------------

    def nodes(self) -> list[Any]:
        return self.store.list_nodes()

    def save_node(self, cfg: NodeConfig, *, previous_name: str | None = None) -> None:
        if previous_name and previous_name != cfg.name:
            self.store.remove_node(previous_name)
        self.store.upsert_node(cfg)

    def remove_node(self, name: str) -> None:
        self.store.remove_node(name)

    async def local_worker_env(self) -> WorkerEnv:
        """This machine's worker environment, from `hyperdesk doctor --json` in a subprocess."""
        if self._local_env is None:
            status, out, err = await run_command([*hyperdesk_command(), "doctor", "--json", "--no-gl"], timeout=120)
            try:
                report = json.loads(out)
                self._local_env = WorkerEnv.model_validate(report["worker_env"])
            except (ValueError, KeyError) as exc:
                raise HyperdeskError("INTERNAL_ERROR", f"hyperdesk doctor did not report a worker env: {exc}",
                                     details={"stderr": err[-2000:]}) from None
        return self._local_env

    async def test_node(self, cfg: NodeConfig, *, accept_fingerprint: str | None = None) -> dict[str, Any]:
        """Connect (host key pinned or confirmed), run the preflight and record it.

        Returns {"state", "reason", "report", "fingerprint", "error"}; an unknown host key comes
        back as error HOST_KEY_UNKNOWN with details.fingerprint, for the confirmation dialog.
        """
        executor = SshExecutor(cfg, self.store, accept_fingerprint=accept_fingerprint, connect_timeout=10.0)
        self.emit(ev.NodeUpdate(cfg.name, "testing", address=cfg.address, slots=cfg.slots))
        try:
            await executor.open()
            env = await self.local_worker_env()
            report = await executor.preflight(env)
        except HyperdeskError as err:
            state = "refused" if err.code in ("HOST_KEY_CHANGED", "HOST_KEY_UNKNOWN", "NODE_AUTH_FAILED") else "offline"
            self.emit(ev.NodeUpdate(cfg.name, state, address=cfg.address, slots=cfg.slots,
                                    reason=f"{err.code}: {err.message}"))
            return {"state": state, "reason": err.message, "report": None, "error": err.to_dict(),
                    "fingerprint": err.details.get("fingerprint") or err.details.get("presented")}
        finally:
            with contextlib.suppress(Exception):
                await executor.close()
        if self.store.get_node(cfg.name) is not None:
            self.store.set_node_preflight(cfg.name, report.report or None, None if report.compatible else report.reason)
        pin = self.store.host_key(cfg.host, cfg.port)
        state = "online" if report.compatible else "incompatible"
        self.emit(ev.NodeUpdate(cfg.name, state, address=cfg.address, slots=cfg.slots, reason=report.reason,
                                preflight=report.report or {}, last_heartbeat=ev.now()))
        return {"state": state, "reason": report.reason, "report": report.report, "error": None,
                "fingerprint": pin.fingerprint if pin else None}

    # ---- shutdown -----------------------------------------------------------------------------

    async def detach(self) -> None:
        """Stop the controller as a crash would: kill the workers, leave the job resumable."""
        self._closing = True
        if self.job_id:
            LIVE_JOBS.discard(self.job_id)
        self.job_state = None
        c, self.controller = self.controller, None
        if c is None:
            return
        main = getattr(c, "_main", None)
        if main is not None and not main.done():
            main.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(main), 15)
        for executor in c.executors.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(executor.close(), 10)
        c.release_locks()  # as the process's exit would
        # The job record keeps state "running" with this process's pid: once we exit, history
        # offers to resume it (the same path as `hyperdesk jobs resume`).

    async def aclose(self) -> None:
        await self.detach()


def default_workers() -> int:
    return default_local_slots()
