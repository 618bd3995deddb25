"""hyperdesk command line: render, plan, render-chunk, assemble, doctor, setup, worker, nodes, jobs, queue, cache, gui.

Every failure is printed as a typed error (code, message, hint) with the exit status of its code
(errors.CODES) and no traceback.

The whole parser is built for every command, and a worker process starts for every chunk attempt:
so the command modules import their layers (service, farm, plan, Qt) inside their handlers, not
at their tops; those imports say `# lazy: see cli/__init__.py`.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from hyperdesk import __version__
from hyperdesk.cli import cache, desktop, doctor, gui, jobs, nodes, pipeline, provision, queue, render, worker
from hyperdesk.cli.output import emit_event, print_error
from hyperdesk.errors import HyperdeskError, unexpected_error
from hyperdesk.faults import FaultPlan


def _terminate_as_interrupt() -> None:
    """SIGTERM (a logout, `kill`, a service manager) unwinds like Ctrl-C, so every cleanup runs:
    a plan removes its .partial dir, a render cancels its workers. (The farm's event loop installs
    its own handlers while it runs.)"""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError, OSError):  # not the main thread
        signal.signal(signal.SIGTERM, raise_interrupt)


def _fault_plan(text: str) -> FaultPlan:
    try:
        plan = FaultPlan.from_arg(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a fault plan: {exc}") from None
    return plan or FaultPlan()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperdesk",
                                     description="Render HTML video compositions, on one machine or many.")
    parser.add_argument("--version", action="version", version=f"hyperdesk {__version__}")
    # Test fault injection (hyperdesk/faults.py), passed on by executors to the commands they start.
    parser.add_argument("--faults", type=_fault_plan, default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    render.register(sub)
    pipeline.register(sub)
    doctor.register(sub)
    worker.register(sub)
    provision.register(nodes.register(sub))
    jobs.register(sub)
    queue.register(sub)
    cache.register(sub)
    desktop.register(sub)
    gui.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["gui"]  # no arguments: the desktop app
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    if args.command in ("render", "plan", "assemble"):
        _terminate_as_interrupt()
    try:
        return int(handler(args) or 0)
    except HyperdeskError as err:
        if getattr(args, "json", False):
            from hyperdesk.farm.events import CommandFailed  # lazy: see the docstring

            emit_event(CommandFailed.from_error(err))
        print_error(err)
        return err.exit_status
    except KeyboardInterrupt:
        # The cleanups have run; a second Ctrl-C or SIGTERM while Python exits must not turn the
        # exit status 130 into a death by signal.
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_IGN)
        print("error CANCELLED: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hyperdesk doctor --json | head`: the reader left, nothing to report
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stays open until the process exits)
        return 0
    except Exception as exc:  # never a traceback for the user; HYPERDESK_DEBUG=1 shows it
        if os.environ.get("HYPERDESK_DEBUG"):
            raise
        bug = unexpected_error(exc)
        print_error(bug)
        return bug.exit_status
