"""`hyperdesk nodes provision` against a real node: a throwaway user account on 127.0.0.1 with its
own sshd. The node gets this checkout's wheel and the pinned dependencies (from a local wheelhouse,
--no-index), renders a composition through the farm byte-identically to a local render, and a
second provisioning changes nothing on it."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediautil import count_frames

pytestmark = pytest.mark.slow

# 96x54, 1 s at 15 fps = 15 frames; a CSS animation (seeked by the runtime) changes every frame.
TINY_HTML = """<!doctype html>
<html><head><style>
body{margin:0;background:#000}
#root{position:relative;width:96px;height:54px;background:#123;overflow:hidden}
#bar{position:absolute;left:0;bottom:4px;height:8px;width:0;background:#fc0;animation:grow 1s linear forwards}
@keyframes grow{from{width:0}to{width:96px}}
.b{position:absolute;top:10px;width:20px;height:20px}
</style></head><body>
<div id="root" data-composition-id="tiny" data-width="96" data-height="54" data-duration="1" data-fps="15" data-no-timeline>
  <div class="b" style="left:4px;background:#f00" data-start="0" data-duration="0.5"></div>
  <div class="b" style="left:50px;background:#0f0" data-start="0.5" data-duration="0.5"></div>
  <div id="bar"></div>
</div></body></html>
"""


def _parser() -> argparse.ArgumentParser:
    """The real CLI parser; adds `nodes provision` if the top level does not register it yet."""
    from hyperdesk import cli
    from hyperdesk.cli import provision

    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    nodes = sub.choices["nodes"]
    nsub = next(a for a in nodes._actions if isinstance(a, argparse._SubParsersAction))
    if "provision" not in nsub.choices:
        provision.register(nsub)
    return parser


def provision_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    from hyperdesk.cli.output import print_error
    from hyperdesk.errors import HyperdeskError

    capsys.readouterr()
    args = _parser().parse_args(["nodes", "provision", *argv])
    try:
        rc = int(args.handler(args) or 0)
    except HyperdeskError as err:
        print_error(err)
        rc = err.exit_status
    out, err_text = capsys.readouterr()
    return rc, out, err_text


def render(project: Path, out: Path, *extra: str) -> dict:
    """`hyperdesk render --json` in a subprocess; returns the events by kind."""
    r = subprocess.run([sys.executable, "-m", "hyperdesk", "render", str(project), "-o", str(out), "--json", *extra],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    events: dict[str, list] = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            e = json.loads(line)
            events.setdefault(e["event"], []).append(e)
    return events


def home_snapshot(home: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file in the node user's home, except hyperdesk's render cache (plans,
    chunks and the doctor's version caches live there) but including the default font it was given."""
    snap = {}
    cache = home / ".cache" / "hyperdesk"
    for dirpath, dirnames, filenames in os.walk(home):
        for f in filenames:
            p = Path(dirpath) / f
            if cache in p.parents and not (p.suffix == ".tgz" and p.parent.name == "npm"):
                continue
            st = p.lstat()
            snap[str(p.relative_to(home))] = (st.st_mtime_ns, st.st_size)
    return snap


def test_provision_render_and_provision_again(node_account, node_sshd, wheelhouse: Path, hyperdesk_wheel: Path,
                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("HYPERDESK_DATA_DIR", str(tmp_path / "controller-data"))
    address = f"{node_account.name}@127.0.0.1:{node_sshd.port}"
    common = [address, "--key", str(node_sshd.client_key_path), "--name", "box", "--wheel", str(hyperdesk_wheel),
              "--no-index", "--find-links", str(wheelhouse)]

    # An unknown host key is refused before anything is installed, with the fingerprint to confirm.
    rc, out, err = provision_cli(capsys, *common)
    assert rc == 2 and "HOST_KEY_UNKNOWN" in err and node_sshd.fingerprint in err
    assert not (node_account.home / ".local" / "share" / "hyperdesk").exists()

    t0 = time.monotonic()
    rc, out, err = provision_cli(capsys, *common, "--accept-host-key", node_sshd.fingerprint, "--json")
    first_s = time.monotonic() - t0
    assert rc == 0, err[-4000:] + out
    first = json.loads(out.strip().splitlines()[-1])
    venv = node_account.home / ".local" / "share" / "hyperdesk" / "venv"
    assert first["outcome"] == "installed", first
    assert first["remote_command"] == [str(venv / "bin" / "hyperdesk")]
    assert first["compatible"] is True, first["reason"]
    assert first["admin_commands"] == []  # the browser is installed system-wide here
    assert any("installed hyperdesk 0.1.0" in a for a in first["actions"])
    assert any("default font" in a for a in first["actions"])

    # What the node runs is this checkout's wheel, owned by the node user, with the same pins.
    stamp = json.loads((venv / "hyperdesk-provision.json").read_text())
    from hyperdesk.farm.provision.pins import dependency_pins
    from hyperdesk.farm.provision.wheel import wheel_content_digest

    assert stamp["wheel_digest"] == wheel_content_digest(hyperdesk_wheel)
    assert stamp["pins"] == dependency_pins()
    for pin in stamp["pins"]:
        name, _, version = pin.partition("==")
        assert stamp["installed"][name] == version
    assert (venv / "bin" / "hyperdesk").stat().st_uid == node_account.uid
    link = node_account.home / ".local" / "bin" / "hyperdesk"
    assert os.readlink(link) == str(venv / "bin" / "hyperdesk")

    from hyperdesk.store import JobStore

    with JobStore() as store:
        rec = store.get_node("box")
        assert rec is not None and rec.remote_command == [str(venv / "bin" / "hyperdesk")]
        assert rec.user == node_account.name and rec.port == node_sshd.port
        assert rec.host_key_fingerprint == node_sshd.fingerprint and rec.incompatible_reason is None

    # Render through the farm on the provisioned node only, then locally: the same bytes.
    project = tmp_path / "tiny"
    project.mkdir()
    (project / "index.html").write_text(TINY_HTML)
    t1 = time.monotonic()
    farm = render(project, tmp_path / "farm.mp4", "--local", "0", "--node", "box", "--chunk-size", "5",
                  "--keyframe-interval", "5", "--no-audio")
    render_s = time.monotonic() - t1
    done = farm["chunk_done"]
    assert len(done) == 3 and {e["node"] for e in done} == {"box"}
    local = render(project, tmp_path / "local.mp4", "--local", "1", "--chunk-size", "5", "--keyframe-interval", "5",
                   "--no-audio")
    assert count_frames(tmp_path / "farm.mp4") == 15
    assert farm["assembled"][0]["result"]["sha256"] == local["assembled"][0]["result"]["sha256"]

    # A second run finds the node current and touches nothing on it.
    before = home_snapshot(node_account.home)
    t2 = time.monotonic()
    rc, out, err = provision_cli(capsys, *common, "--json")
    second_s = time.monotonic() - t2
    assert rc == 0, err[-4000:]
    second = json.loads(out.strip().splitlines()[-1])
    assert second["outcome"] == "already-current" and second["actions"] == [], second
    assert second["compatible"] is True
    assert home_snapshot(node_account.home) == before

    rc, out, err = provision_cli(capsys, *common)  # the words a person reads
    assert rc == 0 and "already current" in out and "nothing changed" in out, out + err
    assert home_snapshot(node_account.home) == before

    rc, out, err = provision_cli(capsys, *common, "--check", "--json")
    assert rc == 0 and json.loads(out.strip().splitlines()[-1])["outcome"] == "checked"
    print(f"[timing] first provision {first_s:.1f} s, farm render {render_s:.1f} s, second provision {second_s:.1f} s")


def test_a_changed_dependency_is_repaired(node_account, node_sshd, wheelhouse: Path, hyperdesk_wheel: Path,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    """Someone upgraded a pinned package on the node by hand: provisioning puts the pin back."""
    monkeypatch.setenv("HYPERDESK_DATA_DIR", str(tmp_path / "controller-data"))
    address = f"{node_account.name}@127.0.0.1:{node_sshd.port}"
    common = [address, "--key", str(node_sshd.client_key_path), "--name", "box", "--wheel", str(hyperdesk_wheel),
              "--no-index", "--find-links", str(wheelhouse), "--accept-host-key", node_sshd.fingerprint, "--json"]
    rc, out, err = provision_cli(capsys, *common)
    assert rc == 0, err[-4000:]
    venv = node_account.home / ".local" / "share" / "hyperdesk" / "venv"
    # Replace the pinned webencodings' metadata version, as a stray `pip install -U` would.
    meta = next((venv / "lib").glob("python3*/site-packages/webencodings-*.dist-info/METADATA"))
    meta.write_text(meta.read_text().replace("Version: 0.6.1", "Version: 0.6.2"))
    rc, out, err = provision_cli(capsys, *common[:-1], "--check")
    assert rc == 1 and "webencodings 0.6.2, pinned 0.6.1" in out
    rc, out, err = provision_cli(capsys, *common)
    assert rc == 0, err[-4000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["outcome"] == "updated"
    assert json.loads((venv / "hyperdesk-provision.json").read_text())["installed"]["webencodings"] == "0.6.1"


def test_without_sudo_a_missing_browser_is_left_to_an_administrator(
        node_account, node_sshd, wheelhouse: Path, hyperdesk_wheel: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The node user has no sudo: provisioning installs what the user may install and prints the exact
    commands an administrator must run for the rest."""
    monkeypatch.setenv("HYPERDESK_DATA_DIR", str(tmp_path / "controller-data"))
    address = f"{node_account.name}@127.0.0.1:{node_sshd.port}"
    common = [address, "--key", str(node_sshd.client_key_path), "--wheel", str(hyperdesk_wheel), "--no-index",
              "--find-links", str(wheelhouse), "--accept-host-key", node_sshd.fingerprint]
    rc, out, err = provision_cli(capsys, *common, "--name", "box")
    assert rc == 0, err[-4000:]
    # The same account, told to use a browser that is not there (as on a node without Chromium).
    rc, out, err = provision_cli(capsys, *common, "--name", "nobrowser",
                                 "--env", "HYPERDESK_BROWSER=/nonexistent/chromium-headless-shell")
    assert rc == 1
    assert "an administrator must run on the node:" in out
    assert "    sudo apt-get install -y --no-install-recommends chromium-headless-shell" in out
    assert "incomplete" in out and "browser missing" in err and "no sudo" in err
    from hyperdesk.store import JobStore

    with JobStore() as store:  # the other registration at the same address is untouched
        assert store.get_node("box").remote_env == {}
        assert store.get_node("nobrowser").incompatible_reason.startswith("Chromium differs")
