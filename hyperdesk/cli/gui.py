"""`hyperdesk gui [COMPOSITION]` (and `hyperdesk` with no arguments): the desktop app."""
from __future__ import annotations

import argparse
import signal


def cmd_gui(args: argparse.Namespace) -> int:
    # Ctrl+C or SIGTERM while Qt loads (seconds on a busy machine) must still close the app the normal
    # way, once its window is up, rather than kill it with a traceback.
    early: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: early.append(signum))
    # Lazy: Qt takes about half a second to import, and no other command needs it.
    from hyperdesk.gui.app import run_gui

    return run_gui(args.composition, signalled=early)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (the default when hyperdesk has no arguments)")
    p.add_argument("composition", nargs="?", help="an .html composition or a project folder to open")
    p.set_defaults(handler=cmd_gui)
