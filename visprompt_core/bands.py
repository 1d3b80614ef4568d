"""Full-size images a band of rows at a time: 8-bit planes in, 8-bit planes out.

An artist's answer is 2-4k pixels on a side. As whole float planes, every step on it
allocates tens of MiB; glibc hands blocks that large straight back to the system, so
every step touches fresh pages and runs at a fraction of the memory's speed (a 4k prompt
spent most of its time there; ``visprompt_core.memory``, docs/performance.md). A band of
``BAND_PIXELS`` pixels stays in the CPU's caches and its buffers come from the heap.

The image is split into three uint8 planes once (PIL's ``split``), each band is made
float and the answer band rounded to 8 bits by the rules every image follows
(``canvas.unit_from_bytes``, ``canvas.bytes_from_unit``), then PIL's ``merge``
interleaves the planes once at the end. A pointwise step therefore gives the
same pixels banded as on the whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.errors import InputError

# Pixels per band: 64 Ki keeps a band's few float planes within a CPU's caches.
BAND_PIXELS = 1 << 16
# A pointwise step on [0, 1] float bands (1, 3, R, W) -> (1, 3, R, W).
FloatStep = Callable[[torch.Tensor], torch.Tensor]
# A pointwise step on 8-bit bands: (query (3, R, W), answer (3, R, W)) -> answer.
ByteStep = Callable[[np.ndarray, np.ndarray], np.ndarray]


def bands(height: int, width: int, pixels: int = BAND_PIXELS) -> Iterator[slice]:
    """Row slices of about ``pixels`` pixels each that cover ``height`` rows."""
    step = max(1, pixels // max(1, width))
    for top in range(0, height, step):
        yield slice(top, min(height, top + step))


def split_planes(image: Image.Image) -> list[torch.Tensor]:
    """An RGB image -> its three planes, uint8 (H, W) each."""
    if image.mode != "RGB":
        raise InputError(f"expected an RGB image, got mode {image.mode}")
    return [torch.from_numpy(np.array(plane)) for plane in image.split()]


def stack_rows(planes: Sequence[torch.Tensor], rows: slice) -> torch.Tensor:
    """``rows`` of the three planes -> (3, R, W) uint8."""
    return torch.stack([plane[rows] for plane in planes])


def merge_planes(planes: torch.Tensor) -> Image.Image:
    """(3, H, W) uint8 -> an RGB image."""
    return Image.merge("RGB", [Image.fromarray(plane.numpy()) for plane in planes])


def map_image(image: Image.Image, step: FloatStep) -> Image.Image:
    """An RGB image through a pointwise float ``step``, band by band."""
    planes = split_planes(image)
    out = torch.empty(3, image.height, image.width, dtype=torch.uint8)
    for rows in bands(image.height, image.width):
        band = cv.unit_from_bytes(stack_rows(planes, rows))[None]
        out[:, rows] = cv.bytes_from_unit(step(band)[0])
    return merge_planes(out)


def map_answer(query: Image.Image, answer: Image.Image, step: ByteStep) -> Image.Image:
    """An RGB ``answer`` through a pointwise 8-bit ``step`` that also reads the RGB
    ``query`` (same size), band by band."""
    if query.size != answer.size:
        raise InputError("the query and the answer must have the same size")
    query_planes, answer_planes = split_planes(query), split_planes(answer)
    out = torch.empty(3, answer.height, answer.width, dtype=torch.uint8)
    for rows in bands(answer.height, answer.width):
        out[:, rows] = torch.from_numpy(step(stack_rows(query_planes, rows).numpy(),
                                             stack_rows(answer_planes, rows).numpy()))
    return merge_planes(out)
