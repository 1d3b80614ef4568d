"""Test helper plugin for the GUI smoke test (never shipped).

Once Krita's main window exists it opens a document, finds the Visual Prompt docker,
shows it, saves a screenshot, writes a JSON verdict to ``$VP_SMOKE_OUT`` and quits.
"""

from __future__ import annotations

import json
import os
import traceback
from typing import Any

from krita import Extension, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication, QComboBox, QDockWidget

DOCKER_ID = "visual_prompt_docker"


class SmokeExtension(Extension):
    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        self.result: dict[str, Any] = {"ok": False}
        self.doc: Any = None

    def setup(self) -> None:
        notifier = Krita.instance().notifier()
        notifier.setActive(True)
        notifier.windowCreated.connect(lambda: QTimer.singleShot(3000, self.open_document))
        QTimer.singleShot(150000, lambda: self.finish("timed out inside Krita"))

    def createActions(self, window: Any) -> None:
        pass

    def open_document(self) -> None:
        try:
            krita = Krita.instance()
            self.doc = krita.createDocument(640, 400, "smoke", "RGBA", "U8", "", 72.0)
            root = self.doc.rootNode()
            for name in ("example in", "example out", "query"):
                root.addChildNode(self.doc.createNode(name, "paintlayer"), None)
            krita.activeWindow().addView(self.doc)
            QTimer.singleShot(3000, self.inspect)
        except Exception:
            self.finish(traceback.format_exc())

    def inspect(self) -> None:
        try:
            krita = Krita.instance()
            window = krita.activeWindow().qwindow()
            docker = window.findChild(QDockWidget, DOCKER_ID)
            r = self.result
            r["docker_found"] = docker is not None
            action = krita.action("visual_prompt_run")
            r["action_found"] = action is not None
            r["shortcut"] = action.shortcut().toString() if action is not None else None
            if docker is not None:
                r["docker_visible_at_start"] = docker.isVisible()
                docker.show()
                docker.raise_()
                r["docker_title"] = docker.windowTitle()
                r["panel"] = type(docker.widget()).__name__
            window.showMaximized()
            QTimer.singleShot(2500, self.screenshot)
        except Exception:
            self.finish(traceback.format_exc())

    def screenshot(self) -> None:
        try:
            krita = Krita.instance()
            window = krita.activeWindow().qwindow()
            docker = window.findChild(QDockWidget, DOCKER_ID)
            r = self.result
            if docker is not None:
                r["docker_visible"] = docker.isVisible()
                combos = docker.widget().findChildren(QComboBox)
                r["combo_items"] = sorted({c.itemText(i) for c in combos for i in range(c.count())})
                docker.grab().save(os.environ["VP_SMOKE_SHOT"].replace(".png", "_docker.png"))
            screen = QApplication.primaryScreen().grabWindow(0)
            r["screenshot_saved"] = screen.save(os.environ["VP_SMOKE_SHOT"])
            r["ok"] = bool(
                r.get("docker_found") and r.get("docker_visible") and r.get("screenshot_saved")
            )
            self.finish(None)
        except Exception:
            self.finish(traceback.format_exc())

    def finish(self, error: str | None) -> None:
        if error:
            self.result["error"] = error
            self.result["ok"] = False
        with open(os.environ["VP_SMOKE_OUT"], "w", encoding="utf-8") as f:
            json.dump(self.result, f, indent=1)
        if self.doc is not None:
            self.doc.setModified(False)
        quit_action = Krita.instance().action("file_quit")
        if quit_action is not None:
            quit_action.trigger()  # a normal exit: the plugin's shutdown hook runs
        QTimer.singleShot(15000, lambda: os._exit(0))


Krita.instance().addExtension(SmokeExtension(Krita.instance()))
