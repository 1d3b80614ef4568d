"""Plain types between the docker's logic and the Krita API adapter (``krita_api``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .pixels import PixelFormat, to_rgba8


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def intersected(self, other: Rect) -> Rect:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1 = min(self.x + self.width, other.x + other.width)
        y1 = min(self.y + self.height, other.y + other.height)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def united(self, other: Rect) -> Rect:
        if self.empty:
            return other
        if other.empty:
            return self
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.width, other.x + other.width)
        y1 = max(self.y + self.height, other.y + other.height)
        return Rect(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True)
class LayerInfo:
    id: str
    name: str
    kind: str = "paintlayer"
    level: int = 0  # nesting depth, for indenting names in the lists
    parent: str = ""  # the id of the group holding it; "" = at the top level


@dataclass(frozen=True)
class RgbaImage:
    """8-bit R, G, B, A pixels of ``rect`` (not premultiplied)."""

    rect: Rect
    rgba: bytes


@dataclass(frozen=True)
class LayerPixels:
    """A layer's pixels of ``rect`` as Krita stores them (a copy, in ``fmt``'s layout).

    Reading them is Krita's work on the GUI thread; ``rgba()`` is plain Python on bytes
    and may run on any thread."""

    rect: Rect
    data: bytes
    fmt: PixelFormat

    def rgba(self) -> RgbaImage:
        return RgbaImage(self.rect, to_rgba8(self.data, self.fmt))


@dataclass(frozen=True)
class Mask:
    """One byte per pixel of ``rect``: 0 = outside, 255 = fully inside."""

    rect: Rect
    data: bytes


class DocumentPort(Protocol):
    """What the docker needs from a Krita document. ``krita_api.KritaDocument`` is the
    real one; tests use a fake. Every method runs on the GUI thread."""

    def key(self) -> str: ...

    def is_open(self) -> bool: ...

    def bounds(self) -> Rect: ...

    def layers(self) -> list[LayerInfo]:
        """Every layer (masks excluded), top to bottom, a group followed by its
        children; ``parent`` links a child to its group."""
        ...

    def active_layer_id(self) -> str | None: ...

    def layer_exists(self, layer_id: str) -> bool: ...

    def layer_bounds(self, layer_id: str) -> Rect: ...

    def read_pixels(self, layer_id: str, rect: Rect) -> LayerPixels: ...

    def selection(self) -> Mask | None: ...

    def insert_layer(self, above_id: str, name: str, image: RgbaImage) -> str: ...

    def load_choices(self) -> dict[str, Any] | None: ...

    def save_choices(self, data: dict[str, Any]) -> None: ...
