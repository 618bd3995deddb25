"""`hyperdesk render`: a composition to a video through the render service — plan (cached), chunks
on local workers, SSH nodes and Dask clusters, assemble."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperdesk.cli.options import add_farm_options, add_render_options, request_from_args
from hyperdesk.cli.output import say
from hyperdesk.errors import HyperdeskError

if TYPE_CHECKING:
    from hyperdesk.faults import FaultPlan
    from hyperdesk.service import JobOutcome, RenderRequest, RenderService


async def drive(service: RenderService, job_id: str, start: Any) -> JobOutcome:
    """Run a job to its end; Ctrl-C / SIGTERM cancel it (SIGINT, then process-group kill)."""
    loop = asyncio.get_running_loop()
    cancelling: list[asyncio.Future] = []

    def on_signal() -> None:
        if not cancelling:
            say("cancelling …")
            cancelling.append(asyncio.ensure_future(service.cancel(job_id)))

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows, not in the main thread
            loop.add_signal_handler(sig, on_signal)
    try:
        await start
        return await service.wait(job_id)
    finally:
        await service.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def finish(outcome: JobOutcome, json_events: bool, started: float) -> int:
    """Print a done job's output; raise a failed or cancelled job's error (the CLI prints it)."""
    if outcome.state == "done" and outcome.result is not None:
        if not json_events:
            r = outcome.result
            total = time.monotonic() - started
            print(f"rendered {r.frames} frames ({r.duration_s:.3f} s) in {total:.1f} s "
                  f"({r.frames / max(total, 1e-6):.1f} frames/s), capture {', '.join(r.capture_modes)}, "
                  f"job {outcome.job_id}")
            print(f"output {r.output_path}")
            print(f"sha256 {r.sha256}")
            if r.missing_assets:
                print(f"WARNING: rendered with {len(r.missing_assets)} missing asset(s) (--allow-missing-assets):",
                      file=sys.stderr)
                for url in r.missing_assets:
                    print(f"  missing {url}", file=sys.stderr)
        return 0
    err = outcome.error or HyperdeskError("INTERNAL_ERROR", "the job ended without a result")
    err.details.setdefault("job_id", outcome.job_id)
    raise err


def run_render(request: RenderRequest, *, json_events: bool = False, faults: FaultPlan | None = None) -> int:
    """`hyperdesk render` for a request: typed refusals, plan (in this thread, so Ctrl-C stops the planner
    cleanly), farm the chunks, assemble; events printed as they come. Returns the exit status."""
    from hyperdesk.cli.progress import EventPrinter  # lazy: see cli/__init__.py
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py

    started = time.monotonic()
    service = RenderService(faults=faults)
    service.add_listener(EventPrinter(json_events))
    service.sweep_leftovers()  # what an earlier killed run left (work dirs, assembly folders, lock files)
    service.check(request)
    job_id = service.new_job_id()
    planned = service.plan_now(request, job_id=job_id)
    outcome = asyncio.run(drive(service, job_id, service.start(request, job_id=job_id, planned=planned)))
    return finish(outcome, json_events, started)


def run_batch(args: argparse.Namespace) -> int:
    """`render --batch ROWS`: one job per row of the table, every row checked before anything renders, then
    the jobs run through the render queue (the next row's job takes idle slots at the tail of the current)."""
    from hyperdesk.cli.queue import run_queue  # lazy: see cli/__init__.py
    from hyperdesk.models import CompositionMeta  # lazy: see cli/__init__.py
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py
    from hyperdesk.service.batch import batch_requests, read_rows  # lazy: see cli/__init__.py
    from hyperdesk.service.queue import RenderQueue  # lazy: see cli/__init__.py

    base = request_from_args(args)
    service = RenderService(faults=args.faults)
    planned = service.plan_now(base)  # the declarations type the table's cells
    meta = CompositionMeta.model_validate_json((Path(planned.plan_dir) / "meta" / "composition.json").read_text())
    rows = batch_requests(base, read_rows(Path(args.batch)), args.output, list(meta.variables))
    for _n, request in rows:
        service.check(request)  # every output refused or accepted before the first job is queued
    queue = RenderQueue(service)
    ids = {queue.add(request, name=f"{base.name} row {n}") for n, request in rows}
    if not args.json:
        print(f"batch: {len(ids)} jobs queued from {args.batch}", file=sys.stderr)
    return run_queue(args, queue, only=ids)


def cmd_render(args: argparse.Namespace) -> int:
    if args.batch:
        return run_batch(args)
    return run_render(request_from_args(args), json_events=args.json, faults=args.faults)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a composition to a video (plan, render chunks, assemble)")
    p.add_argument("composition", help="HTML file or project folder")
    p.add_argument("-o", "--output", required=True)
    add_render_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON event per line instead of a progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file hyperdesk did not write; png-sequence: replace the frame "
                        "files of an earlier render in a non-empty output folder")
    p.add_argument("--batch", default=None, metavar="ROWS.csv|ROWS.json",
                   help="one render per row of variable values; -o may use {column} and {row} placeholders")
    add_farm_options(p)
    p.set_defaults(handler=cmd_render)

