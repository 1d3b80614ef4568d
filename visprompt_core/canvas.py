"""Prompt canvas geometry: where examples, query and answer sit on the 224x224 canvas.

The published geometry (Bar et al. 2022):

* 2x2 layout, one example pair: 111x111 cells, a 2-px separator at rows/cols 111-112.
  Example input top-left, example output top-right, query bottom-left, answer
  bottom-right. Masked tokens: the bottom-right 7x7 block of the 14x14 patch grid.
* 3x2 layout, two example pairs: 74x74 cells, input column at x 37-110, output column at
  x 113-186, rows starting at y 0, 75, 150. Masked tokens: patch rows 9-13, cols 7-11.

The masked patches are exactly the patches that overlap the answer cell, so both layouts
derive their token mask from the answer cell's box.

Images travel as float tensors in [0, 1], shape (3, H, W) or (B, 3, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from visprompt_core.errors import InputError

CANVAS_SIZE = 224
PATCH_SIZE = 16
GRID = CANVAS_SIZE // PATCH_SIZE

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


@dataclass(frozen=True)
class Box:
    """A pixel rectangle on the canvas: rows top..top+height-1, cols left..left+width-1."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)


@dataclass(frozen=True)
class Layout:
    """Cell boxes of one canvas arrangement. ``pairs[i]`` is (input box, output box)."""

    name: str
    pairs: tuple[tuple[Box, Box], ...]
    query: Box
    answer: Box
    canvas_size: int = CANVAS_SIZE
    patch_size: int = PATCH_SIZE

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def grid(self) -> int:
        return self.canvas_size // self.patch_size

    @property
    def cell_size(self) -> tuple[int, int]:
        return self.answer.height, self.answer.width

    def patch_mask(self) -> torch.Tensor:
        """Bool (grid*grid,), True for patches overlapping the answer cell (row-major)."""
        p = self.patch_size
        rows = range(self.answer.top // p, (self.answer.bottom - 1) // p + 1)
        cols = range(self.answer.left // p, (self.answer.right - 1) // p + 1)
        mask = torch.zeros(self.grid, self.grid, dtype=torch.bool)
        mask[rows.start : rows.stop, cols.start : cols.stop] = True
        return mask.flatten()

    def mask_indices(self) -> list[int]:
        return torch.nonzero(self.patch_mask()).flatten().tolist()


def _layout_2x2() -> Layout:
    c, s = 111, 113  # cell size, start of the second row/column (after the 2-px separator)
    return Layout(
        name="2x2",
        pairs=((Box(0, 0, c, c), Box(0, s, c, c)),),
        query=Box(s, 0, c, c),
        answer=Box(s, s, c, c),
    )


def _layout_3x2() -> Layout:
    c, x_in, x_out = 74, 37, 113
    rows = (0, 75, 150)
    return Layout(
        name="3x2",
        pairs=tuple((Box(y, x_in, c, c), Box(y, x_out, c, c)) for y in rows[:2]),
        query=Box(rows[2], x_in, c, c),
        answer=Box(rows[2], x_out, c, c),
    )


def _layout_2x2_transposed() -> Layout:
    """Pair stacked in the left column, query top-right; the answer stays bottom-right."""
    c, s = 111, 113
    return Layout(
        name="2x2T",
        pairs=((Box(0, 0, c, c), Box(s, 0, c, c)),),
        query=Box(0, s, c, c),
        answer=Box(s, s, c, c),
    )


LAYOUT_2X2 = _layout_2x2()
LAYOUT_2X2_T = _layout_2x2_transposed()
LAYOUT_3X2 = _layout_3x2()
LAYOUTS = {layout.name: layout for layout in (LAYOUT_2X2, LAYOUT_2X2_T, LAYOUT_3X2)}


def layout_for_pairs(n_pairs: int) -> Layout:
    """The canvas layout that holds ``n_pairs`` example pairs on one canvas (1 or 2)."""
    if n_pairs == 1:
        return LAYOUT_2X2
    if n_pairs == 2:
        return LAYOUT_3X2
    raise InputError(f"one canvas holds 1 or 2 example pairs, got {n_pairs}")


# --------------------------------------------------------------------------- PIL side

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


def resample_filter(name: str) -> Image.Resampling:
    try:
        return _RESAMPLE[name]
    except KeyError:
        choices = sorted(_RESAMPLE)
        raise InputError(f"unknown resize filter {name!r}; choose from {choices}") from None


def to_rgb(image: Image.Image, background: RGB = WHITE) -> Image.Image:
    """Any PIL mode (RGBA, LA, L, P, I;16, I, F, CMYK, ...) to 8-bit RGB.

    Transparent pixels are composited over ``background``; 16-bit and float greyscale
    are scaled to 8 bits from their full range (0..65535 and 0..1 respectively).
    """
    if not isinstance(image, Image.Image):
        raise InputError(f"expected a PIL image, got {type(image).__name__}")
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        scale = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        arr = np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return image.convert("RGB")


def unit_from_bytes(raw: torch.Tensor) -> torch.Tensor:
    """uint8 levels -> float32 in [0, 1] (level / 255): how every 8-bit image is read."""
    return raw.float().div_(255.0)


def bytes_from_unit(values: torch.Tensor) -> torch.Tensor:
    """Float in [0, 1] -> uint8 levels, scaled, clamped and rounded: how every answer is
    written (``values`` is left as it is)."""
    return values.float().mul(255).clamp_(0, 255).round_().to(torch.uint8)


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float (3, H, W) in [0, 1]."""
    arr = np.asarray(to_rgb(image), dtype=np.uint8)
    return unit_from_bytes(torch.from_numpy(arr.copy()).permute(2, 0, 1))


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float (3, H, W) in [0, 1] -> RGB PIL image (rounded, clamped)."""
    # Rounded to uint8 first, then made contiguous (a quarter of the bytes to reorder);
    # PIL takes the array without another copy.
    hwc = bytes_from_unit(tensor.detach().permute(1, 2, 0))
    return Image.fromarray(hwc.contiguous().cpu().numpy(), mode="RGB")


def build_canvas(
    examples: Sequence[tuple[Image.Image, Image.Image]],
    query: Image.Image,
    layout: Layout | None = None,
    background: RGB = WHITE,
    resample: str = "bicubic",
) -> Image.Image:
    """Lay out example pairs and the query on a canvas; the answer cell stays background."""
    layout = layout or layout_for_pairs(len(examples))
    if len(examples) != layout.n_pairs:
        raise InputError(
            f"layout {layout.name} holds {layout.n_pairs} example pair(s), got {len(examples)}"
        )
    canvas = Image.new("RGB", (layout.canvas_size, layout.canvas_size), background)
    placements = [
        (img, box) for pair, boxes in zip(examples, layout.pairs) for img, box in zip(pair, boxes)
    ]
    placements.append((query, layout.query))
    for image, box in placements:
        canvas.paste(fit_cell(image, box, background, resample), (box.left, box.top))
    return canvas


def fit_cell(image: Image.Image, box: Box, background: RGB = WHITE,
             resample: str = "bicubic") -> Image.Image:
    """``image`` as 8-bit RGB (transparency over ``background``) resized to ``box``'s size:
    one cell of a canvas."""
    return to_rgb(image, background).resize((box.width, box.height), resample_filter(resample))


# ------------------------------------------------------------------------ tensor side


def place_cells(
    cells: Sequence[torch.Tensor],
    layout: Layout,
    background: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Batched canvas assembly from cell tensors, for data generation on any device.

    ``cells`` lists (B, 3, h, w) tensors in the order in_1, out_1, ..., in_n, out_n, query
    [, answer]; each is resized (bilinear, antialiased) to its box when sizes differ.
    Returns (B, 3, S, S). Passing the answer too gives the full target canvas.
    """
    boxes = [box for pair in layout.pairs for box in pair] + [layout.query, layout.answer]
    if len(cells) not in (len(boxes) - 1, len(boxes)):
        raise InputError(f"layout {layout.name} takes {len(boxes) - 1} or {len(boxes)} cells")
    first = cells[0]
    size = layout.canvas_size
    canvas = torch.empty(first.shape[0], 3, size, size, dtype=first.dtype, device=first.device)
    if isinstance(background, torch.Tensor):
        canvas[:] = background.to(canvas).view(-1, 3, 1, 1)
    else:
        canvas.fill_(background)
    for cell, box in zip(cells, boxes):
        if cell.shape[-2:] != (box.height, box.width):
            cell = F.interpolate(cell, size=(box.height, box.width), mode="bilinear",
                                 align_corners=False, antialias=True)
        rows, cols = box.slices()
        canvas[:, :, rows, cols] = cell
    return canvas


def pixel_mask(patch_mask: torch.Tensor, patch_size: int = PATCH_SIZE) -> torch.Tensor:
    """(..., N) patch mask -> (..., H, W) pixel mask, each patch expanded to a square."""
    grid = round(patch_mask.shape[-1] ** 0.5)
    m = patch_mask.reshape(*patch_mask.shape[:-1], grid, grid)
    return m.repeat_interleave(patch_size, -2).repeat_interleave(patch_size, -1)


def paste_answer(
    canvas: torch.Tensor, decoded: torch.Tensor, patch_mask: torch.Tensor
) -> torch.Tensor:
    """Decoded pixels inside the masked patches, the input canvas elsewhere (no blending)."""
    m = pixel_mask(patch_mask.to(canvas.device))
    while m.dim() < canvas.dim():
        m = m.unsqueeze(-3)
    return torch.where(m, decoded, canvas)


def crop_box(canvas: torch.Tensor, box: Box) -> torch.Tensor:
    """The cell ``box`` of a (..., 3, S, S) canvas."""
    rows, cols = box.slices()
    return canvas[..., rows, cols]


def crop_answer(canvas: torch.Tensor, layout: Layout) -> torch.Tensor:
    """The answer cell of a (..., 3, S, S) canvas."""
    return crop_box(canvas, layout.answer)


def patch_mask_from_pixels(
    mask: torch.Tensor, patch_size: int = PATCH_SIZE, min_fraction: float = 0.0
) -> torch.Tensor:
    """(H, W) bool/float pixel mask -> (N,) patch mask for free inpainting.

    A patch is masked when more than ``min_fraction`` of its pixels are masked (default:
    any pixel). H and W must be multiples of ``patch_size``.
    """
    if mask.dim() != 2 or mask.shape[0] % patch_size or mask.shape[1] % patch_size:
        raise InputError(f"pixel mask must be (H, W) multiples of {patch_size}, got "
                         f"{tuple(mask.shape)}")
    frac = F.avg_pool2d(mask.float()[None, None], patch_size)[0, 0]
    return (frac > min_fraction).flatten()
