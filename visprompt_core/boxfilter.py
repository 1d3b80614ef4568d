"""The box filter the refinements and the guided upsampling share.

``box_mean`` averages every pixel's (2r+1)^2 window, clipped at the image's borders, from
an integral image in float64: its cost does not grow with the radius, and the window sums
are exact to float64 rounding whatever the image's size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """(..., H, W) -> the mean over each pixel's (2r+1)^2 window, clipped at the borders,
    in ``x``'s dtype."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    h, w = x.shape[-2:]
    k = 2 * radius + 1
    # acc[i, j]: the sum of x[:i, :j]. Padded by repeating its edges, row i + k of the
    # padded table is acc at min(i + r + 1, H) and row i is acc at max(i - r, 0): every
    # window's corners are plain slices.
    acc = F.pad(x.double(), (1, 0, 1, 0)).cumsum(-1).cumsum(-2)
    table = F.pad(acc.reshape(-1, 1, h + 1, w + 1), (radius,) * 4, mode="replicate")
    lower, upper = table[..., k:k + h, :], table[..., :h, :]
    total = (lower[..., k:k + w] - lower[..., :w]) - (upper[..., k:k + w] - upper[..., :w])
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    height = (rows + radius + 1).clamp(max=h) - (rows - radius).clamp(min=0)
    width = (cols + radius + 1).clamp(max=w) - (cols - radius).clamp(min=0)
    return (total / (height[:, None] * width[None, :])).view(x.shape).to(x.dtype)
