"""Helpers shared by the core tests."""

from __future__ import annotations

import numpy as np
from PIL import Image


def noise(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    """A ``size`` (width, height) image of seeded uniform noise, converted to ``mode``."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode)
