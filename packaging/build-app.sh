#!/usr/bin/env bash
# Build the one-folder app dist/hyperdesk/ with PyInstaller (Linux x86_64).
#
#   packaging/build-app.sh
#
# Needs the dev venv from scripts/setup.sh (.venv). Steps:
#   1. build/app/: the hyperdesk wheel (pip wheel --no-deps of a clean copy of this checkout), the
#      controller's dependency pins (constraints.txt) and the icons rendered from the SVG.
#   2. build/app-venv/: a separate venv from .venv's base Python with the wheel under those pins
#      and the pinned PyInstaller (packaging/requirements-pyinstaller.txt). Reused while its inputs
#      are unchanged; .venv itself is never touched.
#   3. PyInstaller with packaging/hyperdesk.spec -> dist/hyperdesk/hyperdesk.
# The app carries its own wheel and pins, so `dist/hyperdesk/hyperdesk nodes provision` installs
# render nodes with exactly this build. pip's usual settings (PIP_INDEX_URL, PIP_FIND_LINKS) apply.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=.venv/bin/python
if [ ! -x "$dev" ]; then
  echo "build-app: no .venv; run scripts/setup.sh first" >&2
  exit 1
fi
stage=build/app
venv=build/app-venv
t0=$(date +%s)

rm -rf "$stage"
mkdir -p "$stage"
"$dev" - "$stage" <<'PY'
import sys
from pathlib import Path

from hyperdesk.farm.provision.pins import dependency_pins
from hyperdesk.farm.provision.wheel import build_wheel_from_source

stage = Path(sys.argv[1])
wheel = build_wheel_from_source(Path.cwd(), stage)
(stage / "constraints.txt").write_text("\n".join(dependency_pins()) + "\n")
print(f"build-app: {wheel}")
PY
"$dev" packaging/make_icons.py "$stage/icons" >/dev/null

base=$("$dev" -c 'import sys; print(sys._base_executable)')
inputs=$(cat "$stage/constraints.txt" packaging/requirements-pyinstaller.txt | sha256sum | cut -c1-16)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.inputs" 2>/dev/null)" != "$inputs" ]; then
  echo "build-app: creating $venv"
  rm -rf "$venv"
  "$base" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$stage/constraints.txt" \
    -r packaging/requirements-pyinstaller.txt "$stage"/hyperdesk-*.whl
  echo "$inputs" > "$venv/.inputs"
else
  # Same pins: only hyperdesk itself may have changed.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$stage"/hyperdesk-*.whl
fi
t1=$(date +%s)

HYPERDESK_APP_STAGE="$stage" "$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/hyperdesk.spec
t2=$(date +%s)

echo "build-app: dist/hyperdesk/hyperdesk ($(du -sh dist/hyperdesk | cut -f1)); staging and venv $((t1 - t0)) s, PyInstaller $((t2 - t1)) s"
