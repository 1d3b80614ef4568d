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
