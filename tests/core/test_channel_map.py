"""Channel maps (``visprompt_core.channel_map``): the fit and its gate on example pairs,
the agreement check, and the pipeline's answers at full size with the default model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter, ImageOps

from visprompt_core import canvas as cv
from visprompt_core.channel_map import (
    MAX_ERROR,
    MIN_AGREEMENT,
    ChannelMaps,
    agrees,
    fit_channel_maps,
)
from visprompt_core.data.ops import LUMA, hue_matrix
from visprompt_core.detail import refine_cells
from visprompt_core.pipeline import VisualPrompter, load_model


def smooth(seed: int, h: int = 96, w: int = 128) -> torch.Tensor:
    """(3, h, w) in [0, 1]: gradients and blurred noise, many levels in every channel."""
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    phase = torch.rand(3, generator=g) * 6
    waves = torch.stack([torch.sin(5 * x + phase[0]).expand(h, w),
                         torch.cos(4 * y + phase[1]).expand(h, w),
                         torch.sin(3 * (x + y) + phase[2])])
    noise = torch.rand(1, 3, h // 8, w // 8, generator=g)
    noise = torch.nn.functional.interpolate(noise, size=(h, w), mode="bilinear")[0]
    return (0.25 * (waves + 1) + 0.5 * noise).clamp(0, 1)


def fit_one(inputs: torch.Tensor, outputs: torch.Tensor) -> ChannelMaps:
    """``fit_channel_maps`` of one (3, h, w) pair."""
    return fit_channel_maps(inputs[None, None], outputs[None, None], torch.ones(1, 1, 1, 1, 1))


def luma(x: torch.Tensor) -> torch.Tensor:
    return (x * torch.tensor(LUMA).view(3, 1, 1)).sum(0, keepdim=True)


def test_channel_maps_are_found_with_their_sources_and_lines() -> None:
    picture, query = smooth(0), smooth(1, 120, 90)
    cases = {  # output -> (sources, scales, offsets)
        "swap": (picture[[2, 0, 1]], [2, 0, 1], [1, 1, 1], [0, 0, 0]),
        "grey": (luma(picture).expand(3, -1, -1), [3, 3, 3], [1, 1, 1], [0, 0, 0]),
        "invert": (1 - picture, [0, 1, 2], [-1, -1, -1], [1, 1, 1]),
        "levels": (torch.stack([0.5 * picture[0] + 0.3, picture[1], 0.8 * picture[2]]),
                   [0, 1, 2], [0.5, 1, 0.8], [0.3, 0, 0]),
    }
    for name, (output, source, scale, offset) in cases.items():
        maps = fit_one(picture, output)
        assert maps.explains().tolist() == [True], name
        assert maps.source[0].tolist() == source, name
        assert torch.allclose(maps.scale[0], torch.tensor(scale, dtype=torch.float32),
                              atol=1e-4), name
        assert torch.allclose(maps.offset[0], torch.tensor(offset, dtype=torch.float32),
                              atol=1e-4), name
        # the line holds for the query's colours too, which the example never showed
        expected = {"swap": query[[2, 0, 1]], "grey": luma(query).expand(3, -1, -1),
                    "invert": 1 - query,
                    "levels": torch.stack([0.5 * query[0] + 0.3, query[1], 0.8 * query[2]])}
        assert torch.allclose(maps.apply(query[None])[0], expected[name], atol=1e-5), name
    assert fit_one(picture, picture[[1, 2, 0]]).describe()[0] == "red = 1.000 * green + 0.000"


def test_pairs_that_are_no_channel_map_fail_the_gate() -> None:
    picture = smooth(2)
    blurred = torch.nn.functional.avg_pool2d(picture[None], 5, 1, 2, count_include_pad=False)[0]
    hue = torch.einsum("ij,jhw->ihw", hue_matrix(torch.tensor([1.0]))[0], picture).clamp(0, 1)
    posterized = (picture * 2).round() / 2
    for name, output in {"blur": blurred, "hue": hue, "posterize": posterized,
                         "mirror": picture.flip(-1), "flat": torch.full_like(picture, 0.3),
                         "unchanged but shifted": picture.roll(7, -1)}.items():
        assert fit_one(picture, output).explains().tolist() == [False], name


def test_two_flat_colours_teach_no_line() -> None:
    """A picture of two colours (and the blends along their edge) fits a line through any
    two points: the gate wants the source spread over at least three brightness bins."""
    two = torch.zeros(3, 96, 128)
    two[:] = torch.tensor([0.9, 0.2, 0.1]).view(3, 1, 1)
    two[:, 30:70, 40:100] = torch.tensor([0.1, 0.6, 0.8]).view(3, 1, 1)
    two = torch.nn.functional.avg_pool2d(two[None], 3, 1, 1, count_include_pad=False)[0]
    maps = fit_one(two, two[[2, 0, 1]])
    assert float(maps.error.max()) <= MAX_ERROR  # the line fits...
    assert maps.explains().tolist() == [False]   # ...and teaches nothing


def test_several_pairs_must_share_one_map_and_padding_is_ignored() -> None:
    a, b = smooth(3), smooth(4)
    inputs = torch.stack([a, b])[None]
    swapped = torch.stack([a[[2, 0, 1]], b[[2, 0, 1]]])[None]
    mixed = torch.stack([a[[2, 0, 1]], 1 - b])[None]
    both, first_only = torch.ones(1, 2, 1, 1, 1), torch.tensor([1.0, 0.0]).view(1, 2, 1, 1, 1)
    assert fit_channel_maps(inputs, swapped, both).explains().tolist() == [True]
    assert fit_channel_maps(inputs, mixed, both).explains().tolist() == [False]
    assert fit_channel_maps(inputs, mixed, first_only).explains().tolist() == [True]


def test_resampled_8_bit_pairs_pass_and_jpeg_noise_does_not() -> None:
    picture = Image.fromarray((smooth(5, 300, 400).permute(1, 2, 0) * 255).round()
                              .to(torch.uint8).numpy())
    box_in, box_out = cv.LAYOUT_2X2.pairs[0]

    def cells(change: Image.Image) -> ChannelMaps:
        pair = [cv.pil_to_tensor(cv.fit_cell(p, box)) for p, box in
                zip((picture, change), (box_in, box_out))]
        return fit_one(*pair)

    grey = cells(ImageOps.grayscale(picture).convert("RGB"))
    assert grey.explains().tolist() == [True] and grey.source[0].tolist() == [3, 3, 3]
    assert cells(ImageOps.invert(picture)).explains().tolist() == [True]
    assert cells(picture.filter(ImageFilter.GaussianBlur(2))).explains().tolist() == [False]


def test_agreement_with_the_model_answer() -> None:
    picture, query = smooth(6), smooth(7)
    maps = fit_one(picture, picture[[2, 0, 1]])
    right = query[[2, 0, 1]][None]
    assert agrees(maps, query[None], right).tolist() == [True]
    assert agrees(maps, query[None], (right + 0.1).clamp(0, 1)).tolist() == [True]  # 20 dB
    far = 10 ** (-MIN_AGREEMENT / 20) * 1.5  # a flat offset this large: under the agreement
    assert agrees(maps, query[None], (right + far).clamp(0, 1)).tolist() == [False]
    assert agrees(maps, query[None], query[None]).tolist() == [False]  # the query itself


def test_refine_cells_answers_with_the_map_only_where_the_model_agrees() -> None:
    pictures = torch.stack([smooth(8), smooth(9)])
    queries = torch.stack([smooth(10), smooth(11)])
    outputs = pictures[:, [1, 2, 0]]
    truth = queries[:, [1, 2, 0]]
    answers = torch.stack([(truth[0] + 0.05).clamp(0, 1), queries[1]])  # agrees, does not

    def refine(lines: bool) -> torch.Tensor:
        return refine_cells(answers, pictures, outputs, queries, lambda rows: queries[rows],
                            12, 3e-4, channel_maps=lines)

    refined = refine(True)
    assert list(refined.channel_maps) == [0]
    assert torch.allclose(refined.answers[0], truth[0], atol=1e-5)
    assert float(refined.filter_share[0]) == 0
    assert not torch.allclose(refined.answers[1], truth[1], atol=1e-2)
    assert refine(False).channel_maps == {}
    assert not torch.allclose(refine(False).answers[0], truth[0], atol=1e-3)
    assert refined.linear is not None  # the second row still needs the filter's fit


def test_rows_all_answered_by_maps_fit_nothing_else() -> None:
    """When every row is a channel map the model agrees with, the colour, transfer and
    filter fits are skipped (their results would be discarded); the answers are the
    mapped queries, as when a row that needs them rides along."""
    pictures, queries = smooth(8)[None], smooth(10)[None]
    outputs, truth = pictures[:, [1, 2, 0]], queries[:, [1, 2, 0]]
    answers = (truth + 0.05).clamp(0, 1)
    asked: list[torch.Tensor] = []

    def reconstruct(rows: torch.Tensor) -> torch.Tensor:
        asked.append(rows)
        return queries[rows]

    alone = refine_cells(answers, pictures, outputs, queries, reconstruct, 12, 3e-4)
    assert list(alone.channel_maps) == [0] and alone.linear is None and asked == []
    assert torch.equal(alone.filter_share, torch.zeros(1))
    other = smooth(11)[None]
    blurred = torch.nn.functional.avg_pool2d(pictures, 5, 1, 2, count_include_pad=False)
    mixed = refine_cells(torch.cat([answers, other]), torch.cat([pictures, pictures]),
                         torch.cat([outputs, blurred]), torch.cat([queries, other]),
                         lambda rows: torch.cat([queries, other])[rows], 12, 3e-4)
    assert mixed.linear is not None and list(mixed.channel_maps) == [0]
    assert torch.equal(mixed.answers[0], alone.answers[0])


@pytest.fixture(scope="module")
def default_model() -> VisualPrompter:
    return load_model("default", device="cpu")


def picture_image(seed: int, h: int, w: int) -> Image.Image:
    return Image.fromarray((smooth(seed, h, w).permute(1, 2, 0) * 255).round()
                           .to(torch.uint8).numpy())


def test_the_default_model_answers_a_channel_swap_exactly_at_full_size(
        default_model: VisualPrompter) -> None:
    example, query = picture_image(12, 300, 400), picture_image(13, 480, 640)

    def swap(image: Image.Image) -> Image.Image:
        return Image.fromarray(np.asarray(image)[..., [2, 0, 1]])

    truth = np.asarray(swap(query)).astype(int)
    for upscale in ("guided", "bicubic", "tiled"):
        answer = default_model.prompt([(example, swap(example))], query, upscale=upscale)
        assert answer.size == query.size
        assert np.abs(np.asarray(answer).astype(int) - truth).max() <= 1, upscale
    as_decoded = default_model.prompt([(example, swap(example))], query, detail=False)
    assert np.abs(np.asarray(as_decoded).astype(int) - truth).mean() > 10
    mask = Image.new("L", query.size, 0)
    mask.paste(255, (100, 100, 300, 250))
    masked = np.asarray(default_model.prompt([(example, swap(example))], query, mask=mask))
    assert np.abs(masked[100:250, 100:300, :3].astype(int) - truth[100:250, 100:300]).max() <= 1
    assert (masked[:100, :, 3] == 0).all()
