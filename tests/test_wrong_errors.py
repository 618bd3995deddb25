"""Issue 19, item 7: the right error, or a warning, for what used to get a wrong one or none."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

COMP = """
<!doctype html>
<html><head>{head}</head><body style="margin:0;background:#000">
<div data-composition-id="wrong" data-width="320" data-height="180" data-duration="1" data-no-timeline>{body}</div>
</body></html>
"""


def project(tmp_path: Path, head: str = "", body: str = "", files: dict | None = None) -> Path:
    return write_project(tmp_path / "proj", COMP.format(head=head, body=body), files)


def refused(proc, code: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert f"error {code}:" in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "planning" not in proc.stderr, proc.stderr
    return proc.stderr


def test_unknown_format_lists_the_formats(tmp_path):
    proj = project(tmp_path)
    for cmd in (["render", str(proj), "-o", str(tmp_path / "out.avi")], ["plan", str(proj), "-o", str(tmp_path / "p")]):
        text = refused(run_cli(*cmd, "--format", "avi"), "FORMAT_NOT_SUPPORTED")
        assert "IN_DISTRIBUTED" not in text
        assert all(f in text for f in ("mp4", "mov", "webm", "png-sequence")), text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


@pytest.mark.parametrize("value", ['{"a": NaN}', '{"a": Infinity}', '{"a": [1, -Infinity]}'])
def test_non_finite_variables_are_refused(tmp_path, value):
    proj = project(tmp_path)
    proc = run_cli("render", str(proj), "-o", str(tmp_path / "out.mp4"), "--variables", value)
    text = refused(proc, "INVALID_RENDER_CONFIG")
    assert "finite" in text
    assert not (tmp_path / "out.mp4").exists()


def test_standalone_assemble_does_not_promise_a_rerender(tmp_path):
    proj = project(tmp_path)
    plan_dir = tmp_path / "plan"
    assert run_cli("plan", str(proj), "-o", str(plan_dir)).returncode == 0
    chunk = tmp_path / "c0.mp4"
    assert run_cli("render-chunk", str(plan_dir), "0", "-o", str(chunk)).returncode == 0
    data = bytearray(chunk.read_bytes())
    data[-10] ^= 0xFF
    chunk.write_bytes(bytes(data))
    proc = run_cli("assemble", str(plan_dir), "-o", str(tmp_path / "out.mp4"), str(chunk))
    assert proc.returncode == 3 and "error OUTPUT_HASH_MISMATCH:" in proc.stderr, proc.stderr
    assert "fetched" not in proc.stderr and "will be" not in proc.stderr, proc.stderr
    assert "render-chunk" in proc.stderr and "0" in proc.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_css_image_set_outside_the_project_is_refused_at_plan_time(tmp_path):
    (tmp_path / "secret.png").write_bytes(b"\x89PNG not really")
    proj = project(tmp_path, head='<link rel="stylesheet" href="style.css">', body='<div class="bg"></div>',
                   files={"style.css": '.bg { width: 10px; height: 10px; '
                                       'background-image: image-set("../secret.png" 1x); }\n'})
    t0 = time.monotonic()
    proc = run_cli("plan", str(proj), "-o", str(tmp_path / "plan"))
    assert proc.returncode == 2, proc.stderr
    assert "error OUTSIDE_PROJECT_REFERENCE:" in proc.stderr and "secret.png" in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "plan").exists()


def test_missing_and_blocked_requests_are_told_once_with_url_and_file(tmp_path):
    script = """<script>
      fetch('data/missing.json').catch(() => {});
      fetch('https://example.invalid/feed.json').catch(() => {});
    </script>"""
    proj = project(tmp_path, body=script)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", str(proj), "-o", str(out), "--local", "1", "--chunk-size", "15",
                   "--keyframe-interval", "15")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    missing = [ln for ln in lines if "REQUEST_FAILED" in ln and "data/missing.json" in ln]
    blocked = [ln for ln in lines if "REQUEST_BLOCKED" in ln and "https://example.invalid/feed.json" in ln]
    assert len(missing) == 1 and "404" in missing[0] and "index.html" in missing[0], proc.stderr
    assert len(blocked) == 1 and "index.html" in blocked[0], proc.stderr
    proc = run_cli("render", str(proj), "-o", str(tmp_path / "again.mp4"), "--local", "1", "--json")
    events = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    notices = [e for e in events if e.get("event") == "attempt_notice"]
    assert {e["code"] for e in notices} >= {"REQUEST_FAILED", "REQUEST_BLOCKED"}, events
