#!/usr/bin/env bash
# Add hyperdesk to this user's application menu, no administrator needed (the same as
# `hyperdesk install-desktop`): a desktop entry, the icon (SVG and PNG sizes) and AppStream metainfo
# under ${XDG_DATA_HOME:-~/.local/share}. Idempotent; --uninstall removes them again.
#
#   packaging/install-desktop.sh [--uninstall] [--data-home DIR]
#
# The entry starts the built app (dist/hyperdesk/hyperdesk) when there is one, else this checkout's
# .venv; HYPERDESK_APP=/path/to/hyperdesk-app picks another app build.
set -euo pipefail
cd "$(dirname "$0")/.."
app="${HYPERDESK_APP:-dist/hyperdesk/hyperdesk}"
if [ -x "$app" ]; then
  exec "$(realpath "$app")" -m hyperdesk.cli.desktop "$@"
elif [ -x .venv/bin/python ]; then
  exec .venv/bin/python -m hyperdesk.cli.desktop "$@"
fi
echo "install-desktop: build the app (packaging/build-app.sh) or set up .venv (scripts/setup.sh) first" >&2
exit 1
