"""Helpers shared by the plugin tests and the real-Krita tests (imported by path, not
through ``conftest``, because several test folders have a ``conftest.py``)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "krita_plugin"
BACKEND_AVAILABLE = (ROOT / "backend_server" / "__main__.py").is_file()


def run_headless(command: list[str], env: dict[str, str], timeout: float,
                 cwd: Path | None = None) -> tuple[int | None, str]:
    """Run ``command`` (xvfb-run + Krita or kritarunner) in its own process group;
    (exit status, the last 4,000 characters of its output). On timeout the whole group
    is killed, so no Krita outlives its test, and the status is None."""
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                            errors="replace", start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        return proc.returncode, output[-4000:]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        output, _ = proc.communicate()
        return None, f"did not exit within {timeout:.0f} s:\n{(output or '')[-4000:]}"


def native_pixel(doc: object, r: int, g: int, b: int, a: int = 255) -> bytes:
    """One pixel in a (fake) document's native format (sRGB-curve profiles only)."""
    model, depth = doc.colorModel(), doc.colorDepth()  # type: ignore[attr-defined]
    if model == "GRAYA":
        chans = [(r + g + b) // 3, a]
    else:
        chans = [b, g, r, a] if depth in ("U8", "U16") else [r, g, b, a]
    if depth == "U8":
        return bytes(chans)
    if depth == "U16":
        return struct.pack(f"<{len(chans)}H", *(c * 257 for c in chans))
    code = "e" if depth == "F16" else "f"
    return struct.pack(f"<{len(chans)}{code}", *(c / 255 for c in chans))


def start_backend(workdir: Path, attempts: int = 2) -> Backend:
    """A started backend; one retry, since a start can fail while the default weights
    file is being rewritten (training in the same checkout)."""
    errors = []
    for attempt in range(attempts):
        try:
            return Backend(workdir / f"try{attempt}")
        except RuntimeError as exc:
            errors.append(str(exc))
            time.sleep(2)
    raise RuntimeError("\n---\n".join(errors))


class Backend:
    """A real ``python -m backend_server`` process on a free loopback port."""

    def __init__(self, workdir: Path, timeout_s: float = 180) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.token_file = workdir / "token"
        env = dict(os.environ, VISPROMPT_CONFIG_DIR=str(workdir / "config"), PYTHONUNBUFFERED="1")
        command = [
            sys.executable, "-m", "backend_server", "--port", "0", "--device", "cpu",
            "--token-file", str(self.token_file),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.url = ""
        lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("VISPROMPT_READY "):
                self.url = json.loads(line.split(" ", 1)[1])["url"]
                break
        if not self.url:
            self.stop()
            raise RuntimeError("backend did not start:\n" + "".join(lines[-20:]))
        self.token = self.token_file.read_text().strip()
        stdout = self.process.stdout
        threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
