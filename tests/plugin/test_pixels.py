"""Native Krita pixel bytes <-> 8-bit RGBA, checked against bytes read from real Krita."""

from __future__ import annotations

import struct

import pytest
from visual_prompt import pixels
from visual_prompt.errors import UnsupportedImageError
from visual_prompt.pixels import PixelFormat

# One pixel R=50, G=100, B=200, A=255 as Krita 5.1.5 stores it after converting an 8-bit
# sRGB document to each colour space (probed with kritarunner; linear "g10" profiles).
KRITA_BYTES = {
    ("RGBA", "U16", "sRGB-elle-V2-g10.icc"): struct.pack("<4H", 37852, 8352, 2091, 65535),
    ("RGBA", "F16", "sRGB-elle-V2-g10.icc"): bytes([21, 40, 20, 48, 158, 56, 0, 60]),
    ("RGBA", "F32", "sRGB-elle-V2-g10.icc"): struct.pack(
        "<4f", 0.0319066159427166, 0.1274433583021164, 0.5775845050811768, 1.0
    ),
}


@pytest.mark.parametrize("key", sorted(KRITA_BYTES))
def test_linear_krita_pixels_read_as_srgb(key: tuple[str, str, str]) -> None:
    rgba = pixels.to_rgba8(KRITA_BYTES[key], PixelFormat(*key))
    assert all(abs(a - b) <= 1 for a, b in zip(rgba, (50, 100, 200, 255), strict=True))


def test_u8_is_bgra() -> None:
    assert pixels.to_rgba8(bytes([200, 100, 50, 128]), PixelFormat()) == bytes([50, 100, 200, 128])
    assert pixels.from_rgba8(bytes([50, 100, 200, 128]), PixelFormat()) == bytes(
        [200, 100, 50, 128]
    )


def test_u16_srgb_is_little_endian_bgra() -> None:
    native = struct.pack("<4H", 200 * 257, 100 * 257, 50 * 257, 65535)
    fmt = PixelFormat("RGBA", "U16", "sRGB-elle-V2-srgbtrc.icc")
    assert pixels.to_rgba8(native, fmt) == bytes([50, 100, 200, 255])
    assert pixels.from_rgba8(bytes([50, 100, 200, 255]), fmt) == native


def test_grey_documents() -> None:
    fmt = PixelFormat("GRAYA", "U8", "Gray-D50-elle-V2-srgbtrc.icc")
    assert pixels.to_rgba8(bytes([102, 200]), fmt) == bytes([102, 102, 102, 200])
    grey16 = PixelFormat("GRAYA", "U16", "Gray-D50-elle-V2-g10.icc")
    # Krita's value for sRGB grey 102 in a linear 16-bit grey document
    assert pixels.to_rgba8(struct.pack("<2H", 8747, 65535), grey16)[:1] in (b"\x65", b"\x66")
    native = pixels.from_rgba8(bytes([10, 10, 10, 255]), fmt)
    assert native == bytes([10, 255])


@pytest.mark.parametrize("depth", ["U8", "U16", "F16", "F32"])
@pytest.mark.parametrize("profile", ["", "sRGB-elle-V2-g10.icc"])
@pytest.mark.parametrize("model", ["RGBA", "GRAYA"])
def test_round_trip(depth: str, profile: str, model: str) -> None:
    fmt = PixelFormat(model, depth, profile)
    if model == "GRAYA":
        values = [v for i in range(0, 256, 5) for v in (i, i, i, 255 - i)]
    else:
        values = [v for i in range(256) for v in (i, 255 - i, (i * 7) % 256, i)]
    rgba = bytes(values)
    native = pixels.from_rgba8(rgba, fmt)
    assert len(native) == len(rgba) // 4 * fmt.pixel_size
    back = pixels.to_rgba8(native, fmt)
    # 8-bit linear storage loses precision in the darks; everything else is exact
    tolerance = 8 if (depth == "U8" and profile) else 1
    assert max(abs(a - b) for a, b in zip(back, rgba, strict=True)) <= tolerance


def test_alpha_is_never_gamma_converted() -> None:
    fmt = PixelFormat("RGBA", "F32", "sRGB-elle-V2-g10.icc")
    native = struct.pack("<4f", 0.0, 0.0, 0.0, 0.5)
    assert pixels.to_rgba8(native, fmt)[3] == 128


def test_out_of_range_and_nan_floats_are_clamped() -> None:
    native = struct.pack("<4f", -1.0, 2.0, float("nan"), 1.0)
    assert pixels.to_rgba8(native, PixelFormat("RGBA", "F32", "")) == bytes([0, 255, 0, 255])


def test_unsupported_models_say_what_to_do() -> None:
    with pytest.raises(UnsupportedImageError, match="Convert Image Color Space"):
        pixels.to_rgba8(bytes(5), PixelFormat("CMYKA", "U8", ""))
    with pytest.raises(UnsupportedImageError):
        pixels.to_rgba8(bytes(3), PixelFormat())


def test_masks() -> None:
    rgba = bytes([255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 255, 255, 255, 255, 128])
    assert pixels.mask_from_rgba(rgba) == bytes([255, 0, 0, 128])
    assert pixels.with_alpha(rgba, bytes([1, 2, 3, 4]))[3::4] == bytes([1, 2, 3, 4])
    with pytest.raises(ValueError):
        pixels.with_alpha(rgba, bytes(3))


def test_crop() -> None:
    rgba = bytes(range(4 * 4 * 3))  # 4 x 3 image
    assert pixels.crop_rgba(rgba, 4, 1, 1, 2, 2) == rgba[20:28] + rgba[36:44]


# ---------------------------------------------------------------- against the definitions
# The conversions run on lookup tables and byte tricks; these references spell out what
# each value must become, one value at a time.


def _ref_u8(value: float) -> int:
    if value != value or value <= 0.0:
        return 0
    return 255 if value >= 1.0 else int(value * 255.0 + 0.5)


def _ref_colour(value: float, linear: bool) -> int:
    if linear and value == value and value > 0.0:
        value = pixels.srgb_encode(min(value, 1.0))
    return _ref_u8(value)


def _every_code_as_bgra() -> bytes:
    """All 65,536 16-bit codes, little-endian, as BGRA pixels (each code once as blue)."""
    codes = struct.pack("<65536H", *range(65536))
    return b"".join(codes[i : i + 2] + b"\x00\x00" * 2 + b"\xff\xff"
                    for i in range(0, len(codes), 2))


@pytest.mark.parametrize("profile", ["sRGB-elle-V2-g10.icc", "sRGB-elle-V2-srgbtrc.icc"])
def test_u16_every_value_converts_like_its_definition(profile: str) -> None:
    fmt = PixelFormat("RGBA", "U16", profile)
    rgba = pixels.to_rgba8(_every_code_as_bgra(), fmt)
    blue = rgba[2::4]
    if fmt.linear:
        assert list(blue) == [_ref_colour(v / 65535.0, True) for v in range(65536)]
    else:
        assert list(blue) == [v >> 8 for v in range(65536)]
    assert set(rgba[3::4]) == {255}


@pytest.mark.parametrize("profile", ["sRGB-elle-V2-g10.icc", "sRGB-elle-V2-srgbtrc.icc"])
def test_f16_every_half_converts_like_its_definition(profile: str) -> None:
    fmt = PixelFormat("RGBA", "F16", profile)
    halves = struct.unpack("<65536e", struct.pack("<65536H", *range(65536)))
    # every half once as red and once as alpha
    native = b"".join(struct.pack("<4e", h, 0.0, 0.0, h) for h in halves)
    rgba = pixels.to_rgba8(native, fmt)
    assert list(rgba[0::4]) == [_ref_colour(h, fmt.linear) for h in halves]
    assert list(rgba[3::4]) == [_ref_u8(h) for h in halves]


@pytest.mark.parametrize("profile", ["sRGB-elle-V2-g10.icc", "sRGB-elle-V2-srgbtrc.icc"])
def test_f32_converts_like_its_definition(profile: str, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    import random

    monkeypatch.setattr(pixels, "_RUN", 4099)  # runs end mid-image
    rnd = random.Random(7)
    values = [rnd.random() for _ in range(20000)] + [rnd.random() * 1e-3 for _ in range(5000)]
    fmt = PixelFormat("RGBA", "F32", profile)
    for level in range(255):  # the floats on either side of every rounding boundary
        edge = (level + 0.5) / 255.0
        edge = pixels.srgb_decode(edge) if fmt.linear else edge
        bits = struct.unpack("<I", struct.pack("<f", edge))[0]
        values += [struct.unpack("<f", struct.pack("<I", b))[0] for b in range(bits - 2, bits + 3)]
    values += [0.0, -0.0, -1.0, 1.0, 1.5, float("inf"), float("-inf"), float("nan"), 1e-40]
    native = b"".join(struct.pack("<4f", v, 0.0, 0.0, v) for v in values)
    rgba = pixels.to_rgba8(native, fmt)
    assert list(rgba[0::4]) == [_ref_colour(v, fmt.linear) for v in values]
    assert list(rgba[3::4]) == [_ref_u8(v) for v in values]
    specials = rgba[-9 * 4 :][0::4]
    assert list(specials) == [0, 0, 0, 255, 255, 255, 0, 0, 0]


@pytest.mark.parametrize("depth", ["U16", "F16", "F32"])
@pytest.mark.parametrize("profile", ["sRGB-elle-V2-g10.icc", "sRGB-elle-V2-srgbtrc.icc"])
@pytest.mark.parametrize("model", ["RGBA", "GRAYA"])
def test_writing_8_bit_values_follows_the_definition(depth: str, profile: str,
                                                     model: str) -> None:
    fmt = PixelFormat(model, depth, profile)
    n = fmt.channels
    values = bytes(range(256)) * n  # every 8-bit value in every channel
    rgba = bytes(values[: len(values) // 4 * 4]) if model == "RGBA" else b"".join(
        bytes([v, v, v, values[(i * 7) % 256]]) for i, v in enumerate(range(256)))
    native = pixels.from_rgba8(rgba, fmt)
    if model == "RGBA":
        chans = pixels.swap_red_blue(rgba) if depth == "U16" else rgba
    else:
        chans = bytes(b for i in range(0, len(rgba), 4) for b in (rgba[i], rgba[i + 3]))
    want = []
    for i, v in enumerate(chans):
        alpha = i % n == n - 1
        level = v / 255.0 if alpha or not fmt.linear else pixels.srgb_decode(v / 255.0)
        if depth == "U16":
            want.append(struct.pack("<H", v * 257 if alpha or not fmt.linear
                                    else round(level * 65535.0)))
        else:
            want.append(struct.pack("<e" if depth == "F16" else "<f", level))
    assert native == b"".join(want)


def _ref_luma(rgba: bytes) -> bytes:
    return bytes((54 * rgba[i] + 183 * rgba[i + 1] + 19 * rgba[i + 2] + 128) >> 8
                 for i in range(0, len(rgba), 4))


def test_luminance_and_masks_follow_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    rnd = random.Random(3)
    monkeypatch.setattr(pixels, "_RUN", 7)  # many runs, one cut mid-image
    rgba = bytes(rnd.randrange(256) for _ in range(4 * 1000)) + bytes([255] * 8)
    grey = pixels.luminance(rgba)
    assert grey == _ref_luma(rgba)
    assert grey[-2:] == b"\xff\xff"
    alpha = rgba[3::4]
    assert pixels.mask_from_rgba(rgba) == bytes(
        (y * a + 127) // 255 for y, a in zip(grey, alpha, strict=True))
    # every (brightness, opacity) pair: grey pixels of each level at each opacity
    every = b"".join(bytes([y, y, y, a]) for a in range(256) for y in range(256))
    assert pixels.luminance(every)[::256] == bytes(range(256))[:1] * 256
    assert pixels.mask_from_rgba(every) == bytes(
        (y * a + 127) // 255 for a in range(256) for y in range(256))
    opaque = pixels.with_alpha(rgba, bytes([255]) * (len(rgba) // 4))
    assert pixels.mask_from_rgba(opaque) == _ref_luma(opaque)
    with pytest.raises(ValueError, match="4 bytes"):
        pixels.luminance(bytes(5))


@pytest.mark.parametrize("depth", ["F16", "F32"])
@pytest.mark.parametrize("model", ["RGBA", "GRAYA"])
def test_one_opacity_over_a_whole_layer(depth: str, model: str) -> None:
    fmt = PixelFormat(model, depth, "sRGB-elle-V2-g10.icc")
    code = "<e" if depth == "F16" else "<f"
    for opacity, level in ((1.0, 255), (0.5, 128), (0.0, 0)):
        pixel = struct.pack(code, 0.2) * (fmt.channels - 1) + struct.pack(code, opacity)
        rgba = pixels.to_rgba8(pixel * 300, fmt)
        assert rgba[3::4] == bytes([level]) * 300
        assert set(rgba[0::4]) == {_ref_colour(struct.unpack(code, struct.pack(code, 0.2))[0],
                                               True)}
