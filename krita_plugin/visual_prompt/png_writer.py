"""PNG files of 8-bit pixels, written with the standard library alone.

Qt's PNG writer chooses a filter for every row and deflates at a full level: a
photograph-like 4096x3072 layer took it about 5 s as RGBA, on Krita's GUI thread, and
this writer 0.9 s (docs/performance.md, "Sending 4k layers"). This writer filters
every row the same way, "Up" (each byte minus the byte above it), and deflates with
zlib's run-length strategy at level 1: the files are about as small.

The Up filter is a byte-wise subtraction modulo 256 of two rows. Without numpy it is
done on whole bands of rows as Python integers, eight bits a lane ("SIMD within a
register"): with ``H`` the top bit of every byte and ``L`` the other seven,

    (a - b) mod 256, per byte  =  ((a | H) - (b & L))  ^  (~(a ^ b) & H)

The first term cannot borrow across bytes (each byte of ``a | H`` is at least 0x80,
each byte of ``b & L`` at most 0x7F); the second puts back the top bit of each
difference.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, RGBA = 0, 2, 6  # PNG colour types
CHANNELS = {GREY: 1, RGB: 3, RGBA: 4}
UP_FILTER = b"\x02"
# zlib level and strategy: runs and Huffman codes only (after the Up filter, a
# photograph compresses about as well as with Qt's default, in a fraction of the time)
DEFLATE_LEVEL, DEFLATE_STRATEGY = 1, zlib.Z_RLE
BAND_BYTES = 1 << 22  # rows are filtered and deflated about 4 MiB at a time


def png_file(pixels: bytes, width: int, height: int, colour_type: int) -> bytes:
    """A PNG file of ``pixels``: ``height`` rows of ``width`` pixels, 8 bits per channel,
    channels as ``colour_type`` says (GREY, RGB or RGBA), no metadata."""
    if colour_type not in CHANNELS:
        raise ValueError(f"unknown colour type {colour_type}")
    if width < 1 or height < 1:
        raise ValueError(f"an image needs pixels, got {width}x{height}")
    stride = width * CHANNELS[colour_type]
    if len(pixels) != stride * height:
        raise ValueError(f"expected {stride * height} bytes, got {len(pixels)}")
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join((SIGNATURE, _chunk(b"IHDR", header),
                     _chunk(b"IDAT", _deflated_rows(memoryview(pixels), stride, height)),
                     _chunk(b"IEND", b"")))


def rgb_of_rgba(rgba: bytes) -> bytes:
    """The colour bytes of RGBA pixels, alpha left out."""
    rgb = bytearray(len(rgba) // 4 * 3)
    for channel in range(3):
        rgb[channel::3] = rgba[channel::4]
    return bytes(rgb)


def is_opaque(rgba: bytes) -> bool:
    """Every pixel of the RGBA bytes has alpha 255."""
    return rgba[3::4] == b"\xff" * (len(rgba) // 4)


def _deflated_rows(pixels: memoryview, stride: int, height: int) -> bytes:
    """The zlib stream of the image data: each row the Up filter's type byte, then the
    row minus the row above it (zeros above the first)."""
    deflate = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, 15, 9, DEFLATE_STRATEGY)
    band = max(1, BAND_BYTES // stride)
    parts = []
    for top in range(0, height, band):
        rows = min(band, height - top)
        below = pixels[top * stride:(top + rows) * stride]
        above = (pixels[(top - 1) * stride:(top + rows - 1) * stride] if top
                 else bytes(stride) + pixels[:(rows - 1) * stride])
        parts.append(deflate.compress(_with_filter_bytes(_bytewise_difference(below, above),
                                                         stride, rows)))
    parts.append(deflate.flush())
    return b"".join(parts)


def _bytewise_difference(a: bytes | memoryview, b: bytes | memoryview) -> bytes:
    """(a - b) modulo 256 for every byte of two equally long byte strings (module doc)."""
    size = len(a)
    high = int.from_bytes(b"\x80" * size, "big")
    low = int.from_bytes(b"\x7f" * size, "big")
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return (((x | high) - (y & low)) ^ (~(x ^ y) & high)).to_bytes(size, "big")


def _with_filter_bytes(filtered: bytes, stride: int, rows: int) -> bytearray:
    """``rows`` rows of ``stride`` filtered bytes, each after its filter type byte."""
    out = bytearray(rows * (stride + 1))
    out[0::stride + 1] = UP_FILTER * rows
    for row in range(rows):
        start = row * (stride + 1) + 1
        out[start:start + stride] = filtered[row * stride:(row + 1) * stride]
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
