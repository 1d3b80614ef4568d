"""The docker panel with pytest-qt: fake Krita documents, a real backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fake_krita
import pytest
from documents import add_library, make_document, select
from visual_prompt.app import PluginApp
from visual_prompt.client import Client
from visual_prompt.krita_api import KritaDocument, node_id
from visual_prompt.panel import PromptPanel
from visual_prompt.qt import Qt
from visual_prompt.settings import Settings
from visual_prompt.wire import ServerInfo


def provider(krita: fake_krita.Krita) -> Any:
    def active() -> KritaDocument | None:
        doc = krita.activeDocument()
        return KritaDocument(doc) if doc is not None else None

    return active


@pytest.fixture
def make_panel(qtbot: Any, krita: fake_krita.Krita, tmp_path: Path) -> Any:
    def make(url: str, token: str) -> PromptPanel:
        settings = Settings(server_mode="remote", remote_url=url, remote_token=token)
        app = PluginApp(settings, provider(krita), tmp_path / "settings.json")
        panel = PromptPanel(app)
        qtbot.addWidget(panel)
        return panel

    return make


def pick(combo: Any, text: str) -> None:
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not in {[combo.itemText(i) for i in range(combo.count())]}"
    combo.setCurrentIndex(index)


def setup_pair(panel: PromptPanel) -> None:
    pick(panel.rows[0].input, "example in")
    pick(panel.rows[0].output, "example out")


def test_lists_the_layers_top_first(make_panel: Any, krita: fake_krita.Krita) -> None:
    make_document(krita)
    panel = make_panel("http://127.0.0.1:9", "")
    texts = [panel.query.itemText(i) for i in range(panel.query.count())]
    assert texts == ["(active layer)", "query", "example out", "example in", "background"]
    assert len(panel.rows) == 1 and not panel.rows[0].remove.isEnabled()


def test_pairs_can_be_added_and_removed(make_panel: Any, krita: fake_krita.Krita) -> None:
    make_document(krita)
    panel = make_panel("http://127.0.0.1:9", "")
    panel.add_pair_button.click()
    assert len(panel.rows) == 2 and panel.rows[0].remove.isEnabled()
    panel.rows[1].remove.click()
    assert len(panel.rows) == 1


def test_choices_are_remembered_per_document(make_panel: Any, krita: fake_krita.Krita) -> None:
    first = make_document(krita)
    panel = make_panel("http://127.0.0.1:9", "")
    setup_pair(panel)
    pick(panel.mask, "None (whole layer)")
    second = make_document(krita)
    panel.refresh()
    assert panel.rows[0].input.currentText() == "(choose a layer)"
    assert panel.mask.currentData() == "selection"
    krita.setActiveDocument(first)
    panel.refresh()
    assert panel.rows[0].input.currentText() == "example in"
    assert panel.mask.currentData() == "none"
    assert second is not first


def test_run_inserts_a_layer(
    qtbot: Any, make_panel: Any, krita: fake_krita.Krita, backend: dict[str, str]
) -> None:
    doc = make_document(krita)
    select(doc, 24, 8, 10, 6)
    panel = make_panel(backend["url"], backend["token"])
    setup_pair(panel)
    busy: list[bool] = []
    panel.app.controller.busy_changed.connect(busy.append)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Added layer" in panel.message.text(), timeout=120000)
    new = doc.nodeByName("Visual Prompt 1 (1 pair)")
    assert new is not None and new.bounds().getRect() == (24, 8, 10, 6)
    assert busy == [True, False]
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.app.state == "on" and "Connected" in panel.connection_label.text()
    assert json.loads(bytes(doc.annotation("visual_prompt")).decode())["mask"] == "selection"


def test_cancel(
    qtbot: Any, make_panel: Any, krita: fake_krita.Krita, backend: dict[str, str]
) -> None:
    doc = make_document(krita)
    panel = make_panel(backend["url"], backend["token"])
    setup_pair(panel)
    pick(panel.mask, "None (whole layer)")
    panel.app.connect_server()
    qtbot.waitUntil(lambda: panel.app.state == "on", timeout=30000)
    panel.run_button.click()
    assert panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    assert panel.progress.isVisible() or not panel.isVisible()
    panel.cancel_button.click()
    assert panel.message.text() == "Cancelled."
    assert panel.run_button.isEnabled()
    qtbot.wait(500)
    assert len(doc.rootNode().childNodes()) == 4


def test_errors_appear_in_plain_words(
    qtbot: Any, make_panel: Any, krita: fake_krita.Krita, backend: dict[str, str]
) -> None:
    make_document(krita)
    panel = make_panel(backend["url"], "wrong-token")
    setup_pair(panel)
    panel.run_button.click()
    qtbot.waitUntil(lambda: "token" in panel.message.text(), timeout=30000)
    assert "color" in panel.message.styleSheet()
    assert panel.app.state == "error"


def test_nothing_selected(
    qtbot: Any, make_panel: Any, krita: fake_krita.Krita, backend: dict[str, str]
) -> None:
    make_document(krita)
    panel = make_panel(backend["url"], backend["token"])
    setup_pair(panel)
    panel.run_button.click()
    qtbot.waitUntil(lambda: "Nothing is selected" in panel.message.text(), timeout=30000)


def test_no_document(make_panel: Any, krita: fake_krita.Krita) -> None:
    panel = make_panel("http://127.0.0.1:9", "")
    assert not panel.run_button.isEnabled()
    panel.run()
    assert "Open an image" in panel.message.text()


def test_settings_are_saved(make_panel: Any, krita: fake_krita.Krita, tmp_path: Path) -> None:
    panel = make_panel("http://127.0.0.1:9", "")
    panel.remote.setChecked(True)
    panel.remote_url.setText("http://example.invalid:7480")
    panel.remote_token.setText("abc")
    panel.save_settings()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["remote_url"] == "http://example.invalid:7480" and saved["remote_token"] == "abc"


def test_registration_in_krita(qapp: Any, krita: fake_krita.Krita) -> None:
    import importlib

    import visual_prompt

    importlib.reload(visual_prompt)
    assert len(krita.extensions) == 1 and len(krita.dock_factories) == 1
    factory = krita.dock_factories[0]
    assert factory.id() == "visual_prompt_docker"
    extension = krita.extensions[0]
    extension.setup()
    from visual_prompt import app as app_module

    app_module.set_app(PluginApp(Settings(), provider(krita)))
    try:
        docker = factory.createDockWidget()
        assert docker.windowTitle() == "Visual Prompt"
        assert isinstance(docker.widget(), PromptPanel)
        docker.deleteLater()
    finally:
        app_module.set_app(None)


def test_use_closest_answers_from_a_library(
    qtbot: Any, make_panel: Any, krita: fake_krita.Krita, backend: dict[str, str]
) -> None:
    """'Use closest' sends the pairs as a library (more than the server's 8-pair limit)
    and the server answers with the closest one."""
    doc = make_document(krita)
    select(doc, 24, 8, 10, 6)
    panel = make_panel(backend["url"], backend["token"])
    panel.connect_button.click()
    qtbot.waitUntil(lambda: panel.app.info is not None, timeout=60000)
    assert panel.app.info.max_pool == 64 and panel.select.isEnabled()
    setup_pair(panel)
    for _ in range(8):
        panel.add_pair_button.click()
    assert len(panel.rows) == 8 and not panel.add_pair_button.isEnabled()
    panel.select.setValue(1)
    assert panel.add_pair_button.isEnabled()  # a library may hold up to max_pool pairs
    panel.add_pair_button.click()
    # nine different pairs (a repeated pair would be sent once)
    names = ("example in", "example out", "background")
    for row, (a, b) in zip(panel.rows, [(a, b) for a in names for b in names]):
        pick(row.input, a)
        pick(row.output, b)
    assert len(set(panel.choices().pairs)) == 9 and panel.choices().select == 1
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Added layer" in panel.message.text(), timeout=120000)
    assert doc.nodeByName("Visual Prompt 1 (9 pairs)") is not None
    stored = json.loads(bytes(doc.annotation("visual_prompt")).decode())
    assert stored["select"] == 1


def offline_client(panel: PromptPanel, info: ServerInfo | None = None) -> None:
    """A client that is never reached: prompts that get past the checks would fail."""
    panel.app.client = Client("http://127.0.0.1:9", "")
    panel.app.controller.set_client(panel.app.client)
    panel.app.state = "on"
    if info is not None:
        panel.app._on_info(info)


def test_library_group_is_chosen_and_remembered(make_panel: Any, krita: fake_krita.Krita) -> None:
    first = make_document(krita)
    add_library(first)
    add_library(first, "empty group", pairs=[])
    panel = make_panel("http://127.0.0.1:9", "")
    texts = [panel.library.itemText(i) for i in range(panel.library.count())]
    # pair groups are not offered as libraries; empty groups are (being set up)
    assert texts == ["None", "empty group", "library"]
    assert panel.library_status.text() == ""
    pick(panel.library, "library")
    assert panel.library_status.text() == "3 pairs"
    assert panel.choices().library == node_id(first.nodeByName("library"))
    pick(panel.library, "empty group")
    assert panel.library_status.text() == "not usable"
    assert "holds no pair groups" in panel.library_status.toolTip()
    pick(panel.library, "library")
    make_document(krita)
    panel.refresh()
    assert panel.library.currentText() == "None" and panel.choices().library == ""
    krita.setActiveDocument(first)
    panel.refresh()
    assert panel.library.currentText() == "library" and panel.library_status.text() == "3 pairs"
    # a pair group that stops fitting the convention is flagged at once
    out = first.nodeByName("cat-out")
    assert out is not None
    out.setName("cat")
    panel.refresh()
    assert panel.library_status.text() == "not usable"
    assert "'short names'" in panel.library_status.toolTip()


def test_deleted_library_group_is_explained(make_panel: Any, krita: fake_krita.Krita) -> None:
    doc = make_document(krita)
    library = add_library(doc)
    panel = make_panel("http://127.0.0.1:9", "")
    setup_pair(panel)
    pick(panel.library, "library")
    library.remove()
    panel.refresh()
    # the choice stays, so that the rows are not quietly sent without the library
    assert panel.library.currentText() == "(deleted group)"
    assert panel.choices().library == node_id(library)
    offline_client(panel)
    count = len(doc.rootNode().childNodes())
    panel.run_button.click()
    assert "library group no longer exists" in panel.message.text()
    assert len(doc.rootNode().childNodes()) == count and doc.undo_stack == []
    pick(panel.library, "None")
    assert panel.choices().library == ""


def test_library_limits_of_an_older_server(make_panel: Any, krita: fake_krita.Krita) -> None:
    doc = make_document(krita)
    add_library(doc)
    panel = make_panel("http://127.0.0.1:9", "")
    offline_client(panel, ServerInfo(max_pairs=2))  # an older server: no max_pool
    assert not panel.select.isEnabled()
    pick(panel.library, "library")
    pick(panel.mask, "None (whole layer)")
    panel.run_button.click()
    text = panel.message.text()
    assert "3 example pairs are chosen (3 from the library 'library')" in text
    assert "at most 2 example pairs" in text and "cannot pick the closest" in text
    assert not panel.app.controller.busy and doc.undo_stack == []


def test_use_closest_from_a_library_group(
    qtbot: Any, make_panel: Any, krita: fake_krita.Krita, backend: dict[str, str]
) -> None:
    """Rows left empty, a library group of three pairs, 'Use closest' = 1."""
    doc = make_document(krita)
    library = add_library(doc)
    select(doc, 24, 8, 10, 6)
    panel = make_panel(backend["url"], backend["token"])
    panel.connect_button.click()
    qtbot.waitUntil(lambda: panel.app.info is not None, timeout=60000)
    pick(panel.library, "library")
    panel.select.setValue(1)
    assert panel.choices().pairs == [("", "")]
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Added layer" in panel.message.text(), timeout=120000)
    names = [n.name() for n in doc.rootNode().childNodes()]
    assert names == [
        "background", "example in", "example out", "query", "Visual Prompt 1 (3 pairs)",
        "library",
    ]  # fmt: skip
    new = doc.nodeByName("Visual Prompt 1 (3 pairs)")
    assert new is not None and new.bounds().getRect() == (24, 8, 10, 6)
    assert [g.name() for g in library.childNodes()] == ["by position", "short names", "full names"]
    stored = json.loads(bytes(doc.annotation("visual_prompt")).decode())
    assert stored["library"] == node_id(library) and stored["select"] == 1
