"""PNG encoding and decoding of 8-bit RGBA bytes through QImage (no PIL in Krita)."""

from __future__ import annotations

import base64

from .errors import ServerError
from .qt import QBuffer, QByteArray, QImage, QIODevice, Qt, image_bytes


def _encode(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise ValueError("could not encode PNG")
    buffer.close()
    return bytes(data.data())


def encode_rgba(rgba: bytes, width: int, height: int) -> bytes:
    """PNG bytes of an RGBA image (``width * height * 4`` bytes, not premultiplied)."""
    if len(rgba) != width * height * 4:
        raise ValueError(f"expected {width * height * 4} bytes, got {len(rgba)}")
    image = QImage(rgba, width, height, width * 4, QImage.Format.Format_RGBA8888)
    return _encode(image)


def encode_grey(grey: bytes, width: int, height: int) -> bytes:
    """PNG bytes of a one-byte-per-pixel image (a mask)."""
    if len(grey) != width * height:
        raise ValueError(f"expected {width * height} bytes, got {len(grey)}")
    image = QImage(grey, width, height, width, QImage.Format.Format_Grayscale8)
    return _encode(image)


def decode_rgba(png: bytes) -> tuple[bytes, int, int]:
    """RGBA bytes, width and height of an image file's contents (any format Qt reads)."""
    image = QImage()
    if not image.loadFromData(png):
        raise ServerError("bad_answer", "The server's answer is not a readable image.")
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return image_bytes(image), image.width(), image.height()


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise ServerError("bad_answer", "The server's answer is not valid base64.") from exc


def scale_rgba(rgba: bytes, width: int, height: int, new_width: int, new_height: int) -> bytes:
    """Smoothly rescale RGBA pixels (used when the answer's size differs from the region)."""
    image = QImage(rgba, width, height, width * 4, QImage.Format.Format_RGBA8888)
    scaled = image.scaled(
        new_width,
        new_height,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    ).convertToFormat(QImage.Format.Format_RGBA8888)
    return image_bytes(scaled)
