"""Krita's GUI under Xvfb with the plugin enabled: the docker appears (screenshot saved,
path printed; set VISPROMPT_ARTIFACTS_DIR to keep it somewhere stable), and a prompt run
from the action inserts a layer that one undo removes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from plugin_support import BACKEND_AVAILABLE, PLUGIN_DIR, ROOT, run_headless

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


def run_krita(
    env: dict[str, str], tmp_path: Path, settings: dict[str, Any], name: str, **extra: str
) -> tuple[dict[str, Any], Path]:
    install_plugins(Path(env["HOME"]))
    artifacts = Path(os.environ.get("VISPROMPT_ARTIFACTS_DIR") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / f"{name}.png"
    out = tmp_path / "smoke.json"
    settings_dir = Path(env["VISPROMPT_CONFIG_DIR"])
    settings_dir.mkdir(parents=True)
    (settings_dir / "krita_plugin.json").write_text(json.dumps(settings))
    env = dict(env, VP_SMOKE_OUT=str(out), VP_SMOKE_SHOT=str(shot), **extra)
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "krita", "--nosplash"]
    _, log = run_headless(command, env, timeout=300, cwd=ROOT)
    print(f"screenshot: {shot}")
    assert out.is_file(), f"the smoke plugin wrote no verdict:\n{log}"
    verdict = json.loads(out.read_text())
    print(json.dumps(verdict, indent=1))
    assert "error" not in verdict, verdict["error"]
    return verdict, shot


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.krita
@pytest.mark.slow
def test_docker_appears(krita_env: dict[str, str], tmp_path: Path) -> None:
    settings = {"local_url": closed_port_url(), "start_server": False}
    verdict, shot = run_krita(krita_env, tmp_path, settings, "krita_gui_smoke")
    assert verdict["docker_found"] and verdict["docker_visible"], verdict
    assert verdict["panel"] == "PromptPanel"
    assert verdict["action_found"] and verdict["shortcut"] == "Ctrl+Alt+Shift+V"
    assert "query" in verdict["combo_items"] and "(active layer)" in verdict["combo_items"]
    assert shot.is_file() and shot.stat().st_size > 1000


@pytest.mark.krita
@pytest.mark.slow
def test_action_starts_the_backend_inserts_a_layer_and_undo_removes_it(
    krita_env: dict[str, str], tmp_path: Path
) -> None:
    if not BACKEND_AVAILABLE:
        pytest.skip("backend_server is not in this checkout")
    command = [sys.executable, "-m", "backend_server", "--device", "cpu",
               "--token-file", str(tmp_path / "token")]  # fmt: skip
    settings = {"local_url": closed_port_url(), "backend_command": command}
    verdict, _shot = run_krita(
        krita_env, tmp_path, settings, "krita_gui_prompt", VP_SMOKE_PROMPT="1"
    )
    assert verdict["layer_inserted"], verdict.get("message")
    assert verdict["layer_bounds"] == [420, 120, 180, 200]
    names = verdict["layers_after_prompt"]
    assert names.index("Visual Prompt 1 (1 pair)") == names.index("query") + 1
    assert verdict["undo_removed_the_layer"], verdict["layers_after_undo"]
    pid = verdict.get("server_pid")
    assert pid, "the plugin did not start the backend itself"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, 9)
        pytest.fail("the backend the plugin started was still running after Krita quit")
