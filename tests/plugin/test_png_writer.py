"""The plugin's PNG writer: files that Qt (the plugin) and Pillow (the server) decode to
exactly the pixels written."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image
from visual_prompt import png, png_writer


def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def header(data: bytes) -> tuple[int, ...]:
    assert data[:8] == png_writer.SIGNATURE and data[12:16] == b"IHDR"
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])
    return struct.unpack(">IIBBBBB", data[16:29])


def pillow(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=["PNG"])
    image.load()
    return image


def test_bytewise_difference_is_modulo_256_in_every_byte() -> None:
    a, b = random_bytes(4099, 1), random_bytes(4099, 2)
    edges = bytes([0, 0, 255, 255, 128, 127, 1, 0])
    a, b = a + edges, b + bytes([0, 255, 0, 255, 127, 128, 0, 1])
    expected = bytes((x - y) % 256 for x, y in zip(a, b))
    assert png_writer._bytewise_difference(a, b) == expected


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (7, 1), (61, 43)])
def test_rgba_with_transparency_comes_back_exactly(size: tuple[int, int]) -> None:
    w, h = size
    rgba = bytearray(random_bytes(w * h * 4))
    rgba[3] = 0  # at least one pixel transparent
    data = png.encode_rgba(bytes(rgba), w, h)
    assert header(data) == (w, h, 8, png_writer.RGBA, 0, 0, 0)
    assert png.decode_rgba(data) == (bytes(rgba), w, h)
    assert pillow(data).tobytes() == bytes(rgba)


def test_opaque_pixels_are_written_as_rgb() -> None:
    w, h = 37, 23
    rgba = bytearray(random_bytes(w * h * 4))
    rgba[3::4] = b"\xff" * (w * h)
    data = png.encode_rgba(bytes(rgba), w, h)
    assert header(data)[3] == png_writer.RGB
    assert png.decode_rgba(data) == (bytes(rgba), w, h)
    assert pillow(data).mode == "RGB"
    assert pillow(data).tobytes() == png_writer.rgb_of_rgba(bytes(rgba))


def test_grey_masks_come_back_exactly() -> None:
    grey = random_bytes(30 * 20)
    data = png.encode_grey(grey, 30, 20)
    assert header(data)[3] == png_writer.GREY
    image = pillow(data)
    assert image.mode == "L" and image.tobytes() == grey


def test_rows_are_the_same_across_band_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    w, h = 13, 29
    rgba = random_bytes(w * h * 4, 3)
    whole = png.encode_rgba(rgba, w, h)
    monkeypatch.setattr(png_writer, "BAND_BYTES", w * 4 * 3)  # bands of 3 rows
    banded = png.encode_rgba(rgba, w, h)
    assert pillow(banded).tobytes() == rgba
    assert zlib.decompress(banded[41:-16]) == zlib.decompress(whole[41:-16])


def test_smooth_layers_are_compressed() -> None:
    w, h = 256, 64
    rgba = b"".join(bytes([x, y, 100, 255]) for y in range(h) for x in range(w))
    data = png.encode_rgba(rgba, w, h)
    assert len(data) < w * h * 3 / 4
    assert png.decode_rgba(data) == (rgba, w, h)


@pytest.mark.parametrize(("pixels", "w", "h", "colour"), [
    (b"\x00" * 11, 2, 2, png_writer.RGB),  # 12 bytes expected
    (b"", 0, 3, png_writer.GREY),
    (b"\x00" * 4, 2, 2, 3),  # a palette: not written here
])
def test_bad_input_is_refused(pixels: bytes, w: int, h: int, colour: int) -> None:
    with pytest.raises(ValueError):
        png_writer.png_file(pixels, w, h, colour)
