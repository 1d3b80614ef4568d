"""The eight symmetries of a square cell: the identity, the mirrors, the quarter turns and
the transposes, on tensors and on PIL images alike.

Ensembles show a prompt through several of them (``visprompt_core.ensemble``); example
pairs that are one of them are answered with it (``visprompt_core.symmetry``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image


@dataclass(frozen=True)
class View:
    """A symmetry of the square cell: transpose first (optional), then flip ``flips``
    (tensor dims of a (..., H, W) image: -1 left-right, -2 top-bottom)."""

    name: str
    transpose: bool = False
    flips: tuple[int, ...] = ()

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Show a (..., H, W) image through the view."""
        if self.transpose:
            x = x.transpose(-1, -2)
        return x.flip(self.flips) if self.flips else x

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Bring a (..., H, W) image seen through the view back."""
        if self.flips:
            x = x.flip(self.flips)
        return x.transpose(-1, -2) if self.transpose else x

    def apply_image(self, image: Image.Image) -> Image.Image:
        """``apply`` for a PIL image (any size: a transposed W x H image is H x W)."""
        if self.transpose:
            image = image.transpose(Image.Transpose.TRANSPOSE)
        if -1 in self.flips:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if -2 in self.flips:
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        return image


VIEWS = (
    View("identity"),
    View("mirror left-right", flips=(-1,)),
    View("mirror top-bottom", flips=(-2,)),
    View("rotate 180", flips=(-2, -1)),
    View("transpose", transpose=True),
    View("rotate 90 clockwise", transpose=True, flips=(-1,)),
    View("rotate 90 anticlockwise", transpose=True, flips=(-2,)),
    View("anti-transpose", transpose=True, flips=(-2, -1)),
)
