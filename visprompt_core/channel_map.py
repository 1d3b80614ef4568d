"""Channel maps: where each example output channel is a straight-line function of one
input channel (or of the luma), the answer is the query so mapped.

Many colour changes an artist shows act on channels one at a time: a channel swap, an
inversion, a greyscale, a change of brightness, contrast or levels per channel. The
model answers them in tokens, softly; the pixel-wise colour map
(``visprompt_core.colour_map``) answers only the colours the example holds. The example
pair states such a map exactly for every colour: each output channel is
``scale * source + offset``, where the source is the input's red, green or blue channel
or its BT.601 luma (``SOURCES``). ``fit_channel_maps`` fits that line by least squares
for every output channel and every source, and keeps the source that leaves the least
error; with several example pairs, one fit from all of them. Resizing an image is linear,
so a cell fitted from a resized pair holds the same line.

Gate (``ChannelMaps.explains``), all of:

- the mean squared error left by each output channel's line is at most ``MAX_ERROR``
  (the 8-bit rounding of a resized pair leaves about 3e-6);
- the example shows enough colours to pin the lines down. Each source of a channel
  that changes holds at least ``MIN_LEVELS`` of ``LEVEL_BINS`` brightness bins with
  ``LEVEL_SHARE`` of the pixels each, and the input colours do not lie on one line in
  colour space: across it they vary at least ``MIN_COLOUR_SPREAD`` as much as along it.
  A picture of two flat colours and the blends along their edges fits a line through any
  two points and teaches nothing;
- some output channel changes (a flat output fits every line).

``agrees`` is the last check, made where the model's answer is known: the map applied to
the query must not contradict it (PSNR at least ``MIN_AGREEMENT``). A few colours can
line up by chance in the example and not in the query. Measured in docs/quality.md
("Channel maps").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from visprompt_core.data.ops import LUMA

SOURCE_NAMES = ("red", "green", "blue", "luma")
# The gate: at most this mean squared error ([0, 1] values) left by each channel's line.
MAX_ERROR = 3e-5
# A source must spread over at least MIN_LEVELS of LEVEL_BINS equal brightness bins, each
# holding at least LEVEL_SHARE of the example pixels.
LEVEL_BINS, LEVEL_SHARE, MIN_LEVELS = 16, 0.01, 3
# The input colours' second principal variance must be at least this share of the first.
MIN_COLOUR_SPREAD = 0.01
# An output channel whose variance is below this is flat (its line has no slope to fit).
FLAT_VARIANCE = 1e-6
# The map applied to the query must lie within this PSNR (dB) of the model's answer.
MIN_AGREEMENT = 14.0


def sources(images: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) -> (..., 4, H, W): red, green, blue and BT.601 luma."""
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return torch.cat([images, (images * weights).sum(-3, keepdim=True)], -3)


@dataclass(frozen=True)
class ChannelMaps:
    """Per prompt and output channel: ``source`` (B, 3) long, an index into
    ``SOURCE_NAMES``; ``scale`` and ``offset`` (B, 3) of the line; ``error`` (B, 3) the
    mean squared error it leaves; ``levels`` (B,) the fewest well-filled brightness
    bins of the sources of the channels that change; ``colour_spread`` (B,) the input
    colours' second principal variance over their first; ``changes`` (B, 3) bool which
    output channels change at all."""

    source: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor
    error: torch.Tensor
    levels: torch.Tensor
    colour_spread: torch.Tensor
    changes: torch.Tensor

    def explains(self) -> torch.Tensor:
        """(B,) bool: every example output channel is its line (module doc, the gate)."""
        return ((self.error <= MAX_ERROR).all(1) & (self.levels >= MIN_LEVELS)
                & (self.colour_spread >= MIN_COLOUR_SPREAD) & self.changes.any(1))

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 3, H, W) float32, each channel its line of its
        source, clamped to [0, 1]."""
        planes = sources(images.float())
        index = self.source.to(planes.device)[:, :, None, None].expand(
            -1, -1, *planes.shape[-2:])
        picked = planes.gather(1, index)
        scale = self.scale.to(picked)[:, :, None, None]
        offset = self.offset.to(picked)[:, :, None, None]
        return picked.mul_(scale).add_(offset).clamp_(0, 1)

    def select(self, rows: torch.Tensor) -> ChannelMaps:
        return ChannelMaps(self.source[rows], self.scale[rows], self.offset[rows],
                           self.error[rows], self.levels[rows], self.colour_spread[rows],
                           self.changes[rows])

    def to(self, device: torch.device | str) -> ChannelMaps:
        return ChannelMaps(self.source.to(device), self.scale.to(device),
                           self.offset.to(device), self.error.to(device),
                           self.levels.to(device), self.colour_spread.to(device),
                           self.changes.to(device))

    def describe(self, row: int = 0) -> list[str]:
        """The three lines of prompt ``row`` in words, e.g. ``red = 1.000 * green + 0.000``."""
        lines = []
        for c, name in enumerate(SOURCE_NAMES[:3]):
            offset = round(float(self.offset[row, c]), 3)
            lines.append(f"{name} = {float(self.scale[row, c]):.3f} * "
                         f"{SOURCE_NAMES[int(self.source[row, c])]} "
                         f"{'-' if offset < 0 else '+'} {abs(offset):.3f}")
        return lines


def fit_channel_maps(inputs: torch.Tensor, outputs: torch.Tensor, real: torch.Tensor
                     ) -> ChannelMaps:
    """The best line per output channel of each prompt's example pairs: ``inputs`` and
    ``outputs`` (B, P, 3, h, w), ``real`` (B, P, 1, 1, 1), 1 for the pairs that count
    (``linear_filter.stack_pairs``)."""
    b, p = inputs.shape[:2]
    x = sources(inputs.double()).transpose(1, 2).flatten(2)          # (B, 4, P*h*w)
    y = outputs.double().transpose(1, 2).flatten(2)                  # (B, 3, P*h*w)
    weight = real.double().view(b, 1, p, 1).expand(
        b, 1, p, inputs[0, 0, 0].numel()).flatten(2)                 # (B, 1, P*h*w)
    count = weight.sum(-1)                                           # (B, 1)
    mean_x = (weight * x).sum(-1) / count                            # (B, 4)
    mean_y = (weight * y).sum(-1) / count                            # (B, 3)
    dx, dy = x - mean_x[..., None], y - mean_y[..., None]
    var_x = (weight * dx * dx).sum(-1) / count                       # (B, 4)
    var_y = (weight * dy * dy).sum(-1) / count                       # (B, 3)
    cov = torch.einsum("bsn,bon->bso", weight * dx, dy) / count[..., None]  # (B, 4, 3)
    varied = var_x[..., None] > FLAT_VARIANCE
    slope = torch.where(varied, cov / var_x.clamp(min=FLAT_VARIANCE)[..., None], 0.0)
    error = (var_y[:, None, :] - slope * cov).clamp(min=0)           # (B, 4, 3)
    source = error.argmin(1)                                         # (B, 3)
    scale = slope.gather(1, source[:, None])[:, 0]
    offset = mean_y - scale * mean_x.gather(1, source)
    changes = var_y > FLAT_VARIANCE
    levels = _filled_levels(x, weight)                               # (B, 4)
    used = torch.where(changes, levels.gather(1, source), LEVEL_BINS)
    colours = torch.einsum("bcn,bdn->bcd", weight * dx[:, :3], dx[:, :3]) / count[..., None]
    principal = torch.linalg.eigvalsh(colours)                       # ascending (B, 3)
    spread = principal[:, 1] / principal[:, 2].clamp(min=FLAT_VARIANCE)
    return ChannelMaps(source, scale.float(), offset.float(),
                       error.gather(1, source[:, None])[:, 0].float(), used.amin(1),
                       spread.float(), changes)


def _filled_levels(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, 4): of each source (B, 4, N), how many of ``LEVEL_BINS`` brightness bins hold
    at least ``LEVEL_SHARE`` of the counted pixels (``weight`` (B, 1, N))."""
    b, s, _ = x.shape
    bins = (x.clamp(0, 1) * LEVEL_BINS).long().clamp(max=LEVEL_BINS - 1)
    offsets = torch.arange(b * s, device=x.device).view(b, s, 1) * LEVEL_BINS
    counts = torch.bincount((bins + offsets).flatten(), weight.expand_as(x).flatten(),
                            b * s * LEVEL_BINS).view(b, s, LEVEL_BINS)
    return (counts >= LEVEL_SHARE * weight.sum(-1, keepdim=True)).sum(-1)


def agrees(maps: ChannelMaps, queries: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
    """(B,) bool: ``maps`` applied to ``queries`` lies within ``MIN_AGREEMENT`` dB of the
    model's ``answers`` (B, 3, h, w each)."""
    error = (maps.apply(queries) - answers.float()).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(error.clamp(min=1e-10)) >= MIN_AGREEMENT
