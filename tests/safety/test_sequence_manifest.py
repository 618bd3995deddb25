"""Issue 19, item 1: a png-sequence render records what it wrote (names and sha256) in the output
folder; --overwrite replaces or removes only recorded files whose bytes still match, and any other
clash is OUTPUT_EXISTS naming the file, before anything is written."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from hyperdesk.plan.sequence_record import RECORD_NAME
from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

COMP = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="seq" data-width="320" data-height="180" data-duration="{duration}" data-no-timeline>
  <div style="position:absolute;left:20px;top:20px;width:40px;height:40px;background:{colour}"></div>
</div>
</body></html>
"""


def project(root: Path, duration: float = 1.0, colour: str = "#0f0") -> Path:
    return write_project(root, COMP.format(duration=duration, colour=colour))


def tree(root: Path) -> dict[str, str]:
    """Every entry under root with its sha256 (folders as "dir"): what a user would lose."""
    return {p.relative_to(root).as_posix(): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def render_seq(proj: Path, out: Path, *flags: str):
    # 10 fps: ten frames a second keep the renders short
    return run_cli("render", str(proj), "-o", str(out), "--format", "png-sequence", "--fps", "10", "--local", "1",
                   *flags)


def refused(proc, code: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert f"error {code}:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "INTERNAL_ERROR" not in proc.stderr
    return proc.stderr


def frames(n: int) -> list[str]:
    """What a render of n frames writes: the frames and the audio track (silent here)."""
    return [f"frame_{i:06d}.png" for i in range(1, n + 1)] + ["audio.m4a"]


def test_user_files_named_like_frames_are_never_replaced(tmp_path):
    """The issue's folder: the user's own frame_000500.png (past the frame range), frame_000010.png
    and audio.m4a. --overwrite used to delete 000500 and replace the others."""
    proj = project(tmp_path / "proj")
    out = tmp_path / "frames"
    out.mkdir()
    (out / "frame_000500.png").write_bytes(os.urandom(300))
    (out / "frame_000010.png").write_bytes(b"my own drawing")
    (out / "audio.m4a").write_bytes(b"my own voice-over")
    (out / "notes.txt").write_text("notes")
    before, siblings = tree(out), sorted(p.name for p in tmp_path.iterdir())
    err = refused(render_seq(proj, out, "--overwrite"), "OUTPUT_EXISTS")
    assert "audio.m4a" in err or "frame_000010.png" in err or "frame_000500.png" in err
    assert "planning" not in err, "refused only after planning began"
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no partial folder left beside it


def test_overwrite_replaces_and_removes_only_recorded_files(tmp_path):
    proj = project(tmp_path / "proj", duration=1.0)
    out = tmp_path / "frames"
    first = render_seq(proj, out)
    assert first.returncode == 0, first.stderr
    record = json.loads((out / RECORD_NAME).read_text())
    assert sorted(record["files"]) == sorted(frames(10))
    for name, entry in record["files"].items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert entry["size"] == (out / name).stat().st_size
    (out / "notes.txt").write_text("the user's notes")
    (out / "cover.png").write_bytes(b"the user's cover")

    # a shorter, different render: frames 1-5 and the audio replaced, 6-10 (recorded, unchanged) removed
    short = project(tmp_path / "short", duration=0.5, colour="#f00")
    second = render_seq(short, out, "--overwrite")
    assert second.returncode == 0, second.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(frames(5) + ["notes.txt", "cover.png", RECORD_NAME])
    assert (out / "notes.txt").read_text() == "the user's notes"
    assert (out / "cover.png").read_bytes() == b"the user's cover"
    record = json.loads((out / RECORD_NAME).read_text())
    assert sorted(record["files"]) == sorted(frames(5)) and not record["replacing"]
    for name, entry in record["files"].items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "proj", "short"]


def test_a_recorded_frame_changed_since_is_refused(tmp_path):
    proj = project(tmp_path / "proj")
    out = tmp_path / "frames"
    assert render_seq(proj, out).returncode == 0
    (out / "frame_000003.png").write_bytes(b"retouched by hand")  # listed, but no longer our bytes
    before = tree(out)
    err = refused(render_seq(proj, out, "--overwrite"), "OUTPUT_EXISTS")
    assert "frame_000003.png" in err
    assert tree(out) == before


def test_a_frame_name_the_record_does_not_list_is_refused(tmp_path):
    proj = project(tmp_path / "proj", duration=0.5)
    out = tmp_path / "frames"
    assert render_seq(proj, out).returncode == 0  # frames 1-5 recorded
    (out / "frame_000007.png").write_bytes(b"added by the user")
    before = tree(out)
    err = refused(render_seq(proj, out, "--overwrite"), "OUTPUT_EXISTS")
    assert "frame_000007.png" in err
    assert tree(out) == before


def test_an_unreadable_record_protects_the_folder(tmp_path):
    proj = project(tmp_path / "proj", duration=0.5)
    out = tmp_path / "frames"
    assert render_seq(proj, out).returncode == 0
    (out / RECORD_NAME).write_text("{not json")
    before = tree(out)
    err = refused(render_seq(proj, out, "--overwrite"), "OUTPUT_EXISTS")
    assert RECORD_NAME in err
    assert tree(out) == before


def test_overwrite_into_a_folder_of_other_files_only_adds(tmp_path):
    proj = project(tmp_path / "proj", duration=0.5)
    out = tmp_path / "frames"
    out.mkdir()
    (out / "notes.txt").write_text("notes")
    (out / "sub").mkdir()
    (out / "sub" / "frame_000001.png").write_bytes(b"in a sub-folder: not a clash")
    before = tree(out)
    proc = render_seq(proj, out, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    after = tree(out)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == sorted(frames(5) + [RECORD_NAME])
