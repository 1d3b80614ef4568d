"""PNG encoding (``png_writer``, standard library) and decoding (QImage) of 8-bit RGBA
bytes: no PIL in Krita."""

from __future__ import annotations

import base64

from . import png_writer
from .errors import ServerError
from .qt import QImage, Qt, image_bytes


def encode_rgba(rgba: bytes, width: int, height: int) -> bytes:
    """PNG bytes of an RGBA image (``width * height * 4`` bytes, not premultiplied); an
    RGB file where every pixel is opaque (a quarter smaller, and the same pixels)."""
    if len(rgba) != width * height * 4:
        raise ValueError(f"expected {width * height * 4} bytes, got {len(rgba)}")
    if png_writer.is_opaque(rgba):
        return png_writer.png_file(png_writer.rgb_of_rgba(rgba), width, height, png_writer.RGB)
    return png_writer.png_file(rgba, width, height, png_writer.RGBA)


def encode_grey(grey: bytes, width: int, height: int) -> bytes:
    """PNG bytes of a one-byte-per-pixel image (a mask)."""
    if len(grey) != width * height:
        raise ValueError(f"expected {width * height} bytes, got {len(grey)}")
    return png_writer.png_file(grey, width, height, png_writer.GREY)


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
