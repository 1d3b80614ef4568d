"""Boxes (``visprompt_core.boxes``): which example outputs are one filled rectangle, the
rectangle that best fits an answer, and the pipeline's crisp answers at full size."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from PIL import Image, ImageDraw

from visprompt_core.boxes import FittedBox, find_boxes, fit_box
from visprompt_core.detail import refine_cells
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import VisualPrompter

WHITE, BLACK, RED = torch.ones(3), torch.zeros(3), torch.tensor([0.9, 0.1, 0.1])


def flat(colour: torch.Tensor, h: int = 40, w: int = 50) -> torch.Tensor:
    return colour.view(3, 1, 1).repeat(1, h, w)


def boxed(top: int, bottom: int, left: int, right: int, inside: torch.Tensor = WHITE,
          ground: torch.Tensor = BLACK) -> torch.Tensor:
    out = flat(ground)
    out[:, top:bottom + 1, left:right + 1] = inside.view(3, 1, 1)
    return out


def found(*outputs: torch.Tensor) -> bool:
    stacked = torch.stack(outputs)[None]
    return bool(find_boxes(stacked, torch.ones(1, len(outputs), 1, 1, 1)).found[0])


def test_one_filled_rectangle_on_a_flat_ground_is_a_box() -> None:
    outputs = torch.stack([boxed(5, 20, 10, 30), boxed(3, 9, 0, 49, BLACK, WHITE)])
    plan = find_boxes(outputs[:, None], torch.ones(2, 1, 1, 1, 1))
    assert plan.found.tolist() == [True, True]
    assert torch.equal(plan.inside, torch.stack([WHITE, BLACK]))
    assert torch.equal(plan.ground, torch.stack([BLACK, WHITE]))
    two = boxed(5, 10, 5, 10)
    two[:, 20:30, 30:40] = 1
    disc = flat(BLACK)
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(50), indexing="ij")
    disc[:, (yy - 20) ** 2 + (xx - 25) ** 2 < 100] = 1
    soft = torch.nn.functional.avg_pool2d(boxed(5, 20, 10, 30)[None], 7, 1, 3)[0]  # 3 px
    halves = boxed(0, 19, 0, 49)  # a picture split in two: both colours are rectangles
    faint = boxed(5, 20, 10, 30, torch.full((3,), 0.6), torch.full((3,), 0.5))
    for output in (two, disc, soft, halves, faint, flat(WHITE)):
        assert not found(output)


def test_every_real_pair_must_show_a_box_in_the_same_colours() -> None:
    assert found(boxed(5, 20, 10, 30), boxed(1, 2, 3, 4))
    assert not found(boxed(5, 20, 10, 30), boxed(1, 2, 3, 4, RED))
    assert not found(boxed(5, 20, 10, 30), flat(WHITE))
    padded = find_boxes(torch.stack([boxed(5, 20, 10, 30), flat(WHITE)])[None],
                        torch.tensor([1.0, 0.0]).view(1, 2, 1, 1, 1))
    assert bool(padded.found[0])


def test_the_fit_finds_the_rectangle_under_a_blotchy_answer() -> None:
    generator = torch.Generator().manual_seed(0)
    truth = boxed(8, 27, 12, 41)
    blotch = (truth + 0.35 * torch.randn(truth.shape, generator=generator)).clamp(0, 1)
    blotch[:, 10:14, 15:20] = 0  # a hole the model left
    blotch[:, 33:36, 2:5] = 1  # a speck elsewhere
    box = fit_box(blotch, WHITE, BLACK)
    assert box is not None
    assert (box.top, box.bottom, box.left, box.right) == (8, 27, 12, 41)
    assert torch.equal(box.draw(40, 50), truth)
    assert fit_box(flat(BLACK), WHITE, BLACK) is None  # nothing nearer the box colour


def test_the_fit_is_the_rectangle_of_largest_evidence() -> None:
    """Against every rectangle of small random answers."""
    generator = torch.Generator().manual_seed(1)
    for _ in range(40):
        h, w = torch.randint(1, 8, (2,), generator=generator).tolist()
        answer = torch.rand(3, h, w, generator=generator)
        evidence = (answer.sum(0) - (3 - answer.sum(0))) / 3  # nearer white than black
        box = fit_box(answer, WHITE, BLACK)
        if not bool((evidence > 0).any()):
            assert box is None
            continue
        assert box is not None
        best = max(float(evidence[t:b + 1, left:r + 1].sum())
                   for t in range(h) for b in range(t, h)
                   for left in range(w) for r in range(left, w))
        got = float(evidence[box.top:box.bottom + 1, box.left:box.right + 1].sum())
        assert abs(got - best) < 1e-4


def test_a_box_scales_to_any_size() -> None:
    box = FittedBox(10, 29, 0, 54, 111, 111, RED, WHITE)
    big = box.draw(444, 222)
    inside = (big - RED.view(3, 1, 1)).abs().amax(0) < 1e-6
    rows, cols = inside.any(1).nonzero().flatten(), inside.any(0).nonzero().flatten()
    assert (int(rows[0]), int(rows[-1]) + 1) == (40, 120)
    assert (int(cols[0]), int(cols[-1]) + 1) == (0, 110)
    assert int(inside.sum()) == 80 * 110


def test_a_colour_map_keeps_a_mask_that_happens_to_be_a_rectangle() -> None:
    """The mask of the red shape, which is a rectangle: the colour map answers it (the
    query's red pixels), not the box fit."""
    paper = torch.tensor([0.95, 0.93, 0.88])
    picture = boxed(5, 20, 10, 30, RED, paper)
    mask = boxed(5, 20, 10, 30)
    query = flat(paper)
    query[:, 25:35, 2:8] = RED.view(3, 1, 1)
    query[:, 2:6, 40:48] = RED.view(3, 1, 1)
    answer = torch.full((1, 3, 40, 50), 0.5)
    refined = refine_cells(answer, picture[None], mask[None], query[None],
                           lambda rows: query[None][rows], 12, 3e-4)
    assert refined.boxes == {} and 0 in refined.colour_maps
    expected = flat(BLACK)
    expected[:, 25:35, 2:8] = 1
    expected[:, 2:6, 40:48] = 1
    assert torch.equal(refined.answers[0], expected)


def shapes_and_box(seed: int, size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
    """A picture of two shapes and its bounding-box mask (white on black)."""
    rng = np.random.default_rng(seed)
    w, h = size
    picture = Image.new("RGB", size, (235, 230, 220))
    draw = ImageDraw.Draw(picture)
    corners = []
    for _ in range(2):
        left, top = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        right, bottom = left + int(rng.integers(30, w // 2)), top + int(rng.integers(30, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 200, 3))
        draw.ellipse((left, top, right, bottom), fill=colour)
        corners.append((left, top, right, bottom))
    mask = Image.new("RGB", size, (0, 0, 0))
    ImageDraw.Draw(mask).rectangle((min(c[0] for c in corners), min(c[1] for c in corners),
                                    max(c[2] for c in corners), max(c[3] for c in corners)),
                                   fill=(255, 255, 255))
    return picture, mask


def test_the_pipeline_answers_a_box_pair_with_a_crisp_rectangle(tiny_model: MAEVQGAN) -> None:
    example, query = shapes_and_box(1, (400, 300)), shapes_and_box(2, (320, 480))[0]
    model_config = tiny_model.model_config
    tiny_model.model_config = replace(model_config, detail_radius=12)
    try:
        prompter = VisualPrompter(tiny_model, device="cpu")
        answer = np.asarray(prompter.prompt([example], query))
        decoded = np.asarray(prompter.prompt([example], query, detail=False))
    finally:
        tiny_model.model_config = model_config
    assert answer.shape == (480, 320, 3)
    white = (answer == 255).all(2)
    assert ((answer == 0).all(2) | white).all()  # two colours only
    rows, cols = white.any(1).nonzero()[0], white.any(0).nonzero()[0]
    assert white.any() and white[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
    assert len(np.unique(decoded.reshape(-1, 3), axis=0)) > 2  # the model's own blotch


def test_a_box_resampled_into_a_cell_is_still_a_box() -> None:
    """Crisp shapes drawn at 400x300 and shrunk to a 111-px cell (bicubic): the box's
    edges blend its two colours and it still counts; a shrunk disc does not."""
    def shrunk(draw_shape: str) -> torch.Tensor:
        image = Image.new("RGB", (400, 300), (20, 30, 200))
        shape = getattr(ImageDraw.Draw(image), draw_shape)
        shape((57, 41, 301, 203), fill=(250, 240, 10))
        small = image.resize((111, 111), Image.Resampling.BICUBIC)
        return torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1).float() / 255

    box = shrunk("rectangle")
    assert len(torch.unique(box.flatten(1), dim=1).T) > 2  # blended edges
    assert found(box)
    assert not found(shrunk("ellipse"))
