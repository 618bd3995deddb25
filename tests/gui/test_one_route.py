"""One route for a render: the command line and the app's Render button make the same request and go
through the same service, so they get the same plan and the same bytes; the app's second render of an
unchanged composition reuses the cached plan instead of planning again."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from compositions import write_tiny
from hyperdesk.farm import events as fe
from hyperdesk.service import RenderService

pytestmark = pytest.mark.slow


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_and_app_render_one_request_to_the_same_plan_and_bytes(make_window, store, qtbot, tmp_path):
    comp = write_tiny(tmp_path / "tiny")
    cli_out = tmp_path / "cli" / "tiny.mp4"
    cli_out.parent.mkdir()
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(comp), "-o", str(cli_out), "--local", "1",
                        "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    cli_plan = next(e for e in events if e["event"] == "planned")
    cli_done = events[-1]
    assert cli_done["event"] == "assembled" and cli_done["sha256"] == sha256(cli_out)

    service = RenderService(store)
    seen: list[fe.Event] = []
    service.add_listener(seen.append)
    w = make_window(service, probe_thumbnail=False)
    w.nodes_panel.local_workers.setValue(1)
    w.open_composition(str(comp))
    qtbot.waitUntil(lambda: w.facts is not None and w.facts.ok, timeout=120_000)
    # the composition panel shows the very plan the command line made: same request, same cache entry
    assert w.facts.plan.plan_hash == cli_plan["plan_hash"] and w.facts.plan.reused

    for n in (1, 2):
        app_out = tmp_path / f"app{n}" / "tiny.mp4"
        w.settings_panel.output.setText(str(app_out))
        assert w.actions_by_id["render"].isEnabled()
        w.actions_by_id["render"].trigger()
        assert w.job_state == "planning"
        qtbot.waitUntil(lambda: w.job_state in ("done", "failed"), timeout=600_000)
        assert w.job_state == "done", w.job_error
        planned = [e for e in seen if isinstance(e, fe.JobPlanned) and e.job_id == w.job_id]
        assert len(planned) == 1 and planned[0].plan_hash == cli_plan["plan_hash"]
        assert planned[0].reused  # no second planning of an unchanged composition
        assert w.assemble_result.result["sha256"] == sha256(app_out) == cli_done["sha256"]
