"""Issue 10, item 1 in the app: a png-sequence into a folder holding files is refused with
OUTPUT_EXISTS before planning; the "replace the frames of an earlier render" box replaces only
hyperdesk's own frame files."""
from __future__ import annotations

import hashlib

import pytest

from compositions import write_tiny
from hyperdesk.plan.sequence_record import RECORD_NAME, RecordedFile, SequenceRecord, write_record
from hyperdesk.service import RenderService

pytestmark = pytest.mark.slow


def test_png_sequence_folder_is_kept_unless_replacing_earlier_frames(make_window, store, qtbot, tmp_path):
    comp = write_tiny(tmp_path / "tiny")
    out = tmp_path / "frames"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "frame_000099.png").write_bytes(b"an earlier render's frame")
    # Issue 19: a frame is an earlier render's only when that render's record lists its bytes.
    write_record(out, SequenceRecord(files={"frame_000099.png": RecordedFile(
        size=25, sha256=hashlib.sha256(b"an earlier render's frame").hexdigest())}))
    w = make_window(RenderService(store))
    w.nodes_panel.local_workers.setValue(1)
    w.open_composition(str(comp))
    qtbot.waitUntil(lambda: w.facts is not None and w.facts.ok, timeout=120_000)
    panel = w.settings_panel
    panel.format.setCurrentText("png-sequence")
    assert panel.overwrite.isEnabled()
    panel.output.setText(str(out))
    panel.overwrite.setChecked(False)

    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: "OUTPUT_EXISTS" in w.job_view.detail.text(), timeout=60_000)
    assert "--overwrite" in w.job_view.detail.text() or "overwrite" in w.job_view.detail.text().lower()
    assert sorted(p.name for p in out.iterdir()) == [RECORD_NAME, "frame_000099.png", "notes.txt"]

    panel.overwrite.setChecked(True)
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: w.job_state == "done", timeout=600_000)
    names = sorted(p.name for p in out.iterdir() if p.name != RECORD_NAME)
    assert names == sorted([f"frame_{i:06d}.png" for i in range(1, 31)] + ["audio.m4a", "notes.txt"])
    assert (out / "notes.txt").read_text() == "my notes"
    # a video output over a file hyperdesk did not write is refused unless the box is ticked
    panel.format.setCurrentText("mp4")
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"the user's own video")
    panel.output.setText(str(mine))
    panel.overwrite.setChecked(False)
    w.actions_by_id["render"].trigger()
    qtbot.waitUntil(lambda: "OUTPUT_EXISTS" in w.job_view.detail.text(), timeout=60_000)
    assert "not a hyperdesk render" in w.job_view.detail.text()
    assert mine.read_bytes() == b"the user's own video"
