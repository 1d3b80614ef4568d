"""The docker's widgets. A plain QWidget: ``docker.py`` puts it into Krita's DockWidget,
tests use it directly with a fake document."""

from __future__ import annotations

import logging
from typing import Any

from .app import PluginApp
from .controller import Choices
from .document import DocumentPort, LayerInfo
from .errors import InputError
from .library import library_candidates, library_pairs
from .qt import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    Qt,
    QTimer,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from .wire import ServerInfo

log = logging.getLogger(__name__)

ANSWER_SIZES = [(0, "Query size"), (448, "448 px"), (896, "896 px"), (1792, "1792 px")]
MASK_ITEMS = [("selection", "Selection"), ("layer", "Layer"), ("none", "None (whole layer)")]
ACTIVE = ""  # the data of the first entry: "(active layer)" or "(choose a layer)"
CHOOSE = "(choose a layer)"
NO_LIBRARY = "None"
MISSING_GROUP = "(deleted group)"


class PairRow(QWidget):
    def __init__(self, panel: PromptPanel) -> None:
        super().__init__()
        self.input = QComboBox()
        self.output = QComboBox()
        for combo in (self.input, self.output):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(6)
            combo.currentIndexChanged.connect(panel.store_choices)
        self.remove = QToolButton()
        self.remove.setText("x")
        self.remove.setToolTip("Remove this example pair")
        self.remove.clicked.connect(lambda: panel.remove_pair(self))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.input, 1)
        layout.addWidget(QLabel("->"))
        layout.addWidget(self.output, 1)
        layout.addWidget(self.remove)


def _fill(combo: QComboBox, layers: list[LayerInfo], current: str, first: str | None) -> None:
    combo.blockSignals(True)
    combo.clear()
    if first is not None:
        combo.addItem(first, ACTIVE)
    for layer in layers:
        combo.addItem("  " * layer.level + layer.name, layer.id)
    index = combo.findData(current) if current else -1
    combo.setCurrentIndex(max(index, 0))
    combo.blockSignals(False)


def _fill_library(combo: QComboBox, layers: list[LayerInfo], current: str) -> None:
    """None + the groups that can be a library (``library_candidates``); a chosen group
    that is gone, or no longer a candidate, stays chosen as "(deleted group)" or by name,
    so that running says why instead of quietly dropping the library."""
    candidates = library_candidates(layers)
    chosen = next((layer for layer in layers if layer.id == current), None)
    if chosen is not None and chosen not in candidates:
        candidates.append(chosen)
    _fill(combo, candidates, current, NO_LIBRARY)
    if current and combo.findData(current) < 0:
        combo.blockSignals(True)
        combo.addItem(MISSING_GROUP, current)
        combo.setCurrentIndex(combo.count() - 1)
        combo.blockSignals(False)


def _data(combo: QComboBox) -> str:
    value = combo.currentData()
    return value if isinstance(value, str) else ""


class PromptPanel(QWidget):
    """Example pairs, query, mask, options, the run button and the connection."""

    def __init__(self, app: PluginApp, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.doc: DocumentPort | None = None
        self._layers: list[LayerInfo] = []
        self._loading = False
        self.rows: list[PairRow] = []
        self._build()
        app.connection_changed.connect(self._on_connection)
        app.info_changed.connect(self._on_info)
        ctl = app.controller
        ctl.busy_changed.connect(self._on_busy)
        ctl.progress.connect(self._on_progress)
        ctl.message.connect(self.show_message)
        self._timer = QTimer(self)  # follows layer changes while the docker is shown
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)
        self._on_connection(app.state, "Not connected")
        if app.info is not None:
            self._on_info(app.info)
        self.refresh(force=True)

    # building ---------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        conn = QHBoxLayout()
        self.connection_label = QLabel()
        self.connection_label.setWordWrap(True)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self.app.reconnect)
        conn.addWidget(self.connection_label, 1)
        conn.addWidget(self.connect_button)
        root.addLayout(conn)

        examples = QGroupBox("Examples (input -> output)")
        self.pairs_layout = QVBoxLayout(examples)
        self.add_pair_button = QPushButton("Add pair")
        self.add_pair_button.clicked.connect(lambda: self.add_pair())
        self.pairs_layout.addWidget(self.add_pair_button)
        library_row = QHBoxLayout()
        library_row.addWidget(QLabel("Library"))
        self.library = QComboBox()
        self.library.setToolTip(
            "A group layer holding one group per example pair (input and output layers "
            "inside); its pairs are added to the pairs above"
        )
        self.library.currentIndexChanged.connect(self.store_choices)
        library_row.addWidget(self.library, 1)
        self.library_status = QLabel()
        library_row.addWidget(self.library_status)
        self.pairs_layout.addLayout(library_row)
        root.addWidget(examples)

        form = QFormLayout()
        self.query = QComboBox()
        self.query.currentIndexChanged.connect(self.store_choices)
        form.addRow("Query", self.query)
        self.mask = QComboBox()
        for key, label in MASK_ITEMS:
            self.mask.addItem(label, key)
        self.mask.currentIndexChanged.connect(self.store_choices)
        self.mask_layer = QComboBox()
        self.mask_layer.currentIndexChanged.connect(self.store_choices)
        mask_row = QHBoxLayout()
        mask_row.addWidget(self.mask)
        mask_row.addWidget(self.mask_layer, 1)
        form.addRow("Mask", mask_row)
        self.model = QComboBox()
        self.model.addItem("default", "default")
        self.model.currentIndexChanged.connect(self.store_choices)
        form.addRow("Model", self.model)
        self.answer_size = QComboBox()
        for size, label in ANSWER_SIZES:
            self.answer_size.addItem(label, size)
        self.answer_size.currentIndexChanged.connect(self.store_choices)
        form.addRow("Answer size", self.answer_size)
        self.ensemble = QSpinBox()
        self.ensemble.setRange(0, 16)
        self.ensemble.setSpecialValueText("default")
        self.ensemble.setToolTip("Number of canvases to average (slower, steadier)")
        self.ensemble.valueChanged.connect(self.store_choices)
        form.addRow("Ensemble", self.ensemble)
        self.select = QSpinBox()
        self.select.setRange(0, 8)
        self.select.setSpecialValueText("all pairs")
        self.select.setToolTip(
            "Treat the example pairs (the rows and the library's) as a library: use only "
            "this many, the ones whose input looks most like the query"
        )
        self.select.valueChanged.connect(self.store_choices)
        self.select.valueChanged.connect(lambda _value: self._update_pair_buttons())
        form.addRow("Use closest", self.select)
        self.detail = QCheckBox("Keep the query's detail")
        self.detail.setToolTip(
            "Carry the query's texture and crisp edges into answers whose example pair "
            "recolours in place (masks, colour changes) or draws line art, fill the areas "
            "the query's lines close where the example fills its outlines, answer in the "
            "query's own flat regions where the example swaps colours, "
            "and apply an example that is a filter (a blur, an inversion) to the query; "
            "off: the model's answer as decoded"
        )
        self.detail.toggled.connect(self.store_choices)
        form.addRow("", self.detail)
        root.addLayout(form)

        run_row = QHBoxLayout()
        self.run_button = QPushButton("Visual Prompt")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.app.controller.cancel)
        run_row.addWidget(self.run_button, 1)
        run_row.addWidget(self.cancel_button)
        root.addLayout(run_row)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        root.addWidget(self.progress)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        root.addWidget(self.message)

        root.addWidget(self._build_settings())
        root.addStretch(1)

    def _build_settings(self) -> QGroupBox:
        box = QGroupBox("Server settings")
        box.setCheckable(True)
        box.setChecked(False)
        inner = QWidget()
        form = QFormLayout(inner)
        s = self.app.settings
        self.remote = QCheckBox("Use a remote server")
        self.remote.setChecked(s.server_mode == "remote")
        form.addRow(self.remote)
        self.remote_url = QLineEdit(s.remote_url)
        self.remote_url.setPlaceholderText("https://host:7480")
        form.addRow("URL", self.remote_url)
        self.remote_token = QLineEdit(s.remote_token)
        self.remote_token.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Token", self.remote_token)
        self.backend_path = QLineEdit(s.backend_path)
        self.backend_path.setPlaceholderText("bundled server (automatic)")
        form.addRow("Local server", self.backend_path)
        save = QPushButton("Save and reconnect")
        save.clicked.connect(self.save_settings)
        form.addRow(save)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(inner)
        inner.setVisible(False)
        box.toggled.connect(inner.setVisible)
        self.settings_box = box
        return box

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._timer.start()
        self.refresh()

    def hideEvent(self, event: Any) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def _tick(self) -> None:
        self.refresh()

    # pairs ------------------------------------------------------------------------------
    def add_pair(self, pair: tuple[str, str] = ("", "")) -> PairRow:
        row = PairRow(self)
        self.rows.append(row)
        self.pairs_layout.insertWidget(len(self.rows) - 1, row)
        _fill(row.input, self._layers, pair[0], CHOOSE)
        _fill(row.output, self._layers, pair[1], CHOOSE)
        self._update_pair_buttons()
        self.store_choices()
        return row

    def remove_pair(self, row: PairRow) -> None:
        if len(self.rows) <= 1:
            return
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self._update_pair_buttons()
        self.store_choices()

    def _update_pair_buttons(self) -> None:
        for row in self.rows:
            row.remove.setEnabled(len(self.rows) > 1)
        self.add_pair_button.setEnabled(len(self.rows) < self.pair_limit())

    def pair_limit(self) -> int:
        """Pairs the server takes: its library size when 'Use closest' is on."""
        info = self.app.info
        if info is None:
            return 8
        if self.select.value() and info.max_pool:
            return info.max_pool
        return info.max_pairs

    def _update_library_status(self) -> None:
        """How many pairs the chosen library gives, or why it gives none (tooltip)."""
        library = _data(self.library)
        if not library:
            self.library_status.setText("")
            self.library_status.setToolTip("")
            return
        try:
            count = len(library_pairs(self._layers, library))
        except InputError as exc:
            self.library_status.setText("not usable")
            self.library_status.setToolTip(str(exc))
            return
        self.library_status.setText(f"{count} pair{'s' if count != 1 else ''}")
        self.library_status.setToolTip("")

    # documents and choices -------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Follow the active document and its layers (called every second)."""
        doc = self.app.document()
        layers = doc.layers() if doc is not None else []
        same_doc = (doc is None and self.doc is None) or (
            doc is not None and self.doc is not None and doc.key() == self.doc.key()
        )
        if same_doc and layers == self._layers and not force:
            return
        self.doc = doc
        self._layers = layers
        self.load_choices()

    def load_choices(self) -> None:
        self._loading = True
        try:
            choices = self.app.choices_for(self.doc) if self.doc is not None else Choices()
            while len(self.rows) > len(choices.pairs):
                row = self.rows.pop()
                row.setParent(None)
                row.deleteLater()
            while len(self.rows) < len(choices.pairs):
                self.add_pair()
            for row, (a, b) in zip(self.rows, choices.pairs, strict=True):
                _fill(row.input, self._layers, a, CHOOSE)
                _fill(row.output, self._layers, b, CHOOSE)
            self._update_pair_buttons()
            _fill(self.query, self._layers, choices.query, "(active layer)")
            self.mask.setCurrentIndex(max(0, self.mask.findData(choices.mask)))
            _fill(self.mask_layer, self._layers, choices.mask_layer, CHOOSE)
            index = self.model.findData(choices.model)
            if index < 0:
                self.model.addItem(choices.model, choices.model)
                index = self.model.count() - 1
            self.model.setCurrentIndex(index)
            self.answer_size.setCurrentIndex(max(0, self.answer_size.findData(choices.answer_size)))
            self.ensemble.setValue(choices.ensemble)
            self.select.setValue(choices.select)
            self.detail.setChecked(choices.detail)
            _fill_library(self.library, self._layers, choices.library)
            self._update_library_status()
            self.mask_layer.setEnabled(choices.mask == "layer")
            self.run_button.setEnabled(self.doc is not None and not self.app.controller.busy)
        finally:
            self._loading = False

    def choices(self) -> Choices:
        return Choices(
            pairs=[(_data(r.input), _data(r.output)) for r in self.rows],
            query=_data(self.query),
            mask=_data(self.mask) or "selection",
            mask_layer=_data(self.mask_layer),
            model=_data(self.model) or "default",
            answer_size=int(self.answer_size.currentData() or 0),
            ensemble=self.ensemble.value(),
            select=self.select.value(),
            library=_data(self.library),
            detail=self.detail.isChecked(),
        )

    def store_choices(self, *_args: object) -> None:
        if self._loading:
            return
        self.mask_layer.setEnabled(_data(self.mask) == "layer")
        self._update_library_status()
        if self.doc is not None:
            self.app.set_choices(self.doc, self.choices())

    def run(self) -> None:
        self.refresh()
        self.store_choices()
        self.app.run(self.doc, self.choices())

    # feedback -------------------------------------------------------------------------
    def show_message(self, text: str, level: str = "info") -> None:
        colour = "#d04040" if level == "error" else ""
        self.message.setStyleSheet(f"color: {colour}" if colour else "")
        self.message.setText(text)

    def _on_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy and self.doc is not None)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self.progress.setRange(0, 0)  # indeterminate until the server reports progress

    def _on_progress(self, value: float) -> None:
        if value > 0:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(value * 100))

    def _on_connection(self, state: str, text: str) -> None:
        marks = {"on": "#40a040", "connecting": "#c0a000", "error": "#d04040"}
        colour = marks.get(state, "#808080")
        self.connection_label.setText(f'<span style="color:{colour}">&#9679;</span> {text}')
        self.connect_button.setEnabled(state != "connecting")
        self.connect_button.setText("Reconnect" if state == "on" else "Connect")
        if state == "error":
            self.show_message(text, "error")

    def _on_info(self, info: ServerInfo | None) -> None:
        if info is None:
            return
        current = _data(self.model)
        self.model.blockSignals(True)
        self.model.clear()
        names = [m.name for m in info.models if m.available] or ["default"]
        for name in names:
            self.model.addItem(name, name)
        if current and self.model.findData(current) < 0:
            self.model.addItem(current, current)
        self.model.setCurrentIndex(max(0, self.model.findData(current or "default")))
        self.model.blockSignals(False)
        self.ensemble.setEnabled(info.ensemble)
        self.select.setEnabled(bool(info.max_pool))
        self._update_pair_buttons()

    def save_settings(self) -> None:
        s = self.app.settings
        s.server_mode = "remote" if self.remote.isChecked() else "local"
        s.remote_url = self.remote_url.text().strip()
        s.remote_token = self.remote_token.text().strip()
        s.backend_path = self.backend_path.text().strip()
        try:
            self.app.save_settings()
        except OSError as exc:
            self.show_message(f"Could not save the settings: {exc}", "error")
            return
        self.app.reconnect()
