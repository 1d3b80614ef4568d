"""Pointwise colour maps: where the example output is a function of the input's colour,
answer the query's pixels of those colours with that function.

Many tasks an artist shows map each colour to another wherever it lies: a palette swap,
a hue shift, greyscale, a channel swap, a posterize, the mask of one colour, a
background made white. The model answers them in tokens, softly; the example pair states
the map exactly for the colours it holds. So the pair's colours are sorted into a grid of
``BINS`` steps per channel, and each occupied bin holds the mean output colour of its
pixels (``fit_colour_maps``: a lookup table; with several example pairs, one table from
all of them).

Gate: the bins must explain the example output: the squared error that remains around
each bin's mean, averaged over the pixels and summed over the channels, must stay under
``MAX_SPREAD``. A flip, a blur, edges or a bounding box give one colour different outputs
in different places and fail it; so does a noisy input. Where the gate passes, the
query's pixels whose colour falls in an occupied bin take that bin's output colour, and
the rest keep the answer as it was (``apply_colour_maps``); a query in colours the
examples do not show is left to the model. Measured in docs/quality.md ("Pointwise colour maps").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from visprompt_core.canvas import bytes_from_unit, unit_from_bytes

# Steps per channel of the colour grid (a bin is 1/31 wide).
BINS = 32
# The gate: at most this squared error (summed over the channels, averaged over the
# example pixels) left around the bins' mean output colours.
MAX_SPREAD = 0.002


@dataclass(frozen=True)
class ColourMaps:
    """Per prompt: ``values`` (B, BINS**3, 3) each bin's mean output colour, ``occupied``
    (B, BINS**3) bool the bins the example inputs hold, and ``spread`` (B,) the squared
    error left around the bins' means (the gate reads it)."""

    values: torch.Tensor
    occupied: torch.Tensor
    spread: torch.Tensor

    def explains(self) -> torch.Tensor:
        """(B,) bool: the example outputs are a function of their inputs' colours."""
        return self.spread <= MAX_SPREAD

    def select(self, rows: torch.Tensor) -> ColourMaps:
        return ColourMaps(self.values[rows], self.occupied[rows], self.spread[rows])

    def to(self, device: torch.device | str) -> ColourMaps:
        return ColourMaps(self.values.to(device), self.occupied.to(device),
                          self.spread.to(device))


def _steps(values: torch.Tensor) -> torch.Tensor:
    """Values in [0, 1] -> their steps along one axis of the colour grid (float)."""
    return values.float().clamp(0, 1).mul(BINS - 1).round_()


def colour_bins(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, H, W) long: each pixel's bin in the colour grid."""
    # Summed in float32 (exact below 2^24) and converted once: 2-4x faster than in int64.
    steps = _steps(images)
    flat = steps[:, 0].mul(BINS * BINS).add_(steps[:, 1], alpha=BINS).add_(steps[:, 2])
    return flat.long()


def fit_colour_maps(inputs: torch.Tensor, outputs: torch.Tensor, real: torch.Tensor
                    ) -> ColourMaps:
    """The lookup tables of each prompt's example pairs: ``inputs`` and ``outputs``
    (B, P, 3, h, w), ``real`` (B, P, 1, 1, 1), 1 for the pairs that count
    (``linear_filter.stack_pairs``)."""
    b, p, c = inputs.shape[:3]
    cells = BINS ** 3
    bins = colour_bins(inputs.flatten(0, 1)).view(b, p, -1)
    weight = real.view(b, p, 1).expand_as(bins).double()
    values, occupied, spread = [], [], []
    for row in range(b):
        flat = bins[row].reshape(-1)
        counts = torch.bincount(flat, weight[row].reshape(-1), cells)
        colours = outputs[row].permute(1, 0, 2, 3).reshape(c, -1).double()
        sums = torch.stack([torch.bincount(flat, weight[row].reshape(-1) * colours[k], cells)
                            for k in range(c)], 1)
        mean = sums / counts.clamp(min=1e-12)[:, None]
        error = ((colours.T - mean[flat]) ** 2).sum(1)
        spread.append(float((error * weight[row].reshape(-1)).sum() / counts.sum()))
        values.append(mean.float())
        occupied.append(counts > 0)
    return ColourMaps(torch.stack(values), torch.stack(occupied),
                      torch.tensor(spread, dtype=torch.float32))


def apply_colour_maps(maps: ColourMaps, queries: torch.Tensor, answers: torch.Tensor
                      ) -> torch.Tensor:
    """``answers`` (B, 3, H, W) with each pixel whose ``queries`` (B, 3, H, W) colour lies
    in an occupied bin of its prompt's map set to that bin's colour. float32."""
    out = answers.float().clone()
    for row, bins in enumerate(colour_bins(queries)):
        covered = maps.occupied[row].take(bins)
        for channel in range(out.shape[1]):  # a table lookup per plane (a 4k image: 8M)
            plane = out[row, channel]
            torch.where(covered, maps.values[row, :, channel].take(bins), plane, out=plane)
    return out


@dataclass(frozen=True)
class ColourLookup:
    """One prompt's colour map on 8-bit planes, for full-size answers: the same pixels as
    ``apply_colour_maps`` on the planes as [0, 1] floats, rounded to 8 bits as
    ``canvas.tensor_to_pil`` rounds. ``levels`` (3, 256) int32: each 8-bit level's part
    of the bin number per channel; ``table`` (BINS**3, 4) uint8: each bin's colour, and
    255 where the bin is occupied."""

    levels: np.ndarray
    table: np.ndarray

    @classmethod
    def of(cls, maps: ColourMaps, row: int = 0) -> ColourLookup:
        steps = _steps(unit_from_bytes(torch.arange(256, dtype=torch.uint8))).int()
        levels = torch.stack([steps * BINS * BINS, steps * BINS, steps])
        colours = bytes_from_unit(maps.values[row])
        occupied = maps.occupied[row].to(torch.uint8).mul_(255)[:, None]
        return cls(levels.numpy(), torch.cat([colours, occupied], 1).numpy())

    def __call__(self, query: np.ndarray, answer: np.ndarray) -> np.ndarray:
        """``query`` and ``answer`` (3, R, W) uint8 -> ``answer``, the map applied in
        place. (``np.take`` gathers several times faster than fancy indexing, and the
        8-bit blend below, which wraps around, faster than a masked copy.)"""
        bins = np.take(self.levels[0], query[0])
        bins += np.take(self.levels[1], query[1])
        bins += np.take(self.levels[2], query[2])
        found = np.take(self.table.view(np.int32)[:, 0], bins).view(np.uint8)
        found = found.reshape(*bins.shape, 4)
        occupied = found[..., 3] >> 7                                   # 1 or 0
        for channel in range(3):  # answer + (colour - answer) * occupied
            change = found[..., channel] - answer[channel]
            change *= occupied
            answer[channel] += change
        return answer
