"""render_still(): one frame of a plan as a PNG, and its second browser after a browser failure."""
from __future__ import annotations

from pathlib import Path

import pytest

import mediautil as mu
from hyperdesk.capture.session import CaptureSession
from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan
from hyperdesk.plan.still import render_still

PAGE = """<!doctype html><html><head><style>html,body{margin:0;background:#000}
#box{position:absolute;left:0;top:0;width:160px;height:180px;background:#0f0}</style></head><body>
<div id="root" data-composition-id="still" data-width="320" data-height="180" data-duration="0.5"
     data-fps="10" data-no-timeline style="position:relative;width:320px;height:180px">
  <div id="box"></div></div></body></html>"""


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("still")
    (root / "project").mkdir()
    (root / "project" / "index.html").write_text(PAGE)
    return Path(plan(root / "project", RenderConfig(format="mp4"), root / "plan").plan_dir)


def failing_captures(monkeypatch, code: str, times: int) -> list[int]:
    """The first `times` captures of any session fail with `code`; returns the frames asked for."""
    real, asked = CaptureSession.capture, []

    async def capture(self, frame_index):
        asked.append(frame_index)
        if len(asked) <= times:
            raise HyperdeskError(code, f"test: capture {len(asked)} fails")
        return await real(self, frame_index)

    monkeypatch.setattr(CaptureSession, "capture", capture)
    return asked


def test_the_still_is_the_frame(plan_dir, tmp_path):
    out = render_still(plan_dir, 2, tmp_path / "still.png")
    (rgb,) = mu.decode_frames(out)
    assert mu.pixel(rgb, 80, 90) == pytest.approx((0, 255, 0), abs=3)
    assert mu.pixel(rgb, 240, 90) == pytest.approx((0, 0, 0), abs=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["still.png"]  # no work folder left


def test_a_crashed_browser_gets_one_successor(plan_dir, tmp_path, monkeypatch):
    clean = render_still(plan_dir, 2, tmp_path / "clean.png").read_bytes()
    asked = failing_captures(monkeypatch, "BROWSER_CRASHED", 1)
    assert render_still(plan_dir, 2, tmp_path / "again.png").read_bytes() == clean
    assert asked == [2, 2]


def test_a_second_crash_or_another_error_stands(plan_dir, tmp_path, monkeypatch):
    asked = failing_captures(monkeypatch, "BROWSER_CRASHED", 2)
    with pytest.raises(HyperdeskError) as e:
        render_still(plan_dir, 1, tmp_path / "a.png")
    assert e.value.code == "BROWSER_CRASHED" and asked == [1, 1]
    asked.clear()
    monkeypatch.undo()
    asked = failing_captures(monkeypatch, "CAPTURE_TIMEOUT", 1)
    with pytest.raises(HyperdeskError) as e:
        render_still(plan_dir, 1, tmp_path / "b.png")
    assert e.value.code == "CAPTURE_TIMEOUT" and asked == [1]
    assert list(tmp_path.iterdir()) == []  # no output, no work folder
