"""A render's local workers start while its plan is made (issue 17): their Python start and Playwright's
driver overlap the planning instead of delaying the first frames. They render the job; a planning
failure ends them. Real `hyperdesk worker --serve` processes, real planning."""
from __future__ import annotations

import asyncio
import os
import textwrap
import time
from pathlib import Path

import pytest

from hyperdesk.errors import HyperdeskError
from hyperdesk.service import RenderRequest, RenderService
from hyperdesk.service.request import FarmRequest

pytestmark = pytest.mark.slow

PAGE = """
<!doctype html>
<html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:160px;height:90px;background:#203040;overflow:hidden}
#box{position:absolute;left:0;top:30px;width:30px;height:30px;background:#e04080}
</style></head><body>
<div id="root" data-composition-id="pre" data-width="160" data-height="90" data-duration="2" data-fps="15">
  <div id="box"></div>
</div>
<script>
const tl = gsap.timeline({paused: true});
tl.to("#box", {x: 120, duration: 2, ease: "none"});
window.__timelines["pre"] = tl;
</script></body></html>
"""


def serve_workers() -> list[int]:
    """This process's `hyperdesk worker --serve` children."""
    me = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and b"worker" in cmd and b"--serve" in cmd:
            found.append(int(pid))
    return sorted(found)


def gone(deadline_s: float = 15.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while serve_workers():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def project(root: Path, html: str) -> Path:
    from pipeline import GSAP_URL

    root.mkdir(parents=True)
    (root / "index.html").write_text(textwrap.dedent(html).replace(
        "<head>", f'<head><script src="{GSAP_URL}"></script>', 1).strip() + "\n")
    return root


def test_local_workers_start_before_the_plan_exists_and_render_the_job(store, tmp_path):
    out = tmp_path / "out.mp4"
    request = RenderRequest.create(str(project(tmp_path / "p", PAGE)), str(out), include_audio=False,
                                   farm=FarmRequest(local=2))
    seen_while_planning: list[list[int]] = []

    async def main() -> None:
        service = RenderService(store)

        def listener(event) -> None:
            if event.type == "planning":
                seen_while_planning.append(serve_workers())

        service.add_listener(listener)
        try:
            job_id = await service.start(request)
            outcome = await service.wait(job_id)
            assert outcome.state == "done", outcome
        finally:
            await service.aclose()

    asyncio.run(main())
    assert len(seen_while_planning) == 1 and len(seen_while_planning[0]) == 2, seen_while_planning
    assert out.is_file() and out.stat().st_size > 0
    assert gone(), "the job's end leaves no idle worker behind"


def test_a_planning_failure_ends_the_workers_started_for_it(store, tmp_path):
    # a zero duration: the plan (in its child process) refuses it after the workers started
    broken = PAGE.replace('data-duration="2"', 'data-duration="0"')
    request = RenderRequest.create(str(project(tmp_path / "p", broken)), str(tmp_path / "out.mp4"),
                                   include_audio=False, farm=FarmRequest(local=2))
    seen: list[list[int]] = []

    async def main() -> None:
        service = RenderService(store)
        service.add_listener(lambda event: seen.append(serve_workers()) if event.type == "planning" else None)
        try:
            with pytest.raises(HyperdeskError) as info:
                await service.start(request)
            assert info.value.code == "DURATION_ZERO", info.value
        finally:
            await service.aclose()

    asyncio.run(main())
    assert seen and len(seen[0]) == 2
    assert gone(), "a failed plan's prestarted workers must end"
    assert not (tmp_path / "out.mp4").exists()
