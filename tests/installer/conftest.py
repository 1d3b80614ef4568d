"""Shared fixtures of the installer tests: clean user environments, a stand-in backend
bundle that runs the source tree's server, the real PyInstaller bundle (built once per
session, slow) and a started-server helper."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "installer"))


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


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    """A folder shaped like the PyInstaller bundle whose executable runs the source tree's
    server with this interpreter (clearly not a frozen build)."""
    bundle = tmp_path / "fake-bundle" / "visprompt-server"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "PLACEHOLDER.txt").write_text(
        "Test stand-in for the PyInstaller bundle: runs the source tree's server.\n"
    )
    exe = bundle / "visprompt-server"
    exe.write_text(
        "#!/bin/sh\n"
        "# test stand-in for the frozen server\n"
        f"PYTHONPATH='{ROOT}' exec '{sys.executable}' -m backend_server \"$@\"\n"
    )
    exe.chmod(0o755)
    (bundle / "BUNDLE_INFO.json").write_text(json.dumps({"flavour": "placeholder"}))
    return bundle


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


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """start_server(command, env) -> RunningServer once its ready line arrived."""
    procs: list[subprocess.Popen[str]] = []

    def start(command: list[str], env: dict[str, str], timeout: float = 180) -> RunningServer:
        token_file = tmp_path / f"token-{len(procs)}"
        started = time.monotonic()
        proc = subprocess.Popen(
            [*command, "--port", "0", "--token-file", str(token_file)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), True)
        deadline = started + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"server exited with {proc.wait()} before it was ready")
            if line.startswith("VISPROMPT_READY "):
                ready = json.loads(line[len("VISPROMPT_READY ") :])
                seconds = time.monotonic() - started
                return RunningServer(proc, ready, seconds, token_file.read_text().strip())
        raise AssertionError("no ready line in time")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def built_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real PyInstaller bundle, built once per session (several minutes).

    ``VISPROMPT_TEST_BUNDLE=/path/to/visprompt-server`` reuses a bundle built before.
    """
    if given := os.environ.get("VISPROMPT_TEST_BUNDLE"):
        return Path(given)
    base = tmp_path_factory.mktemp("bundle")
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "installer" / "build_bundle.py"),
            "--dist",
            str(base / "dist"),
            "--work",
            str(ROOT / "build" / "pyinstaller-test"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    print(proc.stderr[-3000:])
    assert proc.returncode == 0, proc.stderr[-5000:]
    print(f"bundle build took {time.monotonic() - started:.0f} s")
    return base / "dist" / "visprompt-server"
