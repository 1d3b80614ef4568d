"""Errors of the plugin. Every message is written for the artist, in plain words."""

from __future__ import annotations


class PluginError(Exception):
    """Base class: ``str(error)`` is what the docker shows."""

    code = "plugin_error"


class UnsupportedImageError(PluginError):
    code = "unsupported_image"


class InputError(PluginError):
    """The docker's choices do not make a valid prompt (no query, empty selection...)."""

    code = "bad_choice"


class DocumentChangedError(PluginError):
    """The document changed while the request was running; nothing was inserted."""

    code = "document_changed"


class ServerError(PluginError):
    """The server could not be reached, refused the request, or failed."""

    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ServerStartError(PluginError):
    code = "server_start_failed"
