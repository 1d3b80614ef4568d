"""Image decoding and encoding for the wire: base64 PNG in, base64 PNG out.

Dimensions are read from the file header and checked against the pixel limit before
any pixel data is decompressed, so a small file that claims a huge image (a
decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct

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
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
