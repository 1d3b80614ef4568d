#!/usr/bin/env bash
# Wheels for the device machine's Python (3.12 with torch, numpy, pillow, safetensors, but
# no FastAPI, uvicorn, pydantic or pytest, and no network there): the server's and the
# test runner's dependencies, downloaded here for CPython 3.12 on manylinux x86-64 into
# .carry/wheels-cp312 (git-ignored; pass that folder in the device call's `carry`).
# scripts/gpu_checks.sh unpacks them with the standard library; no pip is needed there.
# The pins follow pyproject.toml's `server` and `test` extras.
#   bash scripts/device_wheels.sh              # PY_VERSION=3.11 DEST=... for a local try
set -euo pipefail
cd "$(dirname "$0")/.."
PY_VERSION=${PY_VERSION:-3.12}
DEST=${DEST:-.carry/wheels-cp${PY_VERSION/./}}
PYTHON=${PYTHON:-.venv/bin/python}
rm -rf "$DEST"
mkdir -p "$DEST"
"$PYTHON" -m pip download --quiet --dest "$DEST" --only-binary=:all: \
  --python-version "$PY_VERSION" --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  "fastapi>=0.110,<1" "uvicorn>=0.29,<1" "pydantic>=2.6,<3" \
  "pytest>=8,<10" "pytest-timeout>=2.3,<3"
ls "$DEST"
du -sh "$DEST"
