"""`hyperdesk install-desktop`: add hyperdesk to this user's application menu (gui/desktop_entry.py)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hyperdesk.cli.output import print_error
from hyperdesk.errors import HyperdeskError
from hyperdesk.gui.desktop_entry import APP_ID, data_home, install, launcher_argv, planned_files, uninstall


def cmd_install_desktop(args: argparse.Namespace) -> int:
    root = Path(args.data_home).expanduser().absolute() if args.data_home else data_home()
    if args.uninstall:
        done = uninstall(root)
    else:
        note = None
        try:
            files = planned_files(with_pngs=True)
        except ImportError as exc:  # no Qt: the scalable icon alone serves every current desktop
            files = planned_files(with_pngs=False)
            note = f"PNG icons skipped: {exc}"
        done = install(root, files)
        if note and not args.json:
            print(note, file=sys.stderr)
    if args.json:
        print(json.dumps({"event": "desktop_uninstalled" if args.uninstall else "desktop_installed",
                          "data_home": str(root), "files": [{"path": p, "action": a} for p, a in done],
                          "exec": None if args.uninstall else launcher_argv()}, sort_keys=True))
        return 0
    for path, action in done:
        print(f"{action:9} {path}")
    if args.uninstall:
        print("desktop entry removed" if done else "nothing to remove")
    else:
        changed = sum(1 for _, a in done if a == "written")
        print(f"desktop entry {APP_ID} {'installed' if changed else 'already current'}: "
              f"starts {' '.join(launcher_argv())}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("install-desktop",
                       help="add hyperdesk to this user's application menu (desktop entry, icons, metainfo)")
    p.add_argument("--uninstall", action="store_true", help="remove the files install-desktop wrote")
    p.add_argument("--data-home", default=None, metavar="DIR",
                   help="install under DIR instead of $XDG_DATA_HOME or ~/.local/share")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_install_desktop)


def main(argv: list[str] | None = None) -> int:
    """`python -m hyperdesk.cli.desktop [--uninstall] [--data-home DIR] [--json]`."""
    parser = argparse.ArgumentParser(prog="hyperdesk install-desktop")
    sub = parser.add_subparsers()
    register(sub)
    args = parser.parse_args(["install-desktop", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except HyperdeskError as err:
        print_error(err)
        return err.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
