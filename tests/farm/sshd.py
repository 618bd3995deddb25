"""Throwaway OpenSSH servers for the farm tests: one user-level `sshd -D -e -f CONFIG` per node.

Each node listens on its own loopback address (127.0.0.2, 127.0.0.3, ...) with its own host key,
config file, pid file and authorized_keys in a temporary directory. Nodes run hyperdesk from this
checkout's venv (`remote_command`), with their own HYPERDESK_CACHE_DIR so blob caches never mix.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import asyncssh

SSHD = "/usr/sbin/sshd"
REPO = Path(__file__).resolve().parents[2]
VENV_PYTHON = str(REPO / ".venv" / "bin" / "python")


def write_key(path: Path, alg: str = "ssh-ed25519") -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key(alg)
    key.write_private_key(str(path))
    key.write_public_key(str(path) + ".pub")
    os.chmod(path, 0o600)
    return key


def free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Direct children of pid, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def process_tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


class SshdNode:
    """One sshd on (address, port). `start()`, `stop()`, `client_key`, `host_key`."""

    def __init__(self, root: Path, address: str, client_key_path: Path, *, name: str) -> None:
        self.root = root
        self.name = name
        self.address = address
        self.port = free_port(address)
        self.client_key_path = client_key_path
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key_path = root / "ssh_host_ed25519_key"
        self.host_key = write_key(self.host_key_path)
        self.authorized_keys = root / "authorized_keys"
        self.authorized_keys.write_bytes(Path(str(client_key_path) + ".pub").read_bytes())
        self.config_path = root / "sshd_config"
        self.pid_file = root / "sshd.pid"
        self.log_path = root / "sshd.log"
        self.cache_dir = root / "node-cache"  # the node's HYPERDESK_CACHE_DIR
        self.cache_dir.mkdir(exist_ok=True)
        self.proc: Optional[subprocess.Popen] = None
        self.write_config()

    @property
    def fingerprint(self) -> str:
        return self.host_key.get_fingerprint("sha256")

    def write_config(self) -> None:
        self.config_path.write_text("\n".join([
            f"Port {self.port}",
            f"ListenAddress {self.address}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.pid_file}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "Subsystem sftp internal-sftp",
            "LogLevel ERROR",
            "MaxSessions 32",
            "MaxStartups 64",
            "",
        ]))

    def regenerate_host_key(self) -> None:
        """A changed host key, as after a reinstall; takes effect at the next start."""
        self.host_key = write_key(self.host_key_path)

    def start(self, timeout: float = 10.0) -> None:
        os.makedirs("/run/sshd", exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config_path)], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        """Stop the daemon and every connection it serves, as a machine going away would."""
        if self.proc is None:
            return
        pids = process_tree(self.proc.pid)
        # Only the sshd processes: the session children re-parent their commands' exit to us.
        for pid in pids:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith("sshd"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def node_config(self, *, name: Optional[str] = None, slots: int = 1, extra_env: Optional[dict] = None):
        from hyperdesk.store.models import NodeConfig

        env = {"HYPERDESK_CACHE_DIR": str(self.cache_dir), "HYPERDESK_DATA_DIR": str(self.root / "node-data")}
        for key in ("HYPERDESK_BROWSER",):
            if os.environ.get(key):
                env[key] = os.environ[key]
        env.update(extra_env or {})
        return NodeConfig(name=name or self.name, host=self.address, port=self.port, user="root",
                          key_path=str(self.client_key_path), slots=slots, label=self.name,
                          remote_command=[VENV_PYTHON, "-m", "hyperdesk"], remote_env=env)


def node_processes(marker: str) -> list[tuple[int, str]]:
    """Processes whose command line or environment mentions marker (e.g. a node's cache dir)."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            env = Path(f"/proc/{entry}/environ").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd or marker in env:
            found.append((int(entry), cmd.strip()))
    return found


if __name__ == "__main__":  # manual check: python tests/farm/sshd.py
    import tempfile

    tmp = Path(tempfile.mkdtemp())
    key = tmp / "client_key"
    write_key(key)
    node = SshdNode(tmp / "n1", "127.0.0.2", key, name="n1")
    node.start()
    print("listening", node.address, node.port, node.fingerprint)
    r = subprocess.run(["ssh", "-i", str(key), "-p", str(node.port), "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", f"root@{node.address}", "echo ok; id -un"],
                       capture_output=True, text=True)
    print(r.returncode, r.stdout, r.stderr, file=sys.stderr)
    node.stop()
