"""The render queue and batch renders from the command line (issue 15): real plans, real Chromium and
ffmpeg, a real job store; what the user sees is the videos' pixels, `queue list --json` and the exit status."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.mediautil import count_frames, decode_frames, pixel
from tests.pipeline import run_cli, write_project

# One colour variable paints the whole frame, a number variable moves a white bar: each row's video
# shows its own values.
BATCH_PAGE = """
<!doctype html><html><body style="margin:0">
<div id="main" data-composition-id="card" data-width="160" data-height="90" data-duration="1" data-fps="10"
     data-no-timeline
     data-composition-variables='[{"id":"bg","type":"color","default":"#000000"},
                                  {"id":"x","type":"number","default":0}]'
     style="position:absolute;inset:0"></div>
<div id="bar" style="position:absolute;top:0;width:20px;height:90px;background:#fff"></div>
<script>
  const v = window.__hyperframes.getVariables();
  document.getElementById('main').style.background = v.bg;
  document.getElementById('bar').style.left = v.x + 'px';
</script>
</body></html>
"""


def _env(tmp_path: Path) -> dict[str, str]:
    """A job store of the test's own: the queue is per user data dir."""
    return {**os.environ, "HYPERDESK_DATA_DIR": str(tmp_path / "data")}


def _queue_list(env: dict[str, str]) -> list[dict]:
    r = run_cli("queue", "list", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _near(got: tuple[int, ...], want: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(got[:3], want, strict=True))


def test_batch_renders_one_video_per_row(tmp_path: Path) -> None:
    project = write_project(tmp_path / "card", BATCH_PAGE)
    rows = tmp_path / "rows.csv"
    rows.write_text("name,bg,x\nred,#ff0000,10\ngreen,#00ff00,70\nblue,#0000ff,130\n")
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("render", str(project), "--batch", str(rows), "-o", f"{out}/{{name}}.mp4",
                "--local", "2", env=_env(tmp_path))
    assert r.returncode == 0, r.stderr
    want = {"red": ((255, 0, 0), 10), "green": ((0, 255, 0), 70), "blue": ((0, 0, 255), 130)}
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.mp4" for n in want)
    for name, (colour, x) in want.items():
        video = out / f"{name}.mp4"
        assert count_frames(video) == 10
        frame = decode_frames(video)[5]
        assert _near(pixel(frame, 150 if x < 100 else 40, 45), colour), (name, pixel(frame, 150, 45))
        assert _near(pixel(frame, x + 10, 45), (255, 255, 255)), (name, pixel(frame, x + 10, 45))
    # the three jobs are in the store under their rows' names, done
    entries = {e["name"]: e for e in _queue_list(_env(tmp_path))}
    assert {e["state"] for e in entries.values()} == {"done"}
    assert len(entries) == 3


@pytest.mark.parametrize(("table", "name", "row", "column"), [
    ("name,bg\nok,#ff0000\nbad,notacolour\n", "rows.csv", 2, "bg"),
    ('[{"name":"a","x":1},{"name":"b","x":"far"}]', "rows.json", 2, "x"),
    ("name,bg\nsame,#ff0000\nsame,#00ff00\n", "rows.csv", 2, ""),
])
def test_a_bad_row_fails_before_anything_renders(tmp_path: Path, table: str, name: str, row: int,
                                                 column: str) -> None:
    project = write_project(tmp_path / "card", BATCH_PAGE)
    rows = tmp_path / name
    rows.write_text(table)
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("render", str(project), "--batch", str(rows), "-o", f"{out}/{{name}}.mp4", "--json",
                env=_env(tmp_path))
    assert r.returncode == 2, r.stderr
    err = json.loads(r.stdout.strip().splitlines()[-1])
    assert err["code"] in ("INVALID_RENDER_CONFIG", "OUTPUT_EXISTS")
    assert f"row {row}" in err["message"]
    if column:
        assert repr(column) in err["message"]
    assert list(out.iterdir()) == []
    assert _queue_list(_env(tmp_path)) == []


def test_queue_runs_higher_priority_first_and_survives_a_killed_runner(tmp_path: Path) -> None:
    env = _env(tmp_path)
    project = write_project(tmp_path / "card", BATCH_PAGE)
    ids = {}
    for prio in (1, 5):
        r = run_cli("queue", "add", str(project), "-o", str(tmp_path / f"p{prio}.mp4"), "--priority", str(prio),
                    "--variables", json.dumps({"x": prio * 10}), env=env)
        assert r.returncode == 0, r.stderr
        ids[prio] = r.stdout.strip()
    listed = {e["id"]: e for e in _queue_list(env)}
    assert {listed[ids[1]]["state"], listed[ids[5]]["state"]} == {"queued"}
    assert listed[ids[5]]["priority"] == 5

    # kill -9 the runner while it works on the first job: nothing is lost, a second run finishes both
    runner = subprocess.Popen([sys.executable, "-m", "hyperdesk", "queue", "run", "--local", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = {e["id"]: e["state"] for e in _queue_list(env)}
        if states[ids[5]] in ("running", "interrupted"):
            break
        assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
        time.sleep(0.3)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    states = {e["id"]: e["state"] for e in _queue_list(env)}
    assert states[ids[1]] == "queued"
    assert states[ids[5]] in ("interrupted", "done", "queued")

    r = run_cli("queue", "run", "--local", "1", env=env)
    assert r.returncode == 0, r.stderr
    done = {e["id"]: e for e in _queue_list(env)}
    assert done[ids[1]]["state"] == done[ids[5]]["state"] == "done"
    assert done[ids[5]]["finished_at"] < done[ids[1]]["finished_at"]  # ISO 8601 in UTC, milliseconds
    for prio in (1, 5):
        assert count_frames(tmp_path / f"p{prio}.mp4") == 10


def test_queue_run_on_a_paused_queue_says_so_and_starts_when_resumed(tmp_path: Path) -> None:
    env = _env(tmp_path)
    project = write_project(tmp_path / "card", BATCH_PAGE)
    r = run_cli("queue", "add", str(project), "-o", str(tmp_path / "p.mp4"), env=env)
    assert r.returncode == 0, r.stderr
    assert run_cli("queue", "pause", env=env).returncode == 0
    runner = subprocess.Popen([sys.executable, "-m", "hyperdesk", "queue", "run", "--local", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert runner.stderr is not None
        ready, _, _ = select.select([runner.stderr], [], [], 60)
        assert ready, "queue run said nothing about the paused queue"
        line = runner.stderr.readline()  # said at once, not after a silent wait
        assert "the queue is paused: 1 job(s) wait" in line, line
        assert runner.poll() is None
        assert [e["state"] for e in _queue_list(env)] == ["queued"]
        assert run_cli("queue", "resume", env=env).returncode == 0  # from elsewhere: the runner starts the job
        assert runner.wait(timeout=180) == 0
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    assert [e["state"] for e in _queue_list(env)] == ["done"]
    assert count_frames(tmp_path / "p.mp4") == 10


def test_queue_commands_refuse_unknown_jobs(tmp_path: Path) -> None:
    env = _env(tmp_path)
    r = run_cli("queue", "priority", "nosuchjob", "3", env=env)
    assert r.returncode == 2
    assert "nosuchjob" in r.stdout + r.stderr
    r = run_cli("queue", "run", env=env)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- re-plan after a fix, frame-range re-render

def _jobs(env: dict[str, str]) -> list[dict]:
    r = run_cli("jobs", "list", "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_retry_after_a_fix_warns_and_replan_renders_the_fixed_composition(tmp_path: Path) -> None:
    from tests.gui.compositions import write_tiny

    env = _env(tmp_path)
    project = write_tiny(tmp_path / "tiny", broken=True)
    out = tmp_path / "tiny.mp4"
    chunking = ("--chunk-size", "8", "--keyframe-interval", "8", "--local", "1")
    r = run_cli("render", str(project), "-o", str(out), *chunking, env=env)
    assert r.returncode != 0 and "PAGE_SCRIPT_ERROR" in r.stderr
    [failed] = _jobs(env)

    # unchanged files: a retry renders the same plan, no warning
    r = run_cli("jobs", "retry", failed["id"], env=env)
    assert r.returncode != 0 and "PAGE_SCRIPT_ERROR" in r.stderr
    assert "changed since" not in r.stderr

    write_tiny(project)  # the fix
    r = run_cli("jobs", "retry", failed["id"], env=env)
    assert r.returncode != 0 and "PAGE_SCRIPT_ERROR" in r.stderr
    assert "changed since" in r.stderr and "--replan" in r.stderr

    r = run_cli("jobs", "retry", failed["id"], "--replan", env=env)
    assert r.returncode == 0, r.stderr
    assert count_frames(out) == 30
    jobs = {j["id"]: j for j in _jobs(env)}
    assert len(jobs) == 2 and jobs[failed["id"]]["state"] == "failed"
    [done] = [j for j in jobs.values() if j["id"] != failed["id"]]
    assert done["state"] == "done" and done["plan_hash"] != failed["plan_hash"]

    r = run_cli("jobs", "retry", done["id"], "--frames", "25-40", env=env)
    assert r.returncode == 2 and "0-29" in r.stderr


def _started_chunks(stdout: str) -> list[int]:
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return sorted({e["chunk_index"] for e in events if e.get("event") == "attempt_started"})


def test_frame_range_rerender_renders_only_the_chunks_covering_it(tmp_path: Path) -> None:
    from tests.gui.compositions import write_tiny

    env = _env(tmp_path)
    project = write_tiny(tmp_path / "tiny")
    out = tmp_path / "tiny.mp4"
    r = run_cli("render", str(project), "-o", str(out), "--chunk-size", "8", "--keyframe-interval", "8",
                "--local", "1", "--keep-chunks", env=env)
    assert r.returncode == 0, r.stderr
    [job] = _jobs(env)
    before = out.read_bytes()
    r = run_cli("jobs", "retry", job["id"], "--frames", "10-17", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert _started_chunks(r.stdout) == [1, 2]  # frames 8-15 and 16-23
    assert out.read_bytes() == before  # the same plan renders the same bytes, assembled again
    assert count_frames(out) == 30


# ---------------------------------------------------------------- -o and --format agree

def test_output_extension_and_format_must_agree(tmp_path: Path) -> None:
    from tests.gui.compositions import write_tiny

    env = _env(tmp_path)
    project = write_tiny(tmp_path / "tiny")
    out = tmp_path / "x.webm"
    r = run_cli("render", str(project), "-o", str(out), "--format", "mp4", "--json", env=env)
    assert r.returncode == 2, r.stderr
    err = json.loads(r.stdout.strip().splitlines()[-1])
    assert err["code"] == "OUTPUT_FORMAT_MISMATCH" and "x.webm" in err["message"]
    assert not out.exists() and _jobs(env) == []  # refused before planning: no job
    # without --format the extension chooses it: a real webm
    r = run_cli("render", str(project), "-o", str(out), "--local", "1", env=env)
    assert r.returncode == 0, r.stderr
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0",
                            str(out)], capture_output=True, text=True, check=True)
    assert "webm" in probe.stdout
    r = run_cli("render", str(project), "-o", str(tmp_path / "y.avi"), env=env)
    assert r.returncode == 2 and "FORMAT_NOT_SUPPORTED" in r.stderr
