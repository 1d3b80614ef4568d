"""Tiled answers: the query cut into overlapping tiles, each answered with the same
examples (all tiles in one batched call), blended back with smooth weights.

Tiles are squares of ``tile`` pixels (the query is never upscaled: a smaller side gives
one tile along it) whose starts are spread evenly so that neighbours overlap by at least
``overlap`` of a tile. Each tile's answer is weighted by a separable raised-cosine ramp
over the overlap width (1 in the tile's interior, falling towards the tile's borders but
never to zero); the weights are normalised per pixel, so the blend has no seams and
pixels covered by one tile get exactly that tile's answer.
"""

from __future__ import annotations

import math

import torch

from visprompt_core.canvas import Box
from visprompt_core.errors import InputError


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``length`` px with that overlap."""
    if tile >= length:
        return [0]
    step = max(1, int(tile * (1.0 - overlap)))
    n = 1 + math.ceil((length - tile) / step)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def plan_tiles(size: tuple[int, int], tile: int = 512, overlap: float = 0.25) -> list[Box]:
    """Tiles (row-major boxes) covering an image of ``size`` (W, H)."""
    if tile < 16:
        raise InputError(f"tile size must be >= 16 px, got {tile}")
    if not 0.0 <= overlap < 1.0:
        raise InputError(f"tile overlap must be in [0, 1), got {overlap}")
    w, h = size
    tw, th = min(tile, w), min(tile, h)
    return [Box(y, x, th, tw) for y in tile_starts(h, th, overlap)
            for x in tile_starts(w, tw, overlap)]


def ramp(length: int, width: int, floor: float = 1e-3) -> torch.Tensor:
    """(length,) weights: raised cosine over ``width`` px at both ends, 1 inside."""
    pos = torch.arange(length, dtype=torch.float32)
    edge = torch.minimum(pos + 0.5, length - pos - 0.5)
    if width <= 0:
        return torch.ones(length)
    t = (edge / width).clamp(max=1.0)
    return (0.5 - 0.5 * torch.cos(math.pi * t)).clamp(min=floor)


def blend_tiles(tiles: list[torch.Tensor], boxes: list[Box], size: tuple[int, int],
                overlap: float = 0.25) -> torch.Tensor:
    """Blend tile answers (3, h, w) placed at ``boxes`` into one (3, H, W) image."""
    if len(tiles) != len(boxes) or not tiles:
        raise InputError("give one answer per tile")
    w, h = size
    out = torch.zeros(3, h, w)
    weight = torch.zeros(1, h, w)
    for tile, box in zip(tiles, boxes):
        if tuple(tile.shape[-2:]) != (box.height, box.width):
            raise InputError(f"tile answer {tuple(tile.shape[-2:])} does not fit {box}")
        wy = ramp(box.height, int(box.height * overlap))
        wx = ramp(box.width, int(box.width * overlap))
        wt = (wy[:, None] * wx[None, :])[None]
        rows, cols = box.slices()
        out[:, rows, cols] += tile.float().cpu() * wt
        weight[:, rows, cols] += wt
    return out / weight
