"""The server's own PNG writer (``backend_server.images.png_bytes``): valid files that
decode to exactly the answer's pixels."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from backend_server.images import PNG_SIGNATURE, png_bytes


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each chunk's CRC checked."""
    assert data.startswith(PNG_SIGNATURE)
    found, at = [], len(PNG_SIGNATURE)
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        found.append((kind, body))
        at += 12 + length
    return found


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=["PNG"])
    image.load()
    return image


def noise(mode: str, width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(Image.new(mode, (1, 1)).getbands())
    shape = (height, width, channels) if channels > 1 else (height, width)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (1, 9), (9, 1), (53, 37)])
def test_pixels_come_back_exactly(mode: str, size: tuple[int, int]) -> None:
    image = noise(mode, *size)
    data = png_bytes(image)
    kinds = [kind for kind, _ in chunks(data)]
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    back = decoded(data)
    assert back.mode == mode and back.size == size
    assert np.array_equal(np.asarray(back), np.asarray(image))


def test_header_says_8_bit_and_the_colour_type() -> None:
    for mode, colour_type in (("L", 0), ("RGB", 2), ("RGBA", 6)):
        header = chunks(png_bytes(noise(mode, 7, 5)))[0][1]
        assert struct.unpack(">IIBBBBB", header) == (7, 5, 8, colour_type, 0, 0, 0)


@pytest.mark.parametrize(("mode", "written"), [("P", "RGB"), ("1", "RGB"), ("LA", "RGBA"),
                                               ("I;16", "RGB"), ("CMYK", "RGB")])
def test_other_modes_are_converted(mode: str, written: str) -> None:
    image = noise("RGB", 20, 11).convert(mode)
    back = decoded(png_bytes(image))
    assert back.mode == written
    assert np.array_equal(np.asarray(back), np.asarray(image.convert(written)))


def test_a_palette_with_transparency_keeps_it() -> None:
    image = noise("RGB", 16, 16).convert("P")
    image.info["transparency"] = image.getpixel((0, 0))
    back = decoded(png_bytes(image))
    assert back.mode == "RGBA"
    assert back.getpixel((0, 0))[3] == 0
    assert np.array_equal(np.asarray(back), np.asarray(image.convert("RGBA")))


def test_smooth_images_are_compressed() -> None:
    ramp = np.tile(np.arange(256, dtype=np.uint8), (256, 1))
    image = Image.fromarray(np.stack([ramp, ramp.T, 255 - ramp], -1))
    data = png_bytes(image)
    assert len(data) < 256 * 256 * 3 / 4
    assert np.array_equal(np.asarray(decoded(data)), np.asarray(image))
