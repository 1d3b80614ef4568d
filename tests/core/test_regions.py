"""Region recolouring: the regions, the snapping, its gate, and the recipe using it."""

from __future__ import annotations

import pytest
import torch

from visprompt_core.data import ops
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import psnr
from visprompt_core.detail import refine_cells
from visprompt_core.regions import region_labels, regions_explain, snap_to_regions

RED, BLUE, PAPER = (0.85, 0.1, 0.15), (0.1, 0.2, 0.8), (0.95, 0.93, 0.88)


def ring(size: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(1, H, W) bool masks: a red ring's outline, its inside, everything it encloses."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius = ((y - size / 2) ** 2 + (x - size / 2) ** 2).sqrt()
    disc = radius < size / 3
    outline = disc & (radius >= size / 3 - 3)
    return outline[None], (disc & ~outline)[None], disc[None]


def paint(masks_colours: list[tuple[torch.Tensor, tuple[float, float, float]]],
          size: int = 48) -> torch.Tensor:
    """(1, 3, H, W): paper, then each mask painted in its colour."""
    image = torch.tensor(PAPER).view(1, 3, 1, 1).expand(1, 3, size, size).clone()
    for mask, colour in masks_colours:
        image = torch.where(mask[:, None], torch.tensor(colour).view(1, 3, 1, 1), image)
    return image


def test_regions_are_connected_runs_of_close_colours() -> None:
    outline, inside, _ = ring()
    image = paint([(outline, RED)])
    labels = region_labels(image)[0]
    assert len(labels.unique()) == 3  # paper outside, the ring, paper inside
    assert len(labels[inside[0]].unique()) == 1 and len(labels[outline[0]].unique()) == 1
    assert int(labels[inside[0]][0]) != int(labels[0, 0])  # the ring closes it off
    ramp = torch.linspace(0, 1, 48).view(1, 1, 1, 48).expand(1, 3, 48, 48)
    assert len(region_labels(ramp).unique()) == 1  # gentle steps chain into one region
    assert len(region_labels(ramp, tolerance=0.01).unique()) == 48


def flood_labels(image: torch.Tensor, tolerance: float) -> torch.Tensor:
    """The definition, pixel by pixel: flood fill from each unlabelled pixel in row-major
    order, so each region is named by its smallest flat index."""
    _, h, w = image.shape
    labels = torch.full((h, w), -1, dtype=torch.long)
    for start in range(h * w):
        if labels.view(-1)[start] >= 0:
            continue
        todo = [divmod(start, w)]
        labels.view(-1)[start] = start
        while todo:
            y, x = todo.pop()
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if (0 <= ny < h and 0 <= nx < w and labels[ny, nx] < 0 and float(
                        (image[:, ny, nx] - image[:, y, x]).abs().max()) < tolerance):
                    labels[ny, nx] = start
                    todo.append((ny, nx))
    return labels


def test_region_labels_follow_the_definition() -> None:
    """Random few-colour pictures (many small regions, rows and columns that snake) and a
    spiral, in one batch, against a flood fill."""
    generator = torch.Generator().manual_seed(5)
    pictures = (torch.randint(0, 3, (3, 1, 23, 31), generator=generator) / 2).expand(
        3, 3, 23, 31).clone()
    pictures[1] += torch.rand(3, 23, 31, generator=generator) * 0.05  # grain within tol.
    y, x = torch.meshgrid(torch.arange(23), torch.arange(31), indexing="ij")
    spiral = (((y - 11).float().atan2((x - 15).float()) * 3 + ((y - 11) ** 2 + (x - 15) ** 2)
               .float().sqrt()) // 2 % 2).float()
    pictures[2] = spiral.expand(3, 23, 31)
    labels = region_labels(pictures)
    for picture, found in zip(pictures, labels):
        assert torch.equal(found, flood_labels(picture, 0.08))


def test_a_soft_answer_snaps_to_the_query_regions() -> None:
    outline, _, disc = ring()
    query, truth = paint([(outline, RED)]), paint([(disc, RED)])
    soft = ops.gaussian_blur(truth, torch.full((1,), 3.0)) * 0.8 + 0.1
    assert float(psnr(soft, truth)) < 20
    assert float(psnr(snap_to_regions(query, soft), truth)) == 100  # exact
    # An answer 60 % of the way to the filled ring keeps the query: painting's squared
    # error there (0.4^2) is 0.44 times keeping's (0.6^2), above REPAINT_MARGIN (0.4).
    hint = 0.4 * query + 0.6 * truth
    assert torch.equal(snap_to_regions(query, hint), query)
    assert float(psnr(snap_to_regions(query, hint, margin=1.0), truth)) == 100
    with pytest.raises(ValueError, match="equal"):
        snap_to_regions(query, soft[..., :40])


def test_the_gate_passes_region_tasks_only() -> None:
    outline, _, disc = ring()
    square = torch.zeros(1, 48, 48, dtype=torch.bool)
    square[:, 4:14, 30:44] = True
    filled = paint([(outline, RED)]), paint([(disc, RED)])
    swapped = paint([(disc, RED), (square, BLUE)]), paint([(disc, BLUE), (square, RED)])
    recoloured = swapped[0], paint([(disc, (0.2, 0.7, 0.2)), (square, BLUE)])
    masked = swapped[0], disc[:, None].float().expand(1, 3, 48, 48)
    pairs = [filled, swapped, recoloured, masked, (swapped[0], swapped[0].flip(-1)),
             (swapped[0], swapped[0])]
    passed = regions_explain(torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]))
    # filled outlines and swapped colours pass; a new colour, a mask, a mirror image and
    # an unchanged image (nothing to gain) do not
    assert passed.tolist() == [True, True, False, False, False, False]
    episodes = generate_batch(12, episode_seed("eval", 50), tasks=[
        "outline_to_fill", "fg_mask", "blur", "hflip", "invert", "edges"])
    passed = regions_explain(episodes.examples_in[:, 0], episodes.examples_out[:, 0])
    assert passed.tolist() == [name == "outline_to_fill" for name in episodes.names]


def test_the_recipe_snaps_where_the_examples_are_region_tasks() -> None:
    # Red and blue trade places; green and yellow stay (so no colour map or filter can
    # tell the regions apart: the snapping does it).
    _, _, disc = ring()
    boxes = torch.zeros(3, 1, 48, 48, dtype=torch.bool)
    boxes[0, :, 4:14, 30:44] = boxes[1, :, 36:46, 2:12] = boxes[2, :, 38:46, 34:46] = True
    square, green, yellow = boxes
    kept = [(green, (0.2, 0.7, 0.2)), (yellow, (0.9, 0.8, 0.1))]
    example = (paint([(disc, RED), (square, BLUE), *kept]),
               paint([(disc, BLUE), (square, RED), *kept]))
    moved = disc.roll(3, -1), square.roll(3, -2)
    query = paint([(moved[0], RED), (moved[1], BLUE), *kept])
    truth = paint([(moved[0], BLUE), (moved[1], RED), *kept])
    soft = ops.gaussian_blur(truth, torch.full((1,), 3.0)) * 0.8 + 0.1
    mirrored = example[0], example[0].roll(20, -1)  # no region task (moved: no refinement)
    inputs, outputs = torch.cat([example[0], mirrored[0]]), torch.cat([example[1], mirrored[1]])

    def exact(rows: torch.Tensor) -> torch.Tensor:  # the tokenizer's query: exact here
        return torch.cat([query, query])[rows]

    refined = refine_cells(torch.cat([soft, soft]), inputs, outputs, torch.cat([query, query]),
                           exact, 12, 3e-4)
    assert float(psnr(refined.answers[:1], truth)) == 100
    assert torch.equal(refined.unfiltered[:1], refined.answers[:1])
    assert torch.equal(refined.answers[1:], soft)  # unchanged: no region task shown
    # With several pairs, every real pair must be a region task; padding does not count.
    pairs_in = torch.stack([example[0], mirrored[0]], 1).expand(2, -1, -1, -1, -1)
    pairs_out = torch.stack([example[1], mirrored[1]], 1).expand(2, -1, -1, -1, -1)
    both = refine_cells(torch.cat([soft, soft]), pairs_in, pairs_out, torch.cat([query, query]),
                        exact, 12, 3e-4, pairs=torch.tensor([1, 2]))
    assert float(psnr(both.answers[:1], truth)) == 100
    assert torch.equal(both.answers[1:], soft)
