"""Start-up and shutdown of the server process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from server_helpers import REPO, Answer, ServerProcess, prompt_body, server_env, start_server


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def check_clean_exit(srv: ServerProcess, sig: int) -> None:
    started = time.monotonic()
    assert srv.stop(sig) == 0, srv.stderr()
    assert time.monotonic() - started < 20
    assert not port_open(srv.port)
    assert "Traceback" not in srv.stderr()
    ready = [line for line in srv.stdout_lines if line.startswith("VISPROMPT_READY")]
    assert len(ready) == 1


def test_sigterm_lets_running_request_finish(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    answers: list[Answer] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            srv.request("POST", "/v1/prompt", prompt_body(seed=1, ensemble=16))
        )
    )
    thread.start()
    time.sleep(0.5)
    check_clean_exit(srv, signal.SIGTERM)
    thread.join(30)
    assert answers and answers[0].status == 200


def test_sigint_shuts_down_cleanly(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    assert srv.request("GET", "/v1/info").status == 200
    check_clean_exit(srv, signal.SIGINT)


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend_server", *args],
        capture_output=True,
        text=True,
        env=server_env(tmp_path),
        cwd=REPO,
        timeout=120,
    )


def test_unknown_model_fails_start(tmp_path: Path) -> None:
    done = run(tmp_path, "--port", "0", "--model", "no-such-model")
    assert done.returncode == 1
    assert "VISPROMPT_READY" not in done.stdout
    assert "no-such-model" in done.stderr


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = run(tmp_path, "--port", str(port))
    assert done.returncode == 1
    assert "cannot listen" in done.stderr
    assert "VISPROMPT_READY" not in done.stdout


def test_help(tmp_path: Path) -> None:
    done = run(tmp_path, "--help")
    assert done.returncode == 0
    for flag in ("--host", "--port", "--model", "--device", "--token-file"):
        assert flag in done.stdout
