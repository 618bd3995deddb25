"""hyperdesk command line: render, plan, render-chunk, assemble, doctor, setup, worker, nodes, jobs, gui.

Every failure is printed as a typed error (code, message, hint) with a non-zero exit and no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional
from collections.abc import Callable

from hyperdesk import __version__
from hyperdesk.errors import HyperdeskError
from hyperdesk.faults import FaultPlan

# Exit statuses (plan-contract 9.1): 2 validation / input errors, 3 runtime errors, 130 cancelled.
VALIDATION_CODES = {
    "COMPOSITION_NOT_FOUND", "INVALID_COMPOSITION", "INVALID_RENDER_CONFIG", "DURATION_ZERO",
    "FORMAT_NOT_SUPPORTED_IN_DISTRIBUTED", "ASSET_FETCH_FAILED", "MISSING_PLAN_ARTIFACT", "INVALID_PLAN_METADATA",
    "CHUNK_INDEX_OUT_OF_RANGE", "MISSING_RUNTIME_ENV_SNAPSHOT", "PLAN_PROTOCOL_UNSUPPORTED", "PLAN_HASH_MISMATCH",
    "FFMPEG_VERSION_MISMATCH", "BROWSER_VERSION_MISMATCH", "RENDERER_VERSION_MISMATCH", "BROWSER_GPU_NOT_SOFTWARE",
    "OUTPUT_NOT_WRITABLE", "PLAN_TOO_LARGE", "BROWSER_NOT_FOUND", "FFMPEG_NOT_FOUND", "HOST_KEY_CHANGED",
    "HOST_KEY_UNKNOWN", "OUTPUT_EXISTS", "OUTPUT_INSIDE_PROJECT", "OUTSIDE_PROJECT_REFERENCE", "BROKEN_SYMLINK",
    "PROJECT_FILE_UNREADABLE", "DURATION_TOO_LONG", "WEBGPU_NOT_SUPPORTED", "JOB_LOCKED", "OUTPUT_LOCKED",
}


def exit_status(err: HyperdeskError) -> int:
    if err.code == "CANCELLED":
        return 130
    return 2 if err.code in VALIDATION_CODES else 3


def print_error(err: HyperdeskError, stream=None) -> None:
    stream = stream or sys.stderr
    print(f"error {err.code}: {err.message}", file=stream)
    if err.hint:
        print(f"  hint: {err.hint}", file=stream)
    work = err.details.get("work_dir")
    if work:
        print(f"  work dir (kept for diagnosis): {work}", file=stream)


def _terminate_as_interrupt() -> None:
    """SIGTERM (a logout, `kill`, a service manager) unwinds like Ctrl-C, so every cleanup runs:
    a plan removes its .partial dir, a render cancels its workers. (The farm's event loop installs
    its own handlers while it runs.)"""
    import signal

    def raise_interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, raise_interrupt)
    except (ValueError, OSError):  # not the main thread
        pass


def _fault_plan(text: str) -> FaultPlan:
    try:
        plan = FaultPlan.from_arg(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a fault plan: {exc}") from None
    return plan or FaultPlan()


def build_parser() -> argparse.ArgumentParser:
    from hyperdesk.cli import desktop_cmd, doctor_cmd, farm_cmds, gui_cmd, pipeline_cmds, provision_cmd

    parser = argparse.ArgumentParser(prog="hyperdesk", description="Render HTML video compositions, on one machine or many.")
    parser.add_argument("--version", action="version", version=f"hyperdesk {__version__}")
    # Test fault injection (hyperdesk/faults.py), passed on by executors to the commands they start.
    parser.add_argument("--faults", type=_fault_plan, default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    pipeline_cmds.register(sub)
    doctor_cmd.register(sub)
    farm_cmds.register(sub)
    provision_cmd.register(sub)  # adds `provision` to the `nodes` command
    desktop_cmd.register(sub)
    gui_cmd.register(sub)
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
            print(json.dumps({"event": "failed", **err.to_dict()}, sort_keys=True), flush=True)
        print_error(err)
        return exit_status(err)
    except KeyboardInterrupt:
        print("error CANCELLED: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hyperdesk doctor --json | head`: the reader left, nothing to report
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:  # never a traceback for the user; HYPERDESK_DEBUG=1 shows it
        if os.environ.get("HYPERDESK_DEBUG"):
            raise
        err = HyperdeskError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
        print_error(err)
        return 3
