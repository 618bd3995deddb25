"""The Dask executor: chunks on the workers of a Dask distributed cluster (SSH hosts, SLURM, Kubernetes…).

Each Dask worker that offers the abstract resource `render` (`dask worker ADDR --resources render=2`) is
one node of the job, with that many slots; every chunk task needs `render=1`, so a worker never runs more
Chromiums than it offers. Nothing assumes a shared file system, and the guarantees are the SSH
executor's:

* Preflight runs `hyperdesk doctor --json --no-gl` on the worker (through `Client.run`) and compares its
  worker environment with the plan's; a worker without hyperdesk or Chromium is refused with a hint.
* The plan travels through Dask messages into the worker's own content-addressed blob cache
  (hyperdesk.farm.nodesync, under the worker's HYPERDESK_CACHE_DIR): only the blobs it lacks are sent,
  each verified by sha256 on arrival, and the cache outlives the job.
* A chunk is one task pinned to its worker (`workers=[addr]`, no other worker allowed, Dask retries off):
  it runs `hyperdesk worker` in its own session with a stdin watchdog, forwards every protocol line and
  stderr line as a Dask event on the attempt's topic (so stall detection works), and returns the chunk's
  bytes, which are verified against their sha256 here. The task is fenced to the worker process that
  passed preflight: were Dask to run it again after that worker died, it starts nothing.
* A lost worker fails the attempt as WORKER_LOST; hyperdesk's scheduler requeues the chunk with a new
  attempt id. Cancel sends SIGINT to the chunk's worker, then kills its process group, on the Dask worker.

A test's FaultPlan reaches the worker's `hyperdesk` commands as `--faults JSON`, as over SSH.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import distributed

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.dask.address import RESOURCE, START_HINT, check_scheduler_address, cluster_label, worker_label
from hyperdesk.farm.dask.tasks import render_task, worker_doctor, worker_receive, worker_stop, worker_sync
from hyperdesk.farm.executor import (
    AttemptSpec,
    EventCallback,
    Executor,
    LogCallback,
    NodeLost,
    PlanTransfer,
    PreflightReport,
    remove_output,
    verify_output,
)
from hyperdesk.farm.protocol import DoneEvent, FailedEvent, parse_event
from hyperdesk.farm.ssh import compare_env, plan_manifest
from hyperdesk.faults import FaultPlan, fault_args
from hyperdesk.models import ChunkResult, WorkerEnv

_BATCH_BYTES = 32 * 1024 * 1024  # plan blobs per Dask message


class DaskCluster:
    """One client connection to a Dask scheduler, shared by the executors of its workers."""

    def __init__(self, address: str, *, name: str | None = None, connect_timeout: float = 10.0) -> None:
        self.address = check_scheduler_address(address)
        self.name = name or cluster_label(self.address)
        self.connect_timeout = connect_timeout
        self.client: distributed.Client | None = None
        self._users = 0
        self._connecting = asyncio.Lock()  # the executors of one cluster connect at once: one client
        self._seen: tuple[float, dict[str, dict[str, Any]]] = (-1e9, {})

    async def connect(self) -> distributed.Client:
        async with self._connecting:
            if self.client is not None and self.client.status == "running":
                return self.client
            if self.client is not None:  # a client that lost its scheduler: closed, not left to the GC
                stale, self.client = self.client, None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(stale.close(), 10)
            return await self._new_client()

    async def _new_client(self) -> distributed.Client:
        client = distributed.Client(self.address, asynchronous=True, timeout=self.connect_timeout,
                                    set_as_default=False)
        try:
            await asyncio.wait_for(asyncio.ensure_future(client), self.connect_timeout + 5)
        except (TimeoutError, OSError) as exc:
            self.client = None
            with contextlib.suppress(Exception):  # closed here, not by its __del__ ("never awaited")
                await asyncio.wait_for(client.close(), 5)
            raise HyperdeskError(
                "NODE_UNREACHABLE",
                f"cannot reach the Dask scheduler {self.name} at {self.address}: {exc or type(exc).__name__}",
                hint="Check that `dask scheduler` runs there and this machine can reach its port. " + START_HINT,
                retryable=True, details={"dask": self.address}) from None
        self.client = client
        return client

    async def workers(self, max_age_s: float = 1.0) -> dict[str, dict[str, Any]]:
        """The scheduler's workers: address -> its info (name, resources, …), at most `max_age_s` old (every
        running attempt asks every 2 s whether its worker is still there: one answer serves them all)."""
        seen_at, workers = self._seen
        if time.monotonic() - seen_at <= max_age_s:
            return workers
        client = await self.connect()
        try:
            info = await asyncio.wait_for(client.scheduler.identity(), 10)
        except (TimeoutError, OSError) as exc:
            raise HyperdeskError("NODE_UNREACHABLE", f"the Dask scheduler at {self.address} does not answer: {exc}",
                                 details={"dask": self.address}) from None
        workers = dict(info.get("workers") or {})
        self._seen = (time.monotonic(), workers)
        return workers

    async def render_workers(self) -> dict[str, dict[str, Any]]:
        return {a: w for a, w in (await self.workers(max_age_s=0)).items()
                if (w.get("resources") or {}).get(RESOURCE, 0) >= 1}

    async def run_on(self, address: str, function: Any, *args: Any, timeout: float = 300.0) -> Any:
        """`function(*args)` in the Dask worker at `address`; its exception is raised here."""
        client = await self.connect()
        reply = await asyncio.wait_for(client.run(function, *args, workers=[address], on_error="return"), timeout)
        if address not in reply:
            raise NodeLost(f"the Dask worker {address} did not answer", node=address)
        value = reply[address]
        if isinstance(value, BaseException):
            raise value
        return value

    def use(self) -> None:
        self._users += 1

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0 and self.client is not None:
            client, self.client = self.client, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 10)


async def cluster_executors(address: str, *, name: str | None = None, faults: FaultPlan | None = None,
                            connect_timeout: float = 10.0) -> list[DaskExecutor]:
    """One executor per worker of the cluster that offers `render` slots; typed errors when there is none."""
    cluster = DaskCluster(address, name=name, connect_timeout=connect_timeout)
    try:
        workers = await cluster.render_workers()
        if not workers:
            everyone = await cluster.workers(max_age_s=0)
            raise HyperdeskError(
                "NODE_INCOMPATIBLE",
                f"no worker of the Dask cluster {cluster.name} ({address}) offers `{RESOURCE}` slots "
                f"({len(everyone)} worker{'s' if len(everyone) != 1 else ''} without them)",
                hint=f"Start workers with render slots: dask worker {address} --resources {RESOURCE}=2",
                details={"dask": address, "workers": len(everyone)})
    except BaseException:
        await cluster.release()
        raise
    return [DaskExecutor(cluster, addr, info, faults=faults) for addr, info in sorted(workers.items())]


class DaskExecutor(Executor):
    """One Dask worker as a node of the job."""

    kind = "dask"

    def __init__(self, cluster: DaskCluster, worker: str, info: dict[str, Any], *, cancel_grace_s: float = 3.0,
                 faults: FaultPlan | None = None) -> None:
        self.cluster = cluster
        cluster.use()
        self.worker = worker
        self.address = worker
        self.name = f"{cluster.name}/{worker_label(worker, info)}"
        self.slots = int((info.get("resources") or {}).get(RESOURCE, 1))
        self.cancel_grace_s = cancel_grace_s
        self.fault_words = fault_args(faults)
        self._pid: int | None = None  # the Dask worker process that passed preflight: the tasks' fence
        self._ready: set[str] = set()  # plan hashes materialised on the worker
        self._running: dict[str, distributed.Future] = {}
        self._closed = False
        self.bytes_uploaded = 0
        self.bytes_downloaded = 0

    @property
    def connected(self) -> bool:
        return not self._closed and self.cluster.client is not None

    async def _present(self) -> bool:
        return self.worker in await self.cluster.workers()

    async def open(self) -> None:
        self._closed = False
        if not await self._present():
            raise HyperdeskError("NODE_UNREACHABLE", f"the Dask worker {self.name} left the cluster",
                                 details={"node": self.name, "dask": self.cluster.address})

    async def alive(self) -> bool:
        try:
            return await asyncio.wait_for(self._present(), 10)
        except Exception:
            return False

    async def _gone(self) -> bool:
        """Whether the scheduler says this worker left: a call to it then only waits for its time-out
        (30 s for a job's clean-up). Unknown (the scheduler does not answer) is not gone."""
        try:
            return not await asyncio.wait_for(self._present(), 10)
        except Exception:
            return False

    async def preflight(self, worker_env: WorkerEnv) -> PreflightReport:
        try:
            reply = await self.cluster.run_on(self.worker, worker_doctor, self.fault_words)
        except HyperdeskError:
            raise
        except (ImportError, AttributeError) as exc:  # the worker cannot unpickle hyperdesk's functions
            return PreflightReport(False, f"hyperdesk is not importable on the Dask worker: {exc}. Install hyperdesk "
                                          "(pip install 'hyperdesk[dask]') in the worker's Python environment", {})
        except FileNotFoundError as exc:
            return PreflightReport(False, f"the Dask worker cannot run hyperdesk: {exc}", {})
        except (TimeoutError, OSError) as exc:
            raise NodeLost(f"the Dask worker {self.name} did not answer the preflight: {exc}", node=self.name) from None
        except Exception as exc:  # an error raised on the worker, delivered as data
            return PreflightReport(False, f"preflight failed on the Dask worker: {type(exc).__name__}: {exc}", {})
        report = reply.get("report")
        if not isinstance(report, dict):
            tail = " | ".join(reply.get("stderr_tail") or [])
            return PreflightReport(False, f"`hyperdesk doctor` failed on the Dask worker (exit {reply.get('exit')}): "
                                          f"{tail[-300:]}", {})
        if not report.get("browser"):
            problem: dict[str, Any] = next((p for p in report.get("problems", []) if p.get("item") == "browser"), {})
            return PreflightReport(False, f"no Chromium on the Dask worker: {problem.get('message', 'not found')}. "
                                          "Install chromium-headless-shell there or set HYPERDESK_BROWSER in the "
                                          "worker's environment", report)
        self._pid = int(reply["pid"])
        reason = compare_env(report, worker_env)
        return PreflightReport(reason is None, reason, report)

    async def prepare_plan(self, plan_dir: Path, plan_hash: str, *, force: bool = False,
                           job_id: str = "adhoc") -> PlanTransfer:
        t0 = time.monotonic()
        manifest = await asyncio.to_thread(plan_manifest, plan_dir)
        files: dict[str, str] = manifest["files"]
        stats = PlanTransfer(files_total=len(files))
        check = await self.cluster.run_on(self.worker, worker_sync, "check",
                                          {"plan_hash": plan_hash, "files": files, "job_id": job_id})
        if check.get("ready") and not check.get("missing") and not force:
            self._ready.add(plan_hash)
            stats.seconds = time.monotonic() - t0
            return stats
        to_send = list(check.get("missing") or [])
        for round_ in range(3):
            staged = await self._send(plan_dir, manifest, to_send, check["staging_dir"], stats)
            reply = await self.cluster.run_on(self.worker, worker_sync, "commit", {
                "plan_hash": plan_hash, "files": files, "dirs": manifest["dirs"], "staged": staged,
                "force": force and round_ == 0})
            if reply.get("ok"):
                self._ready.add(plan_hash)
                stats.seconds = time.monotonic() - t0
                return stats
            to_send = sorted(set(reply.get("bad") or []) | set(reply.get("missing") or []))
        raise HyperdeskError("MISSING_PLAN_ARTIFACT",
                             f"Dask worker {self.name}: {len(to_send)} plan files failed verification after transfer",
                             details={"node": self.name, "blobs": to_send[:10]})

    async def _send(self, plan_dir: Path, manifest: dict[str, Any], shas: list[str], staging: str,
                    stats: PlanTransfer) -> dict[str, str]:
        """The blobs in messages of about 32 MiB each."""
        staged: dict[str, str] = {}
        batch: dict[str, bytes] = {}
        size = 0
        for n, sha in enumerate(shas):
            rel = manifest["by_sha"][sha]
            data = await asyncio.to_thread((plan_dir / rel).read_bytes)
            batch[sha] = data
            size += len(data)
            if size >= _BATCH_BYTES or n == len(shas) - 1:
                staged.update(await self.cluster.run_on(self.worker, worker_receive, batch, staging))
                stats.files_uploaded += len(batch)
                stats.bytes_uploaded += size
                self.bytes_uploaded += size
                batch, size = {}, 0
        return staged

    async def run(self, spec: AttemptSpec, on_event: EventCallback, on_log: LogCallback | None = None) -> ChunkResult:
        if spec.plan_hash not in self._ready:
            await self.prepare_plan(spec.plan_dir, spec.plan_hash, job_id=spec.job_id)
        if self._pid is None:
            raise HyperdeskError("NODE_INCOMPATIBLE", f"the Dask worker {self.name} has not passed preflight",
                                 details={"node": self.name})
        client = await self.cluster.connect()
        topic = f"hyperdesk-{spec.attempt_id}"
        problems: list[HyperdeskError] = []

        def on_dask_event(item: Any) -> None:
            msg = item[1] if isinstance(item, tuple) and len(item) == 2 else item
            if not isinstance(msg, dict) or problems:
                return
            if "log" in msg:
                if on_log:
                    on_log(str(msg["log"]))
                return
            try:
                on_event(parse_event(str(msg.get("event", ""))))
            except HyperdeskError as err:
                problems.append(err)

        suffix = "".join(spec.local_out.suffixes) if spec.output_kind == "file" else ""
        client.subscribe_topic(topic, on_dask_event)
        future = client.submit(render_task, spec.plan_hash, spec.chunk_index, spec.attempt_id, spec.job_id, suffix,
                               self.fault_words, topic, self._pid, key=f"hyperdesk-{spec.attempt_id}",
                               workers=[self.worker], allow_other_workers=False, resources={RESOURCE: 1},
                               retries=0, pure=False)
        self._running[spec.attempt_id] = future
        waiter = asyncio.ensure_future(_result(future))
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=2.0)
                if done:
                    break
                if problems:
                    await self._stop(spec.attempt_id, future, graceful=False)
                    raise problems[0]
                if not await self.alive():
                    await self._stop(spec.attempt_id, future, graceful=False)
                    raise NodeLost(f"the Dask worker {self.name} left the cluster while chunk {spec.chunk_index} "
                                   "rendered", node=self.name)
            try:
                reply = waiter.result()
            except asyncio.CancelledError:
                raise NodeLost(f"the Dask task of chunk {spec.chunk_index} was cancelled on {self.name}",
                               node=self.name) from None
            except Exception as exc:  # the task itself broke, or its worker died (KilledWorker)
                raise HyperdeskError("WORKER_LOST", f"the Dask task of chunk {spec.chunk_index} on {self.name} "
                                                    f"failed: {type(exc).__name__}: {exc}",
                                     details={"node": self.name}) from None
        except asyncio.CancelledError:
            await self._stop(spec.attempt_id, future, graceful=True)
            raise
        finally:
            waiter.cancel()
            self._running.pop(spec.attempt_id, None)
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(topic)
        if problems:
            raise problems[0]
        return await self._finish(spec, reply, on_event)

    async def _finish(self, spec: AttemptSpec, reply: dict[str, Any], on_event: EventCallback) -> ChunkResult:
        tail = list(reply.get("stderr_tail") or [])
        final = parse_event(reply["final"]) if reply.get("final") else None
        if isinstance(final, FailedEvent):
            err = final.to_error()
            err.details.setdefault("stderr_tail", tail)
            err.details.setdefault("node", self.name)
            raise err
        if not isinstance(final, DoneEvent):
            raise HyperdeskError("WORKER_LOST", f"the worker on {self.name} exited with status {reply.get('exit')} "
                                                "without a result",
                                 details={"node": self.name, "exit_status": reply.get("exit"), "stderr_tail": tail})
        on_event(final)
        result = final.result
        local = spec.local_out
        files: dict[str, bytes] = reply.get("files") or {}
        await asyncio.to_thread(_write_output, local, files)
        self.bytes_downloaded += sum(len(b) for b in files.values())
        try:
            await verify_output(local, result.output_kind, result.sha256)
        except HyperdeskError as err:
            remove_output(local)
            err.details["node"] = self.name
            raise
        perf_local = local.parent / f"{local.name}.perf.json"
        if reply.get("perf"):
            await asyncio.to_thread(perf_local.write_bytes, reply["perf"])
        return result.model_copy(update={"output_path": str(local), "perf_path": str(perf_local)})

    async def _stop(self, attempt_id: str, future: distributed.Future, *, graceful: bool) -> None:
        """SIGINT, a grace period, then the process group killed on the worker; the task is cancelled."""
        if not await self._gone():  # a worker that left took its process group with it
            with contextlib.suppress(Exception):
                await self.cluster.run_on(self.worker, worker_stop, attempt_id,
                                          self.cancel_grace_s if graceful else 0.0, timeout=self.cancel_grace_s + 10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(future.cancel(), 10)

    async def kill_attempt(self, attempt_id: str) -> None:
        if await self._gone():
            return
        with contextlib.suppress(Exception):
            await self.cluster.run_on(self.worker, worker_stop, attempt_id, 0.0, timeout=10)

    async def abandon(self) -> None:
        for future in list(self._running.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(future.cancel(), 5)

    async def clean_job(self, job_id: str) -> None:
        if await self._gone():  # unreachable either way: the call would only wait out its 30 s
            return
        with contextlib.suppress(Exception):
            await self.cluster.run_on(self.worker, worker_sync, "clean", {"job_id": job_id}, timeout=60)

    async def close(self) -> None:
        if self._closed:
            return
        for attempt_id, future in list(self._running.items()):
            await self._stop(attempt_id, future, graceful=False)
        self._closed = True
        await self.cluster.release()


async def _result(future: distributed.Future) -> Any:
    return await future


def _write_output(local: Path, files: dict[str, bytes]) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    remove_output(local)
    if set(files) == {""}:
        local.write_bytes(files[""])
        return
    local.mkdir()
    for name, data in files.items():
        if not name or "/" in name or name in (".", ".."):
            raise HyperdeskError("OUTPUT_HASH_MISMATCH", f"the chunk output holds a bad file name {name!r}")
        (local / name).write_bytes(data)

