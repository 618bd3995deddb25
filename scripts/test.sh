#!/usr/bin/env bash
# Set up (with the test extras), run the static checks (ruff, mypy, import-linter) and the whole test suite.
# The desktop-app tests run in their own pytest process: Qt and qasync keep process-wide state
# (one QApplication, its event loop) that the other suites' asyncio loops should not share.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/python scripts/make_sample_media.py
# Static checks first (pyproject.toml configures them): any finding fails the run.
.venv/bin/ruff check hyperdesk
.venv/bin/mypy
.venv/bin/lint-imports
status=0
.venv/bin/python -X faulthandler -m pytest -q -p no:cacheprovider --durations=30 --ignore=tests/gui "$@" || status=$?
.venv/bin/python -X faulthandler -m pytest -q -p no:cacheprovider --durations=10 tests/gui "$@" || status=$?
exit "$status"
