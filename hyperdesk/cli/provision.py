"""`hyperdesk nodes provision user@host[:port]`: install this controller's hyperdesk on a render node.

`register(nodes_subparsers)` adds `provision` to the `nodes` command (cli/nodes.py). The work is
hyperdesk.farm.provision.provisioner.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from hyperdesk.cli.output import print_error
from hyperdesk.errors import HyperdeskError


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _node_from_args(args: argparse.Namespace, store) -> Any:
    """The node to provision: a registered name, or an address (updating the node registered under
    --name, else the one registered at that address, else a new one)."""
    from hyperdesk.farm.ssh import default_node_name, parse_node_address  # lazy: see cli/__init__.py
    from hyperdesk.store.models import NodeConfig  # lazy: see cli/__init__.py

    by_name = store.get_node(args.address)
    if by_name is not None and args.name in (None, by_name.name):
        node = NodeConfig.model_validate(by_name.model_dump())
        if args.port:
            node.port = args.port
    else:
        user, host, port = parse_node_address(args.address)
        port = args.port or port
        base = store.get_node(args.name) if args.name else None
        if base is None and not args.name:
            base = next((r for r in store.list_nodes()
                         if r.host == host and r.port == port and (user is None or r.user == user)), None)
        if base is not None:
            node = NodeConfig.model_validate({**base.model_dump(), "host": host, "port": port,
                                              "user": user if user is not None else base.user})
        else:
            node = NodeConfig(name=args.name or default_node_name(user, host, port), host=host, port=port, user=user)
    if args.key:
        node.key_path = str(Path(args.key).expanduser().absolute())
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"--env needs NAME=VALUE, got {item!r}")
        node.remote_env[key] = value
    return node


def cmd_nodes_provision(args: argparse.Namespace) -> int:
    from hyperdesk.farm.provision.provisioner import ProvisionOptions, provision  # lazy: see cli/__init__.py
    from hyperdesk.store import JobStore  # lazy: see cli/__init__.py

    store = JobStore()
    node = _node_from_args(args, store)
    opts = ProvisionOptions(python=args.python, find_links=list(args.find_links), no_index=args.no_index,
                            pip_args=[w for a in args.pip_arg for w in shlex.split(a)],
                            system_packages=not args.no_system_packages, check_only=args.check,
                            name=node.name, slots=args.slots)
    say = (lambda _m: None) if args.json else _say
    result = provision(node, store, opts, wheel=Path(args.wheel) if args.wheel else None,
                       accept_fingerprint=args.accept_host_key, say=say)
    ok = result.outcome in ("already-current", "installed", "updated") and result.compatible is not False
    if result.outcome == "checked":
        ok = not any(n.startswith("would update") for n in result.notes) and not result.admin_commands
    if args.json:
        data = result.to_dict()
        data.pop("preflight", None)
        data["worker_env"] = ((result.preflight or {}).get("worker_env"))
        print(json.dumps({"event": "node_provisioned", **data}, sort_keys=True))
        return 0 if ok else 1
    for action in result.actions:
        print(f"  done: {action}")
    for note in result.notes:
        print(f"  note: {note}")
    if result.admin_commands:
        print(f"node {result.node}: an administrator must run on the node:")
        for cmd in result.admin_commands:
            print(f"    {cmd}")
        print("  then run this command again.")
    head = {
        "already-current": f"node {result.node}: already current (hyperdesk {result.hyperdesk_version}, "
                           f"{result.pins} pinned packages, browser present); nothing changed",
        "installed": f"node {result.node}: installed hyperdesk {result.hyperdesk_version}",
        "updated": f"node {result.node}: updated to this controller's hyperdesk {result.hyperdesk_version}",
        "incomplete": f"node {result.node}: incomplete",
        "checked": f"node {result.node}: checked, nothing changed",
    }[result.outcome]
    print(f"{head} ({result.seconds:.1f} s)")
    if result.remote_command:
        print(f"node {result.node}: hyperdesk at {' '.join(result.remote_command)}")
    if result.compatible is True:
        print(f"node {result.node}: preflight compatible with this machine's worker environment")
    elif result.compatible is False:
        print(f"node {result.node}: preflight incompatible: {result.reason}")
    return 0 if ok else 1


def register(nsub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = nsub.add_parser("provision", help="install this controller's hyperdesk, browser and ffmpeg on a node "
                                          "(Debian/Ubuntu, into the user's own prefix), then register it")
    p.add_argument("address", metavar="user@host[:port]", help="the node's address, or a registered node's name")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--key", default=None, help="private key file")
    p.add_argument("--accept-host-key", default=None, metavar="SHA256:FINGERPRINT",
                   help="confirm and pin the node's SSH host key")
    p.add_argument("--python", default="python3", help="Python 3.11+ on the node that makes the venv (default python3)")
    p.add_argument("--name", default=None, help="register the node under this name (default user@host[:port])")
    p.add_argument("--slots", type=int, default=None, help="chunks the node renders at once (default from its cores)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment for hyperdesk on the node (repeatable, e.g. HYPERDESK_BROWSER=…)")
    p.add_argument("--wheel", default=None, metavar="FILE",
                   help="the hyperdesk wheel to install (default: this controller's own, built or bundled)")
    p.add_argument("--find-links", action="append", default=[], metavar="DIR_OR_URL",
                   help="extra place the node's pip looks for wheels (a path on the node; repeatable)")
    p.add_argument("--no-index", action="store_true", help="the node's pip uses only --find-links")
    p.add_argument("--pip-arg", action="append", default=[], metavar="ARGS", help="more pip install arguments")
    p.add_argument("--no-system-packages", action="store_true",
                   help="never run apt-get, only print what an administrator must install")
    p.add_argument("--check", action="store_true", help="report what would change, change nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_nodes_provision)
    return p


def main(argv: list[str] | None = None) -> int:
    """`python -m hyperdesk.cli.provision user@host …` (the same as `hyperdesk nodes provision`)."""
    parser = argparse.ArgumentParser(prog="hyperdesk nodes")
    register(parser.add_subparsers())
    args = parser.parse_args(["provision", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except HyperdeskError as err:
        print_error(err)
        return err.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
