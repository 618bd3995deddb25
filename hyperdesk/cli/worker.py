"""The farm's own commands, run by the controller rather than by people: `worker` (one chunk
attempt, speaking the worker protocol) and `node-sync` (the node side of a plan transfer)."""
from __future__ import annotations

import argparse

from hyperdesk.farm import nodesync
from hyperdesk.farm.worker import add_worker_arguments


def cmd_worker(args: argparse.Namespace) -> int:
    from hyperdesk.farm.worker import worker_command  # lazy: see cli/__init__.py

    return worker_command(args)


def cmd_node_sync(args: argparse.Namespace) -> int:
    return nodesync.command(args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run one chunk attempt, printing worker-protocol events (used by the farm)")
    add_worker_arguments(p)
    p.set_defaults(handler=cmd_worker)
    p = sub.add_parser("node-sync", help="node side of plan transfer (used by the farm over SSH)")
    nodesync.add_arguments(p)
    p.set_defaults(handler=cmd_node_sync)
