"""Flatting: where the example pair fills the areas its lines close, fill the query's.

Filling line art with the colour of its lines is what a flatting tool does for a comic
colourist, and what the ``outline_to_fill`` family asks for. The model's answer to it is
soft and a weak guide to which areas to fill (docs/quality.md, "Region recolouring"); the
areas themselves are plain to see in the query. The query's regions
(``regions.region_labels``) form a graph: regions that share a pixel edge are joined, and
the regions touching the cell's border are joined to the outside. A region *encloses*
another when every path from that other region to the outside passes through it, as a
closed outline does its inside, whatever textures and gradients lie within. Each region
takes the colour of the innermost region enclosing it that is not part of the frame
(``fill_enclosed``) nor blank paper (a region coloured like the frame region enclosing
it, such as the ring between an outline and one drawn inside it: an area, though it
encloses the inner outline). The frame is any region touching the border along more than
``FRAME_CONTACT`` pixels: a background encloses every shape drawn on it but is no line,
while an outline may touch the border at a point.

Gate (``fill_explains``): filling the example input must bring it ``GATE_GAIN`` dB closer
to the example output. Of 1,728 example pairs of the other 18 families (2x2 and 3x2),
none gained more than 0.41 dB; about three quarters of ``outline_to_fill`` pairs pass
(the rest show rings, whose holes the fill closes, or shapes the border cuts open).
Measured in docs/quality.md (section 0, "Flatting").

At the pictures' own size (``pair_fills``, ``GATE_SIZE``, ``FILL_SIZE``): antialiased line
art drawn thin for the 111-px cell falls apart there into many regions and closes
nothing; the pipeline checks such pairs at their own size and fills the query at its own.
Enclosers come from one biconnected-components search (``_immediate_enclosers``), linear
in regions and touching pairs. Noise (more regions than one per ``NOISE_PIXELS`` pixels)
is left as it is before the graph is built.
"""

from __future__ import annotations

import torch

from visprompt_core.data.metrics import psnr
from visprompt_core.data.procedural import CELL
from visprompt_core.regions import REGION_TOLERANCE, region_labels

# A region touching the cell's border along more pixels than this is frame, not line.
FRAME_CONTACT = 10
# The gate: filling the example input must bring it this many dB closer to the output.
GATE_GAIN = 1.5
# Images split into more regions than one per NOISE_PIXELS pixels (noise, film grain:
# about one region per pixel) or than MAX_REGIONS are left as they are, before the
# region graph is walked. At the 111-px cell that is 2,053 regions; the synthetic
# families' non-noisy cells have at most a few hundred.
NOISE_PIXELS = 6
MAX_REGIONS = 50_000
# The pair gate at the pair's own size (``pair_fills``) reads pairs up to this size
# (longer side, px) and only pairs whose output keeps at least UNCHANGED_SHARE of the
# input's pixels (within UNCHANGED_TOLERANCE): a fill leaves the lines and the frame.
GATE_SIZE = 1024
UNCHANGED_SHARE, UNCHANGED_TOLERANCE = 0.5, 0.1
# A filled answer is the query filled at its own size up to this (longer side, px),
# then brought to the answer size.
FILL_SIZE = 2048

OUTSIDE = -1  # the enclosing "region" of everything that touches the border


def fill_enclosed(images: torch.Tensor, frame_contact: int = FRAME_CONTACT) -> torch.Tensor:
    """(B, C, H, W) -> float32 (B, C, H, W): each region (``regions.region_labels``) in
    the mean colour of the innermost region enclosing it that touches the border along
    at most ``frame_contact`` pixels and is not blank paper (``_paper``), or as it was
    where none does; a region that so colours others (a line) keeps its own. On the CPU
    (the graph is walked in Python), returned on the images' device."""
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got {tuple(images.shape)}")
    cells = images.float().cpu()
    labels = region_labels(cells)  # one batched call; each image's regions filled alone
    filled = [_fill_one(cell, cell_labels, frame_contact)
              for cell, cell_labels in zip(cells, labels)]
    return torch.stack(filled).to(images.device)


def fill_explains(example_in: torch.Tensor, example_out: torch.Tensor,
                  frame_contact: int = FRAME_CONTACT) -> torch.Tensor:
    """(B,) bool: filling the example input (``fill_enclosed``) brings it at least
    ``GATE_GAIN`` dB closer to the example output ((B, C, H, W) each)."""
    filled = fill_enclosed(example_in, frame_contact)
    gain = psnr(filled, example_out) - psnr(example_in, example_out)
    return gain >= GATE_GAIN


def frame_contact_at(side: int, cell: int = CELL) -> int:
    """``FRAME_CONTACT`` (which holds for the ``cell``-px answer cell) scaled to an image
    whose longer side is ``side`` px."""
    return round(FRAME_CONTACT * side / cell)


def keeps_most(example_in: torch.Tensor, example_out: torch.Tensor) -> bool:
    """The quick test of ``pair_fills``: the output ((C, H, W), as the input) keeps at
    least ``UNCHANGED_SHARE`` of the input's pixels, within ``UNCHANGED_TOLERANCE`` in
    every channel (a fill leaves the lines and the frame alone)."""
    kept = (example_in - example_out).abs().amax(0) < UNCHANGED_TOLERANCE
    return float(kept.float().mean()) >= UNCHANGED_SHARE


def pair_fills(example_in: torch.Tensor, example_out: torch.Tensor) -> bool:
    """``fill_explains`` for one example pair ((3, H, W) each) at its own size (up to
    ``GATE_SIZE``; the caller resizes), the frame limit scaled to that size. For line art
    whose lines break apart in the 111-px cell (thin, antialiased), where the cell's gate
    cannot see the areas they close. Pairs whose output changes more than half the
    input's pixels fail without a fill."""
    if example_in.shape != example_out.shape or example_in.dim() != 3:
        raise ValueError(f"need two (C, H, W) images of one size, got "
                         f"{tuple(example_in.shape)} and {tuple(example_out.shape)}")
    if not keeps_most(example_in, example_out):
        return False
    contact = frame_contact_at(max(example_in.shape[-2:]))
    return bool(fill_explains(example_in[None], example_out[None], contact)[0])


def _fill_one(image: torch.Tensor, labels: torch.Tensor, frame_contact: int
              ) -> torch.Tensor:
    c, h, w = image.shape
    ids, count = _numbered(labels)
    if count < 2 or count > min(MAX_REGIONS, h * w // NOISE_PIXELS):
        return image.clone()
    flat = ids.view(-1)
    pixels = image.permute(1, 2, 0).reshape(-1, c)
    size = torch.bincount(flat, minlength=count).double()
    # Summed in float64, a flat line's mean colour is exactly its colour.
    colour = (torch.stack([torch.bincount(flat, image[k].reshape(-1).double(), count)
                           for k in range(c)], 1) / size[:, None]).float()
    rim = torch.cat([ids[0], ids[-1], ids[1:-1, 0], ids[1:-1, -1]])
    contact = torch.bincount(rim, minlength=count)
    encloser = _immediate_enclosers(count, _touching_pairs(ids, count), contact > 0)
    frame = contact > frame_contact
    no_line = (frame | _paper(colour, encloser, frame.tolist())).tolist()
    paint = torch.arange(count)
    for region in range(count):
        outer = encloser[region]
        while outer != OUTSIDE and no_line[outer]:
            outer = encloser[outer]
        if outer != OUTSIDE:
            paint[region] = outer
    lines = paint[paint != torch.arange(count)].unique()
    paint[lines] = lines  # a line inside another line's area keeps its own colour
    if torch.equal(paint, torch.arange(count)):
        return image.clone()
    kept = (paint == torch.arange(count))[flat]
    out = torch.where(kept[:, None], pixels, colour[paint][flat])
    return out.view(h, w, c).permute(2, 0, 1)


def _paper(colour: torch.Tensor, encloser: list[int], frame: list[bool]) -> torch.Tensor:
    """(N,) bool: the regions coloured like the frame region that encloses them (within
    ``REGION_TOLERANCE`` in every channel): blank paper inside a drawing, such as the
    ring between an outline and one drawn inside it. Paper is an area, never a line,
    though it encloses the inner outline."""
    count = len(encloser)
    above = [OUTSIDE - 1] * count  # the nearest frame region enclosing each; unknown yet
    for region in range(count):
        path, outer = [], encloser[region]
        while outer != OUTSIDE and not frame[outer] and above[outer] == OUTSIDE - 1:
            path.append(outer)
            outer = encloser[outer]
        if outer != OUTSIDE and not frame[outer]:
            outer = above[outer]
        for inner in [region, *path]:
            above[inner] = outer
    framed = torch.tensor(above)
    paper = torch.zeros(count, dtype=torch.bool)
    inside = (framed != OUTSIDE).nonzero().flatten()
    apart = (colour[inside] - colour[framed[inside]]).abs().amax(1)
    paper[inside] = apart < REGION_TOLERANCE
    return paper


def _numbered(labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``labels`` (H, W), each region named by one of its pixels' flat index
    (``regions.region_labels``), renumbered 0..count-1 in the names' order, and count
    (``torch.unique``'s inverse, without its sort)."""
    named = torch.zeros(labels.numel(), dtype=torch.bool, device=labels.device)
    named[labels.view(-1)] = True
    number = named.cumsum(0).sub_(1)
    return number[labels], int(number[-1]) + 1


def _touching_pairs(ids: torch.Tensor, count: int) -> list[tuple[int, int]]:
    """The (a, b) pairs of the ``count`` regions of ``ids`` (H, W) that share a pixel
    edge, a < b, once each."""
    apart_x = ids[:, 1:] != ids[:, :-1]
    apart_y = ids[1:, :] != ids[:-1, :]
    a = torch.cat([ids[:, 1:][apart_x], ids[1:, :][apart_y]])
    b = torch.cat([ids[:, :-1][apart_x], ids[:-1, :][apart_y]])
    keys = torch.unique(torch.minimum(a, b) * count + torch.maximum(a, b))
    return list(zip((keys // count).tolist(), (keys % count).tolist()))


def _immediate_enclosers(count: int, pairs: list[tuple[int, int]],
                         on_border: torch.Tensor) -> list[int]:
    """Each region's innermost encloser (``OUTSIDE`` for none): its immediate dominator
    in the region graph rooted at the outside.

    The graph is undirected, so a region's dominators are the cut vertices between it
    and the root, and its immediate one is the head (the vertex nearest the root) of the
    biconnected block it hangs from in a depth-first search: inside a block two disjoint
    paths join any two regions, so nothing there separates it from the head. One pass of
    Tarjan's biconnected-components search finds them all (linear in regions and
    touching pairs)."""
    root = count
    neighbours: list[list[int]] = [[] for _ in range(count + 1)]
    for a, b in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    for region in on_border.nonzero().flatten().tolist():
        neighbours[root].append(region)
        neighbours[region].append(root)
    found = [-1] * (count + 1)  # discovery order; -1: not reached
    low = [0] * (count + 1)  # the earliest discovery reachable from the node's subtree
    parent = [-1] * (count + 1)
    head = [root] * (count + 1)
    found[root], clock = 0, 1
    unfinished = [root]  # discovered regions whose block is not known yet
    stack = [(root, iter(neighbours[root]))]
    while stack:
        node, todo = stack[-1]
        for other in todo:
            if found[other] == -1:
                found[other] = low[other] = clock
                clock += 1
                parent[other] = node
                unfinished.append(other)
                stack.append((other, iter(neighbours[other])))
                break
            if other != parent[node]:
                low[node] = min(low[node], found[other])
        else:
            stack.pop()
            if not stack:
                break
            up = stack[-1][0]
            low[up] = min(low[up], low[node])
            if low[node] >= found[up]:  # node's subtree hangs from ``up``: one block
                while True:
                    member = unfinished.pop()
                    head[member] = up
                    if member == node:
                        break
    return [OUTSIDE if h == root else h for h in head[:count]]
