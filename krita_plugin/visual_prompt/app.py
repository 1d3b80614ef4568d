"""The plugin's shared state: settings, server connection, prompt controller, choices.

Krita creates dockers through a factory without arguments, so the docker and the action
reach this object through ``get_app()``; tests create their own ``PluginApp``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .client import Client
from .controller import Choices, PromptController
from .document import DocumentPort
from .errors import ServerError
from .qt import QObject, pyqtSignal
from .server import ServerManager
from .settings import Settings, load_settings, save_settings
from .wire import ServerInfo

log = logging.getLogger(__name__)

DocumentProvider = Callable[[], "DocumentPort | None"]


def _krita_active_document() -> DocumentPort | None:
    from .krita_api import active_document

    return active_document()


class PluginApp(QObject):
    connection_changed = pyqtSignal(str, str)  # state ("off"|"connecting"|"on"|"error"), text
    info_changed = pyqtSignal(object)  # ServerInfo | None

    def __init__(
        self,
        settings: Settings | None = None,
        document_provider: DocumentProvider | None = None,
        settings_file: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings_file = settings_file
        self.settings = settings if settings is not None else load_settings(settings_file)
        self.document_provider = document_provider or _krita_active_document
        self.server = ServerManager(self.settings, self)
        self.controller = PromptController(self)
        self.client: Client | None = None
        self.info: ServerInfo | None = None
        self.state = "off"
        self._choices: dict[str, Choices] = {}
        self._pending: list[Callable[[], None]] = []
        self.server.ready.connect(self._on_ready)
        self.server.failed.connect(self._on_failed)
        self.server.state_changed.connect(self._on_server_text)
        self.server.stopped.connect(self._on_server_stopped)

    # connection ---------------------------------------------------------------------
    def connect_server(self, then: Callable[[], None] | None = None) -> None:
        if then is not None:
            self._pending.append(then)
        if self.state == "on" and self.client is not None:
            self._flush()
            return
        self._set_state("connecting", "Connecting...")
        self.server.connect_server()

    def reconnect(self) -> None:
        """Forget the current connection (after settings changed) and connect again."""
        self.client = None
        self.controller.set_client(None)
        self.state = "off"
        self.connect_server()

    def save_settings(self) -> None:
        save_settings(self.settings, self.settings_file)

    def _set_state(self, state: str, text: str) -> None:
        self.state = state
        self.connection_changed.emit(state, text)

    def _on_server_text(self, text: str) -> None:
        if self.state == "connecting":
            self.connection_changed.emit(self.state, text)

    def _on_ready(self, url: str, token: str) -> None:
        s = self.settings
        self.client = Client(url, token, s.connect_timeout_s, s.request_timeout_s, self)
        self.controller.set_client(self.client)
        self._set_state("on", f"Connected to {url}")
        self.client.info().then(self._on_info, self._on_info_error)

    def _on_info(self, info: ServerInfo) -> None:
        self.info = info
        self.controller.limits = info
        self.info_changed.emit(info)
        self._flush()

    def _on_info_error(self, error: ServerError) -> None:
        self.info = None
        self.client = None
        self.controller.set_client(None)
        self._pending.clear()
        self._set_state("error", str(error))

    def _on_server_stopped(self, text: str) -> None:
        """Our server exited: forget it, so the next prompt starts a new one."""
        self.client = None
        self.info = None
        self.controller.set_client(None)
        self._set_state("error", text)

    def _on_failed(self, error: ServerError) -> None:
        self._pending.clear()
        self._set_state("error", str(error))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for action in pending:
            action()

    # documents and prompts ------------------------------------------------------------
    def document(self) -> DocumentPort | None:
        try:
            return self.document_provider()
        except Exception:  # a closing document can fail half way; treat as none
            log.exception("reading the active document failed")
            return None

    def choices_for(self, doc: DocumentPort) -> Choices:
        key = doc.key()
        if key not in self._choices:
            self._choices[key] = Choices.from_dict(doc.load_choices())
        return self._choices[key]

    def set_choices(self, doc: DocumentPort, choices: Choices) -> None:
        self._choices[doc.key()] = choices

    def run(self, doc: DocumentPort | None = None, choices: Choices | None = None) -> None:
        """Run a prompt on ``doc`` (default: the active document), connecting first."""
        doc = doc or self.document()
        if doc is None:
            self.controller.message.emit("Open an image first.", "error")
            return
        chosen = choices or self.choices_for(doc)
        if self.client is None:
            self.connect_server(lambda: self.controller.run(doc, chosen))
        else:
            self.controller.run(doc, chosen)

    def shutdown(self) -> None:
        self.controller.cancel()
        self.server.stop()


_APP: PluginApp | None = None


def get_app() -> PluginApp:
    global _APP
    if _APP is None:
        _APP = PluginApp()
    return _APP


def set_app(app: PluginApp | None) -> None:
    global _APP
    _APP = app
