"""The plugin's prompt path inside real Krita (kritarunner under xvfb-run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from plugin_support import PLUGIN_DIR, Backend, run_headless

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def run_in_krita(script: str, settings: dict[str, Any], backend: Backend,
                 krita_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """Run ``scripts/<script>.py`` in headless Krita against ``backend``; its verdict."""
    out = tmp_path / "verdict.json"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"url": backend.url, "token": backend.token,
                                  "plugin_dir": str(PLUGIN_DIR), "out": str(out),
                                  **settings}))
    env = dict(krita_env, PYTHONPATH=str(SCRIPTS))
    command = ["xvfb-run", "-a", "kritarunner", "-s", script, "--", str(config)]
    status, log = run_headless(command, env, timeout=400)
    assert out.is_file(), f"kritarunner wrote no verdict (exit {status}):\n{log}"
    verdict = json.loads(out.read_text())
    assert "error" not in verdict, verdict["error"]
    assert verdict["ok"], json.dumps(verdict["failures"], indent=1)
    print(json.dumps(verdict["checks"], indent=1))
    return verdict


@pytest.mark.krita
@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "depth"),
    [("RGBA", "U8"), ("RGBA", "U16"), ("RGBA", "F16"), ("RGBA", "F32"), ("GRAYA", "U8")],
)
def test_prompt_inserts_the_answer_inside_the_selection(
    model: str, depth: str, krita_backend: Backend, krita_env: dict[str, str], tmp_path: Path
) -> None:
    verdict = run_in_krita("vp_prompt_check", {"depth": depth, "model": model},
                           krita_backend, krita_env, tmp_path)
    assert len(verdict["checks"]) >= 10


@pytest.mark.krita
@pytest.mark.slow
def test_prompt_with_an_example_library_group(
    krita_backend: Backend, krita_env: dict[str, str], tmp_path: Path
) -> None:
    """A library group of three pair groups, no example rows, 'Use closest' = 1."""
    verdict = run_in_krita("vp_library_check", {}, krita_backend, krita_env, tmp_path)
    assert len(verdict["checks"]) >= 15
