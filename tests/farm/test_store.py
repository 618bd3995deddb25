"""The SQLite job store: WAL, durable rows, attempts, nodes, pinned keys."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

from hyperdesk.store import AttemptRecord, JobRecord, JobStore, NodeConfig, default_store_path


def _job(job_id: str = "abcd1234") -> JobRecord:
    now = time.time()
    return JobRecord(id=job_id, state="running", plan_dir="/p", plan_hash="0" * 64, output="/o.mp4", format="mp4",
                     chunk_count=2, created_at=now, updated_at=now, work_dir="/w", spec={"executors": []})


def test_store_lives_in_the_data_dir_in_wal_mode(data_dir):
    store = JobStore()
    assert default_store_path() == data_dir / "hyperdesk.sqlite3" == store.path
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_rows_survive_a_killed_writer(data_dir):
    """Every change is committed at once: a process killed right after writing loses nothing."""
    code = (
        "import os, time\n"
        "from hyperdesk.store import JobStore, JobRecord\n"
        "s = JobStore()\n"
        f"s.create_job(JobRecord.model_validate({_job().model_dump()!r}), [(0, 0, 10), (1, 10, 20)])\n"
        "s.finish_chunk('abcd1234', 0, {'sha256': 'f' * 64}, 'none')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9, proc.stderr
    store = JobStore()
    chunks = store.chunks("abcd1234")
    assert [c.state for c in chunks] == ["done", "pending"]
    assert chunks[0].result == {"sha256": "f" * 64}


def test_attempts_numbers_and_running_attempts_closed_on_resume(store):
    store.create_job(_job(), [(0, 0, 10), (1, 10, 20)])
    assert store.next_attempt_number("abcd1234", 0) == 1
    store.add_attempt(AttemptRecord(id="abcd1234-c0-a1", job_id="abcd1234", chunk_index=0, number=1, node="local",
                                    state="running", started_at=time.time()))
    assert store.next_attempt_number("abcd1234", 0) == 2
    store.end_attempt("abcd1234-c0-a1", "failed", error_code="BROWSER_CRASHED", error_message="x",
                      log_tail=["a", "b"])
    store.add_attempt(AttemptRecord(id="abcd1234-c0-a2", job_id="abcd1234", chunk_index=0, number=2, node="n1",
                                    state="running", started_at=time.time()))
    assert store.close_running_attempts("abcd1234") == 1
    a1, a2 = store.attempts("abcd1234", 0)
    assert (a1.state, a1.error_code, a1.log_tail) == ("failed", "BROWSER_CRASHED", ["a", "b"])
    assert (a2.state, a2.error_code) == ("lost", "WORKER_LOST")
    assert store.find_job("abcd") is not None and store.find_job("zz") is None


def test_nodes_and_pinned_keys(store):
    node = NodeConfig(name="gpu1", host="10.0.0.5", port=2222, user="render", slots=2,
                      remote_command=["/opt/hd/bin/hyperdesk"], remote_env={"HYPERDESK_CACHE_DIR": "/scratch"})
    store.upsert_node(node)
    store.pin_host_key("10.0.0.5", 2222, "ssh-ed25519 AAAA", "SHA256:abc")
    store.set_node_preflight("gpu1", {"worker_env": {}}, "ffmpeg differs")
    rec = store.get_node("gpu1")
    assert rec.slots == 2 and rec.remote_command == ["/opt/hd/bin/hyperdesk"]
    assert rec.host_key_fingerprint == "SHA256:abc" and rec.incompatible_reason == "ffmpeg differs"
    assert store.remove_node("gpu1") and store.get_node("gpu1") is None
    assert store.unpin_host_key("10.0.0.5", 2222) and store.host_key("10.0.0.5", 2222) is None
