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
that the model sees what the artist sees; alpha is always linear.

No numpy here (Krita's Python has none), and every conversion is exact: byte slicing
where a channel's bytes are already the answer (U8, U16 with an sRGB curve); a lookup
per value in a table of all 65,536 16-bit codes (U16 linear; F16 by the half-float's
bits); for F32 a lookup by the upper 16 bits plus one step decided over 32-bit lanes of a
Python integer (``_f32_levels``); ``bytes.translate`` per native byte from 8 bits back to
the document's depth; 16-bit lanes for a mask's brightness. Measured in
docs/performance.md ("16- and 32-bit layers in the plugin").
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from functools import cache

from .errors import UnsupportedImageError

DEPTH_BYTES = {"U8": 1, "U16": 2, "F16": 2, "F32": 4}
MODEL_CHANNELS = {"RGBA": 4, "GRAYA": 2}
# values (or pixels) per run of table lookups and integer-lane arithmetic: a few
# milliseconds, the longest the worker thread holds the GIL at a time (``_lookup16``)
_RUN = 1 << 16
_LITTLE_ENDIAN = struct.pack("=H", 1) == b"\x01\x00"


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


def _level(value: float, curve: bool) -> int:
    """One channel value to 8 bits, through the sRGB curve when ``curve``; NaN is 0."""
    if value != value:
        return 0
    return _to_u8(srgb_encode(value) if curve and value > 0.0 else value)


@cache
def _table16(kind: str, curve: bool) -> list[int]:
    """The 8-bit level of every 16-bit code of a U16 channel (``kind`` "U16") or of a
    half float's bits ("F16"), scaled linearly or through the sRGB curve."""
    codes = struct.pack("<65536H", *range(65536))
    if kind == "F16":
        values: tuple[float, ...] = struct.unpack("<65536e", codes)
    else:
        values = tuple(i / 65535.0 for i in range(65536))
    return [_level(v, curve) for v in values]


@cache
def _f32_tables(curve: bool) -> tuple[list[int], list[int], list[int]]:
    """For every upper half of a float32 (sign, exponent, 7 mantissa bits): the level at
    the lowest lower half, and the low and high byte of the last lower half still at that
    level (0xFFFF: all are). Over one upper half a float spans less than one 8-bit level
    (a relative width of 2**-7: at most 0.88 levels on the sRGB curve, 0.996 on a linear
    scale), so one step up is all there can be; building the tables checks it (about
    0.1 s, once)."""
    lows = struct.unpack("<65536f", struct.pack("<131072H", *(h for u in range(65536)
                                                                for h in (0, u))))
    highs = struct.unpack("<65536f", struct.pack("<131072H", *(h for u in range(65536)
                                                                 for h in (0xFFFF, u))))
    base = [_level(v, curve) for v in lows]
    last_at_base = [0xFFFF] * 65536
    for upper in range(65536):
        if upper & 0x7F80 == 0x7F80:  # infinities and NaNs: their lowest half decides
            continue
        top = _level(highs[upper], curve)
        if top == base[upper]:
            continue
        if top != base[upper] + 1:  # pragma: no cover - ruled out by the analysis above
            raise AssertionError(f"float32 bucket {upper:#06x} spans several levels")
        first, last = 1, 0xFFFF  # the smallest lower half at level ``top``
        while first < last:
            middle = (first + last) // 2
            value = struct.unpack("<f", struct.pack("<2H", middle, upper))[0]
            if _level(value, curve) == top:
                last = middle
            else:
                first = middle + 1
        last_at_base[upper] = first - 1
    return base, [v & 0xFF for v in last_at_base], [v >> 8 for v in last_at_base]


def _f32_levels(data: bytes, curve: bool) -> bytes:
    """Little-endian float32 values -> their 8-bit levels (``_level``), exactly.

    The upper half of each float looks up its level and the last lower half at that level
    (``_f32_tables``). One subtraction over 32-bit lanes of a Python integer,
    ``lower + 0xFFFF - last``, leaves 1 in a lane's third byte where the lower half is
    past it (0 elsewhere, no borrow between lanes), and that byte is added to the level.
    """
    base_table, last_low, last_high = _f32_tables(curve)
    out = bytearray(len(data) // 4)
    for start in range(0, len(out), _RUN):  # runs: see ``_lookup16``
        chunk = data[start * 4 : (start + _RUN) * 4]
        count = len(chunk) // 4
        codes = _codes16(_upper_halves(chunk))
        lowers = bytearray(chunk)
        lowers[2::4] = lowers[3::4] = bytes(count)
        lasts = bytearray(count * 4)
        lasts[0::4] = bytes(map(last_low.__getitem__, codes))
        lasts[1::4] = bytes(map(last_high.__getitem__, codes))
        above = (int.from_bytes(lowers, "little")
                 + int.from_bytes(b"\xff\xff\x00\x00" * count, "little")
                 - int.from_bytes(lasts, "little"))
        step = above.to_bytes(count * 4, "little")[2::4]
        base = bytes(map(base_table.__getitem__, codes))
        levels = int.from_bytes(base, "little") + int.from_bytes(step, "little")
        out[start : start + count] = levels.to_bytes(count, "little")
    return bytes(out)


def _codes16(codes: bytes) -> memoryview | array:
    """Little-endian 16-bit codes as a sequence of ints (a memoryview where the host is
    little-endian: iterating one is about twice as fast as an array here)."""
    if _LITTLE_ENDIAN:
        return memoryview(codes).cast("H")
    values = array("H", codes)  # pragma: no cover - big-endian host
    values.byteswap()  # pragma: no cover
    return values  # pragma: no cover


def _lookup16(codes: bytes, table: list[int]) -> bytes:
    """Little-endian 16-bit ``codes`` -> one byte each, ``table[code]``.

    In runs of ``_RUN`` codes: one ``bytes(map(...))`` is a single call that holds the
    GIL until it returns, and the plugin converts on a worker thread while Krita's GUI
    thread may need the GIL for a Python slot (docs/plugin.md)."""
    view = _codes16(codes)
    return b"".join(bytes(map(table.__getitem__, view[start : start + _RUN]))
                    for start in range(0, len(view), _RUN))


def _upper_halves(data: bytes) -> bytes:
    """The upper 16 bits of every little-endian float32, as little-endian 16-bit codes."""
    out = bytearray(len(data) // 2)
    out[0::2] = data[2::4]
    out[1::2] = data[3::4]
    return bytes(out)


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
    if fmt.depth == "U16" and not fmt.linear:
        return bytes(data[1::2])  # v >> 8: exact for values written as b * 257
    colour, alpha = _split_alpha(data, n, DEPTH_BYTES[fmt.depth])
    if fmt.depth == "U16":
        return _join_alpha(_lookup16(colour, _table16("U16", True)), alpha[1::2], n)
    if fmt.depth == "F16":
        levels = _lookup16(colour, _table16("F16", fmt.linear))
    else:
        levels = _f32_levels(colour, fmt.linear)
    return _join_alpha(levels, _alpha_levels(alpha, fmt.depth), n)


def _alpha_levels(alpha: bytes, depth: str) -> bytes:
    """F16 or F32 alpha values -> 8-bit levels, scaled linearly."""
    width = DEPTH_BYTES[depth]
    count = len(alpha) // width
    if count > 1 and alpha == alpha[:width] * count:  # one opacity: opaque layers
        return _alpha_levels(alpha[:width], depth) * count
    if depth == "F16":
        return _lookup16(alpha, _table16("F16", False))
    return _f32_levels(alpha, False)


def _split_alpha(data: bytes, n: int, width: int) -> tuple[bytes, bytes]:
    """Values of ``n`` channels ``width`` bytes wide, alpha last -> (colour, alpha)."""
    pixel, colour_size = n * width, (n - 1) * width
    colour = bytearray(len(data) // pixel * colour_size)
    for k in range(colour_size):
        colour[k::colour_size] = data[k::pixel]
    alpha = bytearray(len(data) // n)
    for k in range(width):
        alpha[k::width] = data[colour_size + k :: pixel]
    return bytes(colour), bytes(alpha)


def _join_alpha(colour: bytes, alpha: bytes, n: int) -> bytes:
    """8-bit colour channels (``n - 1`` a pixel) and alpha -> ``n`` channels a pixel."""
    out = bytearray(len(alpha) * n)
    for k in range(n - 1):
        out[k::n] = colour[k :: n - 1]
    out[n - 1 :: n] = alpha
    return bytes(out)


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
    if fmt.depth == "U16" and not linear:
        out = bytearray(len(data) * 2)  # b * 257 == bytes (b, b) little-endian
        out[0::2] = data
        out[1::2] = data
        return bytes(out)
    if fmt.depth == "U16":
        colour = [struct.pack("<H", round(srgb_decode(i / 255.0) * 65535.0)) for i in range(256)]
        alpha = [struct.pack("<H", i * 257) for i in range(256)]
    else:
        code = "<e" if fmt.depth == "F16" else "<f"
        colour = [struct.pack(code, srgb_decode(i / 255.0) if linear else i / 255.0)
                  for i in range(256)]
        alpha = [struct.pack(code, i / 255.0) for i in range(256)]
    return _widen(data, n, colour, alpha)


def _widen(data: bytes, n: int, colour: list[bytes], alpha: list[bytes]) -> bytes:
    """8-bit channels, ``n`` a pixel with alpha last, to the native bytes that ``colour``
    and ``alpha`` give each 8-bit value: one ``bytes.translate`` per native byte."""
    width = len(colour[0])
    out = bytearray(len(data) * width)
    alphas = data[n - 1 :: n]
    for k in range(width):
        out[k::width] = data.translate(bytes(v[k] for v in colour))
        out[(n - 1) * width + k :: n * width] = alphas.translate(bytes(v[k] for v in alpha))
    return bytes(out)


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


_LUMA_WEIGHTS = (54, 183, 19)  # Rec. 709 in 1/256ths


def luminance(rgba: bytes) -> bytes:
    """Rec. 709 luma of 8-bit RGBA pixels, one byte per pixel (alpha ignored):
    ``(54 r + 183 g + 19 b + 128) >> 8``.

    Computed in 16-bit lanes of one Python integer per run of pixels: each weighted
    channel comes from two ``bytes.translate`` tables (low and high byte of ``w * v``), and
    a lane's sum is at most 65,408, so no lane carries into the next.
    """
    if len(rgba) % 4:
        raise ValueError("RGBA data must have 4 bytes per pixel")
    out = bytearray(len(rgba) // 4)
    for start in range(0, len(out), _RUN):
        band = rgba[start * 4 : (start + _RUN) * 4]
        count = len(band) // 4
        total = int.from_bytes(b"\x80\x00" * count, "little")
        for channel, weight in enumerate(_LUMA_WEIGHTS):
            total += _weighted_lanes(band[channel::4], weight)
        out[start : start + count] = total.to_bytes(count * 2, "little")[1::2]
    return bytes(out)


@cache
def _product_bytes(weight: int) -> tuple[bytes, bytes]:
    """Translate tables to the low and the high byte of ``weight * v``."""
    return (bytes(weight * v & 0xFF for v in range(256)),
            bytes(weight * v >> 8 for v in range(256)))


def _weighted_lanes(values: bytes, weight: int) -> int:
    """``weight * v`` for every byte ``v``, in little-endian 16-bit lanes of one integer."""
    low, high = _product_bytes(weight)
    lanes = bytearray(len(values) * 2)
    lanes[0::2] = values.translate(low)
    lanes[1::2] = values.translate(high)
    return int.from_bytes(lanes, "little")


@cache
def _mask_table() -> list[int]:
    """``round(y * a / 255)`` for the 16-bit code ``y | a << 8``."""
    return [(y * a + 127) // 255 for a in range(256) for y in range(256)]


def mask_from_rgba(rgba: bytes) -> bytes:
    """A one-byte mask from a layer: brightness times opacity.

    White on black and white (or any colour) painted on transparency both work.
    """
    alpha = rgba[3::4]
    grey = luminance(rgba)
    if alpha.count(255) == len(alpha):
        return grey
    if grey.count(255) == len(grey):
        return bytes(alpha)
    codes = bytearray(len(grey) * 2)
    codes[0::2] = grey
    codes[1::2] = alpha
    return _lookup16(bytes(codes), _mask_table())


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
