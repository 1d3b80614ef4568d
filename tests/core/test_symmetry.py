"""Mirrors and quarter turns (``visprompt_core.symmetry``): the gate on example pairs, and
the pipeline's answers at full size."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import VisualPrompter
from visprompt_core.symmetry import MAX_ERROR, NONE, apply_symmetries, find_symmetries
from visprompt_core.views import VIEWS


def one_pair(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """``find_symmetries`` of (B, 3, h, w) pairs, one real pair per prompt."""
    return find_symmetries(inputs[:, None], outputs[:, None], torch.ones(len(inputs), 1, 1, 1, 1))


@pytest.fixture(scope="module")
def pictures() -> torch.Tensor:
    return generate_batch(6, episode_seed("eval", 12)).query


def test_every_view_is_found_and_answers_the_query(pictures: torch.Tensor) -> None:
    query = pictures.roll(1, 0)
    for index, view in enumerate(VIEWS):
        found = one_pair(pictures, view.apply(pictures))
        expected = NONE if index == 0 else index  # the unchanged picture teaches nothing
        assert found.tolist() == [expected] * len(pictures), view.name
        answers = apply_symmetries(found, query, torch.zeros_like(query))
        assert torch.equal(answers, view.apply(query) if index else torch.zeros_like(query))


def test_pairs_that_are_no_symmetry_fail_the_gate(pictures: torch.Tensor) -> None:
    blurred = torch.nn.functional.avg_pool2d(pictures, 3, 1, 1, count_include_pad=False)
    for outputs in (1 - pictures, pictures.mean(1, keepdim=True).expand_as(pictures),
                    blurred, pictures.roll(9, -1), pictures.flip(-1).roll(3, -2)):
        assert one_pair(pictures, outputs).tolist() == [NONE] * len(pictures)


def test_the_gate_allows_resampling_noise_only(pictures: torch.Tensor) -> None:
    torch.manual_seed(0)
    mirrored = pictures.flip(-1)
    slight = (mirrored + 0.004 * torch.randn_like(mirrored)).clamp(0, 1)  # ~1 level
    strong = (mirrored + 0.05 * torch.randn_like(mirrored)).clamp(0, 1)
    assert float(((slight - mirrored) ** 2).mean()) < MAX_ERROR
    assert float(((strong - mirrored) ** 2).mean()) > MAX_ERROR
    assert one_pair(pictures, slight).tolist() == [1] * len(pictures)
    assert one_pair(pictures, strong).tolist() == [NONE] * len(pictures)


def test_a_picture_that_is_its_own_mirror_image_needs_a_change() -> None:
    """A left-right symmetric picture: shown unchanged, the mirror explains the pair as well
    as the identity does, so nothing is found; shown upside down it is found (the mirror
    top-bottom and the half turn tie; the first wins)."""
    half = generate_batch(1, episode_seed("eval", 13)).query[..., :56]
    picture = torch.cat([half, half.flip(-1)], -1)
    assert torch.equal(picture, picture.flip(-1))
    assert one_pair(picture, picture).tolist() == [NONE]
    assert one_pair(picture, picture.flip(-2)).tolist() == [2]


def test_every_real_pair_must_show_the_same_view(pictures: torch.Tensor) -> None:
    a, b = pictures[:3], pictures[3:]
    inputs = torch.stack([a, b], 1)
    both_mirrored = torch.stack([a.flip(-1), b.flip(-1)], 1)
    mixed = torch.stack([a.flip(-1), b.flip(-2)], 1)
    real = torch.ones(3, 2, 1, 1, 1)
    assert find_symmetries(inputs, both_mirrored, real).tolist() == [1, 1, 1]
    assert find_symmetries(inputs, mixed, real).tolist() == [NONE] * 3
    padded = real.clone()
    padded[:, 1] = 0  # the second pair is padding: only the first counts
    assert find_symmetries(inputs, mixed, padded).tolist() == [1, 1, 1]


def test_cells_that_are_not_square_are_not_transposed(pictures: torch.Tensor) -> None:
    wide = pictures[..., :80, :]
    assert one_pair(wide, wide.flip(-2)).tolist() == [2] * len(pictures)
    assert one_pair(wide[..., :80], wide[..., :80].transpose(-1, -2)).tolist() == [4] * 6


def flat_shapes(seed: int, size: tuple[int, int]) -> Image.Image:
    """A picture of flat rectangles, W x H ``size``, saved and read back as JPEG."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = np.empty((h, w, 3), np.uint8)
    pixels[:] = rng.integers(0, 256, 3)
    for _ in range(6):
        top, left = rng.integers(0, h - 30), rng.integers(0, w - 30)
        pixels[top:top + rng.integers(20, h // 2), left:left + rng.integers(20, w // 2)] = \
            rng.integers(0, 256, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_the_pipeline_answers_with_the_whole_query_turned(tiny_model: MAEVQGAN) -> None:
    """A JPEG pair turned a quarter by PIL: the answer is the 400x300 query so turned,
    stretched back to the query's size, by every upscaling path and under a mask; with
    the detail off, the model's own answer."""
    example, query = flat_shapes(1, (400, 300)), flat_shapes(2, (400, 300))
    turned = example.transpose(Image.Transpose.ROTATE_270)  # 90 degrees clockwise
    want = np.asarray(query.transpose(Image.Transpose.ROTATE_270).resize(
        query.size, Image.Resampling.BICUBIC), dtype=float)
    model_config = tiny_model.model_config
    tiny_model.model_config = replace(model_config, detail_radius=12)
    try:
        prompter = VisualPrompter(tiny_model, device="cpu")
        for upscale in ("auto", "bicubic", "tiled"):
            answer = prompter.prompt([(example, turned)], query, upscale=upscale)
            assert answer.size == query.size
            assert np.array_equal(np.asarray(answer, dtype=float), want), upscale
        decoded = prompter.prompt([(example, turned)], query, detail=False)
        mask = Image.new("L", query.size, 0)
        mask.paste(255, (0, 0, 200, 300))
        masked = np.asarray(prompter.prompt([(example, turned)], query, mask=mask))
    finally:
        tiny_model.model_config = model_config
    assert np.abs(np.asarray(decoded, dtype=float) - want).mean() > 20
    assert np.array_equal(masked[:, :200, :3], want[:, :200].astype(np.uint8))
    assert (masked[:, :200, 3] == 255).all() and (masked[:, 200:, 3] == 0).all()


def test_the_pipeline_mirrors_with_several_pairs_and_an_ensemble(tiny_model: MAEVQGAN
                                                                 ) -> None:
    pairs = [(p, p.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
             for p in (flat_shapes(3, (200, 200)), flat_shapes(4, (300, 200)))]
    query = flat_shapes(5, (256, 256))
    want = np.asarray(query.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    model_config = tiny_model.model_config
    tiny_model.model_config = replace(model_config, detail_radius=12)
    try:
        prompter = VisualPrompter(tiny_model, device="cpu")
        answer = prompter.prompt(pairs, query, ensemble=4)
        odd_one = prompter.prompt([pairs[0], (pairs[1][0], pairs[1][0])], query)
    finally:
        tiny_model.model_config = model_config
    assert np.array_equal(np.asarray(answer), want)
    assert not np.array_equal(np.asarray(odd_one), want)  # one pair unchanged: no mirror
    assert cv.pil_to_tensor(answer).shape == (3, 256, 256)


def test_an_answer_size_of_the_turned_shape_keeps_the_turn_unstretched(tiny_model: MAEVQGAN
                                                                        ) -> None:
    example, query = flat_shapes(6, (400, 300)), flat_shapes(7, (400, 300))
    turned = example.transpose(Image.Transpose.ROTATE_90)  # anticlockwise
    model_config = tiny_model.model_config
    tiny_model.model_config = replace(model_config, detail_radius=12)
    try:
        answer = VisualPrompter(tiny_model, device="cpu").prompt(
            [(example, turned)], query, answer_size=(300, 400))
    finally:
        tiny_model.model_config = model_config
    assert answer.size == (300, 400)
    assert np.array_equal(np.asarray(answer), np.asarray(query.transpose(
        Image.Transpose.ROTATE_90)))
