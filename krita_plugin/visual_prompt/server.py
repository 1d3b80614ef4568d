"""Finding, starting and stopping the local backend server.

``ServerManager.connect_server()`` ends in ``ready(url, token)`` or ``failed(ServerError)``:

- remote mode: the configured URL and token, checked with ``GET /v1/health``;
- local mode: a server already answering at ``Settings.local_url`` is used as is;
  otherwise the bundled backend is found (configured command or path,
  ``$VISPROMPT_SERVER``, the installer's ``backend.json``, the installed locations,
  ``PATH``), started with ``--port 0`` in a clean environment,
  and waited for until it prints ``VISPROMPT_READY {json}``. Only a server this manager
  started is stopped by ``stop()`` (called when Krita exits).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections import deque
from pathlib import Path
from typing import Any

from .client import Client
from .errors import ServerError
from .qt import QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal
from .settings import Settings, config_dir, data_dir, read_token, token_file

log = logging.getLogger(__name__)

READY_PREFIX = "VISPROMPT_READY "
EXE_NAME = "visprompt-server.exe" if sys.platform == "win32" else "visprompt-server"
# Variables of Krita's own runtime that would break a separate Python/torch process.
_DROP_EXACT = {"APPDIR", "APPIMAGE", "ARGV0", "OWD", "KRITA_PLUGIN_PATH", "SIP_DIR"}
_DROP_PREFIXES = ("PYTHON", "LD_PRELOAD", "LD_LIBRARY_PATH", "QT_", "QML", "PYQT", "KDE_")


def installed_locations() -> list[Path]:
    """Where the installer puts the bundled backend, most specific first."""
    base = data_dir()
    return [
        base / "server" / EXE_NAME,
        base / "server" / "visprompt-server" / EXE_NAME,
        base / "backend" / EXE_NAME,
    ]


def recorded_backend() -> Path | None:
    """The executable the installer recorded in ``<config dir>/backend.json``."""
    try:
        data = json.loads((config_dir() / "backend.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    exe = data.get("executable") if isinstance(data, dict) else None
    return Path(exe) if isinstance(exe, str) and exe else None


def find_backend(settings: Settings) -> list[str] | None:
    """The command that starts the local backend (without ``--port``), or None."""
    if settings.backend_command:
        return [*settings.backend_command, *settings.backend_args]
    if settings.backend_path:
        path = Path(settings.backend_path).expanduser()
        if path.suffix == ".py":
            return [sys.executable, str(path), *settings.backend_args]
        return [str(path), *settings.backend_args]
    env = os.environ.get("VISPROMPT_SERVER")
    candidates = [Path(env)] if env else []
    recorded = recorded_backend()
    if recorded is not None:
        candidates.append(recorded)
    candidates += installed_locations()
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate), *settings.backend_args]
    found = shutil.which("visprompt-server")
    return [found, *settings.backend_args] if found else None


def clean_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Krita's environment without the variables of Krita's own Python and Qt."""
    env = dict(os.environ if base is None else base)
    clean = {
        k: v
        for k, v in env.items()
        if k not in _DROP_EXACT and not k.upper().startswith(_DROP_PREFIXES)
    }
    clean["PYTHONUNBUFFERED"] = "1"  # the ready line must not wait in a pipe buffer
    clean["PYTHONIOENCODING"] = "utf-8"
    return clean


def parse_ready_line(line: str) -> dict[str, Any] | None:
    """The JSON of a ``VISPROMPT_READY {json}`` line, or None for any other line."""
    if not line.startswith(READY_PREFIX):
        return None
    try:
        data = json.loads(line[len(READY_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        return None
    return data


def token_path_of(command: list[str]) -> Path:
    """The token file a backend command uses (``--token-file X``), else the default."""
    for i, arg in enumerate(command):
        if arg == "--token-file" and i + 1 < len(command):
            return Path(command[i + 1])
        if arg.startswith("--token-file="):
            return Path(arg.split("=", 1)[1])
    return token_file()


class ServerManager(QObject):
    """Connects to a server, starting the bundled one when needed."""

    ready = pyqtSignal(str, str)  # url, token
    failed = pyqtSignal(object)  # ServerError
    state_changed = pyqtSignal(str)  # human text for the docker
    stopped = pyqtSignal(str)  # the server this manager started exited on its own

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.process: QProcess | None = None
        self.url = ""  # the server in use (any mode)
        self.token = ""
        self.started: tuple[str, str] | None = None  # url, token of the server we started
        self.log_tail: deque[str] = deque(maxlen=40)
        self._buffer = ""
        self._command: list[str] = []
        self._probe: Client | None = None
        self._connecting = False
        self._stopping = False
        self._startup_timer = QTimer(self)
        self._startup_timer.setSingleShot(True)
        self._startup_timer.timeout.connect(self._on_startup_timeout)

    @property
    def owns_process(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def connect_server(self) -> None:
        """Start connecting; ends in ``ready`` or ``failed``."""
        if self._connecting:
            return
        self._connecting = True
        s = self.settings
        if s.server_mode == "remote":
            if not s.remote_url:
                self._fail(ServerError("no_url", "Enter the remote server's URL in Settings."))
                return
            self._check(s.remote_url, s.remote_token, start_if_down=False)
        elif self.owns_process and self.started is not None:
            self._check(*self.started, start_if_down=False)
        else:
            self._check(s.local_url, read_token(), start_if_down=s.start_server)

    def _check(self, url: str, token: str, start_if_down: bool) -> None:
        self.state_changed.emit(f"Looking for the server at {url}...")
        self._probe = Client(url, token, timeout_s=self.settings.connect_timeout_s, parent=self)
        call = self._probe.health()

        def up(_body: Any) -> None:
            self._succeed(url, token)

        def down(error: ServerError) -> None:
            if start_if_down:
                self.start()
            else:
                self._fail(error)

        call.then(up, down)

    def _succeed(self, url: str, token: str) -> None:
        self._connecting = False
        self.url, self.token = url, token
        self.state_changed.emit(f"Connected to {url}")
        self.ready.emit(url, token)

    def _fail(self, error: ServerError) -> None:
        self._connecting = False
        self.state_changed.emit(str(error))
        self.failed.emit(error)

    def start(self) -> None:
        """Start the bundled backend on a free port."""
        command = find_backend(self.settings)
        if command is None:
            self._fail(
                ServerError(
                    "backend_not_found",
                    "No Visual Prompt server is running and the bundled server was not "
                    "found. Install it, or set its path (or a remote server) in Settings.",
                )
            )
            return
        self._connecting = True
        self._command = [*command, "--port", "0"]
        self._buffer = ""
        self.log_tail.clear()
        process = QProcess(self)
        env = QProcessEnvironment()
        for key, value in clean_environment().items():
            env.insert(key, value)
        process.setProcessEnvironment(env)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._on_output)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_process_error)
        self.process = process
        self.state_changed.emit("Starting the Visual Prompt server...")
        log.info("starting backend: %s", self._command)
        self._startup_timer.start(int(self.settings.startup_timeout_s * 1000))
        process.start(self._command[0], self._command[1:])

    def _on_output(self) -> None:
        if self.process is None:
            return
        chunk = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split("\n")
        for raw in lines:
            line = raw.rstrip("\r")
            if not line:
                continue
            self.log_tail.append(line)
            log.debug("backend: %s", line)
            ready = parse_ready_line(line)
            if ready is not None and self._connecting:
                self._startup_timer.stop()
                named = ready.get("token_file")
                path = Path(named) if isinstance(named, str) else token_path_of(self._command)
                token = read_token(path)
                self.started = (ready["url"], token)
                self._succeed(ready["url"], token)

    def _tail(self) -> str:
        lines = list(self.log_tail)[-5:]
        return ("\nLast output:\n" + "\n".join(lines)) if lines else ""

    def _on_finished(self, code: int, _status: Any = None) -> None:
        self._startup_timer.stop()
        if self._connecting:
            self._fail(
                ServerError(
                    "server_start_failed",
                    f"The Visual Prompt server stopped during start-up (exit code {code})."
                    + self._tail(),
                )
            )
        elif not self._stopping:
            text = f"The Visual Prompt server stopped (exit code {code})." + self._tail()
            self.state_changed.emit(text)
            self.stopped.emit(text)
        if self.started is not None and self.url == self.started[0]:
            self.url = ""
        self.started = None

    def _on_process_error(self, error: Any) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._connecting:
            self._startup_timer.stop()
            self._fail(
                ServerError(
                    "server_start_failed",
                    f"Could not start the Visual Prompt server ({self._command[0]}).",
                )
            )

    def _on_startup_timeout(self) -> None:
        if not self._connecting:
            return
        self.stop()
        self._fail(
            ServerError(
                "server_start_timeout",
                f"The Visual Prompt server did not start within "
                f"{self.settings.startup_timeout_s:g} seconds." + self._tail(),
            )
        )

    def stop(self, wait_ms: int = 5000) -> None:
        """Stop the server this manager started (no effect on other servers)."""
        process = self.process
        if process is None:
            return
        self._stopping = True
        try:
            if process.state() != QProcess.ProcessState.NotRunning:
                process.terminate()
                if not process.waitForFinished(wait_ms):
                    process.kill()
                    process.waitForFinished(2000)
        finally:
            self._stopping = False
        self.process = None
        self.started = None
