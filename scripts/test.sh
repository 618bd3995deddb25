#!/usr/bin/env bash
# Set up (with the test extras) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/python scripts/make_sample_media.py
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
