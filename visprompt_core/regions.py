"""Region recolouring: where the example pair paints whole regions of its input in the
colours of neighbouring regions, answer in the query's own regions and colours.

Some tasks an artist shows recolour flat regions with colours the image already holds:
line art filled with the colour of its outlines, two colours swapped. The model's answer
to them is soft: its tokens cannot draw the query's regions crisply. The query's regions
are known exactly, though. A region is a 4-connected set of pixels whose neighbours differ
by less than ``REGION_TOLERANCE`` in every channel (``region_labels``). Each region of the
query either keeps its pixels or is painted in the mean colour of a region it touches,
whichever the model's answer is closer to over the region (``snap_to_regions``); painting
must bring the squared error under ``REPAINT_MARGIN`` times that of keeping, because a
wrongly painted region costs more than a region left alone. Where the example pair fills
the areas its lines close, ``visprompt_core.flatting`` answers first, from the query's
lines rather than the model's answer; the snapping serves the pairs it does not explain.

Gate (``regions_explain``): the same snapping, guided by the example output itself, must
reproduce the example output from the example input (``GATE_PSNR``) and do clearly
better than the input does (``GATE_GAIN``). Masks, filters, flips, new colours and line
art fail it: their outputs are not the input's regions in the input's colours.
Measured in docs/quality.md (section 0, "Region recolouring").
"""

from __future__ import annotations

import torch

from visprompt_core.data.metrics import psnr

# Neighbouring pixels closer than this in every channel belong to one region.
REGION_TOLERANCE = 0.08
# A region is painted only where that lowers the answer's squared error over it below
# this fraction of keeping the query's pixels (tuned in docs/quality.md).
REPAINT_MARGIN = 0.4
# The gate: the example output rebuilt from the example input's regions must reach this
# PSNR (dB) and beat the example input by GATE_GAIN dB.
GATE_PSNR, GATE_GAIN = 40.0, 10.0


def region_labels(images: torch.Tensor, tolerance: float = REGION_TOLERANCE
                  ) -> torch.Tensor:
    """(B, C, H, W) -> (B, H, W) long: each pixel's region, named by the smallest flat
    index (y * W + x) of its pixels. Regions: 4-connected pixels whose colours differ
    from a neighbour's by less than ``tolerance`` in every channel."""
    b, _, h, w = images.shape
    joined_x = (images[..., :, 1:] - images[..., :, :-1]).abs().amax(1) < tolerance
    joined_y = (images[..., 1:, :] - images[..., :-1, :]).abs().amax(1) < tolerance
    # The runs along each row, numbered in row-major order (all images in one sequence),
    # so a region's smallest run number is its run with the smallest pixel index.
    starts = torch.ones(b, h, w, dtype=torch.bool, device=images.device)
    starts[..., 1:] = ~joined_x
    run = starts.view(-1).cumsum(0).sub_(1).view(b, h, w)
    first_pixel = starts.view(-1).nonzero().flatten()
    # The runs joined across rows, each touching pair once per stretch where it touches.
    above, below = run[:, :-1, :], run[:, 1:, :]
    links = joined_y.clone()
    links[..., 1:] &= ~(joined_y[..., :-1] & (above[..., 1:] == above[..., :-1])
                        & (below[..., 1:] == below[..., :-1]))
    root = _union_by_smallest(len(first_pixel), above[links], below[links])
    image_start = torch.arange(b, device=images.device).view(b, 1, 1) * (h * w)
    return first_pixel[root[run]] - image_start


def _union_by_smallest(count: int, upper: torch.Tensor, lower: torch.Tensor
                       ) -> torch.Tensor:
    """(count,) long: for each of ``count`` nodes the smallest node joined to it by the
    edges ``upper[i]``-``lower[i]`` (union-find in rounds: of two joined nodes with
    different roots the larger root points at the smaller; every node then jumps to its
    root)."""
    parent = torch.arange(count, device=upper.device)
    while True:
        root_upper, root_lower = parent[upper], parent[lower]
        apart = root_upper != root_lower
        if not bool(apart.any()):
            return parent
        upper, lower = upper[apart], lower[apart]
        root_upper, root_lower = root_upper[apart], root_lower[apart]
        parent.scatter_reduce_(0, torch.maximum(root_upper, root_lower),
                               torch.minimum(root_upper, root_lower), "amin")
        while True:
            jumped = parent[parent]
            if torch.equal(jumped, parent):
                break
            parent = jumped


def snap_to_regions(images: torch.Tensor, guide: torch.Tensor,
                    margin: float = REPAINT_MARGIN,
                    tolerance: float = REGION_TOLERANCE) -> torch.Tensor:
    """``images`` (B, C, H, W) with each region (``region_labels``) either kept or painted
    in the mean colour of a region it touches, whichever is closer to ``guide`` (same
    shape) in squared error over the region; painting only below ``margin`` times the
    error of keeping. float32."""
    if images.shape != guide.shape or images.dim() != 4:
        raise ValueError(f"images and guide must be equal (B, C, H, W) tensors, got "
                         f"{tuple(images.shape)} and {tuple(guide.shape)}")
    b, c, h, w = images.shape
    n = h * w
    # Regions named across the batch: image i's labels offset by i * n; pixels as rows.
    labels = region_labels(images, tolerance) + n * torch.arange(b, device=images.device
                                                                 ).view(b, 1, 1)
    keys = labels.reshape(-1)
    pixels = images.float().permute(0, 2, 3, 1).reshape(-1, c)
    target = guide.float().permute(0, 2, 3, 1).reshape(-1, c)
    per_pixel = torch.cat([torch.ones_like(pixels[:, :1]), pixels, target,
                           ((target - pixels) ** 2).sum(1, keepdim=True),
                           (target ** 2).sum(1, keepdim=True)], 1)
    sums = torch.zeros_like(per_pixel).index_add_(0, keys, per_pixel)  # per region
    count = sums[:, 0].clamp(min=1)
    colour = sums[:, 1:1 + c] / count[:, None]  # each region's mean colour
    target_sum, keep_error, target_square = sums[:, 1 + c:1 + 2 * c], sums[:, -2], sums[:, -1]
    # Every (region, touching region) pair, once per shared pixel edge, both ways.
    side_a = torch.cat([labels[:, :, 1:].reshape(-1), labels[:, 1:, :].reshape(-1)])
    side_b = torch.cat([labels[:, :, :-1].reshape(-1), labels[:, :-1, :].reshape(-1)])
    apart = side_a != side_b
    region = torch.cat([side_a[apart], side_b[apart]])
    other = torch.cat([side_b[apart], side_a[apart]])
    paint = colour.index_select(0, other)  # (E, C)
    paint_error = (target_square.index_select(0, region)
                   - 2 * (paint * target_sum.index_select(0, region)).sum(1)
                   + count.index_select(0, region) * (paint ** 2).sum(1))
    best = torch.full((b * n,), float("inf"), device=images.device)
    best = best.scatter_reduce(0, region, paint_error, "amin")
    chosen = torch.full((b * n, c), float("nan"), device=images.device)
    winner = paint_error <= best.index_select(0, region)
    chosen[region[winner]] = paint[winner]
    repaint = best < margin * keep_error
    painted = torch.where(repaint[:, None], chosen, float("nan")).index_select(0, keys)
    out = torch.where(painted.isnan(), pixels, painted)
    return out.view(b, h, w, c).permute(0, 3, 1, 2).contiguous()


def regions_explain(example_in: torch.Tensor, example_out: torch.Tensor) -> torch.Tensor:
    """(B,) bool: where the example output is the example input's regions, kept or
    painted in a touching region's colour (module doc's gate)."""
    rebuilt = snap_to_regions(example_in, example_out, margin=1.0)
    reached = psnr(rebuilt, example_out.float())
    return (reached >= GATE_PSNR) & (reached >= psnr(example_in.float(),
                                                      example_out.float()) + GATE_GAIN)
