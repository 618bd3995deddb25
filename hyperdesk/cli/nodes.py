"""`hyperdesk nodes add|list|test|remove` (and `provision`, cli/provision.py): SSH render nodes and saved Dask
clusters (an address with a scheme, tcp://HOST:PORT, is a Dask scheduler)."""
from __future__ import annotations

import argparse
import asyncio
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperdesk.errors import HyperdeskError

if TYPE_CHECKING:
    from hyperdesk.service import RenderService


def parse_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"--env needs NAME=VALUE, got {item!r}")
        env[key] = value
    return env


def cmd_nodes_add_cluster(args: argparse.Namespace) -> int:
    """`nodes add NAME tcp://HOST:PORT`: save a Dask cluster; its workers and slots are asked when tested."""
    from urllib.parse import urlsplit  # lazy: see cli/__init__.py

    from hyperdesk.farm.dask.address import check_scheduler_address  # lazy: see cli/__init__.py
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py
    from hyperdesk.store.models import NodeConfig  # lazy: see cli/__init__.py

    address = check_scheduler_address(args.address)
    parts = urlsplit(address)
    node = NodeConfig(name=args.name, host=parts.hostname or "", port=parts.port or 8786, scheduler=address,
                      label=args.label)
    service = RenderService(faults=args.faults)
    service.save_node(node)
    if args.json:
        print(json.dumps({"event": "node_added", "node": node.model_dump(mode="json")}, sort_keys=True))
    else:
        print(f"Dask cluster {node.name}: scheduler {address}")
    if args.no_connect:
        return 0
    return _test_cluster(service, node.name, json_out=args.json)


def cmd_nodes_add(args: argparse.Namespace) -> int:
    from hyperdesk.farm.ssh import check_port, parse_node_address  # lazy: see cli/__init__.py
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py
    from hyperdesk.store.models import NodeConfig  # lazy: see cli/__init__.py

    if "://" in args.address:
        return cmd_nodes_add_cluster(args)
    service = RenderService(faults=args.faults)
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
                      remote_env=parse_env(args.env))
    service.save_node(node)
    if args.json:
        print(json.dumps({"event": "node_added", "node": node.model_dump(mode="json")}, sort_keys=True))
    else:
        print(f"node {node.name}: {node.address}, {node.slots} slot{'s' if node.slots != 1 else ''}")
    if args.no_connect:
        return 0
    return _test_node(service, node.name, args.accept_host_key, json_out=args.json, preflight=False)


def cmd_nodes_list(args: argparse.Namespace) -> int:
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py

    nodes = RenderService(faults=args.faults).nodes()
    if args.json:
        print(json.dumps([n.model_dump(mode="json") for n in nodes], sort_keys=True))
        return 0
    if not nodes:
        print("no nodes (add one with: hyperdesk nodes add NAME user@host[:port])")
        return 0
    for n in nodes:
        if n.scheduler:
            print(f"{n.name:16} {n.address:28} Dask cluster (workers and slots: hyperdesk nodes test {n.name})"
                  + (f"  [{n.label}]" if n.label else ""))
            continue
        state = "unknown"
        if n.last_preflight_at:
            state = f"incompatible: {n.incompatible_reason}" if n.incompatible_reason else "compatible"
        print(f"{n.name:16} {n.address:28} slots {n.slots:<3} key {n.host_key_fingerprint or 'not pinned'}  {state}"
              + (f"  [{n.label}]" if n.label else ""))
    return 0


def _test_node(service: RenderService, name: str, accept: str | None, *, json_out: bool,
               preflight: bool = True) -> int:
    from hyperdesk.store.models import NodeConfig  # lazy: see cli/__init__.py

    rec = service.store.get_node(name)
    if rec is None:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"no node named {name!r}", hint="See hyperdesk nodes list.")
    node = NodeConfig.model_validate(rec.model_dump())
    outcome = asyncio.run(service.test_node(node, accept_fingerprint=accept, preflight=preflight,
                                            connect_timeout=15.0))
    if outcome["error"]:
        raise HyperdeskError.from_dict(outcome["error"])
    out: dict[str, Any] = {"node": name, "connected": True, "connect_s": outcome["connect_s"],
                           "fingerprint": outcome["fingerprint"]}
    if preflight:
        out.update({"compatible": outcome["state"] == "online", "reason": outcome["reason"],
                    "worker_env": (outcome["report"] or {}).get("worker_env")})
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


def _test_cluster(service: RenderService, name: str, *, json_out: bool) -> int:
    """A Dask cluster's status, its render workers and their slots, each worker preflighted."""
    outcome = asyncio.run(service.test_cluster(name))
    if outcome["error"] and outcome["state"] == "offline":
        raise HyperdeskError.from_dict(outcome["error"])
    if json_out:
        print(json.dumps({"event": "cluster_tested", "cluster": name, **outcome}, sort_keys=True))
    else:
        error = outcome["error"] or {}
        print(f"Dask cluster {name}: {outcome['address']}, {outcome['state']}, {len(outcome['workers'])} render "
              f"worker{'s' if len(outcome['workers']) != 1 else ''}, {outcome['slots']} slots"
              + (f": {error.get('message')}" if error else ""))
        for w in outcome["workers"]:
            print(f"  {w['name']:24} {w['address']:24} slots {w['slots']:<3} {w['state']}"
                  + (f": {w['reason']}" if w["reason"] else ""))
        if error.get("hint"):
            print(f"  hint: {error['hint']}")
    return 0 if outcome["state"] == "online" else 1


def cmd_nodes_test(args: argparse.Namespace) -> int:
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py

    service = RenderService(faults=args.faults)
    rec = service.store.get_node(args.name)
    if (rec is not None and rec.scheduler) or "://" in args.name:
        return _test_cluster(service, args.name, json_out=args.json)
    return _test_node(service, args.name, args.accept_host_key, json_out=args.json)


def cmd_nodes_remove(args: argparse.Namespace) -> int:
    from hyperdesk.service import RenderService  # lazy: see cli/__init__.py

    unpinned = RenderService(faults=args.faults).remove_node(args.name)
    print(f"node {args.name} removed" + (" and its host key unpinned" if unpinned else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add `nodes` and its actions; returns the actions' sub-parsers (provision adds itself there)."""
    p = sub.add_parser("nodes", help="manage SSH render nodes and saved Dask clusters")
    nsub = p.add_subparsers(dest="nodes_command", metavar="ACTION")
    a = nsub.add_parser("add", help="register a node (and pin its host key), or save a Dask cluster (tcp://HOST:PORT)")
    a.add_argument("name")
    a.add_argument("address", metavar="user@host[:port] | tcp://HOST:PORT")
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
    t = nsub.add_parser("test", help="connect and run the preflight (hyperdesk doctor on the node, or on every render "
                                     "worker of a Dask cluster)")
    t.add_argument("name")
    t.add_argument("--accept-host-key", default=None, metavar="SHA256:FINGERPRINT")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_nodes_test)
    r = nsub.add_parser("remove", help="forget a node (and its pinned key)")
    r.add_argument("name")
    r.set_defaults(handler=cmd_nodes_remove)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])
    return nsub
