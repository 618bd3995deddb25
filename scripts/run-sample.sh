#!/usr/bin/env bash
# Set up, render the bundled sample composition to output/sample.mp4, and open the app when a
# display exists.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python scripts/make_sample_media.py
mkdir -p output
.venv/bin/hyperdesk render resources/sample -o output/sample.mp4
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && .venv/bin/hyperdesk --help | grep -q ' gui '; then
  exec .venv/bin/hyperdesk gui resources/sample
fi
