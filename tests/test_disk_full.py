"""Issue 19, item 5: a full disk is DISK_FULL (exit 2) naming the folder and the space needed
against what is free, checked before assembly when the output's size is known; nothing partial is
left behind. The full disk is a real 2 MB tmpfs, filled up by the test."""
from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from farm.sshd import node_processes
from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

COMP = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="full" data-width="320" data-height="180" data-duration="1" data-no-timeline>
  <div style="position:absolute;left:20px;top:20px;width:80px;height:80px;background:#0f0"></div>
</div>
</body></html>
"""


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB tmpfs mounted for the test (skipped where mounting is not permitted)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


USER_FILE = "holiday.jpg"  # the user's own file on the disk that fills up


@pytest.fixture
def mine(small_disk: Path) -> tuple[Path, str]:
    """A file of the user's on the small disk, written before it is filled, and its sha256."""
    path = small_disk / USER_FILE
    path.write_bytes(os.urandom(64 * 1024))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _session_processes(disk: Path) -> set[tuple[int, str]]:
    found = node_processes(os.environ["HYPERDESK_DATA_DIR"]) + node_processes(str(disk))
    return {p for p in found if any(w in p[1] for w in ("worker", "chrom", "ffmpeg"))}


_EARLIER: set[int] = set()  # pids of processes that were there before the test (another suite's browser)


@pytest.fixture(autouse=True)
def _earlier_processes(tmp_path: Path) -> None:
    _EARLIER.clear()
    _EARLIER.update(pid for pid, _ in _session_processes(tmp_path))


def render_processes(disk: Path) -> list[tuple[int, str]]:
    """Workers, Chromium and ffmpeg this test's renders started: their environment names the session's
    data dir, and the browser of a `render-chunk` has its profile beside the chunk, on the disk. Those
    that ran before the test began (a session-wide browser of another suite) are not this test's."""
    return sorted(p for p in _session_processes(disk) if p[0] not in _EARLIER)


def nothing_left(disk: Path, mine: tuple[Path, str]) -> None:
    """No partial output or work folder on the disk, the user's file byte for byte as it was, and no
    worker, Chromium or ffmpeg still running."""
    assert leftovers(disk) == []
    path, digest = mine
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    deadline = time.monotonic() + 10
    while render_processes(disk) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert render_processes(disk) == []


def fill(disk: Path, leave: int) -> None:
    """Fill the disk up to `leave` free bytes."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler.bin", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in ("filler.bin", USER_FILE))


def typed_disk_full(proc: subprocess.CompletedProcess, folder: Path) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "error DISK_FULL:" in proc.stderr, proc.stderr
    assert "INTERNAL_ERROR" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert str(folder) in proc.stderr, proc.stderr
    return proc.stderr


@pytest.fixture(scope="module")
def chunks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    """A planned composition and its rendered chunks, on the ordinary disk."""
    root = tmp_path_factory.mktemp("full")
    proj = write_project(root / "proj", COMP)
    plan_dir = root / "plan"
    proc = run_cli("plan", str(proj), "-o", str(plan_dir), "--chunk-size", "15", "--keyframe-interval", "15")
    assert proc.returncode == 0, proc.stderr
    outs = []
    for i in range(2):
        out = root / f"chunk_{i}.mp4"
        proc = run_cli("render-chunk", str(plan_dir), str(i), "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    return proj, plan_dir, outs


def test_assemble_checks_the_space_before_writing(small_disk, mine, chunks):
    _proj, plan_dir, outs = chunks
    fill(small_disk, 0)
    t0 = time.monotonic()
    proc = run_cli("assemble", str(plan_dir), "-o", str(small_disk / "out.mp4"), *map(str, outs))
    text = typed_disk_full(proc, small_disk)
    assert time.monotonic() - t0 < 30
    assert "needs" in text and "free" in text, text
    nothing_left(small_disk, mine)


def test_render_onto_a_full_disk_is_disk_full_and_leaves_nothing(small_disk, mine, chunks):
    """No room at all: refused before assembly with the space it needs."""
    proj, _plan_dir, _outs = chunks
    fill(small_disk, 0)
    proc = run_cli("render", str(proj), "-o", str(small_disk / "out.mp4"), "--local", "1")
    text = typed_disk_full(proc, small_disk)
    assert "needs" in text, text
    nothing_left(small_disk, mine)


def test_disk_filling_up_during_assembly_is_disk_full_and_leaves_nothing(small_disk, mine, chunks):
    """Room for the chunks' bytes but not for the output's own pages: the write fails in the middle
    of assembly, still DISK_FULL, and no <out>.assemble.* stays."""
    proj, _plan_dir, outs = chunks
    fill(small_disk, 8192)
    assert sum(p.stat().st_size for p in outs) < 8192, "the chunks are small enough for the check to pass"
    proc = run_cli("render", str(proj), "-o", str(small_disk / "out.mp4"), "--local", "1")
    typed_disk_full(proc, small_disk)
    nothing_left(small_disk, mine)


def test_chunk_encode_on_a_full_disk_is_disk_full(small_disk, mine, chunks):
    _proj, plan_dir, _outs = chunks
    fill(small_disk, 4096)
    proc = run_cli("render-chunk", str(plan_dir), "0", "-o", str(small_disk / "c0.mp4"))
    typed_disk_full(proc, small_disk)
    assert not [n for n in leftovers(small_disk) if ".work." in n], leftovers(small_disk)
    nothing_left(small_disk, mine)


def test_png_frames_on_a_full_disk_are_disk_full(small_disk, mine, tmp_path):
    proj = write_project(tmp_path / "proj", COMP)
    plan_dir = tmp_path / "plan"
    proc = run_cli("plan", str(proj), "-o", str(plan_dir), "--format", "png-sequence")
    assert proc.returncode == 0, proc.stderr
    fill(small_disk, 4096)
    proc = run_cli("render-chunk", str(plan_dir), "0", "-o", str(small_disk / "c0"))
    typed_disk_full(proc, small_disk)
    nothing_left(small_disk, mine)


def test_planning_onto_a_full_disk_is_disk_full(small_disk, mine, chunks):
    proj = chunks[0]
    fill(small_disk, 4096)
    proc = run_cli("plan", str(proj), "-o", str(small_disk / "plan"))
    typed_disk_full(proc, small_disk)
    nothing_left(small_disk, mine)
