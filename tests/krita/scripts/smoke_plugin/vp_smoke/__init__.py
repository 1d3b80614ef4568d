"""Test helper plugin for the GUI smoke test (never shipped).

Once Krita's main window exists it opens a document, finds the Visual Prompt docker and
shows it; with ``$VP_SMOKE_PROMPT`` set it also picks the layers in the docker, triggers
the "Visual Prompt" action (the plugin starts its configured backend), waits for the new
layer, and undoes it. It saves a screenshot, writes a JSON verdict to ``$VP_SMOKE_OUT``
and quits Krita normally (so the plugin stops the backend it started).
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
NEW_LAYER = "Visual Prompt 1 (1 pair)"
LAYERS = [  # name, rect, B G R A
    ("example in", (40, 40, 160, 160), (40, 40, 220, 255)),
    ("example out", (240, 40, 160, 160), (220, 40, 40, 255)),
    ("query", (420, 120, 180, 200), (40, 40, 220, 255)),
]


def pick(combo: QComboBox, text: str) -> None:
    index = combo.findText(text)
    if index < 0:
        raise ValueError(f"{text!r} is not in the list")
    combo.setCurrentIndex(index)


class SmokeExtension(Extension):
    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        self.result: dict[str, Any] = {"ok": False}
        self.doc: Any = None
        self.finished = False

    def setup(self) -> None:
        notifier = Krita.instance().notifier()
        notifier.setActive(True)
        notifier.windowCreated.connect(lambda: QTimer.singleShot(3000, self.open_document))
        QTimer.singleShot(200000, lambda: self.finish("timed out inside Krita"))

    def createActions(self, window: Any) -> None:
        pass

    def open_document(self) -> None:
        try:
            krita = Krita.instance()
            self.doc = krita.createDocument(640, 400, "smoke", "RGBA", "U8", "", 72.0)
            root = self.doc.rootNode()
            below = None
            for name, (x, y, w, h), bgra in LAYERS:
                node = self.doc.createNode(name, "paintlayer")
                node.setPixelData(bytes(bgra) * (w * h), x, y, w, h)
                root.addChildNode(node, below)
                below = node
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
            if os.environ.get("VP_SMOKE_PROMPT") and docker is not None:
                QTimer.singleShot(1000, lambda: self.prompt(docker.widget()))
            else:
                QTimer.singleShot(2500, self.screenshot)
        except Exception:
            self.finish(traceback.format_exc())

    def prompt(self, panel: Any) -> None:
        try:
            panel.refresh()
            pick(panel.rows[0].input, "example in")
            pick(panel.rows[0].output, "example out")
            pick(panel.query, "query")
            pick(panel.mask, "None (whole layer)")
            self.layers_before = [n.name() for n in self.doc.rootNode().childNodes()]
            Krita.instance().action("visual_prompt_run").trigger()
            self.panel = panel
            self.waited = 0
            QTimer.singleShot(500, self.wait_for_layer)
        except Exception:
            self.finish(traceback.format_exc())

    def wait_for_layer(self) -> None:
        try:
            from visual_prompt.app import get_app

            app = get_app()
            if app.server.process is not None:
                self.result["server_pid"] = app.server.process.processId()
            self.result["message"] = self.panel.message.text()
            node = self.doc.nodeByName(NEW_LAYER)
            self.waited += 1
            if node is None and app.state != "error" and self.waited < 400:
                QTimer.singleShot(300, self.wait_for_layer)
                return
            r = self.result
            r["layer_inserted"] = node is not None
            if node is not None:
                b = node.bounds()
                r["layer_bounds"] = [b.x(), b.y(), b.width(), b.height()]
                names = [n.name() for n in self.doc.rootNode().childNodes()]
                r["layers_after_prompt"] = names
            QTimer.singleShot(1500, self.screenshot_then_undo)
        except Exception:
            self.finish(traceback.format_exc())

    def screenshot_then_undo(self) -> None:
        try:
            self.save_screenshot()
            Krita.instance().action("edit_undo").trigger()
            QTimer.singleShot(1500, self.after_undo)
        except Exception:
            self.finish(traceback.format_exc())

    def after_undo(self) -> None:
        try:
            names = [n.name() for n in self.doc.rootNode().childNodes()]
            r = self.result
            r["layers_after_undo"] = names
            r["undo_removed_the_layer"] = names == self.layers_before
            r["ok"] = bool(
                r.get("docker_found")
                and r.get("layer_inserted")
                and r.get("undo_removed_the_layer")
                and r.get("screenshot_saved")
            )
            self.finish(None)
        except Exception:
            self.finish(traceback.format_exc())

    def save_screenshot(self) -> None:
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
        if self.finished:
            return
        self.finished = True
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
