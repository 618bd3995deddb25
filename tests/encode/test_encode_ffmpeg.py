"""The pinned ffmpeg: identity (plan contract 5), its cache, and run_ffmpeg errors."""
from __future__ import annotations

import hashlib
import json
import re

import pytest

from hyperdesk.encode import ffmpeg as ff
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan
from hyperdesk.plan.env import local_worker_env


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERDESK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(ff, "_identity_memo", {})
    return tmp_path / "cache"


def test_exe_is_the_imageio_binary():
    exe = ff.ffmpeg_exe()
    assert "imageio_ffmpeg" in exe and exe.startswith("/")


def test_identity_format_and_value(fresh_cache):
    ident = ff.ffmpeg_identity()
    assert re.fullmatch(r"n9\.0\.2\S*\+sha256:[0-9a-f]{64}", ident), ident
    with open(ff.ffmpeg_exe(), "rb") as f:
        assert ident.endswith("+sha256:" + hashlib.sha256(f.read()).hexdigest())


def test_identity_cached_by_path_size_mtime(fresh_cache, monkeypatch):
    ident = ff.ffmpeg_identity()
    data = json.loads((fresh_cache / "env" / "ffmpeg-identity.json").read_text())
    (entry,) = data["entries"]
    assert entry["identity"] == ident and entry["path"] == ff.ffmpeg_exe()
    # a second process (empty memo) reads the cache instead of hashing
    monkeypatch.setattr(ff, "_identity_memo", {})
    monkeypatch.setattr(ff, "compute_ffmpeg_identity", lambda exe: pytest.fail("re-hashed despite the cache"))
    assert ff.ffmpeg_identity() == ident
    # a changed mtime invalidates the entry
    entry["mtime_ns"] += 1
    entry["identity"] = "stale"
    (fresh_cache / "env" / "ffmpeg-identity.json").write_text(json.dumps(data))
    monkeypatch.setattr(ff, "_identity_memo", {})
    monkeypatch.setattr(ff, "compute_ffmpeg_identity", lambda exe: "recomputed")
    assert ff.ffmpeg_identity() == "recomputed"


def test_identity_fault():
    # A test's FaultPlan stands in for the identity this machine reports (its worker environment).
    faults = FaultPlan(ffmpeg_identity="n0.0-test+sha256:" + "0" * 64, browser_version="1.2.3.4")
    assert local_worker_env(faults=faults).ffmpeg_identity == "n0.0-test+sha256:" + "0" * 64


def test_run_ffmpeg_error_has_stderr_tail(tmp_path):
    log = tmp_path / "logs" / "ff.log"
    with pytest.raises(HyperdeskError) as ei:
        ff.run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"], error_code="ENCODE_FAILED",
                      log_path=log)
    err = ei.value
    assert err.code == "ENCODE_FAILED" and err.retryable
    assert "missing.mp4" in err.details["stderr_tail"]
    assert err.details["returncode"] != 0
    assert "missing.mp4" in log.read_text()


def test_run_ffmpeg_ok_and_timeout(tmp_path):
    proc = ff.run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=8000", "-t", "0.1", "-f", "null", "-"],
                         error_code="ENCODE_FAILED")
    assert proc.returncode == 0
    with pytest.raises(HyperdeskError) as ei:
        ff.run_ffmpeg(["-re", "-f", "lavfi", "-i", "anullsrc=r=8000", "-t", "30", "-f", "null", "-"],
                      error_code="AUDIO_MIX_FAILED", timeout=0.5)
    assert ei.value.code == "AUDIO_MIX_FAILED" and ei.value.details["timeout_s"] == 0.5


def test_formatting_helpers():
    assert ff.fmt_time(2) == "2.000000"
    assert ff.fmt_time(1 / 3) == "0.333333"
    assert ff.fmt_num(0.5) == "0.5" and ff.fmt_num(2.0) == "2" and ff.fmt_num(0.0) == "0"
