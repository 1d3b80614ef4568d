"""Canvas geometry, checked pixel by pixel against the published layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.errors import InputError


def solid(color: tuple[int, int, int], size: tuple[int, int] = (50, 30)) -> Image.Image:
    return Image.new("RGB", size, color)


def test_2x2_cells_and_separator_pixels() -> None:
    red, green, blue = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    img = cv.build_canvas([(solid(red), solid(green))], solid(blue), resample="nearest")
    arr = np.asarray(img)
    assert arr.shape == (224, 224, 3)
    assert (arr[0:111, 0:111] == red).all()
    assert (arr[0:111, 113:224] == green).all()
    assert (arr[113:224, 0:111] == blue).all()
    assert (arr[113:224, 113:224] == 255).all()  # answer cell: white background
    assert (arr[111:113, :] == 255).all() and (arr[:, 111:113] == 255).all()  # separator
    black = np.asarray(cv.build_canvas([(solid(red), solid(green))], solid(blue),
                                       background=cv.BLACK, resample="nearest"))
    assert (black[111:113, :] == 0).all() and (black[113:, 113:] == 0).all()


def test_2x2_mask_tokens_are_the_bottom_right_7x7_block() -> None:
    idx = cv.LAYOUT_2X2.mask_indices()
    expected = [r * 14 + c for r in range(7, 14) for c in range(7, 14)]
    assert idx == expected
    assert idx[:7] == list(range(105, 112)) and idx[7:14] == list(range(119, 126))
    assert idx[-7:] == list(range(189, 196))
    pix = cv.pixel_mask(cv.LAYOUT_2X2.patch_mask())
    assert pix.shape == (224, 224)
    assert pix[112:, 112:].all() and not pix[:112].any() and not pix[:, :112].any()


def test_transposed_layout_keeps_the_answer_cell() -> None:
    t = cv.LAYOUT_2X2_T
    assert t.answer == cv.LAYOUT_2X2.answer
    assert t.mask_indices() == cv.LAYOUT_2X2.mask_indices()
    assert t.pairs[0][1] == cv.LAYOUT_2X2.query and t.query == cv.LAYOUT_2X2.pairs[0][1]


def test_3x2_layout_geometry() -> None:
    red, green, blue, grey = (255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)
    pairs = [(solid(red), solid(green)), (solid(grey), solid(red))]
    arr = np.asarray(cv.build_canvas(pairs, solid(blue), resample="nearest"))
    assert (arr[0:74, 37:111] == red).all() and (arr[0:74, 113:187] == green).all()
    assert (arr[75:149, 37:111] == grey).all() and (arr[75:149, 113:187] == red).all()
    assert (arr[150:224, 37:111] == blue).all()
    assert (arr[150:224, 113:187] == 255).all()
    assert (arr[:, 0:37] == 255).all()  # padding column
    idx = cv.LAYOUT_3X2.mask_indices()
    assert idx == [r * 14 + c for r in range(9, 14) for c in range(7, 12)]
    assert len(idx) == 25


def test_layout_for_pairs() -> None:
    assert cv.layout_for_pairs(1) is cv.LAYOUT_2X2
    assert cv.layout_for_pairs(2) is cv.LAYOUT_3X2
    with pytest.raises(InputError):
        cv.layout_for_pairs(3)


def test_crop_and_paste_answer() -> None:
    canvas = torch.zeros(2, 3, 224, 224)
    decoded = torch.ones(2, 3, 224, 224)
    pasted = cv.paste_answer(canvas, decoded, cv.LAYOUT_2X2.patch_mask())
    assert pasted[:, :, 112:, 112:].eq(1).all() and pasted[:, :, :112].eq(0).all()
    assert pasted[:, :, :, :112].eq(0).all()
    crop = cv.crop_answer(pasted, cv.LAYOUT_2X2)
    assert crop.shape == (2, 3, 111, 111)


def test_place_cells_matches_pil_geometry() -> None:
    cells = [torch.full((1, 3, 111, 111), v) for v in (0.1, 0.2, 0.3)]
    canvas = cv.place_cells(cells, cv.LAYOUT_2X2, background=1.0)
    assert canvas[0, :, :111, :111].eq(0.1).all()
    assert canvas[0, :, :111, 113:].eq(0.2).all()
    assert canvas[0, :, 113:, :111].eq(0.3).all()
    assert canvas[0, :, 113:, 113:].eq(1.0).all()


def test_free_inpainting_patch_mask() -> None:
    mask = torch.zeros(224, 224, dtype=torch.bool)
    mask[20:21, 40:41] = True  # one pixel -> its patch (row 1, col 2)
    assert torch.nonzero(cv.patch_mask_from_pixels(mask)).flatten().tolist() == [16]
    assert not cv.patch_mask_from_pixels(mask, min_fraction=0.5).any()
    with pytest.raises(InputError):
        cv.patch_mask_from_pixels(torch.zeros(10, 10))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "I;16", "I", "F", "CMYK", "1"])
def test_to_rgb_handles_every_mode(mode: str) -> None:
    base = Image.new("RGB", (8, 6), (200, 100, 50))
    if mode == "I;16":
        image = Image.fromarray(np.full((6, 8), 65535, dtype=np.uint16))
    elif mode == "F":
        image = Image.fromarray(np.full((6, 8), 1.0, dtype=np.float32))
    else:
        image = base.convert(mode)
    rgb = cv.to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == (8, 6)
    if mode in ("I;16", "F"):
        assert np.asarray(rgb).min() == 255  # full-scale white


def test_transparent_pixels_take_the_background() -> None:
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert cv.to_rgb(image, cv.BLACK).getpixel((0, 0)) == (0, 0, 0)
    assert cv.to_rgb(image, cv.WHITE).getpixel((0, 0)) == (255, 255, 255)
