"""`hyperdesk render`: a composition to a video through the render service — plan (cached), chunks
on local workers and SSH nodes, assemble — and the options every request-making command shares."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperdesk.cli.output import say
from hyperdesk.errors import HyperdeskError

if TYPE_CHECKING:
    from hyperdesk.faults import FaultPlan
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.service import JobOutcome, RenderRequest, RenderService


def add_render_options(p: argparse.ArgumentParser) -> None:
    """What the plan freezes: the options of `render`, `plan` (and every command that makes a request)."""
    p.add_argument("--format", default="mp4", help="output format: mp4 (default), mov, webm or png-sequence")
    p.add_argument("--quality", default="standard", choices=["draft", "standard", "high"])
    p.add_argument("--fps", default=None, help="frame rate: an integer 1-240 or num/den (default: data-fps, else 30)")
    p.add_argument("--crf", type=int, default=None)
    p.add_argument("--bitrate", default=None)
    p.add_argument("--variables", default=None, help="JSON object of variable overrides")
    p.add_argument("--asset-dir", action="append", default=[], dest="asset_dirs", metavar="DIR",
                   help="directory of offline copies of remote assets (repeatable)")
    p.add_argument("--allow-outside", action="append", default=[], dest="allow_outside", metavar="PATH",
                   help="let the composition read files in this folder outside the project (repeatable)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="frames per chunk (rounded up to the keyframe interval)")
    p.add_argument("--keyframe-interval", type=int, default=None, help="frames between keyframes (default 2 s)")
    p.add_argument("--no-audio", action="store_true", help="render without an audio stream")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="refuse a composition longer than N frames (default 864000: 4 h at 60 fps)")
    p.add_argument("--entry", default="index.html", help="entry file when COMPOSITION is a folder")


def add_farm_options(p: argparse.ArgumentParser) -> None:
    """Who renders: the farm options of `render`."""
    g = p.add_argument_group("render farm")
    g.add_argument("--workers", type=int, default=None, metavar="N", help="same as --local N")
    g.add_argument("--local", type=int, default=None, metavar="N",
                   help="local worker processes (default from cores and memory; 0 = only nodes)")
    g.add_argument("--node", action="append", default=[], dest="nodes", metavar="user@host[:port]",
                   help="render on this SSH node too (a registered node name or an address; repeatable)")
    g.add_argument("--accept-host-key", action="append", default=[], dest="accept_host_keys",
                   metavar="SHA256:FINGERPRINT", help="confirm and pin a node's SSH host key (repeatable)")
    g.add_argument("--stall-timeout", type=float, default=None, metavar="SECONDS",
                   help="kill and requeue a chunk whose worker sends no event for this long (default 60)")
    g.add_argument("--keep-chunks", action="store_true", help="keep chunk files after assembly")


def parse_variables(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        variables = json.loads(text)
    except ValueError as exc:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"--variables is not valid JSON: {exc}",
                             details={"field": "variables", "value": text}) from None
    if not isinstance(variables, dict):
        raise HyperdeskError("INVALID_RENDER_CONFIG", "--variables must be a JSON object",
                             details={"field": "variables", "value": text})
    return variables


def config_from_args(args: argparse.Namespace) -> RenderConfig:
    from hyperdesk.plan.config import RenderConfig  # lazy: see cli/__init__.py

    comp = Path(args.composition)
    extra: dict[str, Any] = {} if args.max_frames is None else {"max_frames": args.max_frames}
    return RenderConfig(
        entry=comp.name if comp.is_file() else args.entry, format=args.format, quality=args.quality, fps=args.fps,
        crf=args.crf, bitrate=args.bitrate, keyframe_interval=args.keyframe_interval, chunk_frames=args.chunk_size,
        include_audio=not args.no_audio, variables=parse_variables(args.variables),
        asset_dirs=[str(Path(d).absolute()) for d in args.asset_dirs],
        allow_outside=[str(Path(d).expanduser().absolute()) for d in args.allow_outside], **extra)


def request_from_args(args: argparse.Namespace) -> RenderRequest:
    from hyperdesk.service import FarmRequest, RenderRequest  # lazy: see cli/__init__.py

    local = args.local if args.local is not None else args.workers
    return RenderRequest(
        composition=str(Path(args.composition).expanduser().absolute()),
        output=str(Path(args.output).expanduser().absolute()), config=config_from_args(args),
        overwrite=args.overwrite,
        farm=FarmRequest(local=local, nodes=list(args.nodes), accept_host_keys=list(args.accept_host_keys),
                         stall_timeout_s=args.stall_timeout, keep_chunks=args.keep_chunks))


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
                   help="png-sequence: replace the frame files of an earlier render in a non-empty output folder")
    p.add_argument("--batch", default=None, metavar="ROWS.csv|ROWS.json",
                   help="one render per row of variable values; -o may use {column} and {row} placeholders")
    add_farm_options(p)
    p.set_defaults(handler=cmd_render)

