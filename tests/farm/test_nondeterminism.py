"""NONDETERMINISTIC_OUTPUT: two successful attempts of one chunk that differ are reported, the first kept."""
from __future__ import annotations

from pathlib import Path

import pytest

from farm.conftest import run_job
from hyperdesk.farm.local import LocalExecutor
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan

pytestmark = pytest.mark.slow

# performance.timeOrigin is not virtualised: each page load paints a different colour, so this
# composition breaks the contract's "a frame is a pure function of t" — exactly what the check is for.
PAGE = """<!doctype html><html><body style="margin:0">
<div data-composition-id="nd" data-width="64" data-height="36" data-duration="0.5" data-no-timeline>
  <div id="b" style="position:absolute;inset:0"></div>
</div>
<script>
  document.getElementById("b").style.background =
    "rgb(" + Math.floor(performance.timeOrigin * 1000) % 256 + ", 80, 160)";
</script>
</body></html>"""


def test_rerendered_chunk_with_different_bytes_is_reported(tmp_path, store):
    project = tmp_path / "p"
    project.mkdir()
    (project / "index.html").write_text(PAGE)
    planned = plan(project, RenderConfig(format="png-sequence", keyframe_interval=15), tmp_path / "plan")
    state = {"retried": False}

    async def listener(event, controller):
        if event.type == "chunk_done" and not state["retried"]:
            state["retried"] = True
            await controller.retry_chunk(0)

    outcome, events, _job = run_job([LocalExecutor(1)], Path(planned.plan_dir), tmp_path / "out", store=store,
                                    listener=listener)
    assert outcome.state == "done", outcome.error
    notices = [e for e in events if e.type == "attempt_notice" and e.code == "NONDETERMINISTIC_OUTPUT"]
    assert len(notices) == 1 and notices[0].chunk_index == 0
    assert "rendered differently" in notices[0].message
