"""Issue 10, items 1, 2, 6 and 8: outputs never destroy what hyperdesk did not write, bad options
are typed errors before any rendering, and the output does not depend on the worker count."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import mediautil as mu
from pipeline import run_cli, write_project

pytestmark = pytest.mark.slow

COMP = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="safe" data-width="160" data-height="90" data-duration="{duration}" data-no-timeline>
  <div style="position:absolute;left:20px;top:20px;width:40px;height:40px;background:#0f0"></div>
</div>
</body></html>
"""


def project(tmp_path: Path, duration: float = 0.5, name: str = "proj") -> Path:
    return write_project(tmp_path / name, COMP.format(duration=duration),
                        {"style.css": "body { color: white; }\n"})


def tree(root: Path) -> dict[str, str]:
    """Every file under root with its sha256: what a user would lose."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def typed(proc, code: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert f"error {code}:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "INTERNAL_ERROR" not in proc.stderr
    assert "planning" not in proc.stderr, "refused only after planning began"
    return proc.stderr


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- item 1: png-sequence folders


def test_png_sequence_refuses_a_non_empty_folder_and_keeps_it(tmp_path):
    proj = project(tmp_path)
    out = tmp_path / "frames"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "sub").mkdir()
    (out / "sub" / "keep.png").write_bytes(b"not ours")
    before = tree(out)
    err = typed(run_cli("render", str(proj), "-o", str(out), "--format", "png-sequence", "--local", "1"),
                "OUTPUT_EXISTS")
    assert "--overwrite" in err
    assert tree(out) == before


def test_png_sequence_into_the_project_folder_is_refused(tmp_path):
    proj = project(tmp_path)
    before = tree(proj)
    for flags in ([], ["--overwrite"]):
        typed(run_cli("render", str(proj), "-o", str(proj), "--format", "png-sequence", "--local", "1", *flags),
              "OUTPUT_INSIDE_PROJECT")
        typed(run_cli("render", str(proj), "-o", str(tmp_path), "--format", "png-sequence", "--local", "1", *flags),
              "OUTPUT_INSIDE_PROJECT")  # the folder that holds the project
    assert tree(proj) == before


def test_overwrite_replaces_only_our_own_frame_files(tmp_path):
    # Issue 19 changed how "our own" is known: an earlier render's record of the files it wrote (names
    # and sha256), not their names; so the earlier frames come from a real render here.
    out = tmp_path / "frames"
    earlier = run_cli("render", str(project(tmp_path, duration=1.0, name="longer")), "-o", str(out),
                      "--format", "png-sequence", "--local", "1")
    assert earlier.returncode == 0, earlier.stderr
    assert (out / "frame_000030.png").is_file()  # past the new last frame
    proj = project(tmp_path)  # 0.5 s at 30 fps: 15 frames
    (out / "notes.txt").write_text("my notes")
    (out / "cover.png").write_bytes(b"not ours")
    proc = run_cli("render", str(proj), "-o", str(out), "--format", "png-sequence", "--local", "1", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir() if p.name != ".hyperdesk-sequence.json")
    frames = [f"frame_{i:06d}.png" for i in range(1, 16)]
    assert names == sorted(frames + ["audio.m4a", "notes.txt", "cover.png"])
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "cover.png").read_bytes() == b"not ours"
    assert mu.count_frames(out / "frame_%06d.png") == 15
    # the reported sha256 is the sequence's, not the folder's other files
    from hyperdesk.plan.hashing import sha256_bytes, sha256_file

    joined = "\0".join(f"{n}\0{sha256_file(out / n)}" for n in frames)
    assert f"sha256 {sha256_bytes(joined.encode('utf-8'))}" in proc.stdout


# ---------------------------------------------------------------- item 2: the composition's own files


def test_output_onto_the_composition_or_a_project_file_is_refused(tmp_path):
    proj = project(tmp_path)
    clip = proj / "assets" / "clip.mp4"
    clip.parent.mkdir()
    mu.make_video(clip, duration=0.2, size="64x36")
    before = tree(proj)
    typed(run_cli("render", str(proj), "-o", str(proj / "index.html"), "--local", "1"), "OUTPUT_INSIDE_PROJECT")
    typed(run_cli("render", str(proj / "index.html"), "-o", str(proj / "index.html"), "--local", "1"),
          "OUTPUT_INSIDE_PROJECT")
    typed(run_cli("render", str(proj), "-o", str(proj / "style.css"), "--local", "1"), "OUTPUT_INSIDE_PROJECT")
    # a source video with the output's extension is still a source file
    typed(run_cli("render", str(proj), "-o", str(clip), "--local", "1"), "OUTPUT_INSIDE_PROJECT")
    typed(run_cli("render", str(proj), "-o", str(proj / "assets" / ".." / "index.html"), "--local", "1"),
          "OUTPUT_INSIDE_PROJECT")
    assert tree(proj) == before


def test_a_video_output_never_replaces_a_file_hyperdesk_did_not_write_unasked(tmp_path):
    """Outside any project too: `-o wedding.mp4` over the user's own video is refused before planning;
    `--overwrite` replaces it; a render over hyperdesk's own earlier output needs no option."""
    proj = project(tmp_path)
    mine = tmp_path / "wedding.mp4"
    mu.make_video(mine, duration=0.2, size="64x36")
    before = sha256(mine)
    err = typed(run_cli("render", str(proj), "-o", str(mine), "--local", "1"), "OUTPUT_EXISTS")
    assert "not a hyperdesk render" in err and "--overwrite" in err
    assert sha256(mine) == before
    assert run_cli("render", str(proj), "-o", str(mine), "--local", "1", "--overwrite").returncode == 0
    ours = sha256(mine)
    assert ours != before and mu.count_frames(mine) == 15
    again = run_cli("render", str(proj), "-o", str(mine), "--local", "1")  # our own output: replaced as before
    assert again.returncode == 0, again.stderr
    assert sha256(mine) == ours


# ---------------------------------------------------------------- item 6 (and item 2's other side)


def test_output_bytes_do_not_depend_on_the_worker_count(tmp_path):
    """60 frames, a keyframe every 15: with the old slot-sized chunks 1 worker gave one chunk and
    2 workers two, and the worker count was in the plan hash the mp4 carries."""
    proj = project(tmp_path, duration=2)
    out = proj / "out.mp4"  # a new file inside the project is allowed, and so is re-rendering it
    digests, plans = [], []
    for local in ("1", "2"):
        proc = run_cli("render", str(proj), "-o", str(out), "--local", local, "--keyframe-interval", "15", "--json")
        assert proc.returncode == 0, proc.stderr
        digests.append(sha256(out))
        plans.append(next(l for l in proc.stdout.splitlines() if '"planned"' in l))
    assert digests[0] == digests[1]
    import json

    first, second = (json.loads(p) for p in plans)
    assert first["plan_hash"] == second["plan_hash"]
    assert first["chunk_count"] == second["chunk_count"] == 4
    assert mu.count_frames(out) == 60


# ---------------------------------------------------------------- item 8: typed errors before rendering


def test_mp4_output_that_is_a_folder(tmp_path):
    proj = project(tmp_path)
    out = tmp_path / "video.mp4"
    out.mkdir()
    (out / "inside.txt").write_text("x")
    err = typed(run_cli("render", str(proj), "-o", str(out), "--local", "1"), "OUTPUT_NOT_WRITABLE")
    assert "is a folder" in err
    assert (out / "inside.txt").read_text() == "x"


@pytest.mark.parametrize("address", ["user@127.0.0.1:99999", "user@127.0.0.1:0", "user@127.0.0.1:ssh",
                                     "user@[::1]:70000"])
def test_bad_node_port(tmp_path, address):
    proj = project(tmp_path)
    err = typed(run_cli("render", str(proj), "-o", str(tmp_path / "o.mp4"), "--local", "0", "--node", address),
                "INVALID_RENDER_CONFIG")
    assert "port" in err


def test_bad_node_port_when_adding_a_node(tmp_path):
    for args in (["n1", "user@127.0.0.1:abc"], ["n2", "user@127.0.0.1", "--port", "65536"],
                 ["n3", "user@127.0.0.1", "--port", "-1"]):
        proc = run_cli("nodes", "add", *args, "--no-connect")
        assert proc.returncode == 2, proc.stderr
        assert "error INVALID_RENDER_CONFIG:" in proc.stderr and "port" in proc.stderr
    listed = run_cli("nodes", "list", "--json")
    assert not {"n1", "n2", "n3"} & {n["name"] for n in __import__("json").loads(listed.stdout)}


@pytest.mark.parametrize("value", ["-5", "0", "nan"])
def test_stall_timeout_must_be_positive(tmp_path, value):
    proj = project(tmp_path)
    out = tmp_path / "o.mp4"
    err = typed(run_cli("render", str(proj), "-o", str(out), "--local", "1", f"--stall-timeout={value}"),
                "INVALID_RENDER_CONFIG")
    assert "stall-timeout" in err
    assert not out.exists()
