"""Node-side plan transfer (content-addressed blob cache) and remote command quoting."""
from __future__ import annotations

import hashlib
import shlex
import subprocess
from pathlib import Path

import pytest

from hyperdesk.farm import nodesync
from hyperdesk.farm.ssh import parse_node_address, plan_manifest, remote_command
from hyperdesk.store.models import NodeConfig


def test_every_remote_argument_is_shell_quoted(tmp_path):
    marker = tmp_path / "pwned"
    node = NodeConfig(name="n", host="h", remote_command=["/opt/my hyperdesk/bin/python", "-m", "hyperdesk"],
                      remote_env={"HYPERDESK_CACHE_DIR": "/tmp/a b;touch x"})
    hostile = f"/plans/x; touch {marker}; echo $(id) `id` 'q' \"d\""
    cmd = remote_command(node, "worker", hostile, 3, "-o", "out put")
    assert shlex.split(cmd) == ["env", "HYPERDESK_CACHE_DIR=/tmp/a b;touch x", "/opt/my hyperdesk/bin/python", "-m",
                                "hyperdesk", "worker", hostile, "3", "-o", "out put"]
    # and a real shell runs it as one argv, nothing else
    probe = remote_command(NodeConfig(name="n", host="h", remote_command=["printf", "%s|"]), hostile)
    out = subprocess.run(["sh", "-c", probe], capture_output=True, text=True).stdout
    assert out == hostile + "|" and not marker.exists()


def test_bad_environment_names_are_refused():
    node = NodeConfig(name="n", host="h", remote_env={"A;rm": "x"})
    with pytest.raises(Exception) as info:
        remote_command(node, "doctor")
    assert "bad environment name" in str(info.value)


@pytest.mark.parametrize("text, want", [
    ("render@10.0.0.5", ("render", "10.0.0.5", 22)),
    ("render@10.0.0.5:2222", ("render", "10.0.0.5", 2222)),
    ("box", (None, "box", 22)),
    ("me@[fe80::1]:2200", ("me", "fe80::1", 2200)),
])
def test_node_addresses(text, want):
    assert parse_node_address(text) == want


def _plan_like(root: Path) -> Path:
    plan = root / "plan"
    (plan / "meta").mkdir(parents=True)
    (plan / "video-frames").mkdir()  # an empty directory the worker requires
    (plan / "plan.json").write_text("{}")
    (plan / "meta" / "a.json").write_text("same")
    (plan / "meta" / "b.json").write_text("same")  # duplicate content: one blob
    (plan / "compiled").mkdir()
    (plan / "compiled" / "index.html").write_text("<html>")
    return plan


def test_blob_cache_uploads_only_what_is_missing_and_verifies(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERDESK_CACHE_DIR", str(tmp_path / "node-cache"))
    plan = _plan_like(tmp_path)
    m = plan_manifest(plan)
    assert m["dirs"] == ["compiled", "meta", "video-frames"]
    req = {"plan_hash": "p" * 8, "files": m["files"], "job_id": "job1"}
    first = nodesync.check(req)
    assert len(first["missing"]) == 3 and not first["ready"]
    staging = Path(first["staging_dir"])
    staged = {}
    for sha in first["missing"]:
        src = plan / m["by_sha"][sha]
        data = src.read_bytes()
        if src.name == "index.html":
            data = b"tampered in transit"
        (staging / f"{sha}.up").write_bytes(data)
        staged[sha] = f"{sha}.up"
    reply = nodesync.commit({**req, "dirs": m["dirs"], "staged": staged})
    bad_sha = m["files"]["compiled/index.html"]
    assert reply["ok"] is False and reply["bad"] == [bad_sha] and reply["missing"] == [bad_sha]
    (staging / "again").write_bytes((plan / "compiled/index.html").read_bytes())
    reply = nodesync.commit({**req, "dirs": m["dirs"], "staged": {bad_sha: "again"}})
    assert reply["ok"]
    node_plan = Path(reply["plan_dir"])
    for rel, sha in m["files"].items():
        assert hashlib.sha256((node_plan / rel).read_bytes()).hexdigest() == sha
    assert (node_plan / "video-frames").is_dir()
    second = nodesync.check(req)
    assert second["missing"] == [] and second["ready"]  # an unchanged plan: nothing to send


def test_forced_commit_finds_a_damaged_blob(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERDESK_CACHE_DIR", str(tmp_path / "node-cache"))
    plan = _plan_like(tmp_path)
    m = plan_manifest(plan)
    req = {"plan_hash": "q" * 8, "files": m["files"], "dirs": m["dirs"]}
    staging = Path(nodesync.check(req)["staging_dir"])
    staged = {}
    for sha, rel in m["by_sha"].items():
        (staging / sha).write_bytes((plan / rel).read_bytes())
        staged[sha] = sha
    plan_dir = Path(nodesync.commit({**req, "staged": staged})["plan_dir"])
    target = plan_dir / "compiled" / "index.html"
    target.chmod(0o644)
    target.write_text("edited on the node")  # hard link: the blob changes too
    reply = nodesync.commit({**req, "force": True})
    assert reply["ok"] is False and reply["bad"] == [m["files"]["compiled/index.html"]]
