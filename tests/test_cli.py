"""The command line as a user meets it (issue 2 bad input, issue 3 steps): typed errors, no tracebacks,
no partial outputs, and each pipeline step usable by hand."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import mediautil as mu
from hyperdesk.faults import FaultPlan
from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

GOOD = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="good" data-width="160" data-height="90" data-duration="1" data-no-timeline>
  <div style="position:absolute;left:20px;top:20px;width:40px;height:40px;background:#0f0"></div>
</div>
</body></html>
"""


def assert_typed_failure(proc, code: str, out: Path) -> None:
    assert proc.returncode not in (0, None), proc.stderr
    assert f"error {code}:" in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    line = next(l for l in proc.stderr.splitlines() if l.startswith(f"error {code}:"))
    assert len(line) > len(f"error {code}: ")  # a message, on one line
    assert not out.exists(), "a partial output was left behind"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(out.name + ".")], "partial files left"


def test_missing_file(tmp_path):
    out = tmp_path / "out.mp4"
    assert_typed_failure(run_cli("render", str(tmp_path / "nope.html"), "-o", str(out)), "COMPOSITION_NOT_FOUND", out)


def test_not_html(tmp_path):
    png = tmp_path / "picture.png"
    mu.ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", "-y", png)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(png), "-o", str(out))
    assert_typed_failure(proc, "COMPOSITION_NOT_FOUND", out) if "COMPOSITION_NOT_FOUND" in proc.stderr \
        else assert_typed_failure(proc, "INVALID_COMPOSITION", out)


def test_no_composition_root(tmp_path):
    project = write_project(tmp_path / "p", "<!doctype html><html><body><p>hello</p></body></html>")
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out))
    assert_typed_failure(proc, "INVALID_COMPOSITION", out)
    assert "data-composition-id" in proc.stderr


@pytest.mark.parametrize("value", ["0", "-2"])
def test_zero_or_negative_duration(tmp_path, value):
    project = write_project(tmp_path / "p", GOOD.replace('data-duration="1"', f'data-duration="{value}"'))
    out = tmp_path / "out.mp4"
    assert_typed_failure(run_cli("render", str(project), "-o", str(out)), "DURATION_ZERO", out)


def test_unsupported_fps(tmp_path):
    project = write_project(tmp_path / "p", GOOD)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out), "--fps", "29.97")
    assert_typed_failure(proc, "INVALID_RENDER_CONFIG", out)
    assert "29.97" in proc.stderr


def test_missing_sub_composition_file(tmp_path):
    page = GOOD.replace("</div>\n</body>", '<div data-composition-id="x" data-composition-src="scenes/x.html"></div>\n</div>\n</body>')
    project = write_project(tmp_path / "p", page)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out))
    assert_typed_failure(proc, "INVALID_COMPOSITION", out)
    assert "scenes/x.html" in proc.stderr


def test_asset_that_cannot_be_fetched(tmp_path):
    page = GOOD.replace("</body>", '<script src="https://unreachable.invalid/x/y.js"></script></body>')
    project = write_project(tmp_path / "p", page)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out))
    assert_typed_failure(proc, "ASSET_FETCH_FAILED", out)
    assert "https://unreachable.invalid/x/y.js" in proc.stderr and "--asset-dir" in proc.stderr


def test_script_that_throws_on_load(tmp_path):
    page = GOOD.replace("</body>", "<script>throw new Error('kaboom on load')</script></body>")
    project = write_project(tmp_path / "p", page)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out), "--local", "1")
    assert_typed_failure(proc, "PAGE_SCRIPT_ERROR", out)
    assert "kaboom on load" in proc.stderr


def test_page_that_never_becomes_ready(tmp_path):
    # An adapter promise that never settles. (A root timeline that is never registered no longer
    # keeps the page from being ready: after the timeline wait it renders with a warning, issue 10.)
    page = GOOD.replace("</body>", "<script>window.__hfD3 = [new Promise(() => {})];</script></body>")
    project = write_project(tmp_path / "p", page)
    out = tmp_path / "out.mp4"
    faults = FaultPlan(ready_timeout_s=2).to_arg()  # a 2 s readiness limit instead of 45 s
    proc = run_cli("--faults", faults, "render", str(project), "-o", str(out), "--local", "1")
    assert_typed_failure(proc, "PAGE_NOT_READY", out)
    assert "adapters" in proc.stderr  # names the unmet readiness condition


def test_output_in_missing_directory(tmp_path):
    project = write_project(tmp_path / "p", GOOD)
    out = tmp_path / "no" / "such" / "dir" / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out))
    assert proc.returncode == 2 and "error OUTPUT_NOT_WRITABLE:" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.parent.exists()




def test_output_in_read_only_directory(tmp_path):
    project = write_project(tmp_path / "p", GOOD)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    out = ro / "out.mp4"
    try:
        if os.geteuid() == 0:
            # root ignores permission bits; a read-only bind is not available here, so use a path
            # under /proc, which no one can create files in.
            out = Path("/proc/hyperdesk-out.mp4")
        proc = run_cli("render", str(project), "-o", str(out))
        assert proc.returncode == 2, proc.stderr
        assert "error OUTPUT_NOT_WRITABLE:" in proc.stderr and "hint:" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert not out.exists()
    finally:
        ro.chmod(stat.S_IRWXU)


def test_render_prints_progress_and_summary(tmp_path):
    project = write_project(tmp_path / "p", GOOD)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(project), "-o", str(out), "--local", "1")
    assert proc.returncode == 0, proc.stderr
    assert "frames" in proc.stderr and "fps" in proc.stderr and "ETA" in proc.stderr  # the progress bar
    sha = mu.ffmpeg("-v", "error", "-i", out, "-f", "null", "-")  # decodes
    assert "rendered 30 frames (1.000 s)" in proc.stdout
    assert "capture beginframe" in proc.stdout or "capture screenshot" in proc.stdout
    import hashlib

    assert f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}" in proc.stdout
    assert mu.count_packets(out) == 30
    frame = mu.decode_frames(out)[10]
    r, g, b = mu.pixel(frame, 40, 40)
    assert g > 200 and r < 40 and b < 40


def test_each_pipeline_step_by_hand(tmp_path):
    project = write_project(tmp_path / "p", GOOD)
    plan_dir = tmp_path / "plan"
    proc = run_cli("plan", str(project), "-o", str(plan_dir), "--chunk-size", "15", "--keyframe-interval", "15")
    assert proc.returncode == 0, proc.stderr
    assert "2 chunks" in proc.stdout
    proc = run_cli("plan", "--verify", str(plan_dir))
    assert proc.returncode == 0 and "plan OK" in proc.stdout
    chunks = []
    for i in range(2):
        chunk = tmp_path / f"c{i}.mp4"
        proc = run_cli("render-chunk", str(plan_dir), str(i), "-o", str(chunk), "--json")
        assert proc.returncode == 0, proc.stderr
        events = [json.loads(l) for l in proc.stdout.splitlines()]
        assert events[0]["type"] == "accepted" and events[-1]["type"] == "done"
        assert all(e["v"] == 1 for e in events)
        chunks.append(str(chunk))
    out = tmp_path / "out.mp4"
    proc = run_cli("assemble", str(plan_dir), "-o", str(out), *chunks)
    assert proc.returncode == 0, proc.stderr
    assert mu.count_packets(out) == 30 and mu.keyframe_indices(out) == [0, 15]
    # A tampered plan is refused by --verify with the typed code.
    with open(plan_dir / "compiled" / "index.html", "a") as f:
        f.write(" ")
    proc = run_cli("plan", "--verify", str(plan_dir))
    assert proc.returncode == 2 and "error PLAN_HASH_MISMATCH:" in proc.stderr


def test_doctor_reports_the_render_environment():
    proc = run_cli("doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["hyperdesk_version"]
    assert report["browser"]["path"] and report["browser_version"].count(".") == 3
    assert report["browser"]["beginframe"] is True
    assert "SwiftShader" in report["gl_renderer"]
    assert report["ffmpeg_identity"].split("+sha256:")[0].startswith("n")
    assert len(report["fonts"]["sha256"]) == 64
    text = run_cli("doctor")
    assert text.returncode == 0 and "software GL" in text.stdout and "ffmpeg" in text.stdout
