"""Krita starts under Xvfb with the plugin enabled, the docker appears, a screenshot is
saved (path printed; set VISPROMPT_ARTIFACTS_DIR to keep it somewhere stable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from plugin_support import PLUGIN_DIR

SMOKE_PLUGIN = Path(__file__).resolve().parent / "scripts" / "smoke_plugin"


def install_plugins(home: Path) -> None:
    """What a user's install looks like: pykrita/<package> + .desktop, the .action file
    in the resource folder's actions/, and the plugins enabled in kritarc."""
    pykrita = home / ".local" / "share" / "krita" / "pykrita"
    actions = home / ".local" / "share" / "krita" / "actions"
    pykrita.mkdir(parents=True)
    actions.mkdir(parents=True)
    shutil.copytree(PLUGIN_DIR / "visual_prompt", pykrita / "visual_prompt")
    shutil.copy(PLUGIN_DIR / "visual_prompt.desktop", pykrita)
    shutil.copy(PLUGIN_DIR / "visual_prompt" / "visual_prompt.action", actions)
    shutil.copytree(SMOKE_PLUGIN / "vp_smoke", pykrita / "vp_smoke")
    shutil.copy(SMOKE_PLUGIN / "vp_smoke.desktop", pykrita)
    (home / ".config" / "kritarc").write_text(
        "[python]\nenable_visual_prompt=true\nenable_vp_smoke=true\n"
    )


@pytest.mark.krita
@pytest.mark.slow
def test_docker_appears(krita_env: dict[str, str], tmp_path: Path) -> None:
    home = Path(krita_env["HOME"])
    install_plugins(home)
    artifacts = Path(os.environ.get("VISPROMPT_ARTIFACTS_DIR") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "krita_gui_smoke.png"
    out = tmp_path / "smoke.json"
    env = dict(krita_env, VP_SMOKE_OUT=str(out), VP_SMOKE_SHOT=str(shot))
    # do not let the plugin start a backend in this test: point it at a closed port
    settings_dir = Path(env["VISPROMPT_CONFIG_DIR"])
    settings_dir.mkdir(parents=True)
    (settings_dir / "krita_plugin.json").write_text(json.dumps({"start_server": False}))
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "krita", "--nosplash"]
    try:
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
        log = (run.stdout + run.stderr)[-4000:]
    except subprocess.TimeoutExpired as exc:
        log = str(exc)
    print(f"screenshot: {shot}")
    assert out.is_file(), f"the smoke plugin wrote no verdict:\n{log}"
    verdict = json.loads(out.read_text())
    print(json.dumps(verdict, indent=1))
    assert "error" not in verdict, verdict["error"]
    assert verdict["docker_found"] and verdict["docker_visible"], verdict
    assert verdict["panel"] == "PromptPanel"
    assert verdict["action_found"] and verdict["shortcut"] == "Ctrl+Alt+Shift+V"
    assert "query" in verdict["combo_items"] and "(active layer)" in verdict["combo_items"]
    assert shot.is_file() and shot.stat().st_size > 1000
