"""Finding, starting and stopping the local backend; remote mode."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from plugin_support import ROOT
from visual_prompt.client import Client
from visual_prompt.server import (
    ServerManager,
    clean_environment,
    find_backend,
    installed_locations,
    parse_ready_line,
    token_path_of,
)
from visual_prompt.settings import Settings


def free_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def outcome(qtbot: Any, manager: ServerManager, timeout_s: float = 180) -> dict[str, Any]:
    result: dict[str, Any] = {}
    manager.ready.connect(lambda url, token: result.update(url=url, token=token))
    manager.failed.connect(lambda error: result.update(error=error))
    manager.connect_server()
    qtbot.waitUntil(lambda: bool(result), timeout=int(timeout_s * 1000))
    return result


def test_ready_line() -> None:
    line = 'VISPROMPT_READY {"host": "127.0.0.1", "port": 7, "url": "http://127.0.0.1:7"}'
    assert parse_ready_line(line) == {"host": "127.0.0.1", "port": 7, "url": "http://127.0.0.1:7"}
    assert parse_ready_line("INFO starting") is None
    assert parse_ready_line("VISPROMPT_READY {broken") is None


def test_clean_environment_drops_kritas_python_and_qt() -> None:
    env = clean_environment(
        {"PATH": "/bin", "PYTHONPATH": "/krita", "PYTHONHOME": "/k", "LD_LIBRARY_PATH": "/k",
         "QT_PLUGIN_PATH": "/k", "APPDIR": "/k", "HOME": "/h", "VISPROMPT_CONFIG_DIR": "/c"}
    )  # fmt: skip
    assert env["PATH"] == "/bin" and env["HOME"] == "/h" and env["VISPROMPT_CONFIG_DIR"] == "/c"
    for key in ("PYTHONPATH", "PYTHONHOME", "LD_LIBRARY_PATH", "QT_PLUGIN_PATH", "APPDIR"):
        assert key not in env
    assert env["PYTHONUNBUFFERED"] == "1"


def test_find_backend_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    monkeypatch.setenv("VISPROMPT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VISPROMPT_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_backend(Settings()) is None
    recorded = tmp_path / "recorded-server"
    recorded.write_text("#!/bin/sh\n")
    recorded.chmod(0o755)
    config_dir.mkdir(parents=True)
    (config_dir / "backend.json").write_text(json.dumps({"executable": str(recorded)}))
    assert find_backend(Settings()) == [str(recorded)]
    (config_dir / "backend.json").write_text("{broken")
    installed = installed_locations()[0]
    installed.parent.mkdir(parents=True)
    installed.write_text("#!/bin/sh\n")
    installed.chmod(0o755)
    assert find_backend(Settings()) == [str(installed)]
    env_exe = tmp_path / "env-server"
    env_exe.write_text("#!/bin/sh\n")
    env_exe.chmod(0o755)
    monkeypatch.setenv("VISPROMPT_SERVER", str(env_exe))
    assert find_backend(Settings(backend_args=["--device", "cpu"])) == [
        str(env_exe), "--device", "cpu"
    ]  # fmt: skip
    assert find_backend(Settings(backend_path="/opt/x/visprompt-server")) == [
        "/opt/x/visprompt-server"
    ]
    assert find_backend(Settings(backend_command=["py", "-m", "backend_server"]))[:2] == [
        "py", "-m"
    ]  # fmt: skip


def test_token_path_of() -> None:
    assert token_path_of(["x", "--token-file", "/t"]) == Path("/t")
    assert token_path_of(["x", "--token-file=/u"]) == Path("/u")


def test_no_backend_found_says_what_to_do(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    monkeypatch.setenv("VISPROMPT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VISPROMPT_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = outcome(qtbot, ServerManager(Settings(local_url=free_url())))
    assert result["error"].code == "backend_not_found" and "Settings" in str(result["error"])


def test_backend_that_dies_during_start(qtbot: Any, tmp_path: Path, config_dir: Path) -> None:
    script = tmp_path / "dies.py"
    script.write_text("import sys\nprint('model file is missing')\nsys.exit(3)\n")
    settings = Settings(local_url=free_url(), backend_command=[sys.executable, str(script)])
    result = outcome(qtbot, ServerManager(settings), 30)
    error = result["error"]
    assert error.code == "server_start_failed"
    assert "exit code 3" in str(error) and "model file is missing" in str(error)


def test_startup_timeout(qtbot: Any, tmp_path: Path, config_dir: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text("import time\nprint('loading', flush=True)\ntime.sleep(60)\n")
    settings = Settings(
        local_url=free_url(), backend_command=[sys.executable, str(script)], startup_timeout_s=1
    )
    manager = ServerManager(settings)
    result = outcome(qtbot, manager, 30)
    assert result["error"].code == "server_start_timeout" and "loading" in str(result["error"])
    assert manager.process is None


def test_uses_a_server_that_is_already_running(
    qtbot: Any, backend: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISPROMPT_CONFIG_DIR", str(Path(backend["token_file"]).parent))
    manager = ServerManager(Settings(local_url=backend["url"]))
    result = outcome(qtbot, manager)
    assert result == {"url": backend["url"], "token": backend["token"]}
    assert manager.process is None  # nothing started, nothing to stop


def test_remote_mode(qtbot: Any, backend: dict[str, str]) -> None:
    settings = Settings(server_mode="remote", remote_url=backend["url"], remote_token="tok")
    result = outcome(qtbot, ServerManager(settings))
    assert result == {"url": backend["url"], "token": "tok"}
    missing = outcome(qtbot, ServerManager(Settings(server_mode="remote")))
    assert missing["error"].code == "no_url"


def test_starts_and_stops_the_real_backend(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    if not (ROOT / "backend_server" / "__main__.py").is_file():
        pytest.skip("backend_server is not in this checkout")
    monkeypatch.chdir(ROOT)  # ``python -m backend_server`` from the checkout
    monkeypatch.setenv("PYTHONPATH", "/nonexistent-krita-python")  # must be dropped
    token_file = tmp_path / "token"
    command = [sys.executable, "-m", "backend_server", "--device", "cpu", "--token-file",
               str(token_file)]  # fmt: skip
    manager = ServerManager(Settings(local_url=free_url(), backend_command=command))
    result = outcome(qtbot, manager)
    assert "error" not in result, result.get("error")
    assert result["token"] == token_file.read_text().strip()
    assert manager.owns_process
    client = Client(result["url"], result["token"])
    call = client.info()
    qtbot.waitUntil(lambda: call.done, timeout=20000)
    assert call.error is None
    process = manager.process
    assert process is not None
    pid = process.processId()
    manager.stop()
    assert manager.process is None
    if os.name == "posix":
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_started_server_that_exits_later_is_reported(
    qtbot: Any, tmp_path: Path, config_dir: Path
) -> None:
    script = tmp_path / "short.py"
    script.write_text(
        "import json, time\n"
        "print('VISPROMPT_READY ' + json.dumps({'url': 'http://127.0.0.1:9'}), flush=True)\n"
        "time.sleep(1)\nraise SystemExit(5)\n"
    )
    settings = Settings(local_url=free_url(), backend_command=[sys.executable, str(script)])
    manager = ServerManager(settings)
    stopped: list[str] = []
    manager.stopped.connect(stopped.append)
    result = outcome(qtbot, manager, 30)
    assert result["url"] == "http://127.0.0.1:9"
    qtbot.waitUntil(lambda: bool(stopped), timeout=10000)
    assert "exit code 5" in stopped[0]


def test_switching_modes_keeps_the_started_server_apart(
    qtbot: Any, tmp_path: Path, config_dir: Path, backend: dict[str, str]
) -> None:
    script = tmp_path / "ready.py"
    script.write_text(
        "import json, time\n"
        f"print('VISPROMPT_READY ' + json.dumps({{'url': {backend['url']!r}}}), flush=True)\n"
        "time.sleep(60)\n"
    )
    settings = Settings(local_url=free_url(), backend_command=[sys.executable, str(script)])
    manager = ServerManager(settings)
    try:
        assert outcome(qtbot, manager, 30)["url"] == backend["url"]
        assert manager.started == (backend["url"], "")
        settings.server_mode = "remote"
        settings.remote_url = backend["url"] + "/"
        settings.remote_token = "remote-token"
        assert outcome(qtbot, manager, 30)["token"] == "remote-token"
        settings.server_mode = "local"
        again = outcome(qtbot, manager, 30)
        assert again == {"url": backend["url"], "token": ""}  # the started one, reused
    finally:
        manager.stop()
    assert manager.started is None and manager.process is None
