"""Plugin settings, stored as JSON in the visprompt config folder.

The folder is outside the plugin folder, which Krita's importer replaces on update:
``$VISPROMPT_CONFIG_DIR`` if set, else ``%APPDATA%\\visprompt`` on Windows,
``~/Library/Application Support/visprompt`` on macOS and
``$XDG_CONFIG_HOME/visprompt`` (``~/.config/visprompt``) elsewhere, the same folder
where the server keeps its token.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

APP = "visprompt"
SETTINGS_FILE = "krita_plugin.json"
DEFAULT_LOCAL_URL = "http://127.0.0.1:7480"


def config_dir() -> Path:
    if env := os.environ.get("VISPROMPT_CONFIG_DIR"):
        return Path(env)
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / APP


def data_dir() -> Path:
    if env := os.environ.get("VISPROMPT_DATA_DIR"):
        return Path(env)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / APP


def token_file() -> Path:
    return config_dir() / "token"


def read_token(path: Path | None = None) -> str:
    """The local server's token, or "" when the file does not exist (yet)."""
    path = path or token_file()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


@dataclass
class Settings:
    """What the artist configures once (per-document choices live in the document)."""

    server_mode: str = "local"  # "local": bundled backend on this machine; "remote"
    local_url: str = DEFAULT_LOCAL_URL  # where a running local server is looked for first
    start_server: bool = True  # start the bundled backend when none answers
    backend_path: str = ""  # the server executable; "" = look in the installed locations
    backend_args: list[str] = field(default_factory=list)  # extra arguments for it
    backend_command: list[str] = field(default_factory=list)  # full command (development)
    remote_url: str = ""
    remote_token: str = ""
    request_timeout_s: float = 300.0  # one prompt, queueing included
    connect_timeout_s: float = 10.0  # one small HTTP call
    startup_timeout_s: float = 180.0  # bundled server until its ready line

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in data.items() if k in known}
        settings = cls(**clean)
        if settings.server_mode not in ("local", "remote"):
            settings.server_mode = "local"
        return settings

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings %s: %s", path, exc)
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    try:
        return Settings.from_dict(data)
    except TypeError as exc:
        log.warning("ignoring invalid settings %s: %s", path, exc)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings.to_dict(), indent=2), encoding="utf-8")
    if settings.remote_token and os.name == "posix":
        tmp.chmod(0o600)
    tmp.replace(path)
