"""Entry point of the PyInstaller app (dist/hyperdesk/hyperdesk): the hyperdesk command line.

hyperdesk starts its own helper processes as `sys.executable -m hyperdesk …` (farm workers, the
GUI's composition probe); in the app sys.executable is this program, so `-m MODULE args` runs that
module here, as a Python interpreter would.
"""
import runpy
import sys


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [sys.executable] + sys.argv[3:]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    from hyperdesk.cli import main as cli_main

    raise SystemExit(cli_main())


if __name__ == "__main__":
    main()
