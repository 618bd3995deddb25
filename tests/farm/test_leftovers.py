"""Nothing left behind (issue 19, item 4), with real renders, processes and sshd nodes: Ctrl-C of a
render, kill -9 of the controller during assembly, a node lost mid-chunk."""
from __future__ import annotations

import asyncio
import json
import os
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
    out = tmp_path / "out.mp4"
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
                proc.send_signal(signal.SIGINT)
                break
            assert event["event"] not in ("assembled", "failed"), event
        _out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert progressed >= {"local", n1.name}
    assert proc.returncode == 130, err
    assert "error CANCELLED" in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith("out.mp4.")]
    assert store.get_job(job_id).state == "cancelled"
    assert work_dirs(data_dir / "jobs") == []
    assert work_dirs(n1.cache_dir / "farm-out") == []
    assert not (n1.cache_dir / "farm-out" / job_id).exists()
    assert wait_until(lambda: render_processes(str(data_dir), str(n1.cache_dir)) == []), \
        render_processes(str(data_dir), str(n1.cache_dir))


def test_kill_9_during_assembly_then_the_next_start_sweeps_the_assembly_folder(tmp_path, data_dir):
    project = write_small(tmp_path / "project", 3)
    renders = tmp_path / "renders"
    renders.mkdir()
    out = renders / "out.mp4"
    # A folder of the user's that merely looks like ours: never touched.
    decoy = renders / "out.mp4.assemble.0badc0de"
    decoy.mkdir()
    (decoy / "notes.txt").write_text("mine")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(out), "--json", "--local", "1",
         "--no-audio"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    ours: list[Path] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line)["event"] == "assemble_started":
                break
        deadline = time.monotonic() + 20
        while not ours and time.monotonic() < deadline:
            ours = [p for p in renders.iterdir() if p.name.startswith("out.mp4.assemble.") and p != decoy
                    and (p / OWNER_FILE).exists()]
        os.kill(proc.pid, signal.SIGKILL)  # mid-assembly: no cleanup runs
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert ours and ours[0].is_dir(), "the assembly folder was not seen before the kill"
    assert not out.exists()

    # the next start (another render) sweeps what the dead controller left, and only that
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(tmp_path / "b.mp4"),
                        "--local", "1", "--no-audio"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert not ours[0].exists()
    assert (decoy / "notes.txt").read_text() == "mine"
    assert [p.name for p in renders.iterdir()] == [decoy.name]


def test_a_lost_nodes_work_dir_is_removed_when_it_reconnects(tmp_path, store, png_plan, n1, n2):
    stopped: list[str] = []

    def listener(event, controller):
        if event.type == "chunk_progress" and event.node == "n1" and not stopped:
            stopped.append(event.attempt_id)
            n1.stop()  # the machine goes away mid-chunk: its worker is killed, nothing cleans up there

    def ssh(node):
        return SshExecutor(node.node_config(), store, accept_fingerprint=node.fingerprint)

    outcome, _events, job_id = run_job([ssh(n1), ssh(n2)], png_plan, tmp_path / "out", store=store,
                                       listener=listener, settings=FarmSettings(reconnect_delays_s=(1.0,)),
                                       wait_online={"n1", "n2"})
    assert outcome.state == "done", outcome.error
    assert wait_until(lambda: node_processes(str(n1.cache_dir)) == [])
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

    asyncio.run(reconnect())
    assert not (farm_out / job_id).exists()  # our job is done: its whole folder went
    assert work_dirs(foreign) == []
    assert (foreign / "f0reign1-c0-a1.mp4").read_bytes() == b"another controller's chunk"
