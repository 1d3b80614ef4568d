"""Per-user folders: configuration (token, settings) and data (downloaded models).

Environment overrides, in order: ``VISPROMPT_CONFIG_DIR`` / ``VISPROMPT_DATA_DIR``, then
the platform's convention (XDG on Linux, %APPDATA% / %LOCALAPPDATA% on Windows,
~/Library/Application Support on macOS).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "visprompt"


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


def models_dir() -> Path:
    """Where downloaded/imported/converted model files live (``<name>.safetensors``)."""
    return data_dir() / "models"


def token_file() -> Path:
    return config_dir() / "token"
