"""Caches have size caps (issue 19, item 8): least-recently-used eviction that keeps the plans of jobs
that may still resume, here and on an SSH node (real sshd); stale lock files swept; `hyperdesk cache
info|prune` output and exit status."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
import textwrap
from pathlib import Path

import pytest

from hyperdesk.errors import exit_status
from hyperdesk.service import RenderService
from hyperdesk.store import JobStore
from hyperdesk.store.locks import acquire, lock_job, lock_output, locks_dir, sweep_stale_locks
from hyperdesk.store.models import JobRecord

MIB = 1024 * 1024
HOUR = 3600.0

SMALL = """
<!doctype html>
<html><body style="margin:0;background:#000">
<div data-composition-id="small" data-width="320" data-height="180" data-duration="1" data-fps="10" data-no-timeline>
  <div style="position:absolute;left:20px;top:20px;width:40px;height:40px;background:#0f0"></div>
</div>
</body></html>
"""


@pytest.fixture
def caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A cache root and data root of this test's own (never the session's shared asset cache)."""
    cache, data = tmp_path / "cache", tmp_path / "data"
    cache.mkdir()
    data.mkdir()
    monkeypatch.setenv("HYPERDESK_CACHE_DIR", str(cache))
    monkeypatch.setenv("HYPERDESK_DATA_DIR", str(data))
    return cache, data


def fake_plan(root: Path, name: str, size: int, age_s: float) -> Path:
    """A cache entry of `size` bytes, last used `age_s` ago."""
    entry = root / name
    (entry / "compiled").mkdir(parents=True)
    (entry / "compiled" / "frames.bin").write_bytes(os.urandom(size))
    (entry / "plan.json").write_text("{}")
    when = time.time() - age_s
    os.utime(entry, (when, when))
    return entry


def add_job(store: JobStore, job_id: str, state: str, plan_dir: Path, plan_hash: str = "") -> None:
    now = time.time()
    store.create_job(JobRecord(id=job_id, state=state, plan_dir=str(plan_dir), plan_hash=plan_hash,
                               output=f"/tmp/{job_id}.mp4", format="mp4", chunk_count=1, created_at=now,
                               updated_at=now, work_dir=f"/tmp/{job_id}", spec={"executors": []}), [(0, 0, 10)])


def test_plan_cache_past_its_cap_evicts_the_least_recently_used_but_never_a_resumable_jobs_plan(
        caches, monkeypatch, tmp_path):
    cache, _data = caches
    plans = cache / "plans"
    oldest = fake_plan(plans, "a" * 64, MIB, 5 * HOUR)  # a failed job may still resume with it
    older = fake_plan(plans, "b" * 64, MIB, 4 * HOUR)
    middle = fake_plan(plans, "c" * 64, MIB, 3 * HOUR)
    paused = fake_plan(plans, "d" * 64, MIB, 2.5 * HOUR)  # a paused job's
    newer = fake_plan(plans, "e" * 64, MIB, 2 * HOUR)
    done = fake_plan(plans, "f" * 64, MIB, 1.5 * HOUR)  # a done job needs nothing
    store = JobStore()
    add_job(store, "failedjob", "failed", oldest)
    add_job(store, "pausedjb", "paused", paused)
    add_job(store, "finished", "done", done)
    monkeypatch.setenv("HYPERDESK_PLAN_CACHE_MAX", "4M")

    # A real plan made through the service (a cache miss) is what triggers the eviction.
    project = tmp_path / "project"
    project.mkdir()
    (project / "index.html").write_text(textwrap.dedent(SMALL))
    service = RenderService(store)
    from hyperdesk.service import RenderRequest

    request = RenderRequest.create(str(project), str(tmp_path / "out.mp4"), include_audio=False)
    planned = service.plan_now(request)
    assert not planned.reused
    new_size = sum(p.stat().st_size for p in Path(planned.plan_dir).rglob("*") if p.is_file())

    left = {p.name for p in plans.iterdir()}
    # Kept: both resumable jobs' plans (however old) and the plan just made; the oldest others went
    # first, until the rest fit 4 MiB.
    assert {oldest.name, paused.name, Path(planned.plan_dir).name} <= left
    assert older.name not in left and middle.name not in left
    total = sum(sum(f.stat().st_size for f in (plans / n).rglob("*") if f.is_file()) for n in left)
    assert total <= 4 * MIB or left == {oldest.name, paused.name, Path(planned.plan_dir).name}
    # least recently used first: `newer` and `done` (used later than older/middle) go only if still needed
    removed_order = [n for n in (older.name, middle.name, newer.name, done.name) if n not in left]
    assert removed_order[:2] == [older.name, middle.name]
    assert new_size > 0

    # A cache hit marks the plan as used now: it is the newest entry afterwards.
    again = service.plan_now(request)
    assert again.reused and again.plan_dir == planned.plan_dir
    assert Path(planned.plan_dir).stat().st_mtime >= max(
        (plans / n).stat().st_mtime for n in left if n != Path(planned.plan_dir).name)
    store.close()


def test_stale_lock_files_are_swept_and_a_held_lock_is_never_lost(caches):
    _cache, data = caches
    store = JobStore()
    for i in range(5):
        lock_job(store.path, f"job{i}").release()
        lock_output(store.path, data / f"out{i}.mp4", f"job{i}").release()
    held = lock_job(store.path, "running")
    folder = locks_dir(store.path)
    assert len(list(folder.glob("*.lock"))) == 11
    assert sweep_stale_locks(store.path) == 10
    assert [p.name for p in folder.glob("*.lock")] == ["job-running.lock"]
    # still held, exclusively
    assert acquire(folder / "job-running.lock", {}) is None
    held.release()
    again = lock_job(store.path, "running")
    assert again.held
    again.release()
    store.close()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperdesk", *args], capture_output=True, text=True, timeout=300,
                          env=env or dict(os.environ))


def test_cache_info_and_prune_all_on_the_command_line(caches):
    cache, data = caches
    plans = cache / "plans"
    needed = fake_plan(plans, "1" * 64, MIB, 10)  # used seconds ago, by a cancelled (resumable) job
    spare = [fake_plan(plans, f"{i}" * 64, MIB, 10) for i in (2, 3)]
    assets = cache / "assets" / "objects" / "ab"
    assets.mkdir(parents=True)
    (assets / ("ab" + "0" * 62)).write_bytes(b"x" * 1000)
    store = JobStore()
    add_job(store, "cancelld", "cancelled", needed)
    lock_job(store.path, "old").release()
    store.close()

    r = run_cli("cache", "info", "--json", "--no-nodes")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["machine"]["plans"]["bytes"] >= 3 * MIB and info["machine"]["plans"]["entries"] == 3
    assert info["machine"]["plans"]["cap"] == 10 * 1024 ** 3
    assert info["machine"]["assets"]["bytes"] == 1000
    assert info["machine"]["locks"]["entries"] == 1 and info["nodes"] == []

    r = run_cli("cache", "info", "--no-nodes")
    assert r.returncode == 0, r.stderr
    assert "this machine" in r.stdout and "plans" in r.stdout and "3.0 MiB" in r.stdout

    # Plain prune: everything is under its cap and was used a moment ago, so nothing but the stale lock goes.
    r = run_cli("cache", "prune", "--no-nodes")
    assert r.returncode == 0, r.stderr
    assert "1 lock files" in r.stdout
    assert len(list(plans.iterdir())) == 3

    r = run_cli("cache", "prune", "--all", "--json", "--no-nodes")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["machine"]["plans_removed"] == 2 and report["machine"]["assets_removed"] == 1
    assert [p.name for p in plans.iterdir()] == [needed.name]  # the cancelled job may resume with it
    assert all(not p.exists() for p in spare)

    # A saved node that cannot be reached: reported, and the command fails with its error's status.
    store = JobStore()
    from hyperdesk.store.models import NodeConfig

    store.upsert_node(NodeConfig(name="gone", host="127.0.0.9", port=1, user="root"))
    store.close()
    r = run_cli("cache", "info")
    assert r.returncode == exit_status("NODE_UNREACHABLE") != 0, r.stdout + r.stderr
    assert "node gone: error NODE_UNREACHABLE" in r.stdout
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- on an SSH node


def _blob_plan(node_cache: Path, plan_hash: str, size: int, age_s: float) -> Path:
    """A materialised node plan: its file is a hard link to a blob, as node-sync commit makes them."""
    data = os.urandom(size)
    sha = hashlib.sha256(data).hexdigest()
    blobs = node_cache / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / sha).write_bytes(data)
    plan = node_cache / "farm-plans" / plan_hash
    (plan / "compiled").mkdir(parents=True)
    os.link(blobs / sha, plan / "compiled" / "frames.bin")
    (node_cache / "farm-plans" / f"{plan_hash}.complete").write_text(plan_hash + "\n")
    when = time.time() - age_s
    os.utime(plan, (when, when))
    return blobs / sha


@pytest.mark.slow
def test_node_plan_cache_evicts_lru_plans_but_keeps_resumable_ones(caches, monkeypatch, fresh_node):
    node_cache = fresh_node.cache_dir
    keep_blob = _blob_plan(node_cache, "a" * 64, MIB, 5 * HOUR)  # a failed job's: resumable
    old_blob = _blob_plan(node_cache, "b" * 64, MIB, 4 * HOUR)
    mid_blob = _blob_plan(node_cache, "c" * 64, MIB, 3 * HOUR)
    new_blob = _blob_plan(node_cache, "d" * 64, MIB, 2 * HOUR)
    recent_blob = _blob_plan(node_cache, "e" * 64, MIB, 60)  # used a minute ago: maybe by another controller
    store = JobStore()
    add_job(store, "failedjb", "failed", Path("/elsewhere/plan"), plan_hash="a" * 64)
    store.upsert_node(fresh_node.node_config())
    store.pin_host_key(fresh_node.address, fresh_node.port,
                       fresh_node.host_key.export_public_key("openssh").decode().strip(), fresh_node.fingerprint)
    monkeypatch.setenv("HYPERDESK_NODE_CACHE_MAX", "3.5M")
    service = RenderService(store)

    info = asyncio.run(service.cache_info())
    (node,) = info["nodes"]
    assert "error" not in node, node
    assert node["farm-plans"] >= 5 * MIB and node["cap"] == int(3.5 * MIB)

    report = asyncio.run(service.prune_caches())
    (swept,) = report["nodes"]
    assert "error" not in swept, swept
    left = sorted(p.name for p in (node_cache / "farm-plans").iterdir() if p.is_dir())
    assert left == ["a" * 64, "d" * 64, "e" * 64]  # b and c (least recently used) went
    assert not (node_cache / "farm-plans" / f"{'b' * 64}.complete").exists()
    assert not old_blob.exists() and not mid_blob.exists()  # no plan links them any more
    assert keep_blob.exists() and new_blob.exists() and recent_blob.exists()

    # --all: every plan no job of ours needs, recent or not
    report = asyncio.run(service.prune_caches(everything=True))
    assert sorted(p.name for p in (node_cache / "farm-plans").iterdir() if p.is_dir()) == ["a" * 64]
    assert keep_blob.exists() and not recent_blob.exists()
    store.close()
