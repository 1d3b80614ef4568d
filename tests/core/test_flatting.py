"""Flatting: areas closed by a line take its colour; the gate; the recipe using it."""

from __future__ import annotations

import pytest
import torch

from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import psnr
from visprompt_core.detail import refine_cells
from visprompt_core.flatting import (
    FRAME_CONTACT,
    NOISE_PIXELS,
    OUTSIDE,
    _immediate_enclosers,
    _numbered,
    fill_enclosed,
    fill_explains,
    pair_fills,
)
from visprompt_core.pipeline import VisualPrompter
from visprompt_core.regions import region_labels

RED, BLUE = (0.85, 0.1, 0.15), (0.1, 0.2, 0.8)
SIZE = 64


def disc(cy: float, cx: float, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, H, W) bool: a disc's 3-px outline and the whole disc."""
    y, x = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    distance = ((y - cy) ** 2 + (x - cx) ** 2).sqrt()
    whole = distance < radius
    return (whole & (distance >= radius - 3))[None], whole[None]


def striped_paper() -> torch.Tensor:
    """(1, 3, H, W): paper with 4-px stripes in two tones, a texture of many regions."""
    tone = (torch.arange(SIZE) // 4 % 2).float().view(1, 1, 1, SIZE)
    return (0.75 + 0.2 * tone).expand(1, 3, SIZE, SIZE).clone()


def paint(image: torch.Tensor, mask: torch.Tensor, colour: tuple[float, float, float]
          ) -> torch.Tensor:
    return torch.where(mask[:, None], torch.tensor(colour).view(1, 3, 1, 1), image)


def test_areas_closed_by_a_line_take_its_colour() -> None:
    outline, whole = disc(30, 30, 18)
    query = paint(striped_paper(), outline, RED)
    filled = fill_enclosed(query)
    assert torch.equal(filled, paint(striped_paper(), whole, RED))  # stripes inside too
    # Nested lines: the innermost line colours what it closes.
    inner_outline, inner = disc(30, 30, 8)
    nested = paint(query, inner_outline, BLUE)
    assert torch.equal(fill_enclosed(nested),
                       paint(paint(striped_paper(), whole, RED), inner, BLUE))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        fill_enclosed(query[0])


def test_noise_is_left_alone() -> None:
    """A picture split into more regions than one per ``NOISE_PIXELS`` pixels (grain,
    noise) is left as it is, before its region graph is walked: the same outline closes
    its area on paper with some grain, and not on paper with more."""
    outline, whole = disc(30, 30, 18)
    generator = torch.Generator().manual_seed(0)
    grain = torch.rand(1, 1, SIZE, SIZE, generator=generator)
    limit = SIZE * SIZE // NOISE_PIXELS
    for share, dense in ((0.15, False), (0.5, True)):  # of the pixels grainy
        grainy = torch.where(grain < share, 0.3 + 0.6 * grain / share, torch.tensor(0.5))
        query = paint(grainy.expand(1, 3, SIZE, SIZE), outline, RED)
        assert (len(torch.unique(region_labels(query))) > limit) == dense
        expected = query if dense else paint(grainy.expand(1, 3, SIZE, SIZE), whole, RED)
        assert torch.equal(fill_enclosed(query), expected)


def test_regions_are_numbered_in_their_names_order() -> None:
    outline, _ = disc(30, 30, 18)
    labels = region_labels(paint(striped_paper(), outline, RED))[0]
    numbered, count = _numbered(labels)
    names, order = torch.unique(labels, return_inverse=True)
    assert count == len(names) and torch.equal(numbered, order)


def test_blank_paper_between_two_outlines_is_an_area() -> None:
    """On flat paper, the blank ring between an outline and one drawn inside it is paper,
    not a line (though it closes the inner outline): it takes the outer line's colour,
    and the inner outline keeps its own and fills its inside."""
    paper = torch.full((1, 3, SIZE, SIZE), 0.9)
    outer, outer_whole = disc(30, 30, 24)
    inner, inner_whole = disc(30, 30, 9)
    drawn = paint(paint(paper, outer, RED), inner, BLUE)
    assert torch.equal(fill_enclosed(drawn), paint(paint(paper, outer_whole, RED),
                                                   inner_whole, BLUE))


def test_the_frame_is_no_line() -> None:
    paper = torch.full((1, 3, SIZE, SIZE), 0.9)
    # A flat background encloses a closed outline and everything in it, but it touches
    # the border all round: the outline keeps its place, its inside takes its colour.
    outline, whole = disc(30, 30, 18)
    assert torch.equal(fill_enclosed(paint(paper, outline, RED)), paint(paper, whole, RED))
    # An outline that touches the border at a few pixels still closes its inside ...
    touching, touching_whole = disc(30, 32, 30.2)
    contact = int(touching[0, 0].sum() + touching[0, -1].sum() + touching[0, :, 0].sum()
                  + touching[0, :, -1].sum())
    assert 0 < contact <= FRAME_CONTACT
    assert torch.equal(fill_enclosed(paint(paper, touching, RED)),
                       paint(paper, touching_whole, RED))
    # ... one the border cuts leaves it open: nothing changes.
    cut, _ = disc(30, 4, 18)
    open_outline = paint(paper, cut, RED)
    assert torch.equal(fill_enclosed(open_outline), open_outline)
    # More contact than FRAME_CONTACT makes a region frame, as a background is.
    assert torch.equal(fill_enclosed(paint(paper, touching, RED), frame_contact=contact - 1),
                       paint(paper, touching, RED))


def test_the_gate_passes_filled_outlines_only() -> None:
    outline, whole = disc(30, 30, 18)
    query = paint(striped_paper(), outline, RED)
    erased = striped_paper()  # the outline taken away: filling only makes it worse
    passed = fill_explains(torch.cat([query, query, query]),
                           torch.cat([paint(striped_paper(), whole, RED), erased, query]))
    assert passed.tolist() == [True, False, False]  # nothing to gain from an unchanged pair
    # Real example pairs of every family: only outline_to_fill passes (not all of them:
    # rings keep their holes, and the border cuts some outlines open).
    episodes = generate_batch(2 * 19, episode_seed("eval", 51))
    passed = fill_explains(episodes.examples_in[:, 0], episodes.examples_out[:, 0])
    names = episodes.names
    assert all(name == "outline_to_fill" for name, ok in zip(names, passed.tolist()) if ok)
    episodes = generate_batch(8, episode_seed("eval", 52), tasks=["outline_to_fill"])
    assert int(fill_explains(episodes.examples_in[:, 0], episodes.examples_out[:, 0]).sum()) >= 4


def test_the_recipe_fills_where_every_example_pair_is_filled() -> None:
    example_outline, example_whole = disc(30, 30, 18)
    example = (paint(striped_paper(), example_outline, RED),
               paint(striped_paper(), example_whole, RED))
    query_outline, query_whole = disc(36, 26, 14)
    query = paint(striped_paper(), query_outline, BLUE)
    truth = paint(striped_paper(), query_whole, BLUE)
    soft = 0.5 * query + 0.5 * truth  # the model's answer: half-way there
    mirrored = query, query.flip(-1)  # a mirror image: no fill shown

    def never(rows: torch.Tensor) -> torch.Tensor:
        raise AssertionError("no colour transfer expected")

    pairs_in = torch.stack([example[0], mirrored[0]], 1).expand(2, -1, -1, -1, -1)
    pairs_out = torch.stack([example[1], mirrored[1]], 1).expand(2, -1, -1, -1, -1)
    refined = refine_cells(torch.cat([soft, soft]), pairs_in, pairs_out,
                           torch.cat([query, query]), never, 12, 3e-4,
                           pairs=torch.tensor([1, 2]))
    assert float(psnr(refined.answers[:1], truth)) == 100  # one pair: filled
    assert torch.equal(refined.answers[1:], soft)  # the mirrored pair is no fill
    untouched = refine_cells(soft, example[0], example[1], query, never, 12, 3e-4,
                             regions=False)
    assert torch.equal(untouched.answers, soft)


def test_a_full_size_fill_falls_back_to_the_guided_filter(tiny_prompter: VisualPrompter
                                                          ) -> None:
    """A filled answer cell whose query closes nothing at the answer size (here: no lines
    at all) is upscaled by the guided filter, as an unfilled one is; a query whose lines
    close areas is filled at that size."""
    from PIL import Image

    from visprompt_core import canvas as cv
    from visprompt_core.pipeline import PromptRequest

    blank = Image.new("RGB", (400, 300), (240, 235, 220))
    request = PromptRequest([(blank, blank)], blank, upscale="guided")
    cell = torch.rand(3, 111, 111)
    guided = tiny_prompter._upscale(request, cell)
    unfilled = cv.pil_to_tensor(tiny_prompter._upscale(request, cell, filled=True))
    assert torch.equal(unfilled, cv.pil_to_tensor(guided))
    outline, whole = disc(30, 30, 18)
    drawn = cv.tensor_to_pil(paint(striped_paper(), outline, RED)[0]).resize((256, 256))
    request = PromptRequest([(blank, blank)], drawn, upscale="guided")
    filled = cv.pil_to_tensor(tiny_prompter._upscale(request, cell, filled=True))
    truth = cv.pil_to_tensor(cv.tensor_to_pil(paint(striped_paper(), whole, RED)[0])
                             .resize((256, 256)))
    assert float(psnr(filled[None], truth[None])) > 30


def test_enclosers_are_the_immediate_dominators() -> None:
    """Against the definition on random region graphs: a region's enclosers are the
    regions without which it cannot reach the outside; its immediate one is the
    encloser that every other encloser also encloses."""
    gen = torch.Generator().manual_seed(5)

    def reaches_outside(count: int, pairs: list[tuple[int, int]], on_border: list[bool],
                        removed: int) -> set[int]:
        seen = {r for r in range(count) if on_border[r] and r != removed}
        todo = list(seen)
        while todo:
            node = todo.pop()
            for a, b in pairs:
                other = b if a == node else a if b == node else None
                if other is not None and other != removed and other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    for _ in range(300):
        count = int(torch.randint(1, 14, (1,), generator=gen))
        edges = torch.randint(0, count, (int(torch.randint(0, 3 * count, (1,),
                                                           generator=gen)), 2), generator=gen)
        pairs = sorted({(min(a, b), max(a, b)) for a, b in edges.tolist() if a != b})
        on_border = (torch.rand(count, generator=gen) < 0.3).tolist()
        reached = reaches_outside(count, pairs, on_border, removed=-1)
        enclosers = {r: {v for v in range(count) if v != r and r in reached
                         and r not in reaches_outside(count, pairs, on_border, removed=v)}
                     for r in range(count)}
        found = _immediate_enclosers(count, pairs, torch.tensor(on_border))
        for region in range(count):
            own = enclosers[region]
            innermost = [v for v in own if own - {v} <= enclosers[v]]
            assert found[region] == (innermost[0] if innermost else OUTSIDE)


def antialiased_rings(size: int, width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, size, size) each: two ring outlines ``width`` px wide, drawn at 4x and reduced
    (antialiased), on paper; and the same rings filled."""
    big = 4 * size
    y, x = torch.meshgrid(torch.arange(big) + 0.5, torch.arange(big) + 0.5, indexing="ij")
    paper = torch.tensor([0.96, 0.94, 0.88]).view(3, 1, 1).expand(3, big, big)
    outline, filled = paper.clone(), paper.clone()
    for (cy, cx, radius), colour in (((0.35, 0.35, 0.22), RED), ((0.62, 0.66, 0.25), BLUE)):
        distance = ((y - cy * big) ** 2 + (x - cx * big) ** 2).sqrt()
        ink = torch.tensor(colour).view(3, 1, 1)
        outline = torch.where((distance < radius * big) & (distance >= radius * big
                                                           - 4 * width), ink, outline)
        filled = torch.where(distance < radius * big, ink, filled)
    return (torch.nn.functional.avg_pool2d(outline[None], 4)[0],
            torch.nn.functional.avg_pool2d(filled[None], 4)[0])


def test_the_pair_gate_at_full_size_reads_thin_antialiased_lines() -> None:
    """Lines 2.5 px wide at 512 px, antialiased: about half a pixel in the 111-px cell,
    where the cell's gate sees no closed areas; at the pair's own size it does."""
    example_in, example_out = antialiased_rings(512, 2.5)
    assert pair_fills(example_in, example_out)
    cell_in, cell_out = (torch.nn.functional.interpolate(x[None], size=(111, 111),
                                                         mode="area")
                         for x in (example_in, example_out))
    assert not bool(fill_explains(cell_in, cell_out)[0])
    # Other changes fail: the output mirrored; most pixels changed (no fill is tried).
    assert not pair_fills(example_in, example_out.flip(-1))
    assert not pair_fills(example_in, 1 - example_in)
    with pytest.raises(ValueError, match="one size"):
        pair_fills(example_in, example_out[:, :100])
