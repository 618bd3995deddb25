"""The Dask executor against a real cluster on 127.0.0.1: a `dask scheduler` and two `dask worker --resources
render=1` processes, each with its own local directory and its own hyperdesk cache (HYPERDESK_CACHE_DIR of
the worker process), so nothing is shared through the file system."""
from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from hyperdesk.faults import FaultPlan

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).with_name("dask")
# 320x180, 2 s at 30 fps = 60 frames; 15-frame keyframes and chunks: 4 chunks.
PAGE = """<!doctype html>
<html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:320px;height:180px;background:#123;overflow:hidden}
#bar{position:absolute;left:0;bottom:10px;height:20px;width:0;background:#fc0;animation:grow 2s linear forwards}
@keyframes grow{from{width:0}to{width:320px}}
.b{position:absolute;top:20px;width:60px;height:60px}
</style></head><body>
<div id="root" data-composition-id="d" data-width="320" data-height="180" data-duration="2" data-fps="30"
     data-no-timeline>
  <div class="b" style="left:10px;background:#f00" data-start="0" data-duration="1"></div>
  <div class="b" style="left:120px;background:#0f0" data-start="1" data-duration="1"></div>
  <div id="bar"></div>
</div>SCRIPT</body></html>
"""
FRAMES = 60
CONFIG: dict[str, Any] = {"keyframe_interval": 15, "chunk_frames": 15, "include_audio": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and named workers, each in its own session so a test can kill one whole."""

    def __init__(self, root: Path, shared_assets: Path) -> None:
        self.root = root
        self.shared_assets = shared_assets
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.caches: dict[str, Path] = {}
        self.scheduler = self._spawn("scheduler", [str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                                                   str(self.port), "--dashboard-address", "127.0.0.1:0"], {})

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                start_new_session=True)

    def start_worker(self, name: str, *, env: dict[str, str] | None = None, render: int = 1) -> None:
        cache = self.root / f"{name}-cache"
        if not cache.exists():
            cache.mkdir()
            # Only the asset cache (fonts fetched once per machine) is shared, as on a real machine's disk.
            (cache / "assets").symlink_to(self.shared_assets, target_is_directory=True)
        local = self.root / f"{name}-local"
        local.mkdir(exist_ok=True)
        self.caches[name] = cache
        self.procs[name] = self._spawn(name, [
            str(DASK), "worker", self.address, "--host", "127.0.0.1", "--name", name, "--nthreads", "2",
            "--resources", f"render={render}", "--local-directory", str(local), "--dashboard-address", "127.0.0.1:0",
        ], {"HYPERDESK_CACHE_DIR": str(cache), **(env or {})})

    def kill_worker(self, name: str) -> None:
        proc = self.procs.pop(name)
        with _suppress():
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def workers(self) -> dict[str, Any]:
        async def ask() -> dict[str, Any]:
            import distributed

            async with distributed.Client(self.address, asynchronous=True, timeout=10) as client:
                info = await client.scheduler.identity()
                return {w["name"]: w for w in info["workers"].values()}

        return asyncio.run(ask())

    def wait_workers(self, names: set[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if names <= set(self.workers()):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Dask workers {names} did not register")
            time.sleep(0.5)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill_worker(name)
        with _suppress():
            os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait(10)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], (ProcessLookupError, PermissionError))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, hyperdesk_cache: Path):
    c = Cluster(tmp_path_factory.mktemp("dask"), (hyperdesk_cache / "assets").resolve())
    try:
        for name in ("w1", "w2"):
            c.start_worker(name)
        c.wait_workers({"w1", "w2"})
        yield c
    finally:
        c.stop()


@pytest.fixture
def two_workers(cluster: Cluster) -> Cluster:
    """w1 and w2 up (a test before may have killed one)."""
    for name in ("w1", "w2"):
        if name not in cluster.procs:
            cluster.start_worker(name)
    cluster.wait_workers({"w1", "w2"})
    return cluster


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask-project")
    (root / "index.html").write_text(PAGE.replace("SCRIPT", ""))
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render(request: Any, *, store: Any, listener: Any = None, faults: FaultPlan | None = None) -> tuple[Any, list]:
    """One job through the render service (plan through the plan cache, farm, assemble)."""
    from hyperdesk.service import RenderService

    events: list = []

    async def main() -> Any:
        service = RenderService(store=store, faults=faults)
        pending: list = []

        def on_event(event: Any) -> None:
            events.append(event)
            if listener is not None:
                r = listener(event, service)
                if asyncio.iscoroutine(r):
                    pending.append(asyncio.ensure_future(r))

        service.add_listener(on_event)
        try:
            job_id = await service.start(request)
            outcome = await asyncio.wait_for(service.wait(job_id), 600)
            for task in pending:
                await asyncio.wait_for(task, 60)
            return outcome
        finally:
            await service.aclose()

    return asyncio.run(main()), events


def request_for(project: Path, out: Path, **farm: Any) -> Any:
    from hyperdesk.service import FarmRequest, RenderRequest

    return RenderRequest.create(project, out, farm=FarmRequest(**farm), **CONFIG)


@pytest.fixture(scope="module")
def local_render(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same request rendered by local workers."""
    from hyperdesk.store import JobStore

    root = tmp_path_factory.mktemp("dask-local")
    store = JobStore(root / "store.sqlite3")
    out = root / "local.mp4"
    outcome, _ = render(request_for(project, out, local=2), store=store)
    assert outcome.state == "done", outcome.error
    store.close()
    return out


def chromium_on_workers(cluster: Cluster) -> list[str]:
    """Chromium, ffmpeg and `hyperdesk worker` processes started by a Dask worker (they inherit its cache)."""
    caches = {str(p) for p in cluster.caches.values()}
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if not ("chrom" in cmd or "ffmpeg" in cmd or "-m hyperdesk" in cmd):
            continue
        try:
            if p.environ().get("HYPERDESK_CACHE_DIR") in caches:
                found.append(f"{p.pid} {cmd[:120]}")
        except (psutil.Error, OSError):
            continue
    return found


def test_render_is_byte_identical_to_a_local_render(two_workers: Cluster, project: Path, local_render: Path,
                                                    tmp_path: Path, store: Any) -> None:
    out = tmp_path / "dask.mp4"
    outcome, events = render(request_for(project, out, local=0, dask=[two_workers.address]), store=store)
    assert outcome.state == "done", outcome.error
    assert outcome.result.frames == FRAMES
    assert sha256(out) == sha256(local_render)
    # Every chunk ran on a Dask worker, and the job store names that worker as the attempt's node.
    nodes = {f"dask-127.0.0.1:{two_workers.port}/w1", f"dask-127.0.0.1:{two_workers.port}/w2"}
    attempts = store.attempts(outcome.job_id)
    assert attempts and {a.node for a in attempts} <= nodes
    assert all(a.state == "done" for a in attempts)
    # Progress streamed back through Dask events: the stall detector sees them.
    assert any(e.type == "chunk_progress" and e.node in nodes for e in events)
    moved = [e for e in events if e.type == "plan_transferred"]
    assert {e.node for e in moved} == nodes
    print(f"\nplan transfer per worker: {[(e.node, e.files_uploaded, e.bytes_uploaded, e.seconds) for e in moved]}")

    # A second job of the same plan reuses each worker's blob cache: no plan bytes move.
    again = tmp_path / "again.mp4"
    outcome2, events2 = render(request_for(project, again, local=0, dask=[two_workers.address]), store=store)
    assert outcome2.state == "done", outcome2.error
    assert sha256(again) == sha256(local_render)
    assert all(e.bytes_uploaded == 0 for e in events2 if e.type == "plan_transferred")


def test_a_lost_worker_is_requeued_and_recorded(two_workers: Cluster, project: Path, local_render: Path,
                                                tmp_path: Path, store: Any) -> None:
    out = tmp_path / "lost.mp4"
    killed: list[str] = []
    assembling: list[float] = []

    def listener(event: Any, service: Any) -> None:
        if event.type == "assemble_started":
            assembling.append(time.monotonic())
        if not killed and event.type == "chunk_progress" and event.frames_done >= 3:
            victim = event.node.rsplit("/", 1)[1]
            killed.append(event.node)
            two_workers.kill_worker(victim)  # the whole `dask worker` (nanny and worker) dies mid-chunk

    outcome, events = render(request_for(project, out, local=0, dask=[two_workers.address]), store=store,
                             listener=listener)
    ended = time.monotonic()
    assert killed, "no chunk progressed on a Dask worker"
    assert outcome.state == "done", outcome.error
    assert sha256(out) == sha256(local_render)
    # No call waits on the worker that left: the job's clean-up there took its 30 s time-out.
    assert ended - assembling[0] < 15, ended - assembling[0]
    attempts = store.attempts(outcome.job_id)
    lost = [a for a in attempts if a.node == killed[0] and a.state == "lost"]
    assert lost and lost[0].error_code == "WORKER_LOST"
    # The lost chunk ran again under a new attempt id.
    again = [a for a in attempts if a.chunk_index == lost[0].chunk_index and a.state == "done"]
    assert again and again[0].id != lost[0].id
    time.sleep(3)  # the killed worker's `hyperdesk worker` sees its stdin close and kills its group
    assert chromium_on_workers(two_workers) == []


def test_a_non_retryable_error_is_not_retried(two_workers: Cluster, tmp_path: Path, store: Any) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "index.html").write_text(PAGE.replace("SCRIPT", "<script>throw new Error('kaboom on load')</script>"))
    outcome, events = render(request_for(bad, tmp_path / "bad.mp4", local=0, dask=[two_workers.address]),
                             store=store)
    assert outcome.state == "failed" and outcome.error.code == "PAGE_SCRIPT_ERROR"
    failed = [e for e in events if e.type == "attempt_failed"]
    assert failed and failed[0].code == "PAGE_SCRIPT_ERROR" and failed[0].action == "fail_job"
    failed_attempts = [a for a in store.attempts(outcome.job_id) if a.state == "failed"]
    # Every chunk's page throws: the chunks that had started on the two workers fail once each (a
    # running chunk is let finish), none is retried elsewhere, and no further chunk is started.
    assert {a.error_code for a in failed_attempts} == {"PAGE_SCRIPT_ERROR"}
    chunks = [a.chunk_index for a in failed_attempts]
    assert len(chunks) == len(set(chunks)) and 1 <= len(chunks) <= 2, chunks
    assert all(a.number == 1 for a in store.attempts(outcome.job_id)), "a chunk was retried"


def test_cancel_leaves_no_chromium_on_the_workers(two_workers: Cluster, project: Path, tmp_path: Path,
                                                  store: Any) -> None:
    busy: set[str] = set()
    seen: list[list[str]] = []

    async def listener(event: Any, service: Any) -> None:
        if event.type == "chunk_progress" and event.node not in busy:
            busy.add(event.node)
            if len(busy) == 2:
                seen.append(chromium_on_workers(two_workers))
                await service.cancel(event.job_id)

    outcome, _ = render(request_for(project, tmp_path / "c.mp4", local=0, dask=[two_workers.address]),
                        store=store, listener=listener)
    assert outcome.state == "cancelled"
    assert seen and seen[0], "no Chromium ran on the workers before the cancel"
    assert chromium_on_workers(two_workers) == []


def test_an_incompatible_worker_is_refused(two_workers: Cluster, project: Path, local_render: Path,
                                           tmp_path: Path, store: Any) -> None:
    # A worker whose environment has no Chromium is refused with a hint; the job finishes on the others.
    two_workers.start_worker("nochrome", env={"HYPERDESK_BROWSER": str(tmp_path / "no-such-chromium")})
    try:
        two_workers.wait_workers({"w1", "w2", "nochrome"})
        out = tmp_path / "mixed.mp4"
        outcome, events = render(request_for(project, out, local=0, dask=[two_workers.address]), store=store)
        assert outcome.state == "done", outcome.error
        assert sha256(out) == sha256(local_render)
        refused = [e for e in events if e.type == "node_state" and e.node.endswith("/nochrome")
                   and e.state == "incompatible"]
        assert refused and "no Chromium on the Dask worker" in (refused[0].reason or "")
        attempts = store.attempts(outcome.job_id)
        assert not any(a.node.endswith("/nochrome") for a in attempts)
    finally:
        two_workers.kill_worker("nochrome")
        two_workers.caches.pop("nochrome", None)

    # Workers whose fingerprint differs from the plan's (they report another Chromium version: a FaultPlan for
    # the workers' commands only) take no chunk at all.
    from hyperdesk.farm.controller import FarmController
    from hyperdesk.farm.dask.executor import cluster_executors
    from hyperdesk.service import RenderService

    planned = RenderService(store=store).plan_now(request_for(project, tmp_path / "x.mp4", local=0))
    events = []

    async def main() -> Any:
        executors = await cluster_executors(two_workers.address, faults=FaultPlan(browser_version="1.0.0.0"))
        controller = FarmController(list(executors), store=store)
        controller.add_listener(events.append)
        try:
            await controller.start(planned.plan_dir, tmp_path / "x.mp4")
            return await asyncio.wait_for(controller.wait(), 300)
        finally:
            await controller.aclose()

    outcome = asyncio.run(main())
    assert outcome.state == "failed" and outcome.error.code == "NODE_INCOMPATIBLE"
    assert "Chromium differs" in outcome.error.message
    assert not [e for e in events if e.type == "attempt_started"]
    assert {e.node for e in events if e.type == "node_state" and e.state == "incompatible"} == {
        f"dask-127.0.0.1:{two_workers.port}/w1", f"dask-127.0.0.1:{two_workers.port}/w2"}


def test_clear_errors_before_any_chunk(two_workers: Cluster, project: Path, tmp_path: Path, store: Any) -> None:
    from hyperdesk.errors import HyperdeskError

    nobody = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(HyperdeskError) as info:
        render(request_for(project, tmp_path / "u.mp4", local=0, dask=[nobody]), store=store)
    assert info.value.code == "NODE_UNREACHABLE" and "dask scheduler" in info.value.hint
    # A scheduler whose workers offer no render slots.
    (tmp_path / "lonely").mkdir()
    lonely = Cluster(tmp_path / "lonely", two_workers.shared_assets)
    try:
        lonely.start_worker("plain", render=0)
        lonely.wait_workers({"plain"})
        with pytest.raises(HyperdeskError) as info:
            render(request_for(project, tmp_path / "n.mp4", local=0, dask=[lonely.address]), store=store)
        assert info.value.code == "NODE_INCOMPATIBLE" and "--resources render=" in info.value.hint
    finally:
        lonely.stop()


def test_cli_render_on_a_dask_cluster(two_workers: Cluster, project: Path, local_render: Path,
                                      tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "cli.mp4"
    proc = subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(out), "--local", "0",
                           "--dask", two_workers.address, "--chunk-size", "60"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"rendered {FRAMES} frames" in proc.stdout
    # A saved cluster entry: `nodes add` with a scheme, `nodes list`, `nodes test` (workers and slots).
    hd = [sys.executable, "-m", "hyperdesk"]
    add = subprocess.run([*hd, "nodes", "add", "lab", two_workers.address], capture_output=True, text=True,
                         timeout=300)
    assert add.returncode == 0, add.stderr[-2000:]
    assert "2 render workers, 2 slots" in add.stdout
    listed = subprocess.run([*hd, "nodes", "list"], capture_output=True, text=True, timeout=60)
    assert "lab" in listed.stdout and "Dask cluster" in listed.stdout
    by_name = tmp_path / "by-name.mp4"
    proc = subprocess.run([*hd, "render", str(project), "-o", str(by_name), "--local", "0", "--dask", "lab",
                           "--chunk-size", "60", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"node": "lab/w1"' in proc.stdout or '"node": "lab/w2"' in proc.stdout
    assert shutil.which("dask", path=str(DASK.parent)) is not None


def test_resume_after_a_controller_crash(two_workers: Cluster, project: Path, local_render: Path, tmp_path: Path,
                                         store: Any) -> None:
    """A job whose controller stops as a crash would (after its first chunk) resumes on the cluster it was
    started with: verified chunks are kept, the rest render on the Dask workers."""
    from hyperdesk.service import RenderService

    out = tmp_path / "resumed.mp4"

    async def crash() -> str:
        service = RenderService(store=store)
        done = asyncio.Event()

        def on_event(event: Any) -> None:
            if event.type == "chunk_done":
                done.set()

        service.add_listener(on_event)
        job_id = await service.start(request_for(project, out, local=0, dask=[two_workers.address]))
        await asyncio.wait_for(done.wait(), 300)
        await service.detach(job_id)
        return job_id

    job_id = asyncio.run(crash())
    kept = [c.index for c in store.chunks(job_id) if c.state == "done"]
    assert kept and not out.exists()
    time.sleep(2)
    assert chromium_on_workers(two_workers) == []

    async def resume() -> Any:
        service = RenderService(store=store)
        events: list = []
        service.add_listener(events.append)
        try:
            await service.resume(job_id)
            return await asyncio.wait_for(service.wait(job_id), 600), events
        finally:
            await service.aclose()

    outcome, events = asyncio.run(resume())
    assert outcome.state == "done", outcome.error
    assert sha256(out) == sha256(local_render)
    started = next(e for e in events if e.type == "job_started")
    assert started.resumed and set(kept) <= set(started.kept_chunks)
    assert all(n.startswith(f"dask-127.0.0.1:{two_workers.port}/") for n in started.nodes)
