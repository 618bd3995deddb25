"""Packaging fixtures: the repo's wheel, a wheelhouse of the pinned dependencies, a throwaway user
account reached over its own sshd on 127.0.0.1.

The wheelhouse is downloaded once (pip download, through pip's own index settings) into
$HYPERDESK_TEST_WHEELHOUSE or /var/tmp/hyperdesk-test-wheelhouse/<pins digest>, world-readable so
the throwaway user's pip can install from it with --no-index: the node installs send no traffic
anywhere.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from farm.sshd import SSHD, SshdNode, write_key

REPO = Path(__file__).resolve().parents[2]


def _need_root_and_sshd() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the test creates a throwaway user account")
    if not (os.path.exists(SSHD) and shutil.which("useradd") and shutil.which("userdel")):
        pytest.skip("needs openssh-server and useradd")


def _world_readable(path: Path) -> None:
    """The node user's pip reads the wheelhouse (its parents must be searchable already)."""
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)


@pytest.fixture(scope="session")
def pins() -> list[str]:
    from hyperdesk.farm.provision.pins import dependency_pins

    return dependency_pins()


@pytest.fixture(scope="session")
def wheelhouse(pins: list[str]) -> Path:
    """Wheels of every pinned dependency, fetched once per machine (then reused across sessions)."""
    from hyperdesk.farm.provision.pins import constraints_digest

    base = Path(os.environ.get("HYPERDESK_TEST_WHEELHOUSE") or "/var/tmp/hyperdesk-test-wheelhouse")
    target = base / constraints_digest(pins)[:16]
    if (target / ".complete").is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    reqs = staging / "requirements.txt"
    staging.mkdir()
    reqs.write_text("\n".join(pins) + "\n")
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                          "--only-binary=:all:", "--dest", str(staging), "-r", str(reqs)],
                         capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        pytest.fail(f"pip download of the pinned dependencies failed:\n{res.stderr[-3000:]}")
    print(f"[timing] wheelhouse download {time.monotonic() - t0:.1f} s")
    (staging / ".complete").write_text("\n".join(pins) + "\n")
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    _world_readable(base)
    return target


@pytest.fixture(scope="session")
def hyperdesk_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps` of (a clean copy of) this checkout."""
    from hyperdesk.farm.provision.wheel import build_wheel_from_source

    t0 = time.monotonic()
    wheel = build_wheel_from_source(REPO, tmp_path_factory.mktemp("wheel"))
    print(f"[timing] wheel build {time.monotonic() - t0:.1f} s")
    return wheel


def _user_pids(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


class NodeAccount:
    """A throwaway Unix user with a home directory and the test's client key authorized."""

    def __init__(self, client_key: Path) -> None:
        self.name = "hdnode" + secrets.token_hex(4)
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", self.name],
                       check=True, capture_output=True)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, Path(pw.pw_dir)
        ssh = self.home / ".ssh"
        ssh.mkdir(mode=0o700)
        (ssh / "authorized_keys").write_bytes(Path(str(client_key) + ".pub").read_bytes())
        for p in (ssh, ssh / "authorized_keys"):
            os.chown(p, self.uid, self.gid)
        os.chmod(ssh / "authorized_keys", 0o600)

    def remove(self) -> None:
        # Only this account's processes (the test started them over SSH), one by one.
        for _ in range(3):
            pids = _user_pids(self.uid)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)


class UserSshd(SshdNode):
    """sshd on 127.0.0.1 that reads each user's own ~/.ssh/authorized_keys and admits only one user."""

    def __init__(self, root: Path, client_key: Path, user: str) -> None:
        self.user = user
        super().__init__(root, "127.0.0.1", client_key, name="provisioned")

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text().replace(f"AuthorizedKeysFile {self.authorized_keys}",
                                                    "AuthorizedKeysFile .ssh/authorized_keys")
        self.config_path.write_text(text + f"AllowUsers {self.user}\n")


@pytest.fixture(scope="session")
def node_client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("provision-key") / "id_ed25519"
    write_key(path)
    return path


@pytest.fixture(scope="session")
def node_account(node_client_key: Path):
    _need_root_and_sshd()
    account = NodeAccount(node_client_key)
    yield account
    account.remove()


@pytest.fixture(scope="session")
def node_sshd(tmp_path_factory: pytest.TempPathFactory, node_client_key: Path, node_account: NodeAccount):
    sshd = UserSshd(tmp_path_factory.mktemp("provision-sshd"), node_client_key, node_account.name)
    sshd.start()
    yield sshd
    sshd.stop()


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory: pytest.TempPathFactory, hyperdesk_wheel: Path, wheelhouse: Path) -> Path:
    """A fresh venv (no system site-packages) with the wheel and its pinned dependencies installed."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    t1 = time.monotonic()
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--no-index", "--find-links", str(wheelhouse), str(hyperdesk_wheel)],
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    print(f"[timing] fresh venv {t1 - t0:.1f} s, pip install of the wheel and its pins {time.monotonic() - t1:.1f} s")
    return venv
