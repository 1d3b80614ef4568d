"""Shared fixtures of the installer tests: clean user environments, a stand-in backend
bundle that runs the source tree's server, the real PyInstaller bundle (built once per
session, slow) and a started-server helper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "installer"))

from installer_support import ROOT, RunningServer


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
