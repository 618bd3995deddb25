"""--allow-missing-assets (issue 16, item 7): strict by default (ASSET_FETCH_FAILED); with the option a
remote asset no tier supplies is left out with a loud ASSET_MISSING warning each, the page renders
without it (as HyperFrames does), and the plan and the job's result list it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mediautil as mu
from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.chunk import render_chunk
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan

# .invalid never resolves: every tier fails at once.
MISSING = ["https://assets.invalid/hd16/lib.js", "https://assets.invalid/hd16/photo.png",
           "https://assets.invalid/hd16/theme.css", "https://assets.invalid/hd16/face.woff2"]
PAGE = f"""<!doctype html><html><head>
<script src="{MISSING[0]}"></script>
<link rel="stylesheet" href="{MISSING[2]}">
<style>
  @font-face {{ font-family: "Gone"; src: url("{MISSING[3]}") format("woff2"); }}
  html, body {{ margin: 0; background: #000; }}
  #box {{ position: absolute; left: 8px; top: 8px; width: 24px; height: 24px; background: #00ff00; }}
  #text {{ position: absolute; left: 40px; top: 4px; font: 20px "Gone"; color: #fff; }}
</style></head><body>
<div id="root" data-composition-id="missing" data-width="160" data-height="90" data-duration="0.2" data-fps="10"
     data-no-timeline style="position:relative;width:160px;height:90px">
  <div id="box"></div><div id="text">Hi</div>
  <img src="{MISSING[1]}" style="position:absolute;left:8px;top:48px;width:32px;height:32px">
</div></body></html>"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "project"
    p.mkdir()
    (p / "index.html").write_text(PAGE)
    return p


def test_strict_default_fails(project, tmp_path):
    with pytest.raises(HyperdeskError) as info:
        plan(project, RenderConfig(), tmp_path / "plan")
    assert info.value.code == "ASSET_FETCH_FAILED"
    assert not (tmp_path / "plan").exists()


def test_allowed_missing_assets_render_without_them(project, tmp_path, caplog):
    planned = plan(project, RenderConfig(format="png-sequence", allow_missing_assets=True), tmp_path / "plan")
    m = planned.manifest
    assert m.missing_assets == sorted(MISSING)
    warned = sorted(w.url for w in m.warnings if w.code == "ASSET_MISSING")
    assert warned == sorted(MISSING)
    assert all("--allow-missing-assets" in w.message for w in m.warnings if w.code == "ASSET_MISSING")
    assert sum("MISSING ASSET" in r.getMessage() for r in caplog.records) == len(MISSING)
    compiled = (Path(planned.plan_dir) / "compiled" / "index.html").read_text()
    assert "assets.invalid" not in compiled  # no remote URL reaches the page
    out = tmp_path / "frames"
    results = [render_chunk(Path(planned.plan_dir), i, tmp_path / f"chunk{i}") for i in range(m.chunk_count)]
    result = assemble(Path(planned.plan_dir), results, out)
    assert result.missing_assets == sorted(MISSING)
    frame = mu.decode_frames(out / "frame_000001.png")[0]
    assert mu.pixel(frame, 20, 20)[:3] == (0, 255, 0)  # the page drew around the missing assets
    assert mu.pixel(frame, 150, 80)[:3] == (0, 0, 0)


def test_cli_prints_the_missing_assets(project, tmp_path):
    out = tmp_path / "frames"
    env = {**os.environ, "HYPERDESK_DATA_DIR": str(tmp_path / "data")}  # a job store of the test's own
    proc = subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(out),
                           "--format", "png-sequence", "--allow-missing-assets", "--workers", "1"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"rendered with {len(MISSING)} missing asset(s)" in proc.stderr
    for url in MISSING:
        assert f"missing {url}" in proc.stderr
    # the job is marked as rendered with missing assets: in the job list and the job's page
    listed = subprocess.run([sys.executable, "-m", "hyperdesk", "jobs", "list", "--json"], capture_output=True,
                            text=True, timeout=60, env=env)
    (job,) = json.loads(listed.stdout)
    assert job["state"] == "done" and job["missing_assets"] == len(MISSING)
    listed = subprocess.run([sys.executable, "-m", "hyperdesk", "jobs", "list"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert f"rendered with {len(MISSING)} missing asset(s)" in listed.stdout
    shown = subprocess.run([sys.executable, "-m", "hyperdesk", "jobs", "show", job["id"]], capture_output=True,
                           text=True, timeout=60, env=env)
    assert all(f"  {url}" in shown.stdout for url in MISSING), shown.stdout
    strict = subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(tmp_path / "x"),
                             "--format", "png-sequence"], capture_output=True, text=True, timeout=600)
    assert strict.returncode == 2 and "ASSET_FETCH_FAILED" in strict.stderr + strict.stdout
