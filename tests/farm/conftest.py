"""Farm test fixtures: an isolated job store, throwaway sshd nodes, a tiny composition and its plans."""
from __future__ import annotations

import asyncio
import hashlib
import textwrap
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from farm.sshd import SshdNode, write_key

# 96x54, 3 s at 15 fps = 45 frames; keyframe interval 5 and 10-frame chunks give 5 chunks. A CSS
# animation (seeked by the runtime) makes every frame different; timed boxes change the picture.
TINY_HTML = """
<!doctype html>
<html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:96px;height:54px;background:#123;overflow:hidden}
.b{position:absolute;top:10px;width:20px;height:20px}
#bar{position:absolute;left:0;bottom:4px;height:8px;width:0;background:#fc0;animation:grow 3s linear forwards}
@keyframes grow{from{width:0}to{width:96px}}
</style></head><body>
<div id="root" data-composition-id="tiny" data-width="96" data-height="54" data-duration="3" data-fps="15" data-no-timeline>
  <div class="b" style="left:4px;background:#f00" data-start="0" data-duration="0.75"></div>
  <div class="b" style="left:26px;background:#0f0" data-start="0.75" data-duration="0.75"></div>
  <div class="b" style="left:48px;background:#00f" data-start="1.5" data-duration="0.75"></div>
  <div class="b" style="left:70px;background:#ff0" data-start="2.25" data-duration="0.75"></div>
  <div id="bar"></div>
</div></body></html>
"""
TOTAL_FRAMES = 45
CHUNKS = 5


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HYPERDESK_DATA_DIR for this test: its own job store and pinned keys."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("HYPERDESK_DATA_DIR", str(d))
    return d


@pytest.fixture
def store(data_dir: Path):
    from hyperdesk.store import JobStore

    s = JobStore()
    yield s
    s.close()


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ssh-client") / "id_ed25519"
    write_key(path)
    return path


class SshdPool:
    """Session nodes n1 (127.0.0.2) and n2 (127.0.0.3); a test may stop one, the fixture restarts it."""

    def __init__(self, root: Path, client_key: Path) -> None:
        self.root = root
        self.client_key = client_key
        self.nodes: dict[str, SshdNode] = {}

    def get(self, name: str, address: str) -> SshdNode:
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = SshdNode(self.root / name, address, self.client_key, name=name)
        if node.proc is None or node.proc.poll() is not None:
            node.start()
        return node

    def stop_all(self) -> None:
        for node in self.nodes.values():
            node.stop()


@pytest.fixture(scope="session")
def sshd_pool(tmp_path_factory: pytest.TempPathFactory, client_key: Path):
    pool = SshdPool(tmp_path_factory.mktemp("sshd"), client_key)
    yield pool
    pool.stop_all()


@pytest.fixture
def n1(sshd_pool: SshdPool) -> SshdNode:
    return sshd_pool.get("n1", "127.0.0.2")


@pytest.fixture
def n2(sshd_pool: SshdPool) -> SshdNode:
    return sshd_pool.get("n2", "127.0.0.3")


@pytest.fixture
def fresh_node(tmp_path: Path, client_key: Path):
    """A node of its own for one test (empty blob cache, a host key the test may change)."""
    node = SshdNode(tmp_path / "fresh", "127.0.0.4", client_key, name="fresh")
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-project")
    (root / "index.html").write_text(textwrap.dedent(TINY_HTML).strip() + "\n")
    return root


def _plan(project: Path, root: Path, fmt: str) -> Path:
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    cfg = RenderConfig(format=fmt, keyframe_interval=5, chunk_frames=10, include_audio=False)
    result = plan(project, cfg, root / f"plan-{fmt}")
    assert result.manifest.chunk_count == CHUNKS and result.manifest.total_frames == TOTAL_FRAMES
    return Path(result.plan_dir)


@pytest.fixture(scope="session")
def png_plan(tiny_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _plan(tiny_project, tmp_path_factory.mktemp("plans"), "png-sequence")


@pytest.fixture(scope="session")
def mp4_plan(tiny_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _plan(tiny_project, tmp_path_factory.mktemp("plans"), "mp4")


def _baseline(plan_dir: Path, root: Path, fmt: str):
    """The reference: every chunk rendered one after another by render_chunk in this process."""
    from hyperdesk.plan.assemble import assemble
    from hyperdesk.plan.chunk import render_chunk

    from hyperdesk.errors import HyperdeskError

    ext = "" if fmt == "png-sequence" else ".mp4"

    def one(i: int):
        try:
            return render_chunk(plan_dir, i, root / f"chunk_{i:04d}{ext}")
        except HyperdeskError as err:  # a retryable failure is retried, as every renderer does
            if not err.retryable:
                raise
            return render_chunk(plan_dir, i, root / f"chunk_{i:04d}{ext}")

    results = [one(i) for i in range(CHUNKS)]
    out = root / ("out" if fmt == "png-sequence" else "out.mp4")
    assembled = assemble(plan_dir, results, out)
    return out, results, assembled


@pytest.fixture(scope="session")
def png_baseline(png_plan: Path, tmp_path_factory: pytest.TempPathFactory):
    return _baseline(png_plan, tmp_path_factory.mktemp("baseline-png"), "png-sequence")


@pytest.fixture(scope="session")
def mp4_baseline(mp4_plan: Path, tmp_path_factory: pytest.TempPathFactory):
    return _baseline(mp4_plan, tmp_path_factory.mktemp("baseline-mp4"), "mp4")


def frame_dir_digests(path: Path) -> dict[str, str]:
    # the folder's record of what the render wrote (issue 19) is not a frame
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(path).iterdir())
            if p.name != ".hyperdesk-sequence.json"}


def run_job(executors: list, plan_dir: Path, out: Path, *, store, settings=None,
            listener: Optional[Callable[[Any, Any], Any]] = None, wait_online: Optional[set[str]] = None):
    """Run one farm job to its end; returns (outcome, events, job_id).

    listener(event, controller) is called for every event (may return a coroutine, which is awaited
    in the background). With wait_online, the job starts paused and resumes once those nodes are online.
    """
    from hyperdesk.farm.controller import FarmController

    events: list = []
    streamed: list = []

    async def main():
        controller = FarmController(executors, store=store, settings=settings)
        online: set[str] = set()
        pending: list = []

        stream = controller.events()  # the GUI's way: an async iterator that ends after the final event

        async def consume():
            async for event in stream:
                streamed.append(event)

        stream_task = asyncio.ensure_future(consume())

        def on_event(event):
            events.append(event)
            if wait_online and event.type == "node_state" and event.state == "online":
                online.add(event.node)
                if wait_online <= online:
                    pending.append(asyncio.ensure_future(controller.resume()))
            if listener is not None:
                r = listener(event, controller)
                if asyncio.iscoroutine(r):
                    pending.append(asyncio.ensure_future(r))

        controller.add_listener(on_event)
        try:
            job_id = await controller.start(plan_dir, out, paused=bool(wait_online))
            outcome = await asyncio.wait_for(controller.wait(), 300)
            for task in pending:
                await asyncio.wait_for(task, 60)
            await asyncio.wait_for(stream_task, 10)
            assert [e.type for e in streamed] == [e.type for e in events]
            return outcome, job_id
        finally:
            await controller.aclose()

    outcome, job_id = asyncio.run(main())
    return outcome, events, job_id
