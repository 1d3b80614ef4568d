"""Full-resolution answers: the 111-px answer cell brought to the query's size.

``guided_upsample`` is a fast guided filter (He, Sun and Tang, "Guided Image Filtering",
and He and Sun's "Fast Guided Filter"): the answer is modelled, in every small window, as
a linear function of the colour guide (the query), ``answer ~ A @ guide + b``. ``A`` and
``b`` are fitted by ridge regression at the answer's low resolution (box filters over a
``radius`` window, a 3x3 solve per pixel for the colour guide), upsampled bilinearly
(they vary slowly), and applied to the full-resolution guide. Edges of the guide therefore
reappear in the answer wherever the answer changes across them; flat answer regions stay
flat.

Mask-like answers (near black/white, little colour) are then snapped: thresholded at 0.5
after the filter, which puts the boundary on the guide's edges instead of on the
bicubic blur of a 111-px mask.

The full-resolution passes run in bands of rows (``visprompt_core.bands``): a band's
coefficient planes stay in the CPU's caches. The coefficients are interpolated as
torch's bilinear ``interpolate`` does, along the rows once at the answer's low
resolution, then down the columns per band, one broadcast ``lerp`` for each run of output
rows between the same two answer rows. ``guided_upsample_image`` goes from the 8-bit
query to the 8-bit answer band by band, so even a 4k answer has no full-size float
plane.

Tensors are float (3, H, W) or (B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.bands import (
    BAND_PIXELS,
    ByteStep,
    bands,
    merge_planes,
    split_planes,
    stack_rows,
)
from visprompt_core.boxfilter import box_mean
from visprompt_core.errors import InputError

UPSCALE_MODES = ("auto", "bicubic", "guided", "tiled")
# Up to this many pixels, ``area_from_planes`` pools the whole image in one call (24 MiB
# of float planes, below the allocator's mmap threshold); above, band by band.
WHOLE_AREA_PIXELS = 1 << 21


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    # Every plane is resized on its own; as a batch of one-channel images torch's CPU
    # kernel ran 1.3-3.4x faster than on the channels of one image (same values).
    planes = x.reshape(-1, 1, *x.shape[-2:])
    out = F.interpolate(planes, size=size, mode=mode, align_corners=False)
    return out.view(*x.shape[:-2], *size)


def guided_coefficients(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour guided filter coefficients at one resolution.

    guide (B, 3, h, w), src (B, C, h, w) -> A (B, C, 3, h, w), b (B, C, h, w), averaged
    over the windows that cover each pixel (the filter's second box pass).
    """
    bsz, c, h, w = src.shape
    mean_i = box_mean(guide, radius)                                   # (B, 3, h, w)
    mean_p = box_mean(src, radius)                                     # (B, C, h, w)
    ii = guide[:, :, None] * guide[:, None, :]                         # (B, 3, 3, h, w)
    cov_ii = box_mean(ii.flatten(1, 2), radius).view(bsz, 3, 3, h, w)
    cov_ii = cov_ii - mean_i[:, :, None] * mean_i[:, None, :]
    ip = guide[:, None, :] * src[:, :, None]                           # (B, C, 3, h, w)
    cov_ip = box_mean(ip.flatten(1, 2), radius).view(bsz, c, 3, h, w)
    cov_ip = cov_ip - mean_p[:, :, None] * mean_i[:, None, :]
    sigma = cov_ii.permute(0, 3, 4, 1, 2)                              # (B, h, w, 3, 3)
    sigma = sigma + eps * torch.eye(3, dtype=src.dtype, device=src.device)
    rhs = cov_ip.permute(0, 3, 4, 2, 1)                                # (B, h, w, 3, C)
    a = torch.linalg.solve(sigma, rhs).permute(0, 4, 3, 1, 2)          # (B, C, 3, h, w)
    b = mean_p - (a * mean_i[:, None]).sum(2)
    a = box_mean(a.flatten(1, 2), radius).view(bsz, c, 3, h, w)
    return a, box_mean(b, radius)


def is_mask_like(answer: torch.Tensor, chroma: float = 0.12, extreme: float = 0.8
                 ) -> torch.Tensor:
    """(B,) bool: the answer looks like a black/white mask (little colour, few mid greys)."""
    x = answer if answer.dim() == 4 else answer[None]
    spread = (x.amax(1) - x.amin(1)).flatten(1)
    grey = x.mean(1).flatten(1)
    far = ((grey - 0.5).abs() > 0.25).float().mean(1)
    return ((spread < chroma).float().mean(1) > 0.95) & (far > extreme)


def linear_taps(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where torch's bilinear ``interpolate`` (``align_corners=False``) samples an axis of
    ``n_in`` pixels for ``n_out``: per output index the first source index and the share
    of the next one (0 at the last). Positions as torch's kernel computes them: a float32
    scale, and ``scale * (i + 0.5) - 0.5`` rounded once to float32 (its fused
    multiply-add; exact in float64, then rounded)."""
    scale = float(torch.tensor(n_in, dtype=torch.float32) / n_out)
    index = torch.arange(n_out, dtype=torch.float64)
    source = ((index + 0.5) * scale - 0.5).float().clamp(min=0)
    first = source.long()
    share = (source - first).clamp(0, 1)
    return first, torch.where(first < n_in - 1, share, torch.zeros_like(share))


@dataclass(frozen=True)
class GuidedFilter:
    """The guided filter's coefficients for B answers (3, h, w) at the size (H, W).

    ``rows`` (h, B * 12 * W): per answer row the nine ``A`` planes then the three ``b``
    planes of every answer, interpolated along the row to the full width. Output row y
    lies ``share[y]`` of the way from answer row ``first[y]`` to the next. ``snap``: the
    answers snapped to black and white."""

    rows: torch.Tensor
    first: torch.Tensor
    share: torch.Tensor
    snap: torch.Tensor

    @classmethod
    def fit(cls, answer: torch.Tensor, low_guide: torch.Tensor, size: tuple[int, int],
            radius: int, eps: float, snap: bool | None) -> GuidedFilter:
        """``answer`` and ``low_guide`` (B, 3, h, w), the guide at the answer's size."""
        a, b = guided_coefficients(low_guide, answer, radius, eps)
        planes = torch.cat([a.flatten(1, 2), b], 1).permute(2, 0, 1, 3)  # (h, B, 12, w)
        h, w = planes.shape[0], planes.shape[-1]
        rows = F.interpolate(planes.reshape(1, -1, w), size=size[1], mode="linear",
                             align_corners=False).view(h, -1)
        first, share = linear_taps(h, size[0])
        bsz = answer.shape[0]
        snapped = is_mask_like(answer) if snap is None else torch.full((bsz,), bool(snap))
        return cls(rows, first, share, snapped)

    def apply(self, guide: torch.Tensor, rows: slice) -> torch.Tensor:
        """The answer's ``rows`` (a slice of the full height) from the guide's same rows
        (B, 3, R, W): (B, 3, R, W) in [0, 1], a fresh tensor."""
        first, share = self.first[rows], self.share[rows, None]
        last = len(self.rows) - 1
        planes = torch.empty(len(first), self.rows.shape[1])
        starts = [0, *(torch.nonzero(first[1:] != first[:-1]).flatten() + 1).tolist()]
        for start, stop in zip(starts, [*starts[1:], len(first)]):
            j = int(first[start])
            count = stop - start
            torch.lerp(self.rows[j].expand(count, -1),
                       self.rows[min(j + 1, last)].expand(count, -1), share[start:stop],
                       out=planes[start:stop])
        bsz, _, height, width = guide.shape
        planes = planes.view(height, bsz, 12, width).permute(1, 2, 0, 3)  # (B, 12, R, W)
        out = planes[:, 9:].clone()
        for k in range(3):
            out.addcmul_(planes[:, k:9:3], guide[:, k:k + 1])  # A[c, k] for c = 0..2
        if bool(self.snap.any()):
            grey = (out.mean(1, keepdim=True) > 0.5).to(out.dtype).expand_as(out)
            out = torch.where(self.snap.to(out.device).view(-1, 1, 1, 1), grey, out)
        return out.clamp_(0, 1)


def guided_upsample(answer: torch.Tensor, guide: torch.Tensor, radius: int = 2,
                    eps: float = 1e-3, snap: bool | None = None) -> torch.Tensor:
    """Upsample ``answer`` (B, 3, h, w) to the guide's size (B, 3, H, W), edge-aware.

    radius / eps: window radius (in answer pixels) and regularisation of the filter.
    snap: threshold mask-like answers to pure black/white (None: decide per image with
    ``is_mask_like``).
    """
    single = answer.dim() == 3
    if single:
        answer, guide = answer[None], guide[None]
    if answer.dim() != 4 or guide.dim() != 4 or answer.shape[0] != guide.shape[0]:
        raise InputError("guided_upsample takes (B, 3, h, w) answers and (B, 3, H, W) guides")
    answer, guide = answer.float(), guide.float()
    height, width = guide.shape[-2:]
    low_guide = _resize(guide, tuple(answer.shape[-2:]), "area")
    fitted = GuidedFilter.fit(answer, low_guide, (height, width), radius, eps, snap)
    out = torch.empty_like(guide)
    for rows in bands(height, width):
        out[:, :, rows] = fitted.apply(guide[:, :, rows], rows)
    return out[0] if single else out


def guided_upsample_image(answer: torch.Tensor, query: Image.Image,
                          then: ByteStep | None = None, radius: int = 2, eps: float = 1e-3,
                          snap: bool | None = None) -> Image.Image:
    """``guided_upsample`` from and to 8-bit images: ``answer`` (3, h, w) float and the
    RGB ``query`` at the answer's size -> the answer as an RGB image, rounded as
    ``canvas.tensor_to_pil`` rounds. The values of ``guided_upsample`` on the query as a
    float tensor, computed band by band (``visprompt_core.bands``); ``then`` takes each
    band of the query and of the rounded answer and returns the answer band to keep (a
    pointwise step, such as ``colour_map.ColourLookup``)."""
    if answer.dim() != 3:
        raise InputError("guided_upsample_image takes a (3, h, w) answer")
    width, height = query.size
    planes = split_planes(query)
    low_guide = area_from_planes(planes, tuple(answer.shape[-2:]))
    fitted = GuidedFilter.fit(answer.float()[None], low_guide[None], (height, width),
                              radius, eps, snap)
    out = torch.empty(3, height, width, dtype=torch.uint8)
    for rows in bands(height, width):
        raw = stack_rows(planes, rows)
        rounded = cv.bytes_from_unit(fitted.apply(cv.unit_from_bytes(raw)[None], rows)[0])
        if then is not None:
            rounded = torch.from_numpy(then(raw.numpy(), rounded.numpy()))
        out[:, rows] = rounded
    return merge_planes(out)


def blend_filtered_image(filtered: torch.Tensor, share: float, answer: torch.Tensor,
                         planes: Sequence[torch.Tensor], then: ByteStep | None = None
                         ) -> Image.Image:
    """An answer that is partly its example pair's linear filter, to an 8-bit image:
    ``share`` (0..1] of ``filtered`` (3, H, W), the query through the filter at the
    answer size, clamped to [0, 1], plus the rest of ``answer`` (3, h, w), the answer
    cell before the filter, guided up by the query (``guided_upsample``'s defaults);
    ``planes``: the query's three uint8 (H, W) planes (``bands.split_planes``). Rounded
    as ``canvas.tensor_to_pil`` rounds, then through ``then`` as in
    ``guided_upsample_image``; band by band (``visprompt_core.bands``)."""
    if filtered.dim() != 3 or answer.dim() != 3:
        raise InputError("blend_filtered_image takes (3, H, W) and (3, h, w) tensors")
    height, width = planes[0].shape
    if tuple(filtered.shape[-2:]) != (height, width):
        raise InputError("the filtered query must have the query's size")
    guided = None
    if share < 1:
        low_guide = area_from_planes(planes, tuple(answer.shape[-2:]))
        guided = GuidedFilter.fit(answer.float()[None], low_guide[None], (height, width),
                                  2, 1e-3, None)
    out = torch.empty(3, height, width, dtype=torch.uint8)
    for rows in bands(height, width):
        raw = stack_rows(planes, rows)
        band = share * filtered[:, rows].clamp(0, 1)
        if guided is not None:
            band += (1 - share) * guided.apply(cv.unit_from_bytes(raw)[None], rows)[0]
        rounded = cv.bytes_from_unit(band)
        if then is not None:
            rounded = torch.from_numpy(then(raw.numpy(), rounded.numpy()))
        out[:, rows] = rounded
    return merge_planes(out)


def area_from_planes(planes: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Three uint8 (H, W) planes -> (3, h, w): the values of ``_resize(image, size,
    "area")`` on the image as float planes. Above ``WHOLE_AREA_PIXELS``, each output row
    is pooled on its own from its adaptive-pooling window (the same sums), converted to
    float a band at a time."""
    height, width = planes[0].shape
    if height * width <= WHOLE_AREA_PIXELS:  # one call: its float planes stay on the heap
        unit = cv.unit_from_bytes(stack_rows(planes, slice(0, height)))[None]
        return F.adaptive_avg_pool2d(unit, size)[0]

    def window(i: int) -> tuple[int, int]:  # adaptive pooling's rows for output row i
        return i * height // size[0], -(-(i + 1) * height // size[0])

    group = max(1, BAND_PIXELS // (width * -(-height // size[0])))
    rows = []
    for start in range(0, size[0], group):
        stop = min(size[0], start + group)
        top, bottom = window(start)[0], window(stop - 1)[1]
        unit = cv.unit_from_bytes(stack_rows(planes, slice(top, bottom)))[None]
        for i in range(start, stop):
            first, last = window(i)
            rows.append(F.adaptive_avg_pool2d(unit[:, :, first - top:last - top],
                                              (1, size[1]))[0])
    return torch.cat(rows, 1)


def bicubic_upsample(answer: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Plain bicubic upsampling to (H, W), clamped to [0, 1]: the baseline."""
    single = answer.dim() == 3
    x = answer[None] if single else answer
    out = F.interpolate(x.float(), size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    return out[0] if single else out


def choose_upscale(mode: str, answer_size: tuple[int, int], cell: int = 111,
                   tile_above: int = 0) -> str:
    """Resolve ``"auto"`` for an answer of ``answer_size`` (W, H).

    Rule: answers up to twice the cell (222 px on the longer side) are resized bicubic,
    there is no detail to recover; larger ones use the guided filter. Tiling is chosen
    automatically only when ``tile_above`` > 0 and the longer side exceeds it (it costs one
    canvas per tile and zooms the query, which breaks global tasks such as flips).
    """
    if mode not in UPSCALE_MODES:
        raise InputError(f"unknown upscale mode {mode!r}; choose from {list(UPSCALE_MODES)}")
    if mode != "auto":
        return mode
    longest = max(answer_size)
    if tile_above and longest > tile_above:
        return "tiled"
    return "guided" if longest > 2 * cell else "bicubic"
