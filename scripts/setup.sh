#!/usr/bin/env bash
# Set up hyperdesk on a Debian/Ubuntu machine: system packages, a .venv with the pinned Python
# dependencies, and the default font in the asset cache. Idempotent: a second run changes nothing.
#   scripts/setup.sh          what rendering needs
#   scripts/setup.sh --test   also what the test suite needs (sshd, Xvfb)
set -euo pipefail
cd "$(dirname "$0")/.."
want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

pkgs=(chromium-headless-shell ffmpeg fontconfig libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libegl1 libgl1)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || pkgs+=(python3-venv)
# chromium (the plain browser) and Liberation fonts: the screenshot capture mode and font-isolation tests
if [ "$want_tests" = 1 ]; then pkgs+=(openssh-server openssh-client xvfb procps chromium fonts-liberation); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these system packages are missing; run as an administrator:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# [dask]: distributed, so `hyperdesk render --dask` works and .venv/bin/dask starts schedulers and workers
extra="[dask]"
stamp=".venv/.hyperdesk-installed"
if [ "$want_tests" = 1 ]; then
  extra="[dask,test]"
  stamp="$stamp-test"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extra}"
  touch "$stamp"
fi
.venv/bin/hyperdesk setup
