"""`hyperdesk jobs list|show|resume|retry`: the job store, and finishing a stored job."""
from __future__ import annotations

import argparse
import asyncio
import json
import time

from typing import TYPE_CHECKING, Any

from hyperdesk.cli.output import say
from hyperdesk.cli.render import drive, finish
from hyperdesk.dirs import pid_alive
from hyperdesk.errors import HyperdeskError

if TYPE_CHECKING:
    from hyperdesk.service import JobOutcome
    from hyperdesk.store.db import JobStore
    from hyperdesk.store.models import JobRecord


def _job_or_fail(store: JobStore, job_id: str) -> JobRecord:
    job = store.find_job(job_id)
    if job is None:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"no job {job_id!r}", hint="See hyperdesk jobs list.")
    return job


def shown_state(job: JobRecord) -> str:
    """A job whose controller is gone is `interrupted`, whatever its record says."""
    if job.state in ("running", "paused", "assembling") and not pid_alive(job.controller_pid):
        return "interrupted"
    return job.state


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from hyperdesk.store.db import JobStore  # lazy: see cli/__init__.py

    store = JobStore()
    rows: list[dict[str, Any]] = []
    for job in store.list_jobs(limit=args.limit):
        done = sum(1 for c in store.chunks(job.id) if c.state == "done")
        rows.append({"id": job.id, "state": shown_state(job), "chunks_done": done, "chunk_count": job.chunk_count,
                     "output": job.output, "created_at": job.created_at,
                     "name": job.name, "plan_hash": job.plan_hash, "error": (job.error or {}).get("code"),
                     "missing_assets": len(job.missing_assets)})
    if args.json:
        print(json.dumps(rows, sort_keys=True))
        return 0
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
        err = f"  {r['error']}" if r["error"] else ""
        if r["missing_assets"]:
            err += f"  rendered with {r['missing_assets']} missing asset(s)"
        print(f"{r['id']}  {when}  {r['state']:11} {r['chunks_done']}/{r['chunk_count']} chunks  {r['output']}{err}")
    return 0


def cmd_jobs_show(args: argparse.Namespace) -> int:
    from hyperdesk.store.db import JobStore  # lazy: see cli/__init__.py

    store = JobStore()
    job = _job_or_fail(store, args.job)
    chunks = store.chunks(job.id)
    attempts = store.attempts(job.id)
    if args.json:
        print(json.dumps({"job": {**job.model_dump(mode="json"), "shown_state": shown_state(job)},
                          "chunks": [c.model_dump(mode="json") for c in chunks],
                          "attempts": [a.model_dump(mode="json") for a in attempts]}, sort_keys=True))
        return 0
    print(f"job {job.id}: {shown_state(job)}, {job.chunk_count} chunks, plan {job.plan_hash[:12]}")
    print(f"output {job.output}")
    if job.error:
        print(f"error {job.error.get('code')}: {job.error.get('message')}")
    if job.missing_assets:
        print(f"rendered with {len(job.missing_assets)} missing asset(s) (--allow-missing-assets):")
        for url in job.missing_assets:
            print(f"  {url}")
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


def _resume(args: argparse.Namespace, retry_chunks: list[int] | None) -> int:
    from hyperdesk.cli.progress import EventPrinter  # lazy: see cli/__init__.py
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py

    started = time.monotonic()
    service = RenderService(faults=args.faults)
    job = _job_or_fail(service.store, args.job)
    if job.state == "done" and not retry_chunks:
        print(f"job {job.id} is already done: {job.output}")
        return 0
    service.add_listener(EventPrinter(args.json))
    start = service.resume(job.id, accept_host_keys=list(args.accept_host_key), retry_chunks=retry_chunks)
    outcome = asyncio.run(drive(service, job.id, start))
    return finish(outcome, args.json, started)


def cmd_jobs_resume(args: argparse.Namespace) -> int:
    return _resume(args, None)


def _frame_range(text: str) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    try:
        a, b = int(first), int(last if sep else first)
    except ValueError:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"--frames {text!r} is not a range like 30-59",
                             details={"field": "frames", "value": text}) from None
    return a, b


def cmd_jobs_retry(args: argparse.Namespace) -> int:
    from hyperdesk.cli.progress import EventPrinter  # lazy: see cli/__init__.py
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py

    service = RenderService(faults=args.faults)
    job = _job_or_fail(service.store, args.job)
    if args.replan:
        started = time.monotonic()
        service.add_listener(EventPrinter(args.json))
        request = service.stored_request(job.id)
        if request is not None:
            service.check(request)

        async def run() -> JobOutcome:
            new_id = await service.replan(job.id)
            return await drive(service, new_id, asyncio.sleep(0))

        outcome = asyncio.run(run())
        return finish(outcome, args.json, started)
    if service.sources_changed(job.id):
        say(f"warning: the composition's files changed since job {job.id} was planned: this retry renders the "
            "old plan. Use --replan to plan the composition again.")
    chunks = list(args.chunk)
    if args.frames:
        chunks = sorted(set(chunks) | set(service.chunks_for_frames(job.id, *_frame_range(args.frames))))
        gone = sorted(set(service.chunks_without_files(job.id)) - set(chunks))
        if gone:
            say(f"the chunk files of job {job.id} were not kept (render with --keep-chunks to re-render only a "
                f"frame range): chunks {', '.join(map(str, gone))} are rendered again too")
    return _resume(args, chunks)


def register(sub: argparse._SubParsersAction) -> None:
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
    t.add_argument("--frames", default=None, metavar="FIRST-LAST",
                   help="render the chunks covering these frames again and assemble again")
    t.add_argument("--replan", action="store_true",
                   help="plan the composition again from its files as they are now (after a fix) and render it")
    t.add_argument("--accept-host-key", action="append", default=[], metavar="SHA256:FINGERPRINT")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_jobs_retry)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])
