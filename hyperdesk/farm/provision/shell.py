"""Provisioning's commands and uploads over one SSH connection to a node.

Every failure is NODE_PROVISION_FAILED naming the node and the step, with the tail of its output.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from pathlib import Path
from typing import Any

import asyncssh

from hyperdesk.farm.provision import Say, provision_error
from hyperdesk.store.models import NodeConfig


def quote(words: list[Any]) -> str:
    """A shell command line of these words, each quoted."""
    return " ".join(shlex.quote(str(w)) for w in words)


def env_words(node: NodeConfig) -> list[str]:
    """`env NAME=VALUE …` for the node's configured environment, or nothing."""
    if not node.remote_env:
        return []
    return ["env"] + [f"{k}={v}" for k, v in sorted(node.remote_env.items())]


class NodeShell:
    """Runs commands on one node and uploads files to it atomically."""

    def __init__(self, conn: asyncssh.SSHClientConnection, node_name: str, say: Say) -> None:
        self.conn = conn
        self.node_name = node_name
        self.say = say
        self._sftp: asyncssh.SFTPClient | None = None

    async def run(self, command: str, *, input: str | None = None, timeout: float = 600.0,
                  check: bool = True, what: str = "") -> asyncssh.SSHCompletedProcess:
        try:
            res = await asyncio.wait_for(self.conn.run(command, input=input, check=False), timeout)
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            raise provision_error(f"node {self.node_name}: {what or command[:60]} failed: {exc or type(exc).__name__}",
                                  "Check the connection to the node and run provision again.") from None
        if check and res.exit_status != 0:
            tail = (str(res.stderr or "") + str(res.stdout or "")).strip().splitlines()[-8:]
            raise provision_error(f"node {self.node_name}: {what or command[:60]} exited {res.exit_status}: "
                                  + " | ".join(tail),
                                  "Fix the problem shown on the node, then run provision again "
                                  "(it picks up where it stopped).", command=command, output_tail=tail)
        return res

    async def stream(self, command: str, *, timeout: float, what: str) -> None:
        """Run a long command, showing its output lines as they come."""
        tail: list[str] = []
        try:
            proc = await self.conn.create_process(command, stderr=asyncssh.STDOUT, encoding="utf-8", errors="replace")
        except (asyncssh.Error, OSError) as exc:
            raise provision_error(f"node {self.node_name}: cannot start {what}: {exc}",
                                  "Check the connection to the node and run provision again.") from None

        async def read() -> None:
            async for line in proc.stdout:
                line = line.rstrip()
                if line:
                    tail.append(line)
                    del tail[:-20]
                    self.say(f"  {line}")

        try:
            await asyncio.wait_for(read(), timeout)
            await asyncio.wait_for(proc.wait_closed(), 30)
        except TimeoutError:
            proc.close()
            raise provision_error(f"node {self.node_name}: {what} took longer than {timeout:.0f} s",
                                  "Check the node's network access to its package index.") from None
        if proc.exit_status != 0:
            raise provision_error(f"node {self.node_name}: {what} exited {proc.exit_status}: " + " | ".join(tail[-6:]),
                                  "Read the output above; fix the node's package index access (or pass "
                                  "--find-links/--no-index), then run provision again.",
                                  command=command, output_tail=tail)

    async def _sftp_client(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            self._sftp = await self.conn.start_sftp_client()
        return self._sftp

    async def put_atomic(self, local: Path | None, remote: str, data: bytes | None = None) -> None:
        """Upload a local file (or `data`) to a temporary name beside `remote`, then rename it."""
        sftp = await self._sftp_client()
        tmp = f"{remote}.tmp-{os.getpid()}"
        if local is not None:
            await sftp.put(str(local), tmp)
        else:
            async with sftp.open(tmp, "wb") as f:
                await f.write(data or b"")
        await sftp.posix_rename(tmp, remote)

    def close(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.exit()
        with contextlib.suppress(Exception):
            self.conn.close()
