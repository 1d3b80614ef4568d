"""The plugin on PyQt6 (Krita 6), in a subprocess with PyQt5 blocked."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_plugin_runs_on_pyqt6() -> None:
    python = os.environ.get("VISPROMPT_PYQT6_PYTHON", sys.executable)
    if python == sys.executable and importlib.util.find_spec("PyQt6") is None:
        pytest.skip("PyQt6 is not installed (set VISPROMPT_PYQT6_PYTHON to a Python with it)")
    script = Path(__file__).with_name("qt6_check.py")
    run = subprocess.run(
        [python, str(script)], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout + run.stderr
