"""Helpers of the installer tests (imported by name; conftest only holds fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "plugin"))

from plugin_support import run_headless  # noqa: E402

KRITA_SCRIPTS = ROOT / "tests" / "krita" / "scripts"
KRITA_TOOLS = ("krita", "kritarunner", "xvfb-run")
HAVE_KRITA = all(shutil.which(t) for t in KRITA_TOOLS) and KRITA_SCRIPTS.is_dir()


def user_env(home: Path) -> dict[str, str]:
    """An environment whose HOME is ``home`` and that carries no XDG/VisPrompt overrides."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "VISPROMPT_", "PYTHON"))
    }
    env["HOME"] = str(home)
    return env


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> "dir", "link:<target>" or the sha256 of the file's bytes."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = f"link:{os.readlink(p)}"
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class RunningServer:
    def __init__(
        self, proc: subprocess.Popen[str], ready: dict[str, Any], seconds: float, token: str | None
    ) -> None:
        self.proc, self.ready, self.startup_s, self.token = proc, ready, seconds, token

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    def get(self, path: str) -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, headers=self._auth())
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **self._auth()},
        )
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


# --------------------------------------------------------------------------- real Krita


def krita_env(home: Path, tmp: Path) -> dict[str, str]:
    """Environment for Krita in the temporary HOME (reuses the plugin tests' conventions)."""
    runtime = tmp / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in user_env(home).items() if not k.startswith(("QT_", "VIRTUAL_ENV"))}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def kritarunner_prompt_check(plugin_dir: Path, server: RunningServer, tmp: Path) -> dict[str, Any]:
    """Run the plugin tests' in-Krita prompt check (tests/krita/scripts/vp_prompt_check.py)
    with the plugin files at ``plugin_dir`` against ``server``; returns its verdict.

    Krita gets a HOME of its own (it writes caches and rc files there), so the HOME the
    installer used stays comparable before/after."""
    out = tmp / "krita-verdict.json"
    config = tmp / "krita-config.json"
    config.write_text(
        json.dumps(
            {
                "url": server.url,
                "token": server.token,
                "plugin_dir": str(plugin_dir),
                "depth": "U8",
                "out": str(out),
            }
        )
    )
    krita_home = tmp / "krita-home"
    krita_home.mkdir(exist_ok=True)
    env = dict(krita_env(krita_home, tmp), PYTHONPATH=str(KRITA_SCRIPTS))
    _, log = run_headless(
        ["xvfb-run", "-a", "kritarunner", "-s", "vp_prompt_check", "--", str(config)],
        env, timeout=600)
    assert out.is_file(), f"kritarunner wrote no verdict:\n{log}"
    return dict(json.loads(out.read_text()))


def krita_gui_smoke(home: Path, tmp: Path) -> dict[str, Any]:
    """Start real Krita (xvfb) with the plugin tests' smoke plugin next to the installed
    plugin; returns the smoke plugin's verdict (docker found, action, ...)."""
    pykrita = home / ".local/share/krita/pykrita"
    smoke = KRITA_SCRIPTS / "smoke_plugin"
    shutil.copytree(smoke / "vp_smoke", pykrita / "vp_smoke")
    shutil.copy(smoke / "vp_smoke.desktop", pykrita)
    rc = home / ".config/kritarc"
    rc.write_text(rc.read_text().replace("[python]\n", "[python]\nenable_vp_smoke=true\n", 1))
    out, shot = tmp / "smoke.json", tmp / "smoke.png"
    env = dict(krita_env(home, tmp), VP_SMOKE_OUT=str(out), VP_SMOKE_SHOT=str(shot))
    _, log = run_headless(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "krita", "--nosplash"], env,
        timeout=300)
    assert out.is_file(), f"the smoke plugin wrote no verdict:\n{log}"
    return dict(json.loads(out.read_text()))
