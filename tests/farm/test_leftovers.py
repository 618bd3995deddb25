"""Nothing left behind (issue 19, item 4), with real renders, processes and sshd nodes: Ctrl-C of a
render, kill -9 of the controller during assembly, a node lost mid-chunk."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from farm.conftest import run_job
from farm.sshd import node_processes
from hyperdesk.dirs import OWNER_FILE
from hyperdesk.farm.controller import FarmSettings
from hyperdesk.farm.ssh import SshExecutor

pytestmark = pytest.mark.slow

# 320x180; `seconds` long at 10 fps, a moving box so every frame differs.
SMALL = """
<!doctype html>
<html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:320px;height:180px;background:#123;overflow:hidden}
#box{position:absolute;top:60px;left:0;width:60px;height:60px;background:#fc0;animation:go %(s)ss linear forwards}
@keyframes go{from{left:0}to{left:260px}}
</style></head><body>
<div id="root" data-composition-id="small" data-width="320" data-height="180" data-duration="%(s)s" data-fps="10"
     data-no-timeline><div id="box"></div></div>
</body></html>
"""


def write_small(root: Path, seconds: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(textwrap.dedent(SMALL % {"s": seconds}))
    return root


def register(node, store) -> None:
    store.upsert_node(node.node_config())
    store.pin_host_key(node.address, node.port, node.host_key.export_public_key("openssh").decode().strip(),
                       node.fingerprint)


def work_dirs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".work." in p.name] if root.exists() else []


def render_processes(*markers: str) -> list[tuple[int, str]]:
    return [p for m in markers for p in node_processes(m)
            if any(w in p[1] for w in ("worker", "chrom", "ffmpeg"))]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def user_file(folder: Path, name: str = "notes.txt") -> tuple[Path, str]:
    """A file of the user's beside the output, and its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"the user's own notes, not hyperdesk's\n" + os.urandom(64))
    return path, sha256(path)


def wait_until(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_sigint_during_a_render_leaves_no_work_dir_locally_or_on_the_node_and_no_chromium(
        tmp_path, store, data_dir, n1):
    # long enough that the node, online only after the plan's transfer (seconds: every font file), still
    # finds chunks to render: the local warm worker alone renders a 5-frame chunk in a fraction of a second
    project = write_small(tmp_path / "project", 30)
    register(n1, store)
    renders = tmp_path / "renders"
    mine, mine_sha = user_file(renders)
    out = renders / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(out), "--json", "--local", "1",
         "--node", n1.name, "--chunk-size", "5", "--keyframe-interval", "5", "--no-audio"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    progressed: set[str] = set()
    job_id = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            job_id = event.get("job_id") or job_id
            if event["event"] == "chunk_progress":
                progressed.add(event["node"])
            if progressed >= {"local", n1.name}:
                # both a local worker and the node's are mid-chunk: Chromium profiles exist on both
                assert wait_until(lambda: bool(work_dirs(data_dir / "jobs") and work_dirs(n1.cache_dir / "farm-out")),
                                  timeout=10)
                sent = time.monotonic()
                proc.send_signal(signal.SIGINT)
                break
            assert event["event"] not in ("assembled", "failed"), event
        _out, err = proc.communicate(timeout=90)
        ended = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert progressed >= {"local", n1.name}
    assert proc.returncode == 130, err
    assert "error CANCELLED" in err
    # Ctrl-C to exit, with the node's attempt stopped and both work dirs removed: seconds, not a chunk's
    # end or a heartbeat timeout (bound generous: the machine is shared)
    assert ended - sent < 30, ended - sent
    assert not out.exists()
    assert sorted(p.name for p in renders.iterdir()) == [mine.name]  # no out.mp4.* beside the user's file
    assert sha256(mine) == mine_sha
    assert store.get_job(job_id).state == "cancelled"
    assert work_dirs(data_dir / "jobs") == []
    assert work_dirs(n1.cache_dir / "farm-out") == []
    assert not (n1.cache_dir / "farm-out" / job_id).exists()
    assert wait_until(lambda: render_processes(str(data_dir), str(n1.cache_dir)) == []), \
        render_processes(str(data_dir), str(n1.cache_dir))


def owner_recorded(folder: Path) -> bool:
    try:
        return "pid" in json.loads((folder / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return False


def render_cmd(project: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(out), "--local", "1", "--no-audio",
            *extra]


def test_kill_9_during_assembly_then_the_next_start_sweeps_the_assembly_folder(tmp_path, data_dir):
    project = write_small(tmp_path / "project", 3)
    renders = tmp_path / "renders"
    mine, mine_sha = user_file(renders)
    out = renders / "out.mp4"
    # An earlier hyperdesk render (of another composition: other bytes) at the output. The new render may
    # replace it, but only with its verified output: killed mid-assembly, the earlier one stays as it was.
    r = subprocess.run(render_cmd(write_small(tmp_path / "earlier", 1), out), capture_output=True, text=True,
                       timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    earlier_sha = sha256(out)
    # A folder of the user's that merely looks like ours: never touched.
    decoy = renders / "out.mp4.assemble.0badc0de"
    decoy.mkdir()
    (decoy / "notes.txt").write_text("mine")
    proc = subprocess.Popen(render_cmd(project, out, "--json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    ours: list[Path] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line)["event"] == "assemble_started":
                break
        deadline = time.monotonic() + 20
        while not ours and time.monotonic() < deadline:
            # its owner record written (not only created: a kill between the two leaves a folder no sweep
            # recognises as ours)
            ours = [p for p in renders.iterdir() if p.name.startswith("out.mp4.assemble.") and p != decoy
                    and owner_recorded(p)]
        killed = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)  # mid-assembly: no cleanup runs
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert ours and ours[0].is_dir(), "the assembly folder was not seen before the kill"
    assert sha256(out) == earlier_sha, "the earlier output was replaced or damaged by a render that never finished"
    # nothing of that render outlives its controller: no warm worker, Chromium or ffmpeg (of the assembly)
    assert wait_until(lambda: render_processes(str(data_dir)) == [], timeout=10), render_processes(str(data_dir))
    assert time.monotonic() - killed < 10

    # the next start (another render) sweeps what the dead controller left, and only that
    r = subprocess.run(render_cmd(project, tmp_path / "b.mp4"), capture_output=True, text=True, timeout=300,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert not ours[0].exists()
    assert (decoy / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in renders.iterdir()) == sorted([decoy.name, mine.name, out.name])
    assert sha256(out) == earlier_sha and sha256(mine) == mine_sha
    assert render_processes(str(data_dir)) == []


def test_a_lost_nodes_work_dir_is_removed_when_it_reconnects(tmp_path, store, png_plan, n1, n2):
    stopped: list[tuple[str, int]] = []
    times: dict[str, float] = {}
    actions: list[str] = []

    def listener(event, controller):
        if event.type == "chunk_progress" and event.node == "n1" and not stopped:
            stopped.append((event.attempt_id, event.chunk_index))
            times["stopped"] = time.monotonic()
            n1.stop()  # the machine goes away mid-chunk: its worker is killed, nothing cleans up there
        if event.type == "attempt_failed" and stopped and event.attempt_id == stopped[0][0]:
            times["lost"] = time.monotonic()
            actions.append(event.action)
        if event.type == "chunk_done" and stopped and event.chunk_index == stopped[0][1]:
            times["redone"] = time.monotonic()

    def ssh(node):
        return SshExecutor(node.node_config(), store, accept_fingerprint=node.fingerprint)

    outcome, _events, job_id = run_job([ssh(n1), ssh(n2)], png_plan, tmp_path / "out", store=store,
                                       listener=listener, settings=FarmSettings(reconnect_delays_s=(1.0,)),
                                       wait_online={"n1", "n2"})
    assert outcome.state == "done", outcome.error
    # the lost node is noticed at once (its connection drops), not after the 10 s heartbeat check or the
    # 60 s stall timeout, and its chunk is rendered elsewhere soon after
    assert actions == ["node_lost"], actions
    assert times["lost"] - times["stopped"] < 8, times
    assert "redone" in times and times["redone"] - times["stopped"] < 30, times
    assert wait_until(lambda: node_processes(str(n1.cache_dir)) == [], timeout=10)
    farm_out = n1.cache_dir / "farm-out"
    left = work_dirs(farm_out / job_id)
    assert left and all((p / OWNER_FILE).exists() for p in left), "the lost worker's work dir should be there"
    # The same leftovers as another controller's job (unknown to our store): only the dead worker's work
    # dir may go, that job's chunk output stays for its controller.
    foreign = farm_out / "f0reign1"
    shutil.copytree(farm_out / job_id, foreign, symlinks=True)
    (foreign / "f0reign1-c0-a1.mp4").write_bytes(b"another controller's chunk")

    n1.start()  # the node comes back; the next connection sweeps it

    async def reconnect():
        executor = ssh(n1)
        try:
            await executor.open()
            plan_hash = json.loads((png_plan / "plan.json").read_text())["plan_hash"]
            await executor.prepare_plan(png_plan, plan_hash, job_id="nextjob1")
        finally:
            await executor.close()

    reconnect_started = time.monotonic()
    asyncio.run(reconnect())
    assert time.monotonic() - reconnect_started < 30  # connect, sweep and plan check: seconds
    assert not (farm_out / job_id).exists()  # our job is done: its whole folder went
    assert work_dirs(foreign) == []
    assert (foreign / "f0reign1-c0-a1.mp4").read_bytes() == b"another controller's chunk"


def test_kill_9_mid_chunk_leaves_no_worker_or_chromium_and_the_next_render_sweeps_its_work_dirs(
        tmp_path, store, data_dir):
    """kill -9 of the controller while a local worker renders a chunk: the worker sees its stdin close and
    takes its Chromium with it within seconds; the work dir it leaves is swept by the next render (of
    anything), the job's verified chunk is kept, and the job then resumes with a progress line that counts
    the kept chunk's frames and ends at the whole count."""
    project = write_small(tmp_path / "project", 9)  # 90 frames, 3 chunks of 30
    renders = tmp_path / "renders"
    mine, mine_sha = user_file(renders)
    out = renders / "out.mp4"
    chunking = ("--chunk-size", "30", "--keyframe-interval", "30")
    proc = subprocess.Popen(render_cmd(project, out, "--json", *chunking), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    done: list[int] = []
    workers: set[int] = set()
    job_id = None
    mid_chunk = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            job_id = event.get("job_id") or job_id
            assert event["event"] not in ("assemble_started", "assembled", "failed"), event
            if event["event"] == "attempt_accepted":
                workers.add(event["pid"])
            if event["event"] == "chunk_done":
                done.append(event["chunk_index"])
            if (event["event"] == "chunk_progress" and done and event["chunk_index"] not in done
                    and 2 <= event["frames_done"] < event["frames_total"] - 10):
                mid_chunk = event["chunk_index"]
                break
        work = work_dirs(data_dir / "jobs")
        running = render_processes(str(data_dir))
        killed = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)  # no cleanup runs in the controller
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert mid_chunk is not None and job_id
    # what the kill orphaned: a worker with its Chromium, and the attempt's work dir (its Chromium profile)
    assert any("worker" in cmd for _, cmd in running) and any("chrom" in cmd for _, cmd in running), running
    assert work and all(p.is_dir() for p in work), work
    gone = wait_until(lambda: render_processes(str(data_dir)) == [], timeout=10)
    gone_s = time.monotonic() - killed
    assert gone, render_processes(str(data_dir))
    assert gone_s < 10, gone_s
    # The sweep removes a work dir once its owner has exited: an exited worker orphaned to an init that
    # has not reaped it yet (a zombie) counts as gone, so no wait for the reaping here.
    assert workers
    attempts = store.attempts(job_id)
    assert not [a for a in attempts if a.chunk_index == mid_chunk and a.state == "done"], "killed after the chunk"
    assert any(p.exists() for p in work), "nothing should have removed the dead controller's work dirs yet"

    # the next render, of another composition, sweeps them (the job's verified chunk stays for a resume)
    r = subprocess.run(render_cmd(write_small(tmp_path / "other", 1), tmp_path / "other.mp4"), capture_output=True,
                       text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert [p for p in work if p.exists()] == []
    assert work_dirs(data_dir / "jobs" / job_id) == []
    assert not out.exists() and sorted(p.name for p in renders.iterdir()) == [mine.name]
    assert sha256(mine) == mine_sha

    # resumed (as a person runs it, no --json): the bar starts above the kept frames and ends at 90/90
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "jobs", "resume", job_id], capture_output=True, text=True,
                       timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert f", {len(done)} chunks kept" in r.stderr, r.stderr
    counts = [int(m.group(1)) for m in re.finditer(r"\] (\d+)/90 frames", r.stderr)]
    assert counts and counts[-1] == 90, r.stderr
    assert min(counts) > 30 * len(done), (counts, r.stderr)  # the kept chunks' frames are counted from the start
    assert sorted(p.name for p in renders.iterdir()) == sorted([mine.name, out.name])
    assert sha256(mine) == mine_sha and render_processes(str(data_dir)) == []
