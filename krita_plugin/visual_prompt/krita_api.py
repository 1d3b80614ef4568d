"""The only module that calls Krita's document API (besides registration).

``KritaDocument`` adapts a ``krita.Document`` to ``document.DocumentPort``: layers are
named by their unique id, pixels come out as Krita stores them and go in as 8-bit RGBA,
and the answer is added as a new paint layer filled *before* it enters the layer stack,
so the one undoable step is adding it (``setPixelData`` on a layer in the stack would
not be undoable).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from .document import LayerInfo, LayerPixels, Mask, Rect, RgbaImage
from .errors import InputError
from .pixels import PixelFormat, from_rgba8
from .qt import QByteArray

log = logging.getLogger(__name__)

ANNOTATION = "visual_prompt"


def _krita() -> Any:
    from krita import Krita

    return Krita.instance()


def node_id(node: Any) -> str:
    return node.uniqueId().toString()


def _format(node: Any) -> PixelFormat:
    return PixelFormat(node.colorModel(), node.colorDepth(), node.colorProfile() or "")


def _walk(node: Any, level: int = 0, parent: str = "") -> Iterator[tuple[Any, int, str]]:
    """Layers from top to bottom (Krita lists children bottom first), each with its
    nesting level and its parent's id ("" at the top level)."""
    for child in reversed(node.childNodes()):
        if child.type().endswith("mask"):
            continue
        yield child, level, parent
        yield from _walk(child, level + 1, node_id(child))


def active_document() -> KritaDocument | None:
    doc = _krita().activeDocument()
    return KritaDocument(doc) if doc is not None else None


class KritaDocument:
    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self._key = node_id(doc.rootNode())

    def key(self) -> str:
        return self._key

    def is_open(self) -> bool:
        return any(node_id(d.rootNode()) == self._key for d in _krita().documents())

    def bounds(self) -> Rect:
        return Rect(0, 0, self.doc.width(), self.doc.height())

    def layers(self) -> list[LayerInfo]:
        return [
            LayerInfo(node_id(n), n.name(), n.type(), level, parent)
            for n, level, parent in _walk(self.doc.rootNode())
        ]

    def _node(self, layer_id: str) -> Any:
        for node, _level, _parent in _walk(self.doc.rootNode()):
            if node_id(node) == layer_id:
                return node
        return None

    def _require(self, layer_id: str) -> Any:
        node = self._node(layer_id)
        if node is None:
            raise InputError("A chosen layer no longer exists; choose it again.")
        return node

    def active_layer_id(self) -> str | None:
        node = self.doc.activeNode()
        if node is None or node.type().endswith("mask"):
            return None
        return node_id(node)

    def layer_exists(self, layer_id: str) -> bool:
        return self._node(layer_id) is not None

    def layer_bounds(self, layer_id: str) -> Rect:
        r = self._require(layer_id).bounds()
        return Rect(r.x(), r.y(), r.width(), r.height())

    def read_pixels(self, layer_id: str, rect: Rect) -> LayerPixels:
        """The layer as it looks (its masks applied), without opacity or blending."""
        node = self._require(layer_id)
        data = node.projectionPixelData(rect.x, rect.y, rect.width, rect.height)
        return LayerPixels(rect, bytes(data), _format(node))

    def selection(self) -> Mask | None:
        sel = self.doc.selection()
        if sel is None or sel.width() <= 0 or sel.height() <= 0:
            return None
        rect = Rect(sel.x(), sel.y(), sel.width(), sel.height())
        data = bytes(sel.pixelData(rect.x, rect.y, rect.width, rect.height))
        return Mask(rect, data)

    def insert_layer(self, above_id: str, name: str, image: RgbaImage) -> str:
        above = self._require(above_id)
        node = self.doc.createNode(name, "paintlayer")
        r = image.rect
        node.setPixelData(from_rgba8(image.rgba, _format(node)), r.x, r.y, r.width, r.height)
        parent = above.parentNode() or self.doc.rootNode()
        parent.addChildNode(node, above)  # one undoable step
        self.doc.refreshProjection()
        return node_id(node)

    def load_choices(self) -> dict[str, Any] | None:
        raw = self.doc.annotation(ANNOTATION)
        if not raw:
            return None
        try:
            data = json.loads(bytes(raw).decode("utf-8"))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def save_choices(self, data: dict[str, Any]) -> None:
        payload = QByteArray(json.dumps(data).encode("utf-8"))
        self.doc.setAnnotation(ANNOTATION, "Visual Prompt docker choices", payload)
