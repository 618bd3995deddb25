"""`hyperdesk queue add|list|priority|pause|resume|remove|run`: the render queue (service/queue.py)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time

from typing import TYPE_CHECKING

from hyperdesk.cli.options import add_farm_options, add_render_options, request_from_args

if TYPE_CHECKING:
    from hyperdesk.service.queue import RenderQueue


def _queue(args: argparse.Namespace) -> RenderQueue:
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py
    from hyperdesk.service.queue import RenderQueue  # lazy: see cli/__init__.py

    return RenderQueue(RenderService(faults=args.faults))


def cmd_queue_add(args: argparse.Namespace) -> int:
    queue = _queue(args)
    job_id = queue.add(request_from_args(args), priority=args.priority, name=args.name)
    print(job_id)
    return 0


def cmd_queue_list(args: argparse.Namespace) -> int:
    queue = _queue(args)
    entries = queue.entries()
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], sort_keys=True))
        return 0
    if queue.paused:
        print("the queue is paused (hyperdesk queue resume starts it again)")
    if not entries:
        print("the queue is empty (add a render with: hyperdesk queue add COMPOSITION -o OUT)")
    for e in entries:
        err = f"  {e.error}" if e.error else ""
        print(f"{e.id}  {e.priority:>4}  {e.state:11} {e.name:24} {e.output}{err}")
    return 0


def cmd_queue_priority(args: argparse.Namespace) -> int:
    _queue(args).set_priority(args.job, args.priority)
    return 0


def cmd_queue_pause(args: argparse.Namespace) -> int:
    _queue(args).pause(True)
    print("queue paused: no new job starts; running jobs finish")
    return 0


def cmd_queue_resume(args: argparse.Namespace) -> int:
    _queue(args).pause(False)
    print("queue resumed")
    return 0


def cmd_queue_remove(args: argparse.Namespace) -> int:
    _queue(args).remove(args.job)
    print(f"job {args.job} removed")
    return 0


def run_queue(args: argparse.Namespace, queue: RenderQueue | None = None, only: set[str] | None = None) -> int:
    """Run the queue (or the jobs in `only`) until nothing is left; Ctrl-C cancels the running jobs.
    Exit status 0 when every job ran is done, else the first failed job's."""
    from hyperdesk.cli.progress import EventPrinter  # lazy: see cli/__init__.py

    queue = queue or _queue(args)
    queue.service.add_listener(EventPrinter(args.json))
    started = time.monotonic()

    def said_paused(waiting: int) -> None:
        print(f"the queue is paused: {waiting} job(s) wait; `hyperdesk queue resume` starts them "
              "(this command waits; Ctrl-C ends it)", file=sys.stderr, flush=True)

    async def main() -> dict:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            print("stopping: cancelling the running jobs …", file=sys.stderr, flush=True)
            stop.set()
            for job_id in queue.service.live_jobs():
                asyncio.ensure_future(queue.service.cancel(job_id))

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        try:
            return await queue.run(only=only, local=getattr(args, "local", None), stop=stop, on_paused=said_paused)
        finally:
            await queue.service.aclose()

    outcomes = asyncio.run(main())
    failed = [o for o in outcomes.values() if o.state != "done"]
    if not args.json:
        done = len(outcomes) - len(failed)
        print(f"queue: {done} job(s) done, {len(failed)} not done, {time.monotonic() - started:.1f} s")
        for o in outcomes.values():
            if o.state == "done" and o.result is not None:
                print(f"  {o.job_id}  done    {o.result.output_path}  sha256 {o.result.sha256}")
            else:
                code = o.error.code if o.error else o.state
                print(f"  {o.job_id}  {o.state:7} {code}")
    if failed:
        first = failed[0].error
        return first.exit_status if first is not None else 3
    return 0


def cmd_queue_run(args: argparse.Namespace) -> int:
    return run_queue(args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help="the render queue: line up renders and run them by priority")
    qsub = p.add_subparsers(dest="queue_command", metavar="ACTION")
    a = qsub.add_parser("add", help="queue a render (prints its job id)")
    a.add_argument("composition", help="HTML file or project folder")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    a.add_argument("--name", default=None, help="the job's name in lists (default: the composition's id)")
    a.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file hyperdesk did not write; png-sequence: replace the frame "
                        "files of an earlier render in a non-empty output folder")
    add_render_options(a)
    add_farm_options(a)
    a.set_defaults(handler=cmd_queue_add, json=False)
    lst = qsub.add_parser("list", help="the queue's jobs, in the order they run")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_queue_list)
    pr = qsub.add_parser("priority", help="set a queued job's priority (higher runs first)")
    pr.add_argument("job")
    pr.add_argument("priority", type=int)
    pr.set_defaults(handler=cmd_queue_priority)
    pa = qsub.add_parser("pause", help="start no new job (running jobs finish)")
    pa.set_defaults(handler=cmd_queue_pause)
    re_ = qsub.add_parser("resume", help="start queued jobs again")
    re_.set_defaults(handler=cmd_queue_resume)
    rm = qsub.add_parser("remove", help="take a job that is not running out of the queue")
    rm.add_argument("job")
    rm.set_defaults(handler=cmd_queue_remove)
    r = qsub.add_parser("run", help="run the queue here until it is empty (for a machine without a display)")
    r.add_argument("--local", type=int, default=None, metavar="N",
                   help="local worker processes shared by the jobs (default from cores and memory)")
    r.add_argument("--json", action="store_true", help="print one JSON event per line")
    r.set_defaults(handler=cmd_queue_run)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])

