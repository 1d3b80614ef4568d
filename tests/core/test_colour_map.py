"""Pointwise colour maps (``visprompt_core.colour_map``): the lookup table, its gate, and
the pipeline's answers at the cell and at full size."""

from __future__ import annotations

from dataclasses import replace

import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.colour_map import MAX_SPREAD, apply_colour_maps, fit_colour_maps
from visprompt_core.data.metrics import psnr
from visprompt_core.linear_filter import stack_pairs
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import VisualPrompter

RED, GREEN, BLUE, PAPER = (0.9, 0.1, 0.1), (0.1, 0.7, 0.2), (0.1, 0.2, 0.9), (0.95, 0.93, 0.88)


def shapes(size: int, colours: list[tuple[float, float, float]], seed: int) -> torch.Tensor:
    """(3, H, W): paper with a few boxes of ``colours`` at random places."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.tensor(PAPER).view(3, 1, 1).repeat(1, size, size)
    for colour in colours:
        top, left = torch.randint(0, size // 2, (2,), generator=generator).tolist()
        height, width = torch.randint(size // 6, size // 2, (2,), generator=generator).tolist()
        image[:, top:top + height, left:left + width] = torch.tensor(colour).view(3, 1, 1)
    return image


def swapped(image: torch.Tensor) -> torch.Tensor:
    """Red and blue trade places; everything else stays."""
    red = (image - torch.tensor(RED).view(3, 1, 1)).abs().amax(0) < 1e-6
    blue = (image - torch.tensor(BLUE).view(3, 1, 1)).abs().amax(0) < 1e-6
    out = image.clone()
    out[:, red] = torch.tensor(BLUE).view(3, 1)
    out[:, blue] = torch.tensor(RED).view(3, 1)
    return out


def maps_of(inputs: torch.Tensor, outputs: torch.Tensor, pairs: torch.Tensor | None = None):
    return fit_colour_maps(*stack_pairs(inputs, outputs, pairs))


def test_a_palette_swap_maps_the_query_exactly() -> None:
    example = shapes(64, [RED, BLUE, GREEN], seed=1)
    query = shapes(64, [BLUE, GREEN, RED, BLUE], seed=2)
    maps = maps_of(example[None], swapped(example)[None])
    assert bool(maps.explains()[0]) and float(maps.spread[0]) == 0
    unknown = torch.full((1, 3, 64, 64), 0.5)
    assert torch.equal(apply_colour_maps(maps, query[None], unknown), swapped(query)[None])


def test_colours_the_examples_do_not_show_keep_the_answer() -> None:
    example = shapes(64, [RED, BLUE], seed=1)
    query = shapes(64, [GREEN, RED], seed=3)  # green is new
    maps = maps_of(example[None], swapped(example)[None])
    answer = torch.full((1, 3, 64, 64), 0.5)
    out = apply_colour_maps(maps, query[None], answer)[0]
    green = (query - torch.tensor(GREEN).view(3, 1, 1)).abs().amax(0) < 1e-6
    assert bool(green.any())
    assert torch.equal(out[:, green], answer[0][:, green])
    assert torch.equal(out[:, ~green], swapped(query)[:, ~green])


def test_spatial_tasks_fail_the_gate() -> None:
    """A flip and a blur give one colour different outputs in different places."""
    example = shapes(64, [RED, BLUE, GREEN], seed=4)
    blurred = torch.nn.functional.avg_pool2d(example[None], 5, 1, 2, count_include_pad=False)
    maps = maps_of(torch.stack([example, example]), torch.stack([example.flip(-1),
                                                                 blurred[0]]))
    assert not bool(maps.explains().any())
    assert float(maps.spread.min()) > MAX_SPREAD


def test_several_pairs_make_one_table_and_padding_does_not_count() -> None:
    """The second pair shows blue, which the first lacks; a padding pair that would
    contradict the map is ignored."""
    first, second = shapes(48, [RED, GREEN], seed=5), shapes(48, [BLUE], seed=6)
    inputs = torch.stack([first, second, first])[None]
    outputs = torch.stack([swapped(first), swapped(second), first.flip(-1)])[None]
    maps = maps_of(inputs, outputs, torch.tensor([2]))
    assert bool(maps.explains()[0])
    query = shapes(48, [BLUE, RED, GREEN], seed=7)
    out = apply_colour_maps(maps, query[None], torch.zeros(1, 3, 48, 48))
    assert torch.equal(out[0], swapped(query))
    every = maps_of(inputs, outputs)  # with the flipped third pair counted
    assert not bool(every.explains()[0])


def test_the_pipeline_answers_a_palette_swap_at_full_size(tiny_model: MAEVQGAN) -> None:
    """Through ``prompt``, with the detail recipe on: the tiny model's own answer is
    noise; the map makes it the swapped query at 400 px (guided or bicubic upscale) and
    at 111 px, and the answer as decoded stays far from it."""
    example = shapes(333, [RED, BLUE, GREEN], seed=8)
    query = shapes(400, [BLUE, GREEN, RED], seed=9)
    pair = (cv.tensor_to_pil(example), cv.tensor_to_pil(swapped(example)))
    truth = swapped(query)[None]
    query_image = cv.tensor_to_pil(query)
    model_config = tiny_model.model_config
    tiny_model.model_config = replace(model_config, detail_radius=12)
    try:
        prompter = VisualPrompter(tiny_model, device="cpu")
        full = cv.pil_to_tensor(prompter.prompt([pair], query_image))[None]
        small = prompter.prompt([pair], query_image, answer_size=(111, 111))
        bicubic = cv.pil_to_tensor(prompter.prompt([pair], query_image, upscale="bicubic"))
        plain = cv.pil_to_tensor(prompter.prompt([pair], query_image, detail=False))[None]
    finally:
        tiny_model.model_config = model_config
    assert float(psnr(full, truth)) > 40
    assert float(psnr(bicubic[None], truth)) > 40  # the map over the bicubic answer, in bands
    small_truth = cv.tensor_to_pil(truth[0]).resize((111, 111), Image.Resampling.BICUBIC)
    # at 111 px some edge pixels mix colours the example's cells do not show: the model's
    assert float(psnr(cv.pil_to_tensor(small)[None], cv.pil_to_tensor(small_truth)[None])) > 20
    assert float(psnr(plain, truth)) < 20
