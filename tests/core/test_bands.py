"""Full-size answers in bands of rows: the same pixels as the whole-image float path."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from visprompt_core import bands
from visprompt_core import canvas as cv
from visprompt_core.colour_map import BINS, ColourLookup, ColourMaps, apply_colour_maps
from visprompt_core.errors import InputError
from visprompt_core.upsample import (
    GuidedFilter,
    area_from_planes,
    blend_filtered_image,
    guided_coefficients,
    guided_upsample,
    guided_upsample_image,
    linear_taps,
)


def noise_image(height: int, width: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def smooth_image(height: int, width: int, seed: int = 0) -> Image.Image:
    torch.manual_seed(seed)
    low = torch.rand(1, 3, 6, 8)
    return cv.tensor_to_pil(F.interpolate(low, size=(height, width), mode="bilinear")[0])


def test_bands_cover_every_row_once() -> None:
    rows = list(bands.bands(1000, 300, pixels=4096))
    assert rows[0].start == 0 and rows[-1].stop == 1000
    assert all(a.stop == b.start for a, b in itertools.pairwise(rows))
    assert {r.stop - r.start for r in rows[:-1]} == {4096 // 300}
    assert list(bands.bands(5, 100_000)) == [slice(r, r + 1) for r in range(5)]


def test_map_image_equals_the_whole_image_float_path() -> None:
    image = noise_image(301, 517)  # several bands, the last one short

    def curve(x: torch.Tensor) -> torch.Tensor:
        return (x * 1.7 - 0.2).clamp(0, 1).flip(1)

    whole = cv.tensor_to_pil(curve(cv.pil_to_tensor(image)[None])[0])
    assert np.array_equal(np.asarray(bands.map_image(image, curve)), np.asarray(whole))
    with pytest.raises(InputError):
        bands.map_image(image.convert("L"), curve)


def test_linear_taps_are_torchs_bilinear_positions() -> None:
    for n_in, n_out in [(111, 1024), (111, 3072), (7, 50), (111, 333), (111, 222)]:
        signal = torch.rand(n_in)
        first, share = linear_taps(n_in, n_out)
        ours = torch.lerp(signal[first], signal[(first + 1).clamp(max=n_in - 1)], share)
        torchs = F.interpolate(signal[None, None], size=n_out, mode="linear",
                               align_corners=False)[0, 0]
        assert torch.allclose(ours, torchs, atol=2e-7, rtol=0)  # lerp rounds differently


def whole_plane_guided(answer: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """The guided filter on whole planes with torch's bilinear upsampling (no bands)."""
    low = F.interpolate(guide[None], size=answer.shape[-2:], mode="area")
    a, b = guided_coefficients(low, answer[None], 2, 1e-3)
    size = guide.shape[-2:]
    out = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
    for k in range(3):
        out += F.interpolate(a[:, :, k], size=size, mode="bilinear",
                             align_corners=False) * guide[None, k:k + 1]
    return out.clamp(0, 1)[0]


def test_banded_guided_filter_matches_whole_planes() -> None:
    torch.manual_seed(1)
    answer = torch.rand(3, 111, 111)
    guide = cv.pil_to_tensor(noise_image(700, 530)).contiguous()
    ours = guided_upsample(answer, guide, snap=False)
    assert (ours - whole_plane_guided(answer, guide)).abs().max() < 2e-6


def test_bands_of_any_height_give_the_same_rows() -> None:
    torch.manual_seed(2)
    answer, low = torch.rand(1, 3, 20, 30), torch.rand(1, 3, 20, 30)
    guide = torch.rand(1, 3, 97, 130)
    fitted = GuidedFilter.fit(answer, low, (97, 130), 2, 1e-3, snap=False)
    whole = fitted.apply(guide, slice(0, 97))
    for step in (1, 7, 40):
        parts = [fitted.apply(guide[:, :, rows], rows)
                 for rows in bands.bands(97, 130, pixels=130 * step)]
        assert torch.equal(torch.cat(parts, 2), whole)


@pytest.mark.parametrize(("height", "width", "size"), [
    (3001, 1234, (111, 111)),  # above WHOLE_AREA_PIXELS: a row's window at a time
    (333, 250, (111, 111)), (333, 250, (37, 20)),  # in one call
])
def test_area_from_planes_equals_area_interpolation(height: int, width: int,
                                                    size: tuple[int, int]) -> None:
    image = noise_image(height, width)
    planes = bands.split_planes(image)
    expected = F.interpolate(cv.pil_to_tensor(image)[None].contiguous(), size=size,
                             mode="area")[0]
    assert torch.equal(area_from_planes(planes, size), expected)


def random_colour_maps(seed: int) -> ColourMaps:
    torch.manual_seed(seed)
    return ColourMaps(torch.rand(1, BINS ** 3, 3), torch.rand(1, BINS ** 3) > 0.4,
                      torch.zeros(1))


def test_colour_lookup_equals_the_float_colour_map() -> None:
    maps = random_colour_maps(3)
    query, answer = noise_image(200, 300, 4), noise_image(200, 300, 5)
    float_path = cv.tensor_to_pil(apply_colour_maps(
        maps, cv.pil_to_tensor(query)[None], cv.pil_to_tensor(answer)[None])[0])
    banded = bands.map_answer(query, answer, ColourLookup.of(maps))
    assert np.array_equal(np.asarray(banded), np.asarray(float_path))
    changed = (np.asarray(banded) != np.asarray(answer)).any(-1).mean()
    assert 0.3 < changed < 0.9  # the occupied bins took their colours, the rest stayed


@pytest.mark.parametrize("snap", [False, True])
def test_guided_image_is_the_float_path_rounded(snap: bool) -> None:
    """From the 8-bit query to the 8-bit answer (with a colour map on the way), the
    pixels of the whole-plane float path; a pixel at a rounding tie may differ by one
    level (the interpolation's float rounding differs in the last bit)."""
    torch.manual_seed(6)
    answer = torch.rand(3, 111, 111)
    if snap:
        answer = (answer > 0.5).float()
    query = smooth_image(640, 480, 7)
    maps = random_colour_maps(8)
    guide = cv.pil_to_tensor(query).contiguous()
    whole = whole_plane_guided(answer, guide)
    if snap:
        whole = (whole.mean(0, keepdim=True) > 0.5).float().expand(3, -1, -1)
    expected = np.asarray(cv.tensor_to_pil(apply_colour_maps(maps, guide[None],
                                                             whole[None])[0]))
    ours = np.asarray(guided_upsample_image(answer, query, ColourLookup.of(maps), snap=snap))
    difference = np.abs(ours.astype(int) - expected)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-4
    with pytest.raises(InputError):
        guided_upsample_image(answer[None], query)


@pytest.mark.parametrize(("share", "mapped"), [(1.0, False), (0.6, False), (0.6, True)])
def test_filtered_blend_is_the_whole_plane_path_rounded(share: float, mapped: bool) -> None:
    """An answer partly the example pair's linear filter: band by band from the 8-bit
    query, the same pixels as the whole float planes the pipeline blended before (the
    filtered query clamped, the rest guided up, the colour map, then rounded)."""
    torch.manual_seed(9)
    answer = torch.rand(3, 111, 111)
    query = smooth_image(300, 500, 10)
    guide = cv.pil_to_tensor(query).contiguous()
    filtered = 1.2 * guide - 0.1 + 0.05 * torch.randn(guide.shape)  # beyond [0, 1] too
    maps = random_colour_maps(11)
    whole = share * filtered.clamp(0, 1)
    if share < 1:
        whole += (1 - share) * guided_upsample(answer, guide)
    if mapped:
        whole = apply_colour_maps(maps, guide[None], whole[None])[0]
    expected = np.asarray(cv.tensor_to_pil(whole))
    then = ColourLookup.of(maps) if mapped else None
    planes = bands.split_planes(query)
    ours = np.asarray(blend_filtered_image(filtered, share, answer, planes, then))
    assert np.array_equal(ours, expected)
    with pytest.raises(InputError):
        blend_filtered_image(filtered[:, :10], share, answer, planes)
