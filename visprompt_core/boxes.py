"""Boxes: where every example output is one filled axis-aligned rectangle on a flat
ground (a bounding box), the answer is the rectangle that best fits the model's answer.

The model marks where the box goes, but draws it as a blotch: the tokenizer has no
straight edges and no flat colours to spare (the `bbox` family's answers are soft
patches, docs/model_card.md). The example pair says what the answer looks like: two
colours, one of them filling exactly its own bounding box (``find_boxes``; with several
pairs, every real pair so, in the same two colours). The answer is then the rectangle
whose pixels the model's answer puts closest to the box colour, against the ground colour
(``fit_box``: the rectangle of largest summed evidence), drawn in those colours; at the
answer size the pipeline draws the same rectangle, scaled, with crisp edges.

The pipeline runs this after the colour maps, only for prompts no other refinement took:
a pair whose output is a function of its input's colours (the mask of one colour that
happens to be a rectangle) keeps its colour map. Measured in docs/quality.md ("Boxes").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# A box pair's output: the two colours differ by more than ``MIN_CONTRAST`` (per channel,
# [0, 1]); a pixel within ``TOLERANCE`` of one is that colour, and every pixel lies within
# ``BLEND_TOLERANCE`` of the line between them (a blend of the two; resampling's overshoot,
# clipped per channel, strays up to about 0.022 from it in a bicubic 400 -> 111 px shrink).
TOLERANCE = 0.02
BLEND_TOLERANCE = 0.05
MIN_CONTRAST = 0.25


@dataclass(frozen=True)
class BoxPlan:
    """Per prompt: ``found`` (B,) bool, the example pairs are boxes; ``inside`` and
    ``ground`` (B, 3) the box's colour and the ground's (meaningful where found)."""

    found: torch.Tensor
    inside: torch.Tensor
    ground: torch.Tensor


@dataclass(frozen=True)
class FittedBox:
    """A rectangle in cell pixels, rows ``top``..``bottom`` and columns ``left``..``right``
    inclusive, of a cell ``height`` x ``width``, in ``inside`` on ``ground`` ((3,) each)."""

    top: int
    bottom: int
    left: int
    right: int
    height: int
    width: int
    inside: torch.Tensor
    ground: torch.Tensor

    def draw(self, height: int, width: int) -> torch.Tensor:
        """(3, height, width) float32: the rectangle scaled to that size."""
        rows = _scaled(self.top, self.bottom, self.height, height)
        cols = _scaled(self.left, self.right, self.width, width)
        out = self.ground.float().view(3, 1, 1).repeat(1, height, width)
        out[:, rows, cols] = self.inside.float().view(3, 1, 1)
        return out


def _scaled(first: int, last: int, size: int, new_size: int) -> slice:
    start = round(first * new_size / size)
    stop = max(start + 1, round((last + 1) * new_size / size))
    return slice(start, stop)


def _box_colours(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(3, h, w) -> (inside, ground) where ``output`` is one filled rectangle of one colour
    on another, else None. Resampling blends the two colours along the rectangle's edges:
    every pixel must be a blend of the two (within ``BLEND_TOLERANCE`` of the line between
    them); the rectangle is the bounding box of the pixels nearer the box colour; no pixel
    of the ground colour (within ``TOLERANCE``) may lie inside it, and blends of neither
    only along its edge (a pixel either side)."""
    flat = output.float().flatten(1)
    # The two colours: the most frequent one, and the most frequent one far from it
    # (resampled edges hold blends and overshoots, each in few pixels).
    levels, counts = torch.unique((flat.clamp(0, 1) * 255).round().T, dim=0,
                                  return_counts=True)
    order = counts.argsort(descending=True)
    first = levels[order[0]] / 255
    far = ((levels[order] / 255 - first).abs().amax(1) > MIN_CONTRAST).nonzero().flatten()
    if not len(far):
        return None
    second = levels[order[int(far[0])]] / 255
    step = second - first
    span = float((step ** 2).sum())
    along = ((flat - first[:, None]) * step[:, None]).sum(0) / span  # 0 first .. 1 second
    off_line = (flat - first[:, None] - along[None] * step[:, None]).abs().amax(0)
    if bool((off_line > BLEND_TOLERANCE).any()):
        return None
    h, w = output.shape[-2:]
    near = TOLERANCE / float(step.abs().amax())  # TOLERANCE along the line
    pure_first, pure_second = (along <= near).view(h, w), (along >= 1 - near).view(h, w)
    blend = ~(pure_first | pure_second)
    candidates = []
    for colour, other in ((first, pure_second), (second, pure_first)):
        more = (along < 0.5 if colour is first else along >= 0.5).view(h, w)
        if int(more.sum()) in (0, h * w):
            continue
        rows, cols = more.any(1).nonzero().flatten(), more.any(0).nonzero().flatten()
        top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
        box = torch.zeros(h, w, dtype=torch.bool)
        box[top:bottom + 1, left:right + 1] = True
        edge = torch.ones(h, w, dtype=torch.bool)  # one pixel either side of its border
        edge[top + 2:bottom - 1, left + 2:right - 1] = False
        edge[:max(top - 1, 0)] = edge[bottom + 2:] = False
        edge[:, :max(left - 1, 0)] = edge[:, right + 2:] = False
        # (its own colour cannot lie outside: the box bounds every pixel nearer it)
        if bool((other & box).any() | (blend & ~edge).any()):
            continue
        candidates.append(colour)
    if len(candidates) != 1:  # no rectangle, or both (a picture split in two)
        return None
    inside = candidates[0]
    ground = second if inside is first else first
    return inside, ground


def find_boxes(outputs: torch.Tensor, real: torch.Tensor) -> BoxPlan:
    """Which prompts' example ``outputs`` (B, P, 3, h, w; ``real`` (B, P, 1, 1, 1), 1 for
    the pairs that count) are all one filled rectangle, in the same two colours."""
    outputs, real = outputs.float().cpu(), real.cpu()
    b, p = outputs.shape[:2]
    found = torch.zeros(b, dtype=torch.bool)
    inside = torch.zeros(b, 3)
    ground = torch.zeros(b, 3)
    counted = real.view(b, p) > 0
    for row in range(b):
        colours = [_box_colours(outputs[row, k]) for k in range(p) if bool(counted[row, k])]
        if not colours or any(c is None for c in colours):
            continue
        first_inside, first_ground = colours[0]
        same = all(float((i - first_inside).abs().amax()) <= 2 * TOLERANCE
                   and float((g - first_ground).abs().amax()) <= 2 * TOLERANCE
                   for i, g in colours)
        if same:
            found[row], inside[row], ground[row] = True, first_inside, first_ground
    return BoxPlan(found, inside, ground)


def fit_box(answer: torch.Tensor, inside: torch.Tensor, ground: torch.Tensor
            ) -> FittedBox | None:
    """The rectangle of ``answer`` (3, h, w) with the largest sum of evidence, each
    pixel's evidence being how much nearer it lies to ``inside`` than to ``ground``
    (from -1 to 1, 0 half-way); None where no pixel is nearer the box colour."""
    a = answer.float().cpu()
    inside, ground = inside.float().view(3, 1, 1), ground.float().view(3, 1, 1)
    span = float(((inside - ground) ** 2).sum())
    evidence = (((a - ground) ** 2).sum(0) - ((a - inside) ** 2).sum(0)) / span
    if not bool((evidence > 0).any()):
        return None
    h, w = evidence.shape
    # Every (top, bottom) pair of rows at once: the column sums between them, then along
    # each the best run of columns from its prefix sums (Kadane's rule as a running
    # minimum). (h, h, w) values: 1.4 M for a 111-px cell.
    rows_before = torch.cat([torch.zeros(1, w), evidence.cumsum(0)])
    columns = rows_before[1:][None] - rows_before[:-1][:, None]  # [top, bottom, column]
    prefix = torch.cat([torch.zeros(h, h, 1), columns.cumsum(2)], 2)
    lowest, lowest_at = torch.cummin(prefix[..., :-1], 2)
    gain = prefix[..., 1:] - lowest
    upward = torch.ones(h, h, dtype=torch.bool).tril(-1)  # bottom above top: no rectangle
    gain[upward] = float("-inf")
    best = int(gain.flatten().argmax())
    top, rest = divmod(best, h * w)
    bottom, right = divmod(rest, w)
    left = int(lowest_at[top, bottom, right])
    return FittedBox(top, bottom, left, right, h, w, inside.view(3), ground.view(3))
