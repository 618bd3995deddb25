"""Canonical JSON and the plan hash stream (plan-contract 3, 4)."""
import hashlib
import os

import pytest

from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.hashing import canonical_json, compute_plan_hash, frame_dir_hash


def test_canonical_json_rules():
    assert canonical_json({"b": 1, "a": [1.5, "é", True, None]}) == '{"a":[1.5,"é",true,null],"b":1}'.encode()
    assert canonical_json({"x": 0.1}) == b'{"x":0.1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_plan_hash_is_the_documented_stream(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "encoder.json").write_bytes(b'{"a":1}')
    (tmp_path / "b.txt").write_bytes(b"bee")
    (tmp_path / "plan.json").write_bytes(b"not hashed")
    env = {"hyperdesk_version": "0.1.0", "browser_version": "1", "ffmpeg_identity": "x"}
    digest, files = compute_plan_hash(tmp_path, b'{"a":1}', env)
    h = hashlib.sha256()
    h.update(b"hyperdesk-plan-hash-v1\0files\x002\0")
    for rel, data in [("b.txt", b"bee"), ("meta/encoder.json", b'{"a":1}')]:
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).hexdigest().encode() + b"\0")
    h.update(b'encoder\0{"a":1}\0')
    h.update(b"worker-env\0" + canonical_json(env) + b"\0")
    assert digest == h.hexdigest()
    assert sorted(files) == ["b.txt", "meta/encoder.json"]


def test_symlink_in_plan_is_hash_mismatch(tmp_path):
    (tmp_path / "a").write_text("a")
    os.symlink(tmp_path / "a", tmp_path / "link")
    with pytest.raises(HyperdeskError) as info:
        compute_plan_hash(tmp_path, b"{}", {})
    assert info.value.code == "PLAN_HASH_MISMATCH" and info.value.details["path"] == "link"


def test_frame_dir_hash(tmp_path):
    (tmp_path / "frame_000001.png").write_bytes(b"2")
    (tmp_path / "frame_000000.png").write_bytes(b"1")
    (tmp_path / "notes.txt").write_bytes(b"ignored")
    digest, per_file = frame_dir_hash(tmp_path)
    s1, s2 = hashlib.sha256(b"1").hexdigest(), hashlib.sha256(b"2").hexdigest()
    assert digest == hashlib.sha256(f"frame_000000.png\0{s1}\0frame_000001.png\0{s2}".encode()).hexdigest()
    assert list(per_file) == ["frame_000000.png", "frame_000001.png"]
