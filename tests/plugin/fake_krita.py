"""A small stand-in for Krita's ``krita`` Python module, enough for the plugin's tests.

Pixels are stored per layer as native bytes of the whole canvas (the document's colour
model and depth, Krita's channel order), so the plugin's conversions are tested against
bytes the tests write independently. Only what the plugin calls is implemented.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import QByteArray, QObject, QRect, QUuid, pyqtSignal
from PyQt5.QtWidgets import QDockWidget

CHANNELS = {"RGBA": 4, "GRAYA": 2}
DEPTH = {"U8": 1, "U16": 2, "F16": 2, "F32": 4}


class Node:
    def __init__(self, doc: Document, name: str, kind: str) -> None:
        self.doc = doc
        self._name = name
        self._type = kind
        self._uuid = QUuid.createUuid()
        self._parent: Node | None = None
        self._children: list[Node] = []
        self.data = bytearray(doc.pixel_size * doc._w * doc._h)
        self.set_pixel_calls = 0

    # identity and tree
    def name(self) -> str:
        return self._name

    def setName(self, name: str) -> None:
        self._name = name

    def type(self) -> str:
        return self._type

    def uniqueId(self) -> QUuid:
        return self._uuid

    def parentNode(self) -> Node | None:
        return self._parent

    def childNodes(self) -> list[Node]:
        return list(self._children)

    def addChildNode(self, child: Node, above: Node | None) -> bool:
        index = self._children.index(above) + 1 if above in self._children else 0
        self._children.insert(index, child)
        child._parent = self
        self.doc.undo_stack.append(("add", child))
        return True

    def remove(self) -> bool:
        if self._parent is not None:
            self._parent._children.remove(self)
            self._parent = None
        return True

    # colour space
    def colorModel(self) -> str:
        return self.doc._model

    def colorDepth(self) -> str:
        return self.doc._depth

    def colorProfile(self) -> str:
        return self.doc._profile

    # pixels
    def _alpha_plane(self) -> bytes:
        """One byte per pixel, non-zero where the pixel's alpha is."""
        size = self.doc.pixel_size
        planes = [bytes(self.data[k::size])
                  for k in range(size - DEPTH[self.doc._depth], size)]
        merged = 0
        for plane in planes:
            merged |= int.from_bytes(plane, "big")
        return merged.to_bytes(len(planes[0]), "big")

    def bounds(self) -> QRect:
        w, h = self.doc._w, self.doc._h
        alpha = self._alpha_plane()
        top = bottom = -1
        left, right = w, -1
        for y in range(h):
            row = alpha[y * w : (y + 1) * w]
            rest = row.lstrip(b"\0")
            if not rest:
                continue
            top = y if top < 0 else top
            bottom = y
            left = min(left, w - len(rest))
            right = max(right, len(row.rstrip(b"\0")) - 1)
        if top < 0:
            return QRect()
        return QRect(left, top, right - left + 1, bottom - top + 1)

    def _overlap(self, x: int, y: int, w: int, h: int) -> tuple[range, int, int]:
        """Rows of the document that the rectangle covers, and its columns' span in it."""
        x0, x1 = max(x, 0), min(x + w, self.doc._w)
        return range(max(y, 0), min(y + h, self.doc._h)), x0, x1

    def pixelData(self, x: int, y: int, w: int, h: int) -> QByteArray:
        size = self.doc.pixel_size
        out = bytearray(w * h * size)
        rows, x0, x1 = self._overlap(x, y, w, h)
        run = max(0, x1 - x0) * size
        for row in rows:
            src = (row * self.doc._w + x0) * size
            dst = ((row - y) * w + x0 - x) * size
            out[dst : dst + run] = self.data[src : src + run]
        return QByteArray(bytes(out))

    def projectionPixelData(self, x: int, y: int, w: int, h: int) -> QByteArray:
        return self.pixelData(x, y, w, h)

    def setPixelData(self, data: Any, x: int, y: int, w: int, h: int) -> bool:
        raw = bytes(data)
        size = self.doc.pixel_size
        assert len(raw) == w * h * size, "setPixelData: wrong byte count"
        self.set_pixel_calls += 1
        if self._parent is not None:
            self.doc.non_undoable_writes += 1
        rows, x0, x1 = self._overlap(x, y, w, h)
        run = max(0, x1 - x0) * size
        for row in rows:
            dst = (row * self.doc._w + x0) * size
            src = ((row - y) * w + x0 - x) * size
            self.data[dst : dst + run] = raw[src : src + run]
        return True


class Selection:
    def __init__(self, x: int, y: int, w: int, h: int, data: bytes) -> None:
        self._rect = (x, y, w, h)
        self._data = data

    def x(self) -> int:
        return self._rect[0]

    def y(self) -> int:
        return self._rect[1]

    def width(self) -> int:
        return self._rect[2]

    def height(self) -> int:
        return self._rect[3]

    def pixelData(self, x: int, y: int, w: int, h: int) -> QByteArray:
        sx, sy, sw, sh = self._rect
        out = bytearray(w * h)
        x0, x1 = max(x, sx), min(x + w, sx + sw)
        for row in range(max(y, sy), min(y + h, sy + sh)):
            if x0 < x1:
                src = (row - sy) * sw + x0 - sx
                dst = (row - y) * w + x0 - x
                out[dst : dst + x1 - x0] = self._data[src : src + x1 - x0]
        return QByteArray(bytes(out))


class Document:
    def __init__(self, w: int, h: int, model: str = "RGBA", depth: str = "U8", profile: str = ""):
        self._w, self._h = w, h
        self._model, self._depth = model, depth
        self._profile = profile
        self.pixel_size = CHANNELS[model] * DEPTH[depth]
        self._root = Node(self, "root", "grouplayer")
        self._active: Node | None = None
        self._selection: Selection | None = None
        self._annotations: dict[str, QByteArray] = {}
        self.undo_stack: list[tuple[str, Node]] = []
        self.non_undoable_writes = 0

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h

    def resize(self, w: int, h: int) -> None:
        self._w, self._h = w, h

    def rootNode(self) -> Node:
        return self._root

    def createNode(self, name: str, kind: str) -> Node:
        return Node(self, name, kind)

    def activeNode(self) -> Node | None:
        return self._active

    def setActiveNode(self, node: Node) -> None:
        self._active = node

    def selection(self) -> Selection | None:
        return self._selection

    def setSelection(self, selection: Selection | None) -> None:
        self._selection = selection

    def annotation(self, kind: str) -> QByteArray:
        return self._annotations.get(kind, QByteArray())

    def setAnnotation(self, kind: str, _description: str, data: QByteArray) -> None:
        self._annotations[kind] = QByteArray(data)

    def refreshProjection(self) -> None:
        pass

    def colorModel(self) -> str:
        return self._model

    def colorDepth(self) -> str:
        return self._depth

    def nodeByName(self, name: str) -> Node | None:
        stack = list(self._root._children)
        while stack:
            node = stack.pop()
            if node.name() == name:
                return node
            stack.extend(node._children)
        return None


class Notifier(QObject):
    applicationClosing = pyqtSignal()

    def setActive(self, _active: bool) -> None:
        pass


class Krita:
    _instance: Krita | None = None

    def __init__(self) -> None:
        self._documents: list[Document] = []
        self._active: Document | None = None
        self.extensions: list[Any] = []
        self.dock_factories: list[Any] = []
        self._notifier = Notifier()

    @classmethod
    def instance(cls) -> Krita:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def documents(self) -> list[Document]:
        return list(self._documents)

    def activeDocument(self) -> Document | None:
        return self._active

    def setActiveDocument(self, doc: Document | None) -> None:
        self._active = doc

    def createDocument(
        self, w: int, h: int, _name: str, model: str, depth: str, profile: str, _res: float
    ) -> Document:
        doc = Document(w, h, model, depth, profile)
        self._documents.append(doc)
        return doc

    def closeDocument(self, doc: Document) -> None:
        self._documents.remove(doc)
        if self._active is doc:
            self._active = None

    def addExtension(self, extension: Any) -> None:
        self.extensions.append(extension)

    def addDockWidgetFactory(self, factory: Any) -> None:
        self.dock_factories.append(factory)

    def notifier(self) -> Notifier:
        return self._notifier


class Extension(QObject):
    def __init__(self, parent: Any = None) -> None:
        super().__init__()


class DockWidget(QDockWidget):
    def canvasChanged(self, canvas: Any) -> None:
        pass


class DockWidgetFactoryBase:
    DockRight = 1

    class DockPosition:
        DockRight = 1


class DockWidgetFactory(DockWidgetFactoryBase):
    def __init__(self, ident: str, position: int, cls: type) -> None:
        self.ident, self.position, self.cls = ident, position, cls

    def id(self) -> str:
        return self.ident

    def createDockWidget(self) -> Any:
        return self.cls()
