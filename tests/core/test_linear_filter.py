"""The example pair as a linear filter: the fit, its orientation, its gate, bad input, its
application at full size."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from visprompt_core import canvas as cv
from visprompt_core import linear_filter
from visprompt_core.data import ops
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import psnr
from visprompt_core.data.procedural import random_scenes
from visprompt_core.detail import pointwise_fit
from visprompt_core.linear_filter import (
    FILTER_GATE_HIGH,
    FILTER_GATE_LOW,
    LinearFilter,
    apply_linear_filter,
    apply_linear_filter_at_scale,
    fast_fft_length,
    filter_fit,
    filter_weight,
    fit_linear_filter,
)
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import VisualPrompter


def scenes(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 111, 111) synthetic scenes: the query cells of held-out episodes."""
    return generate_batch(n, episode_seed("eval", seed), tasks=["hflip"]).query


def test_a_blur_shown_once_is_applied_to_the_query() -> None:
    episodes = generate_batch(6, episode_seed("eval", 31), tasks=["blur"])
    example_in, example_out = episodes.examples_in[:, 0], episodes.examples_out[:, 0]
    linear = fit_linear_filter(example_in, example_out)
    assert (filter_fit(linear, example_in, example_out) > 0.99).all()
    answers = apply_linear_filter(linear, episodes.query).clamp(0, 1)
    assert (psnr(answers, episodes.answer) > 35).all()
    assert (psnr(episodes.query, episodes.answer) < 32).all()  # the blur is no identity
    sums = linear.kernel.sum((1, 2))
    torch.testing.assert_close(sums, torch.ones_like(sums), atol=0.02, rtol=0)


def test_the_kernel_follows_conv2d_orientation_and_keeps_tone_changes() -> None:
    big = scenes(2, 32)
    shown_in, shown_out = big[:, :, 3:, :-2], big[:, :, :-3, 2:]  # out(y, x) = in(y-3, x+2)
    linear = fit_linear_filter(shown_in, shown_out, radius=4)
    peak = int(linear.kernel[0].flatten().argmax())
    assert divmod(peak, 9) == (4 - 3, 4 + 2)
    # 0.9, not 1: the ridge prefers compact kernels, and a shift is all spread
    assert (filter_fit(linear, shown_in, shown_out) > 0.9).all()
    images = scenes(3, 33)
    tone = fit_linear_filter(images, 0.6 * images + 0.2)
    torch.testing.assert_close(apply_linear_filter(tone, images[:1].expand(3, -1, -1, -1)),
                               0.6 * images[:1].expand(3, -1, -1, -1) + 0.2, atol=0.02, rtol=0)


def test_what_is_no_filter_does_not_fit() -> None:
    images = scenes(4, 34)
    flat = torch.full_like(images, 0.4)
    assert filter_fit(fit_linear_filter(images, flat), images, flat).tolist() == [0.0] * 4
    flipped = images.flip(-1)
    fit = filter_fit(fit_linear_filter(images, flipped), images, flipped)
    assert (fit < FILTER_GATE_LOW).all(), fit
    masks = ops.mask_to_image(ops.luminance(images)[:, 0] > 0.5)
    assert (filter_fit(fit_linear_filter(images, masks), images, masks) < FILTER_GATE_LOW).all()


def test_the_gate_ramps_and_yields_to_colour_maps() -> None:
    fits = torch.tensor([0.5, FILTER_GATE_LOW, 0.9, FILTER_GATE_HIGH, 1.0, 1.0])
    colour = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.999, 1.0])
    weight = filter_weight(fits, colour)
    torch.testing.assert_close(weight, torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0, 0.0]))


def test_recipe_gates_on_the_synthetic_families() -> None:
    """The shipped gate: a blur takes the filter, a colour mask or a greyscale keeps the
    colour maps' answer (their colour fit is higher, their filter fit low)."""
    episodes = generate_batch(6, episode_seed("eval", 35), tasks=["blur", "color_mask",
                                                                  "greyscale"])
    example_in, example_out = episodes.examples_in[:, 0], episodes.examples_out[:, 0]
    linear = fit_linear_filter(example_in, example_out)
    weight = filter_weight(filter_fit(linear, example_in, example_out),
                           pointwise_fit(example_in, example_out, 12, 3e-4))
    assert weight.tolist() == [float(name == "blur") for name in episodes.names]


def test_bad_input_is_refused() -> None:
    images = scenes(2, 36)
    with pytest.raises(ValueError, match="equal"):
        fit_linear_filter(images, images[:, :, :50])
    with pytest.raises(ValueError, match="ridge"):
        fit_linear_filter(images, images, ridge=0)
    linear = fit_linear_filter(images, images)
    with pytest.raises(ValueError, match="too small"):
        apply_linear_filter(linear, images[:, :, :8, :8])


def large_scenes(n: int, seed: int, size: int) -> torch.Tensor:
    return random_scenes(torch.Generator().manual_seed(seed), n, size=size).image


def shrunk(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) -> the 111-px cells a canvas holds (``canvas.fit_cell``, as the
    pipeline)."""
    return torch.stack([cv.pil_to_tensor(cv.fit_cell(cv.tensor_to_pil(image),
                                                     cv.LAYOUT_2X2.query))
                        for image in images])


def test_a_filter_fitted_on_cells_applies_at_full_size() -> None:
    images = scenes(2, 37)
    linear = fit_linear_filter(images, ops.gaussian_blur(images, torch.full((2,), 2.0)))
    torch.testing.assert_close(apply_linear_filter_at_scale(linear, images, (111, 111)),
                               apply_linear_filter(linear, images), atol=1e-5, rtol=0)
    big = large_scenes(4, 38, 444)  # 4 image pixels per cell pixel
    example, query = big[:2], big[2:]
    sigma = torch.full((2,), 2.0 * 4)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return ops.gaussian_blur(x, sigma, radius=32)

    linear = fit_linear_filter(shrunk(example), shrunk(blur(example)))
    answer = apply_linear_filter_at_scale(linear, query, (111, 111)).clamp(0, 1)
    assert (psnr(answer, blur(query)) > 34).all(), psnr(answer, blur(query))
    assert (psnr(answer, blur(query)) > psnr(query, blur(query)) + 5).all()
    inverted = fit_linear_filter(shrunk(example), shrunk(1 - example))
    answer = apply_linear_filter_at_scale(inverted, query, (111, 111)).clamp(0, 1)
    assert (psnr(answer, 1 - query) > 45).all(), psnr(answer, 1 - query)


def test_fast_fft_lengths_have_no_prime_factor_above_5() -> None:
    assert fast_fft_length(3682, 10_000) == 3750  # a 4k query's padded rows
    assert fast_fft_length(4908, 10_000) == 5000
    assert fast_fft_length(4096, 4096) == 4096  # already fast
    assert fast_fft_length(263, 269) == 263  # none up to the limit: as it was
    assert fast_fft_length(263, 270) == 270


def test_padding_on_to_fast_lengths_changes_answers_only_by_rounding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 327x211 query (padded to 393x253, then to 400x256): the same filtered pixels, to
    float rounding, as with the exact padded lengths."""
    cells = scenes(2, 41)
    query = large_scenes(1, 42, 444)[:, :, :211, :327]
    blurred = ops.gaussian_blur(cells, torch.full((2,), 2.0))
    for outputs in (blurred, 1 - cells, cells + 0.8 * (cells - blurred)):
        linear = fit_linear_filter(cells, outputs).select(torch.tensor([0]))
        fast = apply_linear_filter_at_scale(linear, query, (111, 111))
        with monkeypatch.context() as patch:
            patch.setattr(linear_filter, "fast_fft_length", lambda n, most: n)
            exact = apply_linear_filter_at_scale(linear, query, (111, 111))
        assert fast.shape == exact.shape == query.shape
        assert not torch.equal(fast, exact)  # other lengths, other rounding
        torch.testing.assert_close(fast, exact, atol=2e-4, rtol=0)


def test_guided_answers_keep_a_blur_blurred(tiny_model: MAEVQGAN) -> None:
    """A 444-px prompt whose example pair blurs: the guided answer is the query blurred
    at 444 px, not the 111-px answer re-sharpened along the query's edges."""
    big = large_scenes(2, 39, 444)
    sigma = torch.full((1,), 2.5 * 4)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return ops.gaussian_blur(x, sigma, radius=40)

    pair = (cv.tensor_to_pil(big[0]), cv.tensor_to_pil(blur(big[:1])[0]))
    query, truth = cv.tensor_to_pil(big[1]), blur(big[1:])[0]
    model_config = tiny_model.model_config
    tiny_model.model_config = replace(model_config, detail_radius=12)
    try:
        prompter = VisualPrompter(tiny_model, device="cpu")
        guided = cv.pil_to_tensor(prompter.prompt([pair], query, upscale="guided"))
        as_decoded = cv.pil_to_tensor(prompter.prompt([pair], query, upscale="guided",
                                                      detail=False))
    finally:
        tiny_model.model_config = model_config
    scores = {name: float(psnr(image[None], truth[None])) for name, image in (
        ("guided", guided), ("as decoded", as_decoded), ("query", cv.pil_to_tensor(query)))}
    assert scores["guided"] > 34, scores
    assert scores["as decoded"] < 30, scores  # an untrained model's answer
    assert scores["query"] < 30, scores  # the blur shows


def stripes(seed: int, across: bool) -> torch.Tensor:
    """(1, 3, 111, 111) coloured stripes: a random profile down the cell (horizontal
    stripes), or across it."""
    profile = torch.rand(1, 3, 111, 1, generator=torch.Generator().manual_seed(seed))
    cell = profile.expand(-1, -1, -1, 111)
    return cell.transpose(-1, -2).contiguous() if across else cell.contiguous()


def blur2(x: torch.Tensor) -> torch.Tensor:
    return ops.gaussian_blur(x, torch.full((len(x),), 2.0))


def test_several_pairs_pin_down_what_one_pair_leaves_open() -> None:
    """Horizontal stripes show a blur only down the cell, vertical ones only across it:
    each alone leaves the other way to the ridge, the two together fit the blur itself
    (measured: 36.5 and 36.4 dB alone, 40.5 together)."""
    rows, cols = stripes(40, across=False), stripes(41, across=True)
    query = scenes(1, 42)
    truth = blur2(query)

    def score(linear: LinearFilter) -> float:
        return float(psnr(apply_linear_filter(linear, query).clamp(0, 1), truth))

    singles = [fit_linear_filter(cell, blur2(cell)) for cell in (rows, cols)]
    shown_in = torch.stack([rows, cols], 1)
    shown_out = torch.stack([blur2(rows), blur2(cols)], 1)
    both = fit_linear_filter(shown_in, shown_out)
    assert float(filter_fit(both, shown_in, shown_out)) > 0.99
    assert score(both) > 38, score(both)
    assert score(both) > max(score(s) for s in singles) + 3, [score(s) for s in singles]


def test_padding_pairs_do_not_count() -> None:
    rows, noise = stripes(43, across=False), torch.rand(1, 3, 111, 111)
    alone = fit_linear_filter(rows, blur2(rows))
    shown_in, shown_out = torch.stack([rows, noise], 1), torch.stack([blur2(rows), 1 - noise], 1)
    padded = fit_linear_filter(shown_in, shown_out, pairs=torch.tensor([1]))
    torch.testing.assert_close(padded.kernel, alone.kernel)
    torch.testing.assert_close(padded.out_mean, alone.out_mean)
    torch.testing.assert_close(filter_fit(padded, shown_in, shown_out, torch.tensor([1])),
                               filter_fit(alone, rows, blur2(rows)))
    with pytest.raises(ValueError, match="pairs must be"):
        fit_linear_filter(shown_in, shown_out, pairs=torch.tensor([0]))
    with pytest.raises(ValueError, match="pairs must be"):
        fit_linear_filter(shown_in, shown_out, pairs=torch.tensor([3]))


def test_the_pipeline_fits_the_filter_on_every_pair(tiny_model: MAEVQGAN) -> None:
    """A prompt with both stripe pairs answers with the blur fitted on both; with either
    pair alone, with the blur that pair shows."""
    rows, cols = stripes(44, across=False), stripes(45, across=True)
    pairs = [(cv.tensor_to_pil(cell[0]), cv.tensor_to_pil(blur2(cell)[0])) for cell in (rows, cols)]
    query = scenes(1, 46)
    truth = blur2(query)
    model_config = tiny_model.model_config
    tiny_model.model_config = replace(model_config, detail_radius=12)
    try:
        prompter = VisualPrompter(tiny_model, device="cpu")
        scores = {name: float(psnr(cv.pil_to_tensor(prompter.prompt(shown, cv.tensor_to_pil(
            query[0])))[None], truth)) for name, shown in (
                ("both", pairs), ("rows", pairs[:1]), ("columns", pairs[1:]))}
    finally:
        tiny_model.model_config = model_config
    assert scores["both"] > 38, scores
    assert scores["both"] > max(scores["rows"], scores["columns"]) + 3, scores


def test_a_batch_fits_once_the_thread_count_is_set() -> None:
    """MKL's batched LU solve of 529x529 systems failed once torch's thread count had been
    set (torch 2.13 on an AVX2 CPU), as the pipeline sets it for its work; the Cholesky
    solve does not."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        images = scenes(3, 47)
        linear = fit_linear_filter(images, blur2(images))
        assert (filter_fit(linear, images, blur2(images)) > 0.99).all()
    finally:
        torch.set_num_threads(before)
