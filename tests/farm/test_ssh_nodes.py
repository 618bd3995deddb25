"""SSH nodes against real sshd processes: strict host keys, preflight."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.ssh import SshExecutor, connect_node
from hyperdesk.faults import FaultPlan


def _connect(node_cfg, store, accept=None):
    async def go():
        conn, _ = await connect_node(node_cfg, store, accept_fingerprint=accept)
        try:
            res = await conn.run("echo connected", check=True)
            return res.stdout.strip()
        finally:
            conn.close()
    return asyncio.run(go())


def test_unknown_host_key_is_refused_until_its_fingerprint_is_confirmed(fresh_node, store):
    cfg = fresh_node.node_config()
    with pytest.raises(HyperdeskError) as info:
        _connect(cfg, store)
    err = info.value
    assert err.code == "HOST_KEY_UNKNOWN" and err.details["fingerprint"] == fresh_node.fingerprint
    assert fresh_node.fingerprint in err.message and "--accept-host-key" in err.hint
    assert store.host_key(cfg.host, cfg.port) is None
    with pytest.raises(HyperdeskError) as info:  # a fingerprint that is not the node's
        _connect(cfg, store, accept="SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert info.value.code == "HOST_KEY_UNKNOWN" and store.host_key(cfg.host, cfg.port) is None
    assert _connect(cfg, store, accept=fresh_node.fingerprint) == "connected"
    assert store.host_key(cfg.host, cfg.port).fingerprint == fresh_node.fingerprint
    assert _connect(cfg, store) == "connected"  # pinned now: no confirmation needed


def test_changed_host_key_is_host_key_changed(fresh_node, store):
    cfg = fresh_node.node_config()
    _connect(cfg, store, accept=fresh_node.fingerprint)
    pinned = fresh_node.fingerprint
    fresh_node.stop()
    fresh_node.regenerate_host_key()
    fresh_node.start()
    with pytest.raises(HyperdeskError) as info:
        _connect(cfg, store, accept=fresh_node.fingerprint)  # even a confirmation does not override a pin
    err = info.value
    assert err.code == "HOST_KEY_CHANGED" and not err.retryable
    assert err.details["pinned"] == pinned and err.details["presented"] == fresh_node.fingerprint
    assert store.host_key(cfg.host, cfg.port).fingerprint == pinned  # the pin is unchanged


def test_cli_nodes_add_refuses_an_unknown_key_and_pins_a_confirmed_one(fresh_node, data_dir):
    cfg = fresh_node.node_config()
    base = [sys.executable, "-m", "hyperdesk", "nodes", "add", "box", f"root@{cfg.host}:{cfg.port}",
            "--key", cfg.key_path, "--remote-command", " ".join(cfg.remote_command)]
    env = dict(os.environ)
    r = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "HOST_KEY_UNKNOWN" in r.stderr and fresh_node.fingerprint in r.stderr
    r = subprocess.run(base + ["--accept-host-key", fresh_node.fingerprint], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "nodes", "list", "--json"], capture_output=True,
                       text=True, env=env, timeout=60)
    (node,) = json.loads(r.stdout)
    assert node["name"] == "box" and node["host_key_fingerprint"] == fresh_node.fingerprint


def test_preflight_compares_the_nodes_environment(fresh_node, store):
    from hyperdesk.plan.env import local_worker_env

    want = local_worker_env()

    async def go(cfg, faults=None):
        ex = SshExecutor(cfg, store, accept_fingerprint=fresh_node.fingerprint, faults=faults)
        try:
            await ex.open()
            return await ex.preflight(want)
        finally:
            await ex.close()

    ok = asyncio.run(go(fresh_node.node_config()))
    assert ok.compatible, ok.reason
    assert ok.report["worker_env"]["ffmpeg_identity"] == want.ffmpeg_identity
    bad = asyncio.run(go(fresh_node.node_config(), FaultPlan(ffmpeg_identity="n0.0-other+sha256:0")))
    assert not bad.compatible and "ffmpeg differs" in bad.reason and "n0.0-other" in bad.reason
