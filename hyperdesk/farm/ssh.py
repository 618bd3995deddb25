"""The SSH executor: render nodes reached with asyncssh.

* Host keys are strict and pinned in hyperdesk's own store (never ~/.ssh/known_hosts): an unknown
  key is refused (HOST_KEY_UNKNOWN, with its SHA256 fingerprint) until the user confirms that
  fingerprint, then pinned; a key that differs from the pin is HOST_KEY_CHANGED.
* Every remote command is built from argv words, each quoted with shlex.quote.
* Preflight runs `hyperdesk doctor --json` on the node and compares its worker environment with the
  plan's.
* The plan travels through a content-addressed blob cache on the node (hyperdesk.farm.nodesync):
  only blobs the node lacks are uploaded, each verified after upload.
* The worker starts a new session (its own process group) and watches its stdin: when the SSH
  channel closes, for whatever reason, it kills its group, so no Chromium or ffmpeg is orphaned.
* The chunk is downloaded and its sha256 checked (re-fetched once, then OUTPUT_HASH_MISMATCH).

A test's FaultPlan splits in two: `corrupt_transfers` acts here, on the controller (one byte of each
of this executor's first N chunk downloads is flipped after the transfer, before the hash check); the
rest reaches the node as `hyperdesk --faults JSON` on its doctor and worker commands.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import getpass
import json
import os
import re
import secrets
import shlex
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh

from hyperdesk.dirs import cache_cap
from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.executor import (
    AttemptSpec,
    EventCallback,
    Executor,
    LogCallback,
    NodeLost,
    Notice,
    PlanTransfer,
    PreflightReport,
    remove_output,
    verify_output,
)
from hyperdesk.farm.protocol import AcceptedEvent, DoneEvent, FailedEvent, parse_event
from hyperdesk.farm.served import STDERR_TAIL, ServedWorker, attempt_request, take_idle
from hyperdesk.faults import FaultPlan, fault_args
from hyperdesk.models import ChunkResult, WorkerEnv
from hyperdesk.plan.hashing import sha256_file
from hyperdesk.store.db import JobStore
from hyperdesk.store.models import NodeConfig

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UPLOAD_PARALLEL = 8

def _corrupt(path: Path) -> None:
    """Flip one byte of a downloaded chunk (of its first file for a frame directory): a test fault."""
    target = path
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not files:
            return
        target = files[0]
    data = bytearray(target.read_bytes())
    if data:
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))


# ---- commands and host keys ------------------------------------------------------------------


def remote_command(node: NodeConfig, *args: Any, faults: FaultPlan | None = None) -> str:
    """The shell command line for `<remote hyperdesk> [--faults JSON] args...`, every word shell-quoted."""
    words: list[str] = []
    if node.remote_env:
        words.append("env")
        for key, value in sorted(node.remote_env.items()):
            if not _ENV_NAME.match(key):
                raise HyperdeskError("INVALID_RENDER_CONFIG", f"node {node.name}: bad environment name {key!r}",
                                     details={"node": node.name, "name": key})
            words.append(f"{key}={value}")
    words.extend(node.remote_command)
    words.extend(fault_args(faults))
    words.extend(str(a) for a in args)
    return " ".join(shlex.quote(w) for w in words)


def normalise_fingerprint(text: str) -> str:
    text = text.strip()
    if text.lower().startswith("sha256:"):
        return "SHA256:" + text[7:].rstrip("=")
    return "SHA256:" + text.rstrip("=")


def check_port(value: object, text: str | None = None) -> int:
    """An SSH port: an integer 1-65535, else INVALID_RENDER_CONFIG naming what was given."""
    shown = text if text is not None else str(value)
    try:
        port = int(str(value).strip())
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"bad node port {value!r} in {shown!r}: a port is a number "
                             "from 1 to 65535", hint="Give the node as user@host or user@host:PORT (e.g. :22).",
                             details={"field": "port", "value": str(value)})
    return port


def parse_node_address(text: str) -> tuple[str | None, str, int]:
    """`user@host[:port]` (or `[v6addr]:port`) -> (user, host, port)."""
    user = None
    rest = text.strip()
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
    port = 22
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = check_port(tail[1:], text)
        elif tail:
            host = ""
    elif rest.count(":") == 1:
        host, p = rest.split(":")
        port = check_port(p, text)
    else:
        host = rest
    if not host or any(c.isspace() for c in host):
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"not a node address: {text!r} (use user@host[:port])",
                             details={"field": "node", "value": text})
    return user or None, host, port


def default_node_name(user: str | None, host: str, port: int) -> str:
    """The name a node gets when none is given: `user@host`, with `:port` unless it is 22."""
    return f"{user + '@' if user else ''}{host}" + (f":{port}" if port != 22 else "")


class _PinningClient(asyncssh.SSHClient):
    """Sees the key the server presents (every key reaches here: the trusted list holds at most the pin)."""

    def __init__(self, seen: dict[str, Any], lost: asyncio.Event) -> None:
        self._seen = seen
        self._lost = lost

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self._seen["key"] = key
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost.set()


async def connect_node(node: NodeConfig, store: JobStore, *, accept_fingerprint: Any = None, timeout: float = 15.0,
                       keepalive_s: float = 5.0) -> tuple[asyncssh.SSHClientConnection, asyncio.Event]:
    """Connect with the pinned host key; pin a confirmed unknown key; refuse everything else."""
    pin = store.host_key(node.host, node.port)
    seen: dict[str, Any] = {}
    lost = asyncio.Event()
    trusted = [asyncssh.import_public_key(pin.key)] if pin else []
    where = f"{node.host}:{node.port}"
    try:
        conn = await asyncio.wait_for(asyncssh.connect(
            node.host, node.port, username=node.user or getpass.getuser(),
            client_keys=[node.key_path] if node.key_path else (),
            known_hosts=(trusted, [], []),
            client_factory=lambda: _PinningClient(seen, lost),
            keepalive_interval=keepalive_s, keepalive_count_max=3,
            connect_timeout=timeout, login_timeout=timeout,
        ), timeout + 5)
    except asyncssh.HostKeyNotVerifiable:
        key = seen.get("key")
        if key is None:
            raise HyperdeskError("HOST_KEY_UNKNOWN", f"node {node.name} ({where}) offered no usable host key",
                                 details={"node": node.name}) from None
        presented = key.get_fingerprint("sha256")
        if pin is not None:
            raise HyperdeskError(
                "HOST_KEY_CHANGED",
                f"the SSH host key of node {node.name} ({where}) changed: pinned {pin.fingerprint}, "
                f"presented {presented}",
                details={"node": node.name, "host": node.host, "port": node.port, "pinned": pin.fingerprint,
                         "presented": presented}) from None
        confirmed = [accept_fingerprint] if isinstance(accept_fingerprint, str) else list(accept_fingerprint or [])
        if any(normalise_fingerprint(fp) == normalise_fingerprint(presented) for fp in confirmed):
            store.pin_host_key(node.host, node.port, key.export_public_key("openssh").decode().strip(), presented)
            return await connect_node(node, store, timeout=timeout, keepalive_s=keepalive_s)
        why = (f"the fingerprint you confirmed ({', '.join(confirmed)}) is not the one presented"
               if confirmed else "it is not pinned yet")
        raise HyperdeskError(
            "HOST_KEY_UNKNOWN",
            f"node {node.name} ({where}) presented host key {presented}; refused because {why}",
            hint=f"Check the fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then pass "
                 f"--accept-host-key {presented}",
            details={"node": node.name, "host": node.host, "port": node.port, "fingerprint": presented}) from None
    except asyncssh.PermissionDenied as exc:
        raise HyperdeskError("NODE_AUTH_FAILED", f"node {node.name} ({where}) refused the login: {exc.reason}",
                             hint="Check the node's user and key (ssh-copy-id), then test it with "
                                  "hyperdesk nodes test.",
                             retryable=False, details={"node": node.name}) from None
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        raise HyperdeskError("NODE_UNREACHABLE",
                             f"cannot reach node {node.name} ({where}): {exc or type(exc).__name__}",
                             hint="Check that the machine is on, sshd runs and the address and port are right.",
                             retryable=True, details={"node": node.name}) from None
    return conn, lost


def compare_env(report: dict[str, Any], want: WorkerEnv) -> str | None:
    """The reason a node cannot render a plan, or None."""
    theirs = report.get("worker_env") or {}
    reasons = []
    for field, label in (("ffmpeg_identity", "ffmpeg"), ("browser_version", "Chromium"),
                         ("hyperdesk_version", "hyperdesk")):
        mine = getattr(want, field)
        if theirs.get(field) != mine:
            reasons.append(f"{label} differs: node has {theirs.get(field)!r}, the plan needs {mine!r}")
    # Other doctor problems (e.g. a font fingerprint it could not compute) are shown, not fatal: the
    # worker's own validation (plan-contract 9.2) still refuses what would change output bytes.
    return "; ".join(reasons) or None


_CLOSED = object()  # a warm worker's channel ended without the attempt's final event


class _RemoteWorker(ServedWorker):
    """One `hyperdesk worker --serve` on a node, over one SSH channel, kept between attempts."""

    def __init__(self, proc: Any) -> None:
        self.entry: dict[str, Any] = {"proc": proc, "pgid": None}
        super().__init__(proc)

    async def _event_lines(self) -> AsyncIterator[str]:
        with contextlib.suppress(asyncssh.Error, OSError):
            async for line in self.proc.stdout:
                yield line

    async def _log_lines(self) -> AsyncIterator[str]:
        with contextlib.suppress(asyncssh.Error, OSError):
            async for line in self.proc.stderr:
                yield line

    def _seen(self, event: Any) -> None:
        if isinstance(event, AcceptedEvent):
            self.entry["pgid"] = event.pgid

    async def _ended(self) -> object:
        return _CLOSED

    def close(self) -> None:
        """Close the channel: an idle worker then closes its browser and exits, a busy one kills its group."""
        with contextlib.suppress(Exception):
            self.proc.close()
        super().close()


class SshExecutor(Executor):
    kind = "ssh"

    def __init__(self, node: NodeConfig, store: JobStore, *, accept_fingerprint: Any = None,
                 connect_timeout: float = 15.0, keepalive_s: float = 5.0, cancel_grace_s: float = 3.0,
                 faults: FaultPlan | None = None, warm: bool = True) -> None:
        """`warm`: each slot's worker is a `hyperdesk worker --serve` kept between chunks (its browser
        and page reused for the plan's next chunk)."""
        self.node = node
        self.name = node.name
        self.warm = warm
        self._idle: list[_RemoteWorker] = []
        self.slots = node.slots
        self.store = store
        self.accept_fingerprint = accept_fingerprint
        self.connect_timeout = connect_timeout
        self.keepalive_s = keepalive_s
        self.cancel_grace_s = cancel_grace_s
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lost: asyncio.Event | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_lock = asyncio.Lock()
        self._plans: dict[str, dict[str, Any]] = {}  # plan_hash -> node paths from node-sync
        self._manifests: dict[str, dict[str, Any]] = {}
        self._running: dict[str, dict[str, Any]] = {}  # attempt_id -> {"proc", "pgid"}
        self.bytes_uploaded = 0
        self.bytes_downloaded = 0
        # Test faults: the controller-side part is counted down here, the rest goes to the node's commands.
        self._corruptions_left = faults.corrupt_transfers if faults is not None else 0
        self.node_faults = faults.model_copy(update={"corrupt_transfers": 0}) if faults is not None else None

    # ---- connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._lost is not None and not self._lost.is_set()

    async def open(self) -> None:
        if self.connected:
            return
        await self._drop()
        self._conn, self._lost = await connect_node(self.node, self.store, accept_fingerprint=self.accept_fingerprint,
                                                    timeout=self.connect_timeout, keepalive_s=self.keepalive_s)
        self._plans.clear()  # a reconnect re-checks what the node holds

    async def _drop(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.exit()
        self._sftp = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def _require(self) -> asyncssh.SSHClientConnection:
        if not self.connected:
            raise NodeLost(f"node {self.name} is not connected", node=self.name)
        assert self._conn is not None
        return self._conn

    async def _sftp_client(self) -> asyncssh.SFTPClient:
        async with self._sftp_lock:  # one SFTP session per connection, shared by every slot
            if self._sftp is None:
                try:
                    self._sftp = await self._require().start_sftp_client()
                except (asyncssh.Error, OSError) as exc:
                    raise NodeLost(f"node {self.name}: cannot open SFTP: {exc}", node=self.name) from None
            return self._sftp

    async def _run_json(self, *args: Any, stdin: dict[str, Any] | None = None, timeout: float = 300.0,
                        faults: FaultPlan | None = None) -> dict[str, Any]:
        conn = self._require()
        cmd = remote_command(self.node, *args, faults=faults)
        try:
            res = await asyncio.wait_for(conn.run(cmd, input=json.dumps(stdin) if stdin is not None else None,
                                                  check=False), timeout)
        except (TimeoutError, asyncssh.Error, OSError) as exc:
            raise NodeLost(f"node {self.name}: {' '.join(map(str, args[:2]))} failed: {exc or type(exc).__name__}",
                           node=self.name) from None
        out = str(res.stdout or "").strip()
        try:
            try:
                reply = json.loads(out)
            except ValueError:
                reply = json.loads(out.splitlines()[-1] if out else "")
        except (ValueError, IndexError):
            err_tail = str(res.stderr or "").strip().splitlines()[-5:]
            raise HyperdeskError("NODE_INCOMPATIBLE",
                                 f"node {self.name}: `{' '.join(map(str, args[:2]))}` did not answer JSON "
                                 f"(exit {res.exit_status}): {' | '.join(err_tail) or out[:200]}",
                                 details={"node": self.name, "stderr_tail": err_tail}) from None
        if not isinstance(reply, dict):
            raise HyperdeskError("NODE_INCOMPATIBLE", f"node {self.name}: unexpected reply {out[:200]}",
                                 details={"node": self.name})
        return reply

    async def alive(self) -> bool:
        if not self.connected:
            return False
        try:
            res = await asyncio.wait_for(self._require().run("true", check=False), 5)
            return res.exit_status == 0
        except Exception:
            return False

    # ---- preflight --------------------------------------------------------------------------

    async def preflight(self, worker_env: WorkerEnv) -> PreflightReport:
        try:
            report = await self._run_json("doctor", "--json", "--no-gl", timeout=180, faults=self.node_faults)
        except HyperdeskError as err:
            if err.code == "WORKER_LOST":
                raise
            return PreflightReport(False, f"preflight failed: {err.message}", {})
        reason = compare_env(report, worker_env)
        return PreflightReport(reason is None, reason, report)

    # ---- plan transfer ----------------------------------------------------------------------

    def _manifest(self, plan_dir: Path, plan_hash: str) -> dict[str, Any]:
        cached = self._manifests.get(plan_hash)
        if cached is None:
            cached = plan_manifest(plan_dir)
            self._manifests[plan_hash] = cached
        return cached

    async def prepare_plan(self, plan_dir: Path, plan_hash: str, *, force: bool = False,
                           job_id: str = "adhoc") -> PlanTransfer:
        t0 = time.monotonic()
        manifest = await asyncio.to_thread(self._manifest, plan_dir, plan_hash)
        files: dict[str, str] = manifest["files"]
        stats = PlanTransfer(files_total=len(files))
        # The node's leftovers (dead workers' work dirs, finished jobs' outputs, planDirs past the cap)
        # are swept in the same round trip.
        check = await self._run_json("node-sync", "check", stdin={
            "plan_hash": plan_hash, "files": files, "job_id": job_id,
            "sweep": self.sweep_request(current_job=job_id, current_plan=plan_hash)})
        if check.get("ok") is False:
            raise HyperdeskError("NODE_INCOMPATIBLE", f"node {self.name}: node-sync failed: {check.get('error')}",
                                 details={"node": self.name})
        if check.get("ready") and not check.get("missing") and not force:
            self._plans[plan_hash] = check
            stats.seconds = time.monotonic() - t0
            return stats
        to_send = list(check.get("missing") or [])
        for round_ in range(3):
            staged = await self._upload(plan_dir, manifest, to_send, check["staging_dir"], stats) if to_send else {}
            reply = await self._run_json("node-sync", "commit", stdin={
                "plan_hash": plan_hash, "files": files, "dirs": manifest["dirs"], "staged": staged,
                "force": force and round_ == 0})
            if reply.get("ok"):
                check["plan_dir"] = reply["plan_dir"]
                check["ready"] = True
                self._plans[plan_hash] = check
                stats.seconds = time.monotonic() - t0
                return stats
            if reply.get("error"):
                raise HyperdeskError("NODE_INCOMPATIBLE", f"node {self.name}: node-sync failed: {reply['error']}",
                                     details={"node": self.name})
            to_send = sorted(set(reply.get("bad") or []) | set(reply.get("missing") or []))
        raise HyperdeskError("MISSING_PLAN_ARTIFACT",
                             f"node {self.name}: {len(to_send)} plan files failed verification after upload",
                             details={"node": self.name, "blobs": to_send[:10]})

    def sweep_request(self, *, current_job: str | None = None, current_plan: str | None = None,
                      everything: bool = False) -> dict[str, Any]:
        """What node-sync sweep may remove, from our job store: the outputs of jobs that ended here, and
        every planDir but those of jobs that may still run or resume."""
        jobs = self.store.list_jobs(limit=2000)
        finished = [j.id for j in jobs if j.state in ("done", "cancelled", "failed") and j.id != current_job]
        keep = {j.plan_hash for j in jobs if j.state != "done" and j.plan_hash}
        if current_plan:
            keep.add(current_plan)
        # `everything` is the user's explicit prune: no grace for plans used a moment ago.
        return {"finished_jobs": finished, "keep_plans": sorted(keep), "cap": cache_cap("farm-plans"),
                "all": everything, **({"min_age_s": 0.0} if everything else {})}

    async def sweep(self, *, everything: bool = False) -> dict[str, Any]:
        """Sweep the node's caches now (`hyperdesk cache prune`): connect first."""
        return await self._run_json("node-sync", "sweep", stdin=self.sweep_request(everything=everything), timeout=120)

    async def cache_usage(self) -> dict[str, Any]:
        """The bytes the node's hyperdesk caches hold (`hyperdesk cache info`), with the cap this controller
        sweeps them to."""
        reply = await self._run_json("node-sync", "usage", stdin={}, timeout=120)
        return {**reply, "cap": cache_cap("farm-plans")}

    async def _upload(self, plan_dir: Path, manifest: dict[str, Any], shas: list[str], staging: str,
                      stats: PlanTransfer) -> dict[str, str]:
        sftp = await self._sftp_client()
        by_sha = manifest["by_sha"]
        staged: dict[str, str] = {}
        sem = asyncio.Semaphore(_UPLOAD_PARALLEL)

        async def one(sha: str) -> None:
            rel = by_sha[sha]
            name = f"{sha}.{secrets.token_hex(4)}"
            async with sem:
                try:
                    await sftp.put(str(plan_dir / rel), f"{staging}/{name}")
                except (asyncssh.Error, OSError) as exc:
                    raise NodeLost(f"node {self.name}: upload of {rel} failed: {exc}", node=self.name) from None
            staged[sha] = name
            size = manifest["sizes"][rel]
            stats.files_uploaded += 1
            stats.bytes_uploaded += size
            self.bytes_uploaded += size

        await asyncio.gather(*(one(sha) for sha in shas))
        return staged

    # ---- attempts ---------------------------------------------------------------------------

    async def run(self, spec: AttemptSpec, on_event: EventCallback, on_log: LogCallback | None = None) -> ChunkResult:
        conn = self._require()
        paths = self._plans.get(spec.plan_hash)
        if paths is None:
            await self.prepare_plan(spec.plan_dir, spec.plan_hash, job_id=spec.job_id)
            paths = self._plans[spec.plan_hash]
        suffix = "".join(spec.local_out.suffixes) if spec.output_kind == "file" else ""
        remote_out = f"{paths['out_dir']}/{spec.attempt_id}{suffix}"
        if self.warm:
            return await self._run_warm(spec, paths, remote_out, on_event, on_log)
        cmd = remote_command(self.node, "worker", paths["plan_dir"], spec.chunk_index, "-o", remote_out,
                             "--attempt-id", spec.attempt_id, "--watchdog", "--setsid", faults=self.node_faults)
        try:
            proc = await conn.create_process(cmd, encoding="utf-8", errors="replace")
        except (asyncssh.Error, OSError) as exc:
            raise NodeLost(f"node {self.name}: cannot start the worker: {exc}", node=self.name) from None
        entry: dict[str, Any] = {"proc": proc, "pgid": None}
        self._running[spec.attempt_id] = entry
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        final: list[Any] = []
        problems: list[HyperdeskError] = []

        async def read_stdout() -> None:
            async for line in proc.stdout:
                if not line.strip():
                    continue
                try:
                    event = parse_event(line)
                except HyperdeskError as err:
                    problems.append(err)
                    return
                if isinstance(event, AcceptedEvent):
                    entry["pgid"] = event.pgid
                if isinstance(event, (DoneEvent, FailedEvent)):
                    final.append(event)
                on_event(event)

        async def read_stderr() -> None:
            async for line in proc.stderr:
                line = line.rstrip()
                if line:
                    tail.append(line)
                    if on_log:
                        on_log(line)

        readers = [asyncio.create_task(read_stdout()), asyncio.create_task(read_stderr())]
        try:
            try:
                await asyncio.gather(*readers)
                if not problems:
                    await asyncio.wait_for(proc.wait_closed(), 30)
            except asyncio.CancelledError:
                await self._stop(spec.attempt_id, entry)
                raise
            except (TimeoutError, asyncssh.Error, OSError):
                pass
            if problems:
                await self._stop(spec.attempt_id, entry, graceful=False)
                raise problems[0]
        finally:
            for r in readers:
                r.cancel()
            self._running.pop(spec.attempt_id, None)
            with contextlib.suppress(Exception):
                proc.close()

        if final and isinstance(final[0], DoneEvent):
            return await self._fetch(spec, final[0].result, on_event)
        if final and isinstance(final[0], FailedEvent):
            err = final[0].to_error()
            err.details.setdefault("stderr_tail", list(tail))
            err.details.setdefault("node", self.name)
            raise err
        if not self.connected or not await self.alive():
            raise NodeLost(f"node {self.name}: the connection dropped while chunk {spec.chunk_index} rendered",
                           node=self.name, stderr_tail=list(tail))
        raise HyperdeskError("WORKER_LOST",
                             f"the worker on {self.name} exited with status {proc.exit_status} without a result",
                             details={"node": self.name, "exit_status": proc.exit_status, "stderr_tail": list(tail)})

    async def _run_warm(self, spec: AttemptSpec, paths: dict[str, Any], remote_out: str, on_event: EventCallback,
                        on_log: LogCallback | None) -> ChunkResult:
        conn = self._require()
        worker = take_idle(self._idle)
        if worker is None:
            cmd = remote_command(self.node, "worker", "--serve", "--setsid", faults=self.node_faults)
            try:
                proc = await conn.create_process(cmd, encoding="utf-8", errors="replace")
            except (asyncssh.Error, OSError) as exc:
                raise NodeLost(f"node {self.name}: cannot start the worker: {exc}", node=self.name) from None
            worker = _RemoteWorker(proc)
        entry = worker.entry
        self._running[spec.attempt_id] = entry
        final = worker.begin(on_event, on_log)
        keep = False
        try:
            request = attempt_request(paths["plan_dir"], spec.chunk_index, remote_out, spec.attempt_id)
            with contextlib.suppress(asyncssh.Error, OSError):
                worker.proc.stdin.write(request)
            try:
                event = await final
            except asyncio.CancelledError:
                await self._stop(spec.attempt_id, entry)
                raise
            except HyperdeskError:  # a protocol error: nothing more of this worker is believed
                await self._stop(spec.attempt_id, entry, graceful=False)
                raise
            if isinstance(event, DoneEvent):
                keep = True
                result = event.result
            elif isinstance(event, FailedEvent):
                err = event.to_error()
                err.details.setdefault("stderr_tail", list(worker.tail))
                err.details.setdefault("node", self.name)
                raise err
            else:
                if not self.connected or not await self.alive():
                    raise NodeLost(f"node {self.name}: the connection dropped while chunk {spec.chunk_index} "
                                   "rendered", node=self.name, stderr_tail=list(worker.tail))
                raise HyperdeskError("WORKER_LOST", f"the worker on {self.name} exited without a result",
                                     details={"node": self.name, "exit_status": worker.proc.exit_status,
                                              "stderr_tail": list(worker.tail)})
        finally:
            self._running.pop(spec.attempt_id, None)
            worker.end_attempt()
            if keep and worker.alive and self.connected:
                self._idle.append(worker)
            else:
                worker.close()  # a failed, cancelled or lost attempt's worker is not reused
                if not keep:
                    await self._kill_group(entry.get("pgid"))
        return await self._fetch(spec, result, on_event)

    async def release_idle(self) -> None:
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    async def _fetch(self, spec: AttemptSpec, result: ChunkResult, on_event: EventCallback) -> ChunkResult:
        """Download the chunk, verify its sha256 (one re-fetch), then remove it from the node."""
        sftp = await self._sftp_client()
        local = spec.local_out
        local.parent.mkdir(parents=True, exist_ok=True)
        last: HyperdeskError | None = None
        try:
            for fetch in (1, 2):
                remove_output(local)
                try:
                    await sftp.get(result.output_path, str(local), recurse=result.output_kind == "frame-dir")
                except (asyncssh.Error, OSError) as exc:
                    if not self.connected:
                        raise NodeLost(f"node {self.name}: the connection dropped while fetching chunk "
                                       f"{spec.chunk_index}", node=self.name) from None
                    raise HyperdeskError("ASSEMBLE_INPUT_MISSING",
                                         f"cannot fetch chunk {spec.chunk_index} from {self.name}: {exc}",
                                         details={"node": self.name, "path": result.output_path}) from None
                self.bytes_downloaded += result.size_bytes
                if self._corruptions_left > 0:
                    self._corruptions_left -= 1
                    await asyncio.to_thread(_corrupt, local)
                try:
                    await verify_output(local, result.output_kind, result.sha256)
                    last = None
                    break
                except HyperdeskError as err:
                    if err.code != "OUTPUT_HASH_MISMATCH":
                        raise
                    err.details.update({"node": self.name, "fetch": fetch})
                    last = err
                    on_event(Notice(err.code, f"fetch {fetch} of chunk {spec.chunk_index} from {self.name} does not "
                                              f"verify: {err.message}" + ("; fetching again" if fetch == 1 else "")))
            if last is not None:
                remove_output(local)
                raise last
            perf_local = local.parent / f"{local.name}.perf.json"
            with contextlib.suppress(asyncssh.Error, OSError):
                await sftp.get(result.perf_path, str(perf_local))
            return result.model_copy(update={"output_path": str(local), "perf_path": str(perf_local)})
        finally:
            with contextlib.suppress(asyncssh.Error, OSError):
                if result.output_kind == "frame-dir":
                    await sftp.rmtree(result.output_path)
                else:
                    await sftp.remove(result.output_path)
                await sftp.remove(result.perf_path)

    async def _stop(self, attempt_id: str, entry: dict[str, Any], *, graceful: bool = True) -> None:
        """cancel line (SIGINT in the worker), grace, then close the channel and kill the group."""
        proc = entry["proc"]
        if graceful and self.connected:
            with contextlib.suppress(Exception):
                proc.stdin.write("cancel\n")
                await asyncio.wait_for(proc.wait_closed(), self.cancel_grace_s)
        with contextlib.suppress(Exception):
            proc.close()  # channel closed -> stdin EOF -> the worker's watchdog kills its group
        await self._kill_group(entry.get("pgid"))

    async def _kill_group(self, pgid: int | None) -> None:
        if pgid and self.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._require().run(f"kill -KILL -- -{int(pgid)}", check=False), 10)

    async def kill_attempt(self, attempt_id: str) -> None:
        entry = self._running.get(attempt_id)
        if entry is not None:
            with contextlib.suppress(Exception):
                entry["proc"].close()
            await self._kill_group(entry.get("pgid"))

    async def abandon(self) -> None:
        """Heartbeats stopped and the node does not answer: close everything locally. When the node
        wakes up, its sshd finds the connection gone, closes the workers' stdin, and their watchdogs
        kill their process groups."""
        if self._lost is not None:
            self._lost.set()
        for worker in self._idle:
            worker.close()
        self._idle = []
        for entry in list(self._running.values()):
            with contextlib.suppress(Exception):
                entry["proc"].close()
        await self._drop()

    async def clean_job(self, job_id: str) -> None:
        if self.connected:
            with contextlib.suppress(Exception):
                await self._run_json("node-sync", "clean", stdin={"job_id": job_id}, timeout=60)

    async def close(self) -> None:
        for entry in list(self._running.values()):
            with contextlib.suppress(Exception):
                entry["proc"].close()
            await self._kill_group(entry.get("pgid"))
        await self.release_idle()
        await self._drop()


def plan_manifest(plan_dir: Path) -> dict[str, Any]:
    """Every file of a planDir (plan.json included) with its sha256 and size, and every directory."""
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    dirs: list[str] = []
    for root, dnames, fnames in os.walk(plan_dir):
        for d in dnames:
            dirs.append(os.path.relpath(os.path.join(root, d), plan_dir).replace(os.sep, "/"))
        for f in fnames:
            full = os.path.join(root, f)
            rel = os.path.relpath(full, plan_dir).replace(os.sep, "/")
            files[rel] = sha256_file(Path(full))
            sizes[rel] = os.path.getsize(full)
    by_sha: dict[str, str] = {}
    for rel, sha in sorted(files.items()):
        by_sha.setdefault(sha, rel)
    return {"files": files, "sizes": sizes, "dirs": sorted(dirs), "by_sha": by_sha}
