#!/usr/bin/env bash
# The whole test suite, from a clean clone: system packages, a virtual environment with
# everything the tests need, ruff, then pytest over every layer (core, server, plugin with
# a fake krita, real Krita under Xvfb, installers and the PyInstaller bundle).
#   bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's krita only recommends the PyQt5 and SIP its Python plugins run on; without them
# Krita starts but loads no Python plugin.
apt_packages=(krita python3-pyqt5 python3-sip xvfb xauth nsis makeself p7zip-full)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

VENV=${VISPROMPT_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
echo "== installing Python packages"
# torch first, pinned to the CPU build's version, so nothing pulls a CUDA build.
"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[dev]"

echo "== ruff"
lint=0
"$VENV/bin/ruff" check . || lint=$?

echo "== pytest"
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
tests=0
"$PY" -m pytest tests -ra "$@" || tests=$?

[ "$lint" -eq 0 ] || echo "ruff found problems (exit $lint)"
[ "$tests" -eq 0 ] || echo "pytest failed (exit $tests)"
exit $(( lint != 0 || tests != 0 ))
