"""Acceptance: real renders on local workers and SSH nodes (sshd on 127.0.0.x), with faults.

Every test renders the 5-chunk tiny composition and compares with a one-worker local render of the
same plan (png-sequence bytes; for mp4 the captured-frame fingerprints and the frame count).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from farm.conftest import CHUNKS, TOTAL_FRAMES, frame_dir_digests, run_job
from farm.sshd import node_processes
from hyperdesk.farm.controller import FarmSettings
from hyperdesk.farm.local import LocalExecutor
from hyperdesk.farm.ssh import SshExecutor
from hyperdesk.faults import FaultPlan

pytestmark = pytest.mark.slow


def ssh(node, store, **kw):
    return SshExecutor(node.node_config(**kw), store, accept_fingerprint=node.fingerprint)


def attempts_by_chunk(store, job_id):
    out: dict[int, list] = {}
    for a in store.attempts(job_id):
        out.setdefault(a.chunk_index, []).append(a)
    return out


def assert_same_png(out: Path, baseline) -> None:
    base_out, _, _ = baseline
    got = frame_dir_digests(out)
    assert len(got) == TOTAL_FRAMES
    assert got == frame_dir_digests(base_out)


def pgid_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def wait_gone(pgids: list[int], timeout: float = 15.0) -> dict[int, list[int]]:
    deadline = time.monotonic() + timeout
    left = {}
    while time.monotonic() < deadline:
        left = {g: pgid_members(g) for g in pgids}
        left = {g: m for g, m in left.items() if m}
        if not left:
            return {}
        time.sleep(0.1)
    return left


# ---------------------------------------------------------------- distributed == local


@pytest.mark.parametrize("fmt", ["png-sequence", "mp4"])
def test_split_render_equals_local_one_worker_render(fmt, request, tmp_path, store, n1, n2):
    plan_dir = request.getfixturevalue("png_plan" if fmt == "png-sequence" else "mp4_plan")
    baseline = request.getfixturevalue("png_baseline" if fmt == "png-sequence" else "mp4_baseline")
    out = tmp_path / ("out" if fmt == "png-sequence" else "out.mp4")
    executors = [LocalExecutor(2), ssh(n1, store), ssh(n2, store)]
    outcome, events, job_id = run_job(executors, plan_dir, out, store=store,
                                      wait_online={"local", n1.name, n2.name})
    assert outcome.state == "done", outcome.error
    by_chunk = attempts_by_chunk(store, job_id)
    nodes_used = {a.node for tries in by_chunk.values() for a in tries if a.state == "done"}
    assert nodes_used == {"local", "n1", "n2"}  # really split across 2 local workers and 2 nodes
    chunk_results = {c.index: c.result for c in store.chunks(job_id)}
    _, base_results, base_assembled = baseline
    # byte-identical chunks whichever node rendered them (plan-contract 9.7)
    assert [chunk_results[i]["sha256"] for i in range(CHUNKS)] == [r.sha256 for r in base_results]
    if fmt == "png-sequence":
        assert_same_png(out, baseline)
    else:
        from hyperdesk.encode.probe import count_packets

        frames = [h for i in range(CHUNKS) for h in chunk_results[i]["frame_sha256"]]
        assert frames == [h for r in base_results for h in r.frame_sha256]
        assert count_packets(out) == TOTAL_FRAMES == outcome.result.frames
        assert outcome.result.sha256 == base_assembled.sha256
    # an unchanged plan on the same nodes sends no plan bytes the second time
    outcome2, events2, _ = run_job([ssh(n1, store), ssh(n2, store)], plan_dir, tmp_path / "again", store=store)
    assert outcome2.state == "done"
    uploads = [e for e in events2 if e.type == "plan_transferred"]
    assert len(uploads) == 2 and all(e.bytes_uploaded == 0 and e.files_uploaded == 0 for e in uploads)


# ---------------------------------------------------------------- faults


def test_kill_9_of_a_local_worker_mid_chunk(tmp_path, store, png_plan, png_baseline):
    killed: dict[str, int] = {}
    pids: dict[str, int] = {}

    def listener(event, controller):
        if event.type == "attempt_accepted":
            pids[event.attempt_id] = event.pid
        if event.type == "chunk_progress" and not killed and event.frames_done < event.frames_total:
            pid = pids[event.attempt_id]
            os.kill(pid, signal.SIGKILL)
            killed[event.attempt_id] = pid

    outcome, events, job_id = run_job([LocalExecutor(2)], png_plan, tmp_path / "out", store=store, listener=listener)
    assert outcome.state == "done", outcome.error
    assert_same_png(tmp_path / "out", png_baseline)
    (attempt_id, pid), = killed.items()
    record = next(a for a in store.attempts(job_id) if a.id == attempt_id)
    assert record.state == "lost" and record.error_code == "WORKER_LOST"
    tries = attempts_by_chunk(store, job_id)[record.chunk_index]
    assert tries[0].id == attempt_id and tries[-1].state == "done"
    assert not wait_gone([pid]), "the killed worker's Chromium outlived it"


def test_node_sshd_stopped_mid_job_moves_its_chunks(tmp_path, store, png_plan, png_baseline, n1, n2):
    stopped = []

    def listener(event, controller):
        if event.type == "chunk_progress" and event.node == "n1" and not stopped:
            stopped.append(event.attempt_id)
            n1.stop()  # the daemon and every session it serves, like a machine going away

    settings = FarmSettings(reconnect_delays_s=(1.0,))
    outcome, events, job_id = run_job([ssh(n1, store), ssh(n2, store)], png_plan, tmp_path / "out", store=store,
                                      listener=listener, settings=settings, wait_online={"n1", "n2"})
    assert outcome.state == "done", outcome.error
    assert_same_png(tmp_path / "out", png_baseline)
    lost = next(a for a in store.attempts(job_id) if a.id == stopped[0])
    assert lost.state == "lost" and lost.error_code == "WORKER_LOST"
    done_on = {a.chunk_index: a.node for a in store.attempts(job_id) if a.state == "done"}
    assert done_on[lost.chunk_index] == "n2"
    assert any(e.type == "node_state" and e.node == "n1" and e.state == "offline" for e in events)
    # the worker on the lost node killed its process group when its channel closed
    deadline = time.monotonic() + 15
    while node_processes(str(n1.cache_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert node_processes(str(n1.cache_dir)) == []


def test_chunk_corrupted_in_transfer_is_refetched_then_rerendered(tmp_path, store, png_plan, png_baseline, n1):
    # Two corrupted downloads: the first chunk's fetch and its re-fetch both fail verification, so the
    # chunk is rendered again on another node; every later download is clean.
    corrupting = SshExecutor(n1.node_config(), store, accept_fingerprint=n1.fingerprint,
                             faults=FaultPlan(corrupt_transfers=2))
    outcome, events, job_id = run_job([corrupting, LocalExecutor(1)], png_plan, tmp_path / "out",
                                      store=store, wait_online={"n1", "local"})
    assert outcome.state == "done", outcome.error
    assert_same_png(tmp_path / "out", png_baseline)
    notices = [e for e in events if e.type == "attempt_notice"]
    assert [e.code for e in notices] == ["OUTPUT_HASH_MISMATCH", "OUTPUT_HASH_MISMATCH"]
    assert "fetching again" in notices[0].message
    failed = [e for e in events if e.type == "attempt_failed" and e.code == "OUTPUT_HASH_MISMATCH"]
    assert [(e.node, e.action) for e in failed] == [("n1", "retry")]
    redo = [a for a in store.attempts(job_id) if a.chunk_index == failed[0].chunk_index]
    assert (redo[0].node, redo[0].state) == ("n1", "failed") and redo[-1].state == "done"
    assert redo[1].node == "local"  # re-rendered on another node


def test_stalled_worker_is_killed_after_the_stall_timeout_and_requeued(tmp_path, store, png_plan, png_baseline):
    faults = FaultPlan(stall_after_frames=2, stall_once_path=str(tmp_path / "stalled-once"))
    pgids = {}

    def listener(event, controller):
        if event.type == "attempt_accepted":
            pgids[event.attempt_id] = event.pgid

    settings = FarmSettings(stall_timeout_s=4.0)
    t0 = time.monotonic()
    outcome, events, job_id = run_job([LocalExecutor(2, faults=faults)], png_plan, tmp_path / "out", store=store,
                                      settings=settings, listener=listener)
    assert outcome.state == "done", outcome.error
    assert_same_png(tmp_path / "out", png_baseline)
    (stalled,) = [a for a in store.attempts(job_id) if a.state == "stalled"]
    assert stalled.error_code == "WORKER_LOST" and "no event" in stalled.error_message
    assert (tmp_path / "stalled-once").exists()
    tries = attempts_by_chunk(store, job_id)[stalled.chunk_index]
    assert tries[0].id == stalled.id and tries[-1].state == "done"
    assert not wait_gone([pgids[stalled.id]]), "the stalled worker's process group survived"
    assert time.monotonic() - t0 < 120


# ---------------------------------------------------------------- refusals


def test_node_with_another_ffmpeg_is_incompatible_and_gets_nothing(tmp_path, store, png_plan, png_baseline,
                                                                   fresh_node):
    bad = SshExecutor(fresh_node.node_config(), store, accept_fingerprint=fresh_node.fingerprint,
                      faults=FaultPlan(ffmpeg_identity="n0.0-other+sha256:00"))
    outcome, events, job_id = run_job([bad, LocalExecutor(1)], png_plan, tmp_path / "out", store=store)
    assert outcome.state == "done", outcome.error
    assert_same_png(tmp_path / "out", png_baseline)
    state = [e for e in events if e.type == "node_state" and e.node == "fresh"]
    assert state[-1].state == "incompatible" and "ffmpeg differs" in state[-1].reason
    assert all(a.node == "local" for a in store.attempts(job_id))
    blobs = fresh_node.cache_dir / "blobs"
    assert not blobs.exists() or not [p for p in blobs.iterdir() if p.is_file()]  # no plan byte was sent


def test_unknown_host_key_without_confirmation_refuses_the_node(tmp_path, store, png_plan, fresh_node):
    node = SshExecutor(fresh_node.node_config(), store)
    outcome, events, job_id = run_job([node], png_plan, tmp_path / "out", store=store)
    assert outcome.state == "failed" and outcome.error.code == "HOST_KEY_UNKNOWN"
    assert fresh_node.fingerprint in outcome.error.message
    assert store.attempts(job_id) == [] and store.host_key(fresh_node.address, fresh_node.port) is None


def test_changed_host_key_fails_the_node_with_host_key_changed(tmp_path, store, png_plan, fresh_node):
    store.pin_host_key(fresh_node.address, fresh_node.port,
                       fresh_node.host_key.export_public_key("openssh").decode().strip(), fresh_node.fingerprint)
    fresh_node.stop()
    fresh_node.regenerate_host_key()
    fresh_node.start()
    node = SshExecutor(fresh_node.node_config(), store)
    outcome, events, job_id = run_job([node], png_plan, tmp_path / "out", store=store)
    assert outcome.state == "failed" and outcome.error.code == "HOST_KEY_CHANGED"
    refused = [e for e in events if e.type == "node_state" and e.state == "refused"]
    assert refused and refused[0].code == "HOST_KEY_CHANGED"
    assert store.attempts(job_id) == []


def test_tampered_plan_fails_fast_with_plan_hash_mismatch_and_no_retries(tmp_path, store, png_plan, n1):
    plan = tmp_path / "plan"
    shutil.copytree(png_plan, plan)
    index = plan / "compiled" / "index.html"
    index.write_text(index.read_text().replace("#f00", "#f01"))
    t0 = time.monotonic()
    outcome, events, job_id = run_job([LocalExecutor(1), ssh(n1, store)], plan, tmp_path / "out", store=store)
    assert outcome.state == "failed" and outcome.error.code == "PLAN_HASH_MISMATCH"
    assert time.monotonic() - t0 < 30
    assert store.attempts(job_id) == []  # no chunk was sent anywhere, nothing retried
    assert not any(e.type in ("attempt_started", "plan_transferred") for e in events)
    assert store.get_job(job_id).error["code"] == "PLAN_HASH_MISMATCH"


# ---------------------------------------------------------------- crash safety and cancel


CONTROLLER = """
import asyncio, json, sys
from hyperdesk.farm.controller import FarmController
from hyperdesk.farm.local import LocalExecutor
from hyperdesk.store import JobStore

async def main():
    c = FarmController([LocalExecutor(1)], store=JobStore())
    c.add_listener(lambda e: print(json.dumps({"type": e.type, **e.model_dump(mode="json")}), flush=True))
    await c.start(sys.argv[1], sys.argv[2])
    await c.wait()

asyncio.run(main())
"""


def test_controller_killed_mid_job_resumes_without_rerendering_finished_chunks(tmp_path, store, png_plan,
                                                                                png_baseline, data_dir):
    import json

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", CONTROLLER, str(png_plan), str(out)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    done: list[int] = []
    job_id = None
    worker_pgids = []
    for line in proc.stdout:
        event = json.loads(line)
        job_id = event["job_id"]
        if event["type"] == "attempt_accepted":
            worker_pgids.append(event["pgid"])
        if event["type"] == "chunk_done":
            done.append(event["chunk_index"])
            if len(done) == 2:
                proc.kill()  # SIGKILL: no cleanup, no final writes
                break
    proc.wait(timeout=30)
    assert proc.returncode == -9 and len(done) == 2
    # the orphaned worker noticed its controller was gone and took its Chromium with it
    assert not wait_gone(worker_pgids)
    before = {a.id: a for a in store.attempts(job_id)}
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "jobs", "resume", job_id, "--json"], capture_output=True,
                       text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    started = next(x for x in lines if x["event"] == "job_started")
    assert sorted(started["kept_chunks"]) == sorted(done)
    assert lines[-1]["event"] == "assembled"
    assert_same_png(out, png_baseline)
    after = attempts_by_chunk(store, job_id)
    for index in done:  # finished chunks were not rendered again
        assert [a.id for a in after[index]] == [a.id for a in before.values() if a.chunk_index == index]
        assert [a.state for a in after[index]] == ["done"]
    for index in set(range(CHUNKS)) - set(done):
        assert after[index][-1].state == "done"
    interrupted = [a for a in store.attempts(job_id) if a.state == "lost"]
    assert all(a.error_message == "the controller stopped while the attempt ran" for a in interrupted)
    assert store.get_job(job_id).state == "done"


def test_cancel_leaves_no_worker_chromium_or_ffmpeg(tmp_path, store, mp4_plan, n1, data_dir):
    accepted: dict[str, tuple[str, int]] = {}
    cancelled = []

    def listener(event, controller):
        if event.type == "attempt_accepted":
            accepted[event.attempt_id] = (event.node, event.pgid)
        if event.type == "chunk_progress" and not cancelled and {n for n, _ in accepted.values()} >= {"local", "n1"}:
            cancelled.append(time.monotonic())
            return controller.cancel()

    outcome, events, job_id = run_job([LocalExecutor(2), ssh(n1, store)], mp4_plan, tmp_path / "out.mp4",
                                      store=store, listener=listener, wait_online={"local", "n1"})
    assert outcome.state == "cancelled" and cancelled
    assert events[-1].type == "job_cancelled"
    assert not (tmp_path / "out.mp4").exists()
    # nothing of any attempt is left: no process in any worker's group, locally or under the node
    assert not wait_gone([pgid for _, pgid in accepted.values()], timeout=10)
    leftovers = [p for p in node_processes(str(n1.cache_dir)) + node_processes(str(data_dir))
                 if any(w in p[1] for w in ("worker", "chromium", "ffmpeg"))]
    assert leftovers == []
    states = {a.state for a in store.attempts(job_id)}
    assert states <= {"cancelled", "done"} and "cancelled" in states
    assert store.get_job(job_id).state == "cancelled"


# ---------------------------------------------------------------- the controller API the GUI uses


def test_pause_after_running_chunks_resume_and_retry_chunk(tmp_path, store, png_plan, png_baseline):
    """pause lets the running chunk finish and starts nothing; retry_chunk renders a done chunk again."""
    log: list = []
    state = {"paused_at": None, "resumed": False, "retried": False}

    async def act(event, controller):
        import asyncio

        if event.type == "attempt_started" and state["paused_at"] is None:
            state["paused_at"] = time.monotonic()
            await controller.pause()
        elif event.type == "chunk_done" and not state["resumed"]:
            state["resumed"] = True
            await asyncio.sleep(1.5)  # paused: nothing may start meanwhile
            log.append(("resume", time.monotonic()))
            await controller.resume()
        elif event.type == "chunk_done" and event.chunk_index == 2 and not state["retried"]:
            state["retried"] = True
            await controller.retry_chunk(0)

    def listener(event, controller):
        log.append((event.type, time.monotonic()))
        return act(event, controller)

    outcome, events, job_id = run_job([LocalExecutor(1)], png_plan, tmp_path / "out", store=store,
                                      listener=listener)
    assert outcome.state == "done", outcome.error
    assert_same_png(tmp_path / "out", png_baseline)
    types = [t for t, _ in log]
    first_done = types.index("chunk_done")
    assert types.index("job_paused") < first_done
    # between the first chunk's end and resume(), no attempt started
    resume_at = types.index("resume")
    assert "attempt_started" not in types[first_done:resume_at]
    tries = attempts_by_chunk(store, job_id)[0]
    assert [a.state for a in tries][-2:] == ["done", "done"] and len({a.sha256 for a in tries if a.sha256}) == 1


def test_unknown_key_refusal_then_resume_with_the_confirmed_fingerprint(tmp_path, store, png_plan, png_baseline,
                                                                       fresh_node, data_dir):
    """What a user does after the refusal: confirm the fingerprint and resume the job from the CLI."""
    import json

    node = SshExecutor(fresh_node.node_config(), store)
    outcome, _, job_id = run_job([node], png_plan, tmp_path / "out", store=store)
    assert outcome.error.code == "HOST_KEY_UNKNOWN"
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "jobs", "resume", job_id, "--json",
                        "--accept-host-key", fresh_node.fingerprint], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert events[-1]["event"] == "assembled"
    assert {e["node"] for e in events if e["event"] == "chunk_done"} == {"fresh"}
    assert_same_png(tmp_path / "out", png_baseline)
    assert store.host_key(fresh_node.address, fresh_node.port).fingerprint == fresh_node.fingerprint


RENDER = """
import sys
from hyperdesk.cli.render import run_render
from hyperdesk.service import FarmRequest, RenderRequest
request = RenderRequest.create(sys.argv[1], sys.argv[2], format="png-sequence", keyframe_interval=5, chunk_frames=10,
                               include_audio=False,
                               farm=FarmRequest(local=1, nodes=[sys.argv[3]], accept_host_keys=[sys.argv[4]]))
sys.exit(run_render(request, json_events=True))
"""


def test_run_farm_render_with_a_registered_node(tmp_path, store, tiny_project, png_baseline, n2, data_dir):
    """The farm side of `hyperdesk render --local 1 --node NAME --accept-host-key FP --json`."""
    import json

    store.upsert_node(n2.node_config(name="render-box"))
    r = subprocess.run([sys.executable, "-c", RENDER, str(tiny_project), str(tmp_path / "out"), "render-box",
                        n2.fingerprint], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "planned" and kinds[-1] == "assembled" and kinds.count("chunk_done") == CHUNKS
    assert all(e["protocol"] == 1 for e in events)
    assert {e["node"] for e in events if e["event"] == "chunk_done"} <= {"local", "render-box"}
    assert_same_png(tmp_path / "out", png_baseline)
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "jobs", "list", "--json"], capture_output=True, text=True)
    (job,) = json.loads(r.stdout)
    assert job["state"] == "done" and job["chunks_done"] == CHUNKS


def test_node_whose_heartbeats_stop_goes_offline_and_its_chunk_moves(tmp_path, store, png_plan, png_baseline,
                                                                     n1, n2):
    """The node freezes (every sshd and worker process stopped, TCP still open): no error, no EOF, only
    silence. The controller notices the missing heartbeats, finds the node unresponsive, marks it
    offline and renders the chunk elsewhere; when the node wakes up its worker kills itself."""
    from farm.sshd import process_tree

    frozen: list[int] = []

    def listener(event, controller):
        if event.type == "chunk_progress" and event.node == "n1" and not frozen:
            frozen.extend(process_tree(n1.proc.pid))
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)

    settings = FarmSettings(heartbeat_timeout_s=2.0, stall_timeout_s=60.0, reconnect_delays_s=(60.0,))
    try:
        outcome, events, job_id = run_job([ssh(n1, store), ssh(n2, store)], png_plan, tmp_path / "out",
                                          store=store, listener=listener, settings=settings,
                                          wait_online={"n1", "n2"})
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert outcome.state == "done", outcome.error
    assert_same_png(tmp_path / "out", png_baseline)
    offline = [e for e in events if e.type == "node_state" and e.node == "n1" and e.state == "offline"]
    assert offline and "heartbeats stopped" in offline[0].reason
    lost = [a for a in store.attempts(job_id) if a.node == "n1" and a.state == "lost"]
    assert len(lost) == 1
    assert any(a.chunk_index == lost[0].chunk_index and a.node == "n2" and a.state == "done"
               for a in store.attempts(job_id))
    deadline = time.monotonic() + 20  # awake again: the orphaned worker notices its closed channel
    while node_processes(str(n1.cache_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert node_processes(str(n1.cache_dir)) == []
