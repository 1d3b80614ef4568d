"""Fake Krita documents for the plugin tests."""

from __future__ import annotations

import fake_krita
from plugin_support import native_pixel


def fill(node: fake_krita.Node, x: int, y: int, w: int, h: int, pixel: bytes) -> None:
    node.setPixelData(pixel * (w * h), x, y, w, h)


def make_document(
    krita: fake_krita.Krita, depth: str = "U8", model: str = "RGBA", w: int = 48, h: int = 32
) -> fake_krita.Document:
    """Background, example input (red square), example output (blue square) and the
    query (a red square elsewhere), bottom to top; the query is active."""
    doc = krita.createDocument(w, h, "test", model, depth, "", 72.0)
    root = doc.rootNode()
    layers = {}
    for name in ("background", "example in", "example out", "query"):
        node = doc.createNode(name, "paintlayer")
        root.addChildNode(node, root.childNodes()[-1] if root.childNodes() else None)
        layers[name] = node
    fill(layers["background"], 0, 0, w, h, native_pixel(doc, 255, 255, 255))
    fill(layers["example in"], 2, 2, 12, 12, native_pixel(doc, 200, 30, 30))
    fill(layers["example out"], 2, 2, 12, 12, native_pixel(doc, 30, 30, 200))
    fill(layers["query"], 20, 4, 20, 20, native_pixel(doc, 200, 30, 30))
    doc.undo_stack.clear()
    doc.non_undoable_writes = 0
    doc.setActiveNode(layers["query"])
    krita.setActiveDocument(doc)
    return doc


def select(doc: fake_krita.Document, x: int, y: int, w: int, h: int, value: int = 255) -> None:
    doc.setSelection(fake_krita.Selection(x, y, w, h, bytes([value]) * (w * h)))
