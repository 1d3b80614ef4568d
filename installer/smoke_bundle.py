"""Start a built backend bundle, wait for its ready line, check /v1/health, stop it.

    python installer/smoke_bundle.py dist/visprompt-server

Standard library only, so it runs on the CI runners of both platforms; prints the
start-up time. Exit code 0 when the bundle answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

READY = "VISPROMPT_READY "


def smoke(bundle: Path, timeout: float = 300.0) -> float:
    exe = bundle / ("visprompt-server.exe" if os.name == "nt" else "visprompt-server")
    with tempfile.TemporaryDirectory() as tmp:
        token = Path(tmp) / "token"
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(exe), "--port", "0", "--token-file", str(token)], stdout=subprocess.PIPE, text=True
        )
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        try:
            while time.monotonic() - started < timeout:
                ready = next((ln for ln in list(lines) if ln.startswith(READY)), None)
                if ready:
                    break
                if proc.poll() is not None:
                    raise SystemExit(f"the server exited with {proc.returncode}")
                time.sleep(0.1)
            else:
                raise SystemExit("no ready line in time")
            seconds = time.monotonic() - started
            url = json.loads(ready[len(READY) :])["url"]
            with urllib.request.urlopen(url + "/v1/health", timeout=30) as r:
                health = json.loads(r.read())
            if health.get("status") != "ok":
                raise SystemExit(f"unexpected health answer {health}")
            print(f"ready in {seconds:.1f} s at {url}; /v1/health: {health}")
            return seconds
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    smoke(Path(sys.argv[1] if len(sys.argv) > 1 else "dist/visprompt-server"))
