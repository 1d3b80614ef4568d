"""Krita extension: the "Visual Prompt" action and stopping the server on exit."""

from __future__ import annotations

from typing import Any

from krita import Extension, Krita  # type: ignore[import-not-found]

from .app import get_app

ACTION_ID = "visual_prompt_run"


class VisualPromptExtension(Extension):  # type: ignore[misc]
    def __init__(self, parent: Any) -> None:
        super().__init__(parent)

    def setup(self) -> None:
        notifier = Krita.instance().notifier()
        notifier.setActive(True)
        notifier.applicationClosing.connect(self.shutdown)

    def createActions(self, window: Any) -> None:
        action = window.createAction(ACTION_ID, "Visual Prompt", "tools/scripts")
        action.triggered.connect(self.run)

    def run(self) -> None:
        get_app().run()

    def shutdown(self) -> None:
        get_app().shutdown()
