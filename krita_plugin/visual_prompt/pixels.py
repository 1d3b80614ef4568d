"""Conversion between Krita's native pixel bytes and 8-bit RGBA, in plain Python.

Krita hands out pixel data in the layer's colour space:

========  ===============================  ===================================
depth     RGBA model                        GRAYA model
========  ===============================  ===================================
U8        bytes B, G, R, A                  bytes Y, A
U16       little-endian uint16 B, G, R, A   little-endian uint16 Y, A
F16       little-endian half R, G, B, A     little-endian half Y, A
F32       little-endian float R, G, B, A    little-endian float Y, A
========  ===============================  ===================================

Colour channels of profiles with a linear tone curve (``*-g10.icc``, "linear", scRGB;
Krita's default for 16/32-bit documents) are converted to and from the sRGB curve so
that the model sees what the artist sees; alpha is always linear. No numpy here:
conversions use byte slicing, ``struct`` and lookup tables so that a megapixel layer
converts in well under a second.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from .errors import UnsupportedImageError

DEPTH_BYTES = {"U8": 1, "U16": 2, "F16": 2, "F32": 4}
MODEL_CHANNELS = {"RGBA": 4, "GRAYA": 2}
_FLOAT_LUT_SIZE = 16384


@dataclass(frozen=True)
class PixelFormat:
    """A Krita colour space as far as pixel bytes are concerned."""

    model: str = "RGBA"
    depth: str = "U8"
    profile: str = ""

    def check(self) -> None:
        if self.model not in MODEL_CHANNELS:
            raise UnsupportedImageError(
                f"Colour model {self.model} is not supported: convert the image to RGB or "
                "greyscale (Image > Convert Image Color Space)."
            )
        if self.depth not in DEPTH_BYTES:
            raise UnsupportedImageError(f"Channel depth {self.depth} is not supported.")

    @property
    def channels(self) -> int:
        return MODEL_CHANNELS[self.model]

    @property
    def pixel_size(self) -> int:
        return self.channels * DEPTH_BYTES[self.depth]

    @property
    def linear(self) -> bool:
        """True when the profile's tone curve is linear (gamma 1.0)."""
        name = self.profile.lower()
        return "g10" in name or "linear" in name or "scrgb" in name


def srgb_encode(linear: float) -> float:
    """Linear light 0..1 to the sRGB curve 0..1."""
    if linear <= 0.0031308:
        return 12.92 * linear
    return 1.055 * linear ** (1 / 2.4) - 0.055


def srgb_decode(encoded: float) -> float:
    """sRGB curve 0..1 to linear light 0..1."""
    if encoded <= 0.04045:
        return encoded / 12.92
    return ((encoded + 0.055) / 1.055) ** 2.4


def _to_u8(value: float) -> int:
    if not value > 0.0:  # also catches NaN
        return 0
    if value >= 1.0:
        return 255
    return int(value * 255.0 + 0.5)


_U16_TO_SRGB8: bytes | None = None
_FLOAT_TO_SRGB8: bytes | None = None


def _u16_gamma_table() -> bytes:
    global _U16_TO_SRGB8
    if _U16_TO_SRGB8 is None:
        _U16_TO_SRGB8 = bytes(_to_u8(srgb_encode(i / 65535.0)) for i in range(65536))
    return _U16_TO_SRGB8


def _float_gamma_table() -> bytes:
    global _FLOAT_TO_SRGB8
    if _FLOAT_TO_SRGB8 is None:
        top = _FLOAT_LUT_SIZE - 1
        _FLOAT_TO_SRGB8 = bytes(_to_u8(srgb_encode(i / top)) for i in range(_FLOAT_LUT_SIZE))
    return _FLOAT_TO_SRGB8


def _floats_linear_to_u8(values: tuple[float, ...] | array) -> bytes:
    table = _float_gamma_table()
    top = _FLOAT_LUT_SIZE - 1
    out = bytearray(len(values))
    for i, v in enumerate(values):
        if not v > 0.0:
            continue
        out[i] = 255 if v >= 1.0 else table[int(v * top + 0.5)]
    return bytes(out)


def _unpack(data: bytes, depth: str) -> tuple[float, ...] | array:
    if depth == "F16":
        return struct.unpack(f"<{len(data) // 2}e", data)
    if depth == "F32":
        return struct.unpack(f"<{len(data) // 4}f", data)
    values = array("H", data)
    if values.itemsize != 2:  # pragma: no cover - every CPython has a 2-byte "H"
        raise UnsupportedImageError("this Python has no 16-bit array type")
    if struct.pack("=H", 1) != b"\x01\x00":  # pragma: no cover - big-endian host
        values.byteswap()
    return values


def _channels_to_u8(data: bytes, fmt: PixelFormat) -> bytes:
    """Every channel to 8 bits, keeping the native channel order.

    Colour channels follow the sRGB curve afterwards; the last channel (alpha) is scaled
    linearly.
    """
    n = fmt.channels
    if fmt.depth == "U8":
        if not fmt.linear:
            return bytes(data)
        table = bytes(_to_u8(srgb_encode(i / 255.0)) for i in range(256))
        out = bytearray(data.translate(table))
        out[n - 1 :: n] = data[n - 1 :: n]
        return bytes(out)
    if fmt.depth == "U16":
        high = data[1::2]  # v >> 8: exact for values written as b * 257
        if not fmt.linear:
            return bytes(high)
        values = _unpack(data, "U16")
        out = bytearray(map(_u16_gamma_table().__getitem__, values))
        out[n - 1 :: n] = high[n - 1 :: n]
        return bytes(out)
    values = _unpack(data, fmt.depth)
    if fmt.linear:
        out = bytearray(_floats_linear_to_u8(values))
        out[n - 1 :: n] = bytes(map(_to_u8, values[n - 1 :: n]))
        return bytes(out)
    return bytes(map(_to_u8, values))


def to_rgba8(data: bytes, fmt: PixelFormat) -> bytes:
    """Native Krita pixel bytes to 8-bit R, G, B, A bytes (not premultiplied)."""
    fmt.check()
    if len(data) % fmt.pixel_size:
        raise UnsupportedImageError(
            f"pixel data of {len(data)} bytes does not fit {fmt.model}/{fmt.depth}"
        )
    chans = _channels_to_u8(data, fmt)
    if fmt.model == "GRAYA":
        grey, alpha = chans[0::2], chans[1::2]
        out = bytearray(len(grey) * 4)
        out[0::4] = grey
        out[1::4] = grey
        out[2::4] = grey
        out[3::4] = alpha
        return bytes(out)
    if fmt.depth in ("U8", "U16"):  # B, G, R, A
        return swap_red_blue(chans)
    return chans


def swap_red_blue(data: bytes) -> bytes:
    """B,G,R,A <-> R,G,B,A."""
    out = bytearray(data)
    out[0::4] = data[2::4]
    out[2::4] = data[0::4]
    return bytes(out)


def _u8_to_native_values(data: bytes, fmt: PixelFormat) -> bytes:
    """8-bit channels (colour on the sRGB curve, alpha last) to native bytes."""
    n = fmt.channels
    linear = fmt.linear
    if fmt.depth == "U8":
        if not linear:
            return bytes(data)
        table = bytes(_to_u8(srgb_decode(i / 255.0)) for i in range(256))
        out = bytearray(data.translate(table))
        out[n - 1 :: n] = data[n - 1 :: n]
        return bytes(out)
    if fmt.depth == "U16":
        if not linear:
            out = bytearray(len(data) * 2)  # b * 257 == bytes (b, b) little-endian
            out[0::2] = data
            out[1::2] = data
            return bytes(out)
        table = [round(srgb_decode(i / 255.0) * 65535.0) for i in range(256)]
        values = array("H", map(table.__getitem__, data))
        values[n - 1 :: n] = array("H", (b * 257 for b in data[n - 1 :: n]))
        if struct.pack("=H", 1) != b"\x01\x00":  # pragma: no cover - big-endian host
            values.byteswap()
        return values.tobytes()
    ftable = [srgb_decode(i / 255.0) if linear else i / 255.0 for i in range(256)]
    floats = list(map(ftable.__getitem__, data))
    floats[n - 1 :: n] = [b / 255.0 for b in data[n - 1 :: n]]
    code = "e" if fmt.depth == "F16" else "f"
    return struct.pack(f"<{len(floats)}{code}", *floats)


def from_rgba8(rgba: bytes, fmt: PixelFormat) -> bytes:
    """8-bit R, G, B, A bytes to native Krita pixel bytes of ``fmt``."""
    fmt.check()
    if len(rgba) % 4:
        raise UnsupportedImageError("RGBA data must have 4 bytes per pixel")
    if fmt.model == "GRAYA":
        chans = bytearray(len(rgba) // 2)
        chans[0::2] = luminance(rgba)
        chans[1::2] = rgba[3::4]
    elif fmt.depth in ("U8", "U16"):
        chans = bytearray(swap_red_blue(rgba))
    else:
        chans = bytearray(rgba)
    return _u8_to_native_values(bytes(chans), fmt)


def luminance(rgba: bytes) -> bytes:
    """Rec. 709 luma of 8-bit RGBA pixels, one byte per pixel (alpha ignored)."""
    r, g, b = rgba[0::4], rgba[1::4], rgba[2::4]
    return bytes((54 * x + 183 * y + 19 * z + 128) >> 8 for x, y, z in zip(r, g, b, strict=True))


def mask_from_rgba(rgba: bytes) -> bytes:
    """A one-byte mask from a layer: brightness times opacity.

    White on black and white (or any colour) painted on transparency both work.
    """
    alpha = rgba[3::4]
    return bytes((y * a + 127) // 255 for y, a in zip(luminance(rgba), alpha, strict=True))


def with_alpha(rgba: bytes, alpha: bytes) -> bytes:
    """Replace the alpha channel of RGBA pixels with ``alpha`` (one byte per pixel)."""
    if len(alpha) * 4 != len(rgba):
        raise ValueError("mask and image sizes differ")
    out = bytearray(rgba)
    out[3::4] = alpha
    return bytes(out)


def crop_rgba(rgba: bytes, width: int, x: int, y: int, w: int, h: int) -> bytes:
    """The ``w`` x ``h`` rectangle at ``x``, ``y`` of an RGBA image ``width`` wide."""
    stride = width * 4
    rows = (rgba[(y + j) * stride + x * 4 : (y + j) * stride + (x + w) * 4] for j in range(h))
    return b"".join(rows)
