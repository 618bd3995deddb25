"""Warm workers (issue 17): a local slot's worker keeps its browser and page between the chunks of a
plan. A chunk rendered on a warm page must be the bytes of the same chunk rendered cold, in any order;
the browser restarts at the configured limits; and the output does not depend on the slot count.
Real Chromium and ffmpeg, the real `hyperdesk worker --serve`."""
from __future__ import annotations

import asyncio
import hashlib
import json
import textwrap
import time
from pathlib import Path

import pytest

from farm.conftest import run_job
from farm.sshd import node_processes
from hyperdesk.farm.executor import AttemptSpec
from hyperdesk.farm.local import LocalExecutor
from hyperdesk.farm.protocol import DoneEvent

pytestmark = pytest.mark.slow

# 160x90, 2 s at 15 fps = 30 frames in 6 chunks of 5. A layer that shrinks while it turns (the raster
# case where a frame once depended on the frame drawn before it), a WAAPI colour change and timed boxes.
WARM_HTML = """
<!doctype html>
<html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:160px;height:90px;background:#203040;overflow:hidden}
#orb{position:absolute;left:50px;top:15px;width:60px;height:60px;border-radius:30px;
     background:radial-gradient(circle at 30% 30%,#fff,#e04080 60%,#401020);
     animation:shrink 2s linear forwards}
@keyframes shrink{from{transform:scale(1.8) rotate(0deg)}to{transform:scale(0.4) rotate(300deg)}}
.b{position:absolute;bottom:4px;width:24px;height:12px}
#t{position:absolute;left:4px;top:4px;width:30px;height:10px;background:#0c8}
</style></head><body>
<div id="root" data-composition-id="warm" data-width="160" data-height="90" data-duration="2" data-fps="15"
     data-no-timeline>
  <div id="orb"></div><div id="t"></div>
  <div class="b" style="left:4px;background:#f00" data-start="0" data-duration="0.7"></div>
  <div class="b" style="left:60px;background:#0f0" data-start="0.7" data-duration="0.7"></div>
  <div class="b" style="left:120px;background:#00f" data-start="1.4" data-duration="0.6"></div>
</div>
<script>
document.getElementById("t").animate([{background: "#0c8", width: "30px"}, {background: "#fa0", width: "150px"}],
                                     {duration: 2000, fill: "both"});
</script></body></html>
"""
CHUNKS = 6


@pytest.fixture(scope="module")
def warm_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    root = tmp_path_factory.mktemp("warm")
    (root / "project").mkdir()
    (root / "project" / "index.html").write_text(textwrap.dedent(WARM_HTML).strip() + "\n")
    cfg = RenderConfig(format="mp4", keyframe_interval=5, chunk_frames=5, include_audio=False)
    result = plan(root / "project", cfg, root / "plan")
    assert result.manifest.chunk_count == CHUNKS
    return Path(result.plan_dir)


@pytest.fixture(scope="module")
def cold_chunks(warm_plan: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """sha256 of every chunk rendered cold: its own browser, in this process."""
    from hyperdesk.plan.chunk import render_chunk

    out = tmp_path_factory.mktemp("cold")
    return {i: render_chunk(warm_plan, i, out / f"chunk_{i}.mp4").sha256 for i in range(CHUNKS)}


def run_in_order(executor: LocalExecutor, plan_dir: Path, order: list[int], out: Path) -> list:
    """Chunks one after another on the executor (one slot: one worker), in the given order."""
    plan_hash = json.loads((plan_dir / "plan.json").read_text())["plan_hash"]

    async def main() -> list:
        results = []
        try:
            for n, index in enumerate(order):
                spec = AttemptSpec(job_id="warm", attempt_id=f"a{n}-{index}", chunk_index=index, plan_dir=plan_dir,
                                   plan_hash=plan_hash, output_kind="file", local_out=out / f"chunk_{index}.mp4")
                events: list = []
                results.append(await executor.run(spec, events.append))
                assert isinstance(events[-1], DoneEvent)
        finally:
            await executor.close()
        return results

    return asyncio.run(main())


def test_a_chunk_on_a_warm_page_is_the_bytes_of_the_cold_chunk(warm_plan, cold_chunks, tmp_path):
    # Backwards and forwards over the plan: each chunk after the first starts where another one left the page.
    order = [0, 3, 1, 5, 2, 4]
    results = run_in_order(LocalExecutor(1), warm_plan, order, tmp_path)
    assert [r.session_chunk for r in results] == [1, 2, 3, 4, 5, 6]  # one browser for all six
    assert results[1].timings.browser_boot_ms == 0 and results[0].timings.browser_boot_ms > 0
    for r in results:
        assert r.sha256 == cold_chunks[r.chunk_index], f"chunk {r.chunk_index} differs on a warm page"
        assert hashlib.sha256(Path(r.output_path).read_bytes()).hexdigest() == r.sha256
    # the idle worker was closed with the executor: its browser folder is gone
    assert not list(tmp_path.glob("browser.work.*"))


def test_the_worker_recycles_its_browser_at_the_limits(warm_plan, cold_chunks, tmp_path):
    results = run_in_order(LocalExecutor(1, recycle_after=2), warm_plan, [0, 1, 2, 3, 4], tmp_path / "n")
    assert [r.session_chunk for r in results] == [1, 2, 1, 2, 1]
    assert [r.timings.browser_boot_ms > 0 for r in results] == [True, False, True, False, True]
    # a memory ceiling below any browser's size: every chunk gets a new browser
    results = run_in_order(LocalExecutor(1, memory_ceiling_mib=1), warm_plan, [5, 4, 3], tmp_path / "m")
    assert [r.session_chunk for r in results] == [1, 1, 1]
    assert all(r.sha256 == cold_chunks[r.chunk_index] for r in results)


def test_output_bytes_are_the_same_with_one_and_two_warm_slots(warm_plan, store, tmp_path):
    digests = []
    for slots in (1, 2):
        out = tmp_path / f"out-{slots}.mp4"
        outcome, events, _job = run_job([LocalExecutor(slots)], warm_plan, out, store=store)
        assert outcome.state == "done", outcome
        done = [e for e in events if e.type == "chunk_done"]
        assert len(done) == CHUNKS
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_a_node_worker_stays_warm_and_renders_the_same_bytes(warm_plan, cold_chunks, store, n1, tmp_path):
    from hyperdesk.farm.ssh import SshExecutor

    node = SshExecutor(n1.node_config(slots=1), store, accept_fingerprint=n1.fingerprint)
    outcome, events, job_id = run_job([node], warm_plan, tmp_path / "out.mp4", store=store)
    assert outcome.state == "done", outcome
    results = {c.index: c.result for c in store.chunks(job_id)}
    assert sorted(results) == list(range(CHUNKS))
    # one browser on the node for the whole job (one slot: chunk after chunk on the same page)
    assert sorted(r["session_chunk"] for r in results.values()) == list(range(1, CHUNKS + 1))
    for index, r in results.items():
        assert r["sha256"] == cold_chunks[index], f"chunk {index} differs on the node's warm page"
    # the job's end closed the idle worker: no browser of it is left on the node
    assert node_browsers(n1) == []


def node_browsers(node) -> list:
    """The node's Chromium processes (their environment names the node's cache dir), after a moment to exit."""
    deadline = time.monotonic() + 15
    while True:
        found = [p for p in node_processes(str(node.cache_dir)) if "chrom" in p[1]]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_an_auto_plan_splits_its_last_chunk_and_its_output_keeps_the_same_bytes_on_one_and_two_slots(
        store, tmp_path):
    """The auto chunk table splits its last chunk (no idle slot at the end of a short render); the
    split adds one keyframe where the last piece starts, the output verifies, and its bytes do not
    depend on the slot count."""
    import mediautil as mu
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.plan.planner import plan

    (tmp_path / "project").mkdir()
    html = textwrap.dedent(WARM_HTML).strip().replace('data-duration="2" data-fps="15"', 'data-duration="4" data-fps="15"')
    (tmp_path / "project" / "index.html").write_text(html + "\n")
    planned = plan(tmp_path / "project", RenderConfig(format="mp4", keyframe_interval=20, include_audio=False),
                   tmp_path / "plan")
    chunks = json.loads((Path(planned.plan_dir) / "meta" / "chunks.json").read_text())["chunks"]
    assert [(c["start_frame"], c["end_frame"]) for c in chunks] == [(0, 20), (20, 40), (40, 50), (50, 60)]
    digests = []
    for slots in (1, 2):
        out = tmp_path / f"out-{slots}.mp4"
        outcome, _events, _job = run_job([LocalExecutor(slots)], Path(planned.plan_dir), out, store=store)
        assert outcome.state == "done", outcome
        assert mu.count_frames(out) == 60
        assert mu.keyframe_indices(out) == [0, 20, 40, 50]
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
