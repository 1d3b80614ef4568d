"""Helpers for the server tests: start real server processes, talk raw HTTP, make images."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            return self.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class ServerProcess:
    """A ``python -m backend_server`` child process and what it printed."""

    proc: subprocess.Popen[str]
    host: str
    port: int
    token: str | None
    token_file: Path | None
    config_dir: Path
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        token: str | bool | None = True,
        host: str | None = None,
        timeout: float = 120.0,
    ) -> Answer:
        """One HTTP request with full control over Host and Authorization."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            all_headers = {"Host": host or f"{self.host}:{self.port}"}
            if token is True and self.token:
                all_headers["Authorization"] = f"Bearer {self.token}"
            elif isinstance(token, str):
                all_headers["Authorization"] = f"Bearer {token}"
            data: bytes | None = None
            if body is not None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                all_headers["Content-Type"] = "application/json"
                all_headers["Content-Length"] = str(len(data))
            all_headers.update(headers or {})
            for key, value in all_headers.items():
                conn.putheader(key, value)
            conn.endheaders(data)
            answer = conn.getresponse()
            return Answer(
                answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
            )
        finally:
            conn.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def server_env(config_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["VISPROMPT_CONFIG_DIR"] = str(config_dir / "config")
    env["VISPROMPT_DATA_DIR"] = str(config_dir / "data")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def start_server(base: Path, *args: str, wait: bool = True) -> ServerProcess:
    """Start a server with ``--port 0`` and wait for its ready line."""
    base.mkdir(parents=True, exist_ok=True)
    stderr_path = base / "server.log"
    cmd = [sys.executable, "-m", "backend_server", "--port", "0", *args]
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=server_env(base),
            cwd=REPO,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    server = ServerProcess(proc, "127.0.0.1", 0, None, None, base, stderr_path)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            server.stdout_lines.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    if not wait:
        return server
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            server.stop()
            raise RuntimeError(f"server did not get ready:\n{server.stderr()}") from None
        if line is None:
            raise RuntimeError(f"server exited ({proc.wait()}):\n{server.stderr()}")
        if line.startswith("VISPROMPT_READY "):
            ready = json.loads(line.split(" ", 1)[1])
            server.host, server.port = ready["host"], ready["port"]
            if ready.get("token_file"):
                server.token_file = Path(ready["token_file"])
                server.token = server.token_file.read_text().strip()
            return server


# -- images ----------------------------------------------------------------------------


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def random_image(width: int, height: int, seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


def prompt_body(
    seed: int = 0,
    pairs: int = 1,
    size: tuple[int, int] = (64, 48),
    query_size: tuple[int, int] = (80, 60),
    **options: Any,
) -> dict[str, Any]:
    examples = [
        {
            "input": b64(png_bytes(random_image(*size, seed * 100 + 2 * i))),
            "output": b64(png_bytes(random_image(*size, seed * 100 + 2 * i + 1))),
        }
        for i in range(pairs)
    ]
    return {
        "examples": examples,
        "query": b64(png_bytes(random_image(*query_size, seed * 100 + 99))),
        "options": options,
    }


def decode_answer(data: dict[str, Any]) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image"]))))
