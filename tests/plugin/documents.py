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


def add_node(
    doc: fake_krita.Document, parent: fake_krita.Node, name: str, kind: str = "paintlayer"
) -> fake_krita.Node:
    """A new layer on top of ``parent``'s children."""
    node = doc.createNode(name, kind)
    children = parent.childNodes()
    parent.addChildNode(node, children[-1] if children else None)
    return node


# Three pair groups and their layers, bottom first (Krita's order): two unnamed layers
# (by position), the "in"/"out" endings beside a note layer, "input"/"output" names.
LIBRARY_PAIRS = [
    ("by position", [("lower", (0, 200, 0)), ("upper", (0, 100, 0))]),
    ("short names", [("note", None), ("Cat_In", (200, 30, 30)), ("cat-out", (30, 30, 200))]),
    ("full names", [("output", (250, 250, 0)), ("input", (0, 0, 250))]),
]


def add_library(
    doc: fake_krita.Document,
    name: str = "library",
    pairs: list[tuple[str, list[tuple[str, tuple[int, int, int] | None]]]] | None = None,
) -> fake_krita.Node:
    """A library group on top of the document: one group per pair, its layers listed
    bottom first; each painted layer is a 6 x 6 square at (2, 18) (None: left empty)."""
    library = add_node(doc, doc.rootNode(), name, "grouplayer")
    for group_name, layers in LIBRARY_PAIRS if pairs is None else pairs:
        group = add_node(doc, library, group_name, "grouplayer")
        for layer_name, colour in layers:
            node = add_node(doc, group, layer_name)
            if colour is not None:
                fill(node, 2, 18, 6, 6, native_pixel(doc, *colour))
    doc.undo_stack.clear()
    doc.non_undoable_writes = 0
    return library
