"""Farm commands: worker, node-sync, nodes add|list|test|remove, jobs list|show|resume|retry,
and the farm side of `hyperdesk render` (--local N, --node user@host[:port], --accept-host-key).

`register(sub)` adds every command here to the top-level parser. For `render`, the pipeline command
calls `add_farm_render_arguments(parser)` when it builds its parser and, when `farm_requested(args)`,
`run_farm_render_from_args(args, config, out)`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from hyperdesk.errors import HyperdeskError

# ---------------------------------------------------------------- output helpers


def _emit_json(payload: dict[str, Any]) -> None:
    from hyperdesk.cli.events import emit

    emit(payload)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class _Printer:
    """Per-chunk progress lines for people, or one JSON event per line for scripts."""

    def __init__(self, json_events: bool) -> None:
        from hyperdesk.cli.progress import ProgressBar

        self.json = json_events
        self.last_progress: dict[int, float] = {}
        self.started = time.monotonic()
        self.bar: ProgressBar | None = None
        self._ProgressBar = ProgressBar

    def __call__(self, event: Any) -> None:
        data = event.model_dump(mode="json")
        kind = data.pop("type")
        if self.json:
            data.pop("v", None)
            data.pop("t", None)
            if kind == "attempt_log":
                return
            _emit_json({"event": kind, **data})
            return
        if kind == "job_started":
            self.bar = self._ProgressBar(data["total_frames"])
            for index in data.get("kept_chunks") or []:
                self.bar.done_by_chunk[index] = -1  # placeholder, replaced below
            self.bar.done_by_chunk.clear()
        line = self._text(kind, data)
        if line:
            if self.bar is not None:
                self.bar.clear()
            _say(line)
        if self.bar is not None:
            if kind == "chunk_progress":
                self.bar.update(data["chunk_index"], data["frames_done"])
            elif kind == "chunk_done":
                self.bar.update(data["chunk_index"], data["frames"], force=True)
            elif kind in ("assemble_started", "job_done", "job_failed", "job_cancelled"):
                self.bar.close()
                self.bar = None

    def _text(self, kind: str, d: dict[str, Any]) -> str | None:
        if kind == "job_started":
            kept = f", {len(d['kept_chunks'])} chunks kept" if d.get("kept_chunks") else ""
            return (f"job {d['job_id']}: {d['total_frames']} frames in {d['chunk_count']} chunks on "
                    f"{', '.join(d['nodes'])}{kept}")
        if kind == "node_state":
            why = f" ({d['reason']})" if d.get("reason") else ""
            code = f" {d['code']}" if d.get("code") and d["state"] != "online" else ""
            return f"node {d['node']}: {d['state']}{code}{why}"
        if kind == "plan_transferred":
            return (f"node {d['node']}: plan ready, uploaded {d['files_uploaded']}/{d['files_total']} files "
                    f"({d['bytes_uploaded']} bytes) in {d['seconds']:.1f} s")
        if kind == "attempt_started":
            return f"chunk {d['chunk_index']}: started on {d['node']} (attempt {d['attempt_id']})"
        if kind == "chunk_progress":
            return None  # the progress bar shows it
        if kind == "chunk_done":
            return (f"chunk {d['chunk_index']}: done on {d['node']} in {d['seconds']:.1f} s, "
                    f"sha256 {d['sha256'][:12]}…")
        if kind == "attempt_failed":
            if d["action"] in ("cancelled", "ignored"):
                return None
            what = {"retry": f"retry in {d['retry_in_s']:.0f} s on another node",
                    "node_lost": f"node lost, retry in {d['retry_in_s']:.0f} s elsewhere",
                    "retransfer": "re-sending the plan, then one retry",
                    "node_incompatible": "node marked incompatible, chunk goes elsewhere",
                    "chunk_failed": "chunk failed", "fail_job": "job fails"}.get(d["action"], d["action"])
            return f"chunk {d['chunk_index']}: {d['code']} on {d['node']}: {d['message']} -> {what}"
        if kind == "job_paused":
            return f"job paused ({d['running']} chunks finishing)"
        if kind == "job_resumed":
            return "job resumed"
        if kind == "assemble_started":
            return "assembling and verifying …"
        if kind == "job_cancelled":
            return "job cancelled"
        return None


# ---------------------------------------------------------------- building executors


def _store():
    from hyperdesk.store import JobStore

    return JobStore()


def resolve_node(text: str, store) -> Any:
    """A registered node name, or `user@host[:port]` (matched against registered nodes first)."""
    from hyperdesk.farm.ssh import parse_node_address
    from hyperdesk.store.models import NodeConfig

    rec = store.get_node(text)
    if rec is not None:
        return NodeConfig.model_validate(rec.model_dump())
    user, host, port = parse_node_address(text)
    for rec in store.list_nodes():
        if rec.host == host and rec.port == port and (user is None or rec.user == user):
            return NodeConfig.model_validate(rec.model_dump())
    name = f"{user + '@' if user else ''}{host}" + (f":{port}" if port != 22 else "")
    return NodeConfig(name=name, host=host, port=port, user=user)


def build_executors(store, *, local: int | None, nodes: list[str], accept_host_keys: list[str]) -> list[Any]:
    from hyperdesk.farm.local import LocalExecutor, default_local_slots
    from hyperdesk.farm.ssh import SshExecutor

    executors: list[Any] = []
    n_local = default_local_slots() if local is None else local
    if n_local > 0:
        executors.append(LocalExecutor(n_local))
    for text in nodes:
        node = resolve_node(text, store)
        executors.append(SshExecutor(node, store, accept_fingerprint=_match_fingerprint(accept_host_keys)))
    if not executors:
        raise HyperdeskError("INVALID_RENDER_CONFIG", "no worker: --local 0 and no --node",
                             hint="Give --local N (N >= 1) or at least one --node user@host[:port].")
    return executors


def _match_fingerprint(accepted: list[str]) -> list[str] | None:
    """The confirmed fingerprints; each SSH executor pins only the one its node presents."""
    return list(accepted) or None


# ---------------------------------------------------------------- running a job


async def _drive(controller, start, *, printer: _Printer) -> Any:
    """Run a job to its end; Ctrl-C / SIGTERM cancel it (SIGINT then process-group kill)."""
    loop = asyncio.get_running_loop()
    controller.add_listener(printer)
    cancel_task: list[asyncio.Task] = []

    def on_signal() -> None:
        if not cancel_task:
            _say("cancelling …")
            cancel_task.append(asyncio.ensure_future(controller.cancel()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await start()
        return await controller.wait()
    finally:
        await controller.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass


def _finish(outcome, json_events: bool, started: float) -> int:
    if outcome.state == "done":
        r = outcome.result
        total = time.monotonic() - started
        if json_events:
            _emit_json({"event": "assembled", "job_id": outcome.job_id, "result": r.model_dump(mode="json"),
                        "seconds": round(total, 3)})
        else:
            print(f"rendered {r.frames} frames ({r.duration_s:.3f} s) in {total:.1f} s "
                  f"({r.frames / max(total, 1e-6):.1f} frames/s), capture {', '.join(r.capture_modes)}, job {outcome.job_id}")
            print(f"output {r.output_path}")
            print(f"sha256 {r.sha256}")
        return 0
    err = outcome.error or HyperdeskError("INTERNAL_ERROR", "the job ended without a result")
    err.details.setdefault("job_id", outcome.job_id)
    raise err


def _settings(stall_timeout: float | None, keep_chunks: bool, overwrite: bool = False):
    from hyperdesk.farm.controller import FarmSettings

    s = FarmSettings(keep_chunks=keep_chunks, overwrite=overwrite)
    if stall_timeout is not None:
        s.stall_timeout_s = float(stall_timeout)
    return s


def run_farm_render(composition: Path, config: Any, out: Path, *, local: int | None = None,
                    nodes: list[str] | None = None, accept_host_keys: list[str] | None = None,
                    json_events: bool = False, keep_chunks: bool = False,
                    stall_timeout: float | None = None, overwrite: bool = False) -> int:
    """`hyperdesk render` on local workers and SSH nodes: plan (cached), farm the chunks, assemble."""
    from hyperdesk.farm.controller import FarmController
    from hyperdesk.plan.cache import cached_plan
    from hyperdesk.plan.env import local_worker_env

    started = time.monotonic()
    store = _store()
    executors = build_executors(store, local=local, nodes=list(nodes or []),
                                accept_host_keys=list(accept_host_keys or []))
    env = local_worker_env()
    if not json_events:
        _say(f"planning {composition} …")
    t_plan = time.monotonic()
    planned = cached_plan(composition, config, env=env, exclude=(out,))
    plan_s = time.monotonic() - t_plan
    m = planned.manifest
    if json_events:
        _emit_json({"event": "planned", "plan_hash": m.plan_hash, "plan_dir": planned.plan_dir,
                    "reused": planned.reused, "total_frames": m.total_frames, "chunk_count": m.chunk_count,
                    "plan_seconds": round(plan_s, 3)})
    else:
        _say(f"plan {m.plan_hash[:12]} ({'reused' if planned.reused else 'new'}, {plan_s:.1f} s): {m.width}x{m.height} @ "
             f"{m.fps.ffmpeg()} fps, {m.total_frames} frames in {m.chunk_count} chunks")
        for w in m.warnings:
            _say(f"warning {w.code}: {w.message}")
    controller = FarmController(executors, store=store, settings=_settings(stall_timeout, keep_chunks, overwrite))

    async def start() -> None:
        await controller.start(planned.plan_dir, out, spec_extra={"composition": str(composition)})

    outcome = asyncio.run(_drive(controller, start, printer=_Printer(json_events)))
    return _finish(outcome, json_events, started)


def add_farm_render_arguments(parser: argparse.ArgumentParser) -> None:
    """The farm options of `hyperdesk render`."""
    g = parser.add_argument_group("render farm")
    g.add_argument("--local", type=int, default=None, metavar="N",
                   help="local worker processes (default from cores and memory; 0 = only nodes)")
    g.add_argument("--node", action="append", default=[], dest="nodes", metavar="user@host[:port]",
                   help="render on this SSH node too (a registered node name or an address; repeatable)")
    g.add_argument("--accept-host-key", action="append", default=[], dest="accept_host_keys",
                   metavar="SHA256:FINGERPRINT", help="confirm and pin a node's SSH host key (repeatable)")
    g.add_argument("--stall-timeout", type=float, default=None, metavar="SECONDS",
                   help="kill and requeue a chunk whose worker sends no event for this long (default 60)")


def farm_requested(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "nodes", None)) or getattr(args, "local", None) is not None


def run_farm_render_from_args(args: argparse.Namespace, config: Any, out: Path) -> int:
    return run_farm_render(Path(args.composition), config, out, local=args.local, nodes=args.nodes,
                           accept_host_keys=args.accept_host_keys, json_events=bool(getattr(args, "json", False)),
                           keep_chunks=bool(getattr(args, "keep_chunks", False)),
                           stall_timeout=getattr(args, "stall_timeout", None),
                           overwrite=bool(getattr(args, "overwrite", False)))


# ---------------------------------------------------------------- worker and node-sync


def cmd_worker(args: argparse.Namespace) -> int:
    from hyperdesk.farm.worker import worker_command

    return worker_command(args)


def cmd_node_sync(args: argparse.Namespace) -> int:
    from hyperdesk.farm.nodesync import command

    return command(args)


# ---------------------------------------------------------------- nodes


def _parse_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"--env needs NAME=VALUE, got {item!r}")
        env[key] = value
    return env


def cmd_nodes_add(args: argparse.Namespace) -> int:
    import shlex

    from hyperdesk.farm.ssh import check_port, parse_node_address
    from hyperdesk.store.models import NodeConfig

    store = _store()
    user, host, port = parse_node_address(args.address)
    if args.port is not None:
        port = check_port(args.port)
    if args.slots < 1:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"--slots must be at least 1, got {args.slots}",
                             details={"field": "slots", "value": args.slots})
    node = NodeConfig(name=args.name, host=host, port=port, user=user,
                      key_path=str(Path(args.key).expanduser().absolute()) if args.key else None,
                      slots=args.slots, label=args.label,
                      remote_command=shlex.split(args.remote_command) if args.remote_command else ["hyperdesk"],
                      remote_env=_parse_env(args.env))
    store.upsert_node(node)
    if args.json:
        print(json.dumps({"event": "node_added", "node": node.model_dump(mode="json")}, sort_keys=True))
    else:
        print(f"node {node.name}: {node.address}, {node.slots} slot{'s' if node.slots != 1 else ''}")
    if args.no_connect:
        return 0
    return _test_node(store, node.name, args.accept_host_key, json_out=args.json, preflight=False)


def cmd_nodes_list(args: argparse.Namespace) -> int:
    store = _store()
    nodes = store.list_nodes()
    if args.json:
        print(json.dumps([n.model_dump(mode="json") for n in nodes], sort_keys=True))
        return 0
    if not nodes:
        print("no nodes (add one with: hyperdesk nodes add NAME user@host[:port])")
        return 0
    for n in nodes:
        state = "unknown"
        if n.last_preflight_at:
            state = f"incompatible: {n.incompatible_reason}" if n.incompatible_reason else "compatible"
        print(f"{n.name:16} {n.address:28} slots {n.slots:<3} key {n.host_key_fingerprint or 'not pinned'}  {state}"
              + (f"  [{n.label}]" if n.label else ""))
    return 0


def _test_node(store, name: str, accept: str | None, *, json_out: bool, preflight: bool = True) -> int:
    from hyperdesk.farm.ssh import SshExecutor
    from hyperdesk.store.models import NodeConfig

    rec = store.get_node(name)
    if rec is None:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"no node named {name!r}", hint="See hyperdesk nodes list.")
    node = NodeConfig.model_validate(rec.model_dump())

    async def run() -> dict[str, Any]:
        ex = SshExecutor(node, store, accept_fingerprint=accept)
        try:
            t0 = time.monotonic()
            await ex.open()
            out: dict[str, Any] = {"node": name, "connected": True, "connect_s": round(time.monotonic() - t0, 3),
                                   "fingerprint": store.host_key(node.host, node.port).fingerprint}
            if preflight:
                from hyperdesk.plan.env import local_worker_env

                report = await ex.preflight(local_worker_env())
                store.set_node_preflight(name, report.report or None, None if report.compatible else report.reason)
                out.update({"compatible": report.compatible, "reason": report.reason,
                            "worker_env": (report.report or {}).get("worker_env")})
            return out
        finally:
            await ex.close()

    out = asyncio.run(run())
    if json_out:
        print(json.dumps({"event": "node_tested", **out}, sort_keys=True))
    else:
        print(f"node {name}: connected in {out['connect_s']:.2f} s, host key {out['fingerprint']}")
        if preflight:
            if out["compatible"]:
                print(f"node {name}: compatible with this machine's worker environment")
            else:
                print(f"node {name}: incompatible: {out['reason']}")
    return 0 if out.get("compatible", True) else 1


def cmd_nodes_test(args: argparse.Namespace) -> int:
    return _test_node(_store(), args.name, args.accept_host_key, json_out=args.json)


def cmd_nodes_remove(args: argparse.Namespace) -> int:
    store = _store()
    rec = store.get_node(args.name)
    if rec is None:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"no node named {args.name!r}")
    store.remove_node(args.name)
    others = [n for n in store.list_nodes() if (n.host, n.port) == (rec.host, rec.port)]
    if not others:
        store.unpin_host_key(rec.host, rec.port)  # re-adding the node asks for its fingerprint again
    print(f"node {args.name} removed" + ("" if others else " and its host key unpinned"))
    return 0


# ---------------------------------------------------------------- jobs


def _job_or_fail(store, job_id: str):
    job = store.find_job(job_id)
    if job is None:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"no job {job_id!r}", hint="See hyperdesk jobs list.")
    return job


def _shown_state(job) -> str:
    from hyperdesk.dirs import pid_alive

    if job.state in ("running", "paused", "assembling") and not pid_alive(job.controller_pid):
        return "interrupted"
    return job.state


def cmd_jobs_list(args: argparse.Namespace) -> int:
    store = _store()
    jobs = store.list_jobs(limit=args.limit)
    rows = []
    for job in jobs:
        chunks = store.chunks(job.id)
        done = sum(1 for c in chunks if c.state == "done")
        rows.append({"id": job.id, "state": _shown_state(job), "chunks_done": done, "chunk_count": job.chunk_count,
                     "output": job.output, "created_at": job.created_at,
                     "error": (job.error or {}).get("code")})
    if args.json:
        print(json.dumps(rows, sort_keys=True))
        return 0
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
        err = f"  {r['error']}" if r["error"] else ""
        print(f"{r['id']}  {when}  {r['state']:11} {r['chunks_done']}/{r['chunk_count']} chunks  {r['output']}{err}")
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    store = _store()
    job = _job_or_fail(store, args.job)
    chunks = store.chunks(job.id)
    attempts = store.attempts(job.id)
    if args.json:
        print(json.dumps({"job": {**job.model_dump(mode="json"), "shown_state": _shown_state(job)},
                          "chunks": [c.model_dump(mode="json") for c in chunks],
                          "attempts": [a.model_dump(mode="json") for a in attempts]}, sort_keys=True))
        return 0
    print(f"job {job.id}: {_shown_state(job)}, {job.chunk_count} chunks, plan {job.plan_hash[:12]}")
    print(f"output {job.output}")
    if job.error:
        print(f"error {job.error.get('code')}: {job.error.get('message')}")
    by_chunk: dict[int, list] = {}
    for a in attempts:
        by_chunk.setdefault(a.chunk_index, []).append(a)
    for c in chunks:
        tries = by_chunk.get(c.index, [])
        last = tries[-1] if tries else None
        extra = ""
        if last is not None:
            took = f"{(last.ended_at or time.time()) - last.started_at:.1f} s"
            extra = f"  last {last.id} on {last.node} {last.state} ({took})"
            if last.error_code:
                extra += f" {last.error_code}: {last.error_message}"
        print(f"  chunk {c.index:3} frames {c.start_frame}-{c.end_frame - 1}: {c.state:8} "
              f"{len(tries)} attempt{'s' if len(tries) != 1 else ''}{extra}")
    return 0


def _resume(job_id: str, *, retry_chunks: list[int] | None, json_events: bool,
            accept_host_keys: list[str]) -> int:
    from hyperdesk.farm.controller import FarmController, FarmSettings, executors_from_spec
    from hyperdesk.store.locks import lock_job

    started = time.monotonic()
    store = _store()
    job = _job_or_fail(store, job_id)
    if job.state == "done" and not retry_chunks:
        print(f"job {job.id} is already done: {job.output}")
        return 0
    # JOB_LOCKED while another controller runs it: taken before any chunk state is touched.
    job_lock = lock_job(store.path, job.id)
    job = store.get_job(job.id) or job
    if retry_chunks is not None:
        targets = retry_chunks or [c.index for c in store.chunks(job.id) if c.state == "failed"] \
            or [c.index for c in store.chunks(job.id) if c.state != "done"]
        for index in targets:
            store.set_chunk(job.id, index, "pending", None)
    executors = executors_from_spec(job.spec, store)
    if accept_host_keys:
        for ex in executors:
            if ex.kind == "ssh":
                ex.accept_fingerprint = _match_fingerprint(accept_host_keys)
    saved = job.spec.get("settings", {})
    settings = FarmSettings(stall_timeout_s=float(saved.get("stall_timeout_s", 60.0)),
                            keep_chunks=bool(saved.get("keep_chunks", False)),
                            overwrite=bool(saved.get("overwrite", False)))
    controller = FarmController(executors, store=store, settings=settings)

    async def start() -> None:
        await controller.resume_job(job.id, job_lock=job_lock)

    outcome = asyncio.run(_drive(controller, start, printer=_Printer(json_events)))
    return _finish(outcome, json_events, started)


def cmd_jobs_resume(args: argparse.Namespace) -> int:
    return _resume(args.job, retry_chunks=None, json_events=args.json, accept_host_keys=args.accept_host_key)


def cmd_jobs_retry(args: argparse.Namespace) -> int:
    return _resume(args.job, retry_chunks=list(args.chunk or []), json_events=args.json,
                   accept_host_keys=args.accept_host_key)


# ---------------------------------------------------------------- registration


def register_worker(sub: argparse._SubParsersAction) -> None:
    from hyperdesk.farm.worker import add_worker_arguments

    p = sub.add_parser("worker", help="run one chunk attempt, printing worker-protocol events (used by the farm)")
    add_worker_arguments(p)
    p.set_defaults(handler=cmd_worker)
    from hyperdesk.farm.nodesync import add_arguments

    p = sub.add_parser("node-sync", help="node side of plan transfer (used by the farm over SSH)")
    add_arguments(p)
    p.set_defaults(handler=cmd_node_sync)


def register_nodes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nodes", help="manage SSH render nodes")
    nsub = p.add_subparsers(dest="nodes_command", metavar="ACTION")
    a = nsub.add_parser("add", help="register a node (and pin its host key)")
    a.add_argument("name")
    a.add_argument("address", metavar="user@host[:port]")
    a.add_argument("--port", default=None, help="SSH port (1-65535; default 22 or the address's :port)")
    a.add_argument("--key", default=None, help="private key file")
    a.add_argument("--slots", type=int, default=1, help="chunks the node renders at once")
    a.add_argument("--label", default=None)
    a.add_argument("--remote-command", default=None, help='hyperdesk on the node (default "hyperdesk")')
    a.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment for commands on the node (repeatable)")
    a.add_argument("--accept-host-key", default=None, metavar="SHA256:FINGERPRINT")
    a.add_argument("--no-connect", action="store_true", help="only register, do not connect now")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=cmd_nodes_add)
    lst = nsub.add_parser("list", help="registered nodes, their pinned keys and last preflight")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_nodes_list)
    t = nsub.add_parser("test", help="connect and run the preflight (hyperdesk doctor on the node)")
    t.add_argument("name")
    t.add_argument("--accept-host-key", default=None, metavar="SHA256:FINGERPRINT")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_nodes_test)
    r = nsub.add_parser("remove", help="forget a node (and its pinned key)")
    r.add_argument("name")
    r.set_defaults(handler=cmd_nodes_remove)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def register_jobs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("jobs", help="render jobs in the job store")
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    lst = jsub.add_parser("list", help="recent jobs")
    lst.add_argument("--limit", type=int, default=30)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_jobs_list)
    s = jsub.add_parser("show", help="a job's chunks and attempts")
    s.add_argument("job")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_jobs_show)
    r = jsub.add_parser("resume", help="finish an interrupted or failed job, keeping verified chunks")
    r.add_argument("job")
    r.add_argument("--accept-host-key", action="append", default=[], metavar="SHA256:FINGERPRINT")
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=cmd_jobs_resume)
    t = jsub.add_parser("retry", help="render failed chunks (or the given ones) again and finish the job")
    t.add_argument("job")
    t.add_argument("--chunk", type=int, action="append", default=[], metavar="INDEX")
    t.add_argument("--accept-host-key", action="append", default=[], metavar="SHA256:FINGERPRINT")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_jobs_retry)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def register(sub: argparse._SubParsersAction) -> None:
    """Every farm command: worker, node-sync, nodes, jobs."""
    register_worker(sub)
    register_nodes(sub)
    register_jobs(sub)
