"""VisPrompt's local inference HTTP service. Build an app with ``create_app(config)``."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("visprompt")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"

from backend_server.app import create_app
from backend_server.config import ServerConfig

__all__ = ["ServerConfig", "__version__", "create_app"]
