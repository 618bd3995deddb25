"""`hyperdesk cache info|prune`: the size of every cache on this machine and on each saved node, and
pruning them, through the render service (caps: HYPERDESK_PLAN_CACHE_MAX, HYPERDESK_ASSET_CACHE_MAX,
HYPERDESK_NODE_CACHE_MAX)."""
from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from hyperdesk.errors import HyperdeskError


def _node_error(node: dict[str, Any]) -> HyperdeskError | None:
    err = node.get("error")
    return HyperdeskError.from_dict(err) if isinstance(err, dict) else None


def _print_info(report: dict[str, Any]) -> None:
    from hyperdesk.service.caches import human_size as human  # lazy: see cli/__init__.py

    print("this machine")
    for name, cache in report["machine"].items():
        cap = f" (cap {human(cache['cap'])})" if cache.get("cap") is not None else ""
        count = f", {cache['entries']} entries" if cache.get("entries") is not None else ""
        print(f"  {name:<7} {human(cache['bytes']):>10}{cap}{count}  {cache['path']}")
    for node in report["nodes"]:
        err = _node_error(node)
        if err is not None:
            print(f"node {node['node']}: error {err.code}: {err.message}")
            continue
        print(f"node {node['node']}  {node.get('cache_root', '')}")
        print(f"  farm-plans {human(node['farm-plans']):>10} (cap {human(node['cap'])})")
        print(f"  blobs      {human(node['blobs']):>10}")
        print(f"  farm-out   {human(node['farm-out']):>10}")


def _print_prune(report: dict[str, Any]) -> None:
    from hyperdesk.service.caches import human_size as human  # lazy: see cli/__init__.py

    m = report["machine"]
    print(f"this machine: freed {human(m['plans'])} of plans ({m['plans_removed']}), {human(m['assets'])} of "
          f"assets ({m['assets_removed']} files); removed {m['work_dirs']} work dirs, {m['job_dirs']} + "
          f"{m['done_job_dirs']} job folders, {m['assembly']} assembly folders, {m['locks']} lock files")
    for node in report["nodes"]:
        err = _node_error(node)
        if err is not None:
            print(f"node {node['node']}: error {err.code}: {err.message}")
            continue
        print(f"node {node['node']}: freed {human(node['plan_bytes'])} of plans ({node['plans']}); removed "
              f"{node['work_dirs']} work dirs, {node['jobs']} job folders, {node['blobs']} blobs")


def cmd_cache(args: argparse.Namespace) -> int:
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py

    service = RenderService(faults=args.faults)
    if args.action == "info":
        report = asyncio.run(service.cache_info(nodes=not args.no_nodes))
    else:
        report = asyncio.run(service.prune_caches(everything=args.all, nodes=not args.no_nodes))
    if args.json:
        print(json.dumps(report, sort_keys=True))
    elif args.action == "info":
        _print_info(report)
    else:
        _print_prune(report)
    # A node that could not be reached or pruned is the command's failure too (its exit status).
    errors = [e for e in (_node_error(n) for n in report["nodes"]) if e is not None]
    return errors[0].exit_status if errors else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show or prune the plan and asset caches, here and on the saved nodes")
    p.add_argument("action", choices=["info", "prune"],
                   help="info: sizes per cache; prune: remove leftovers and evict past the size caps")
    p.add_argument("--all", action="store_true",
                   help="prune: remove every plan, asset and kept chunk file that no job may still need")
    p.add_argument("--no-nodes", action="store_true", help="only this machine, not the saved nodes")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(handler=cmd_cache)
