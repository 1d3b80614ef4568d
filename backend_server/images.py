"""Image decoding and encoding for the wire: base64 PNG in, base64 PNG out.

Dimensions are read from the file header and checked against the pixel limit before
any pixel data is decompressed, so a small file that claims a huge image (a
decompression bomb) is refused cheaply.

Answers are written by ``png_bytes``, not by Pillow: every row "Up"-filtered (the row
above subtracted, one numpy operation) and deflated with zlib's run-length strategy.
Pillow chooses a filter per row and deflates at a full level; on a 4096x3072 answer
that took 3-4x as long for files of about the same size, longer than the prompt itself
(docs/performance.md, "Sending 4k layers"). The Krita plugin writes its PNG files the
same way with the standard library alone (``krita_plugin/visual_prompt/png_writer.py``).
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import zlib

import numpy as np
from PIL import Image

from backend_server.errors import ApiError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Formats Pillow may open. PNG is the documented wire format; JPEG and WebP are
# accepted as a courtesy. Everything else (and Pillow's plugins that call external
# programs) is refused.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None if ``data`` is not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ApiError("bad_image", "truncated or malformed PNG header")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def b64decode(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError("bad_image", f"{field}: not valid base64 ({exc})") from None


def open_image(text: str, field: str, max_pixels: int) -> Image.Image:
    """Open one base64 image field lazily: header read and checked, pixels not decoded."""
    data = b64decode(text, field)
    if not data:
        raise ApiError("bad_image", f"{field}: empty image data")
    size = png_size(data)
    if size is not None:
        check_pixels(size, field, max_pixels)
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        raise ApiError("image_too_large", f"{field}: image has too many pixels") from None
    except Exception as exc:  # Pillow raises many types for bad data
        raise ApiError("bad_image", f"{field}: not a PNG, JPEG or WebP image ({exc})") from None
    check_pixels(image.size, field, max_pixels)
    return image


def load_image(image: Image.Image, field: str) -> Image.Image:
    """Decode the pixels of an image from ``open_image``."""
    try:
        image.load()
    except Image.DecompressionBombError:
        raise ApiError("image_too_large", f"{field}: image has too many pixels") from None
    except Exception as exc:  # truncated or corrupt data; Pillow raises many types
        raise ApiError("bad_image", f"{field}: cannot decode image ({exc})") from None
    return image


def decode_image(text: str, field: str, max_pixels: int) -> Image.Image:
    """Decode one base64 image field into a fully loaded PIL image."""
    return load_image(open_image(text, field, max_pixels), field)


def check_pixels(size: tuple[int, int], field: str, max_pixels: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ApiError("bad_image", f"{field}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ApiError(
            "image_too_large",
            f"{field}: {width}x{height} is {width * height} pixels, the limit is {max_pixels}",
        )


def encode_png(image: Image.Image) -> str:
    """Base64 PNG of an answer (``png_bytes``)."""
    return base64.b64encode(png_bytes(image)).decode("ascii")


# PNG colour types of the 8-bit modes written as they are; others are converted first
COLOUR_TYPES = {"L": 0, "RGB": 2, "RGBA": 6}
UP_FILTER = 2  # PNG filter type: each byte minus the byte above it
# zlib level and strategy: runs and Huffman codes only, which after the Up filter
# compress photographs as well as Pillow's level 1 does, in a third of the time
DEFLATE_LEVEL, DEFLATE_STRATEGY = 1, zlib.Z_RLE


def png_bytes(image: Image.Image) -> bytes:
    """A PNG file of ``image``: 8 bits per channel, grey, RGB or RGBA (other modes are
    converted to RGBA where they carry transparency, else to RGB), no metadata."""
    if image.mode not in COLOUR_TYPES:
        transparent = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if transparent else "RGB")
    pixels = np.asarray(image, dtype=np.uint8)
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = UP_FILTER
    filtered[0, 1:] = rows[0]  # above the first row PNG counts zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8: modulo 256, as PNG
    deflate = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, 15, 9, DEFLATE_STRATEGY)
    data = deflate.compress(filtered) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[image.mode], 0, 0, 0)
    return b"".join((PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", data),
                     _chunk(b"IEND", b"")))


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
