"""The Krita docker: a DockWidget holding the plain-Qt ``PromptPanel``."""

from __future__ import annotations

from typing import Any

from krita import DockWidget  # type: ignore[import-not-found]

from .app import get_app
from .panel import PromptPanel

DOCKER_ID = "visual_prompt_docker"
TITLE = "Visual Prompt"


class VisualPromptDocker(DockWidget):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        self.setObjectName(DOCKER_ID)
        self.panel = PromptPanel(get_app())
        self.setWidget(self.panel)

    def canvasChanged(self, canvas: Any) -> None:
        self.panel.refresh()
