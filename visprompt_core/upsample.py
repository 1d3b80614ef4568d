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

Tensors are float (3, H, W) or (B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from visprompt_core.boxfilter import box_mean
from visprompt_core.errors import InputError

UPSCALE_MODES = ("auto", "bicubic", "guided", "tiled")


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
    low_guide = _resize(guide, tuple(answer.shape[-2:]), "area")
    a, b = guided_coefficients(low_guide, answer, radius, eps)
    size = tuple(guide.shape[-2:])
    # One full-resolution coefficient plane at a time: a 4k answer stays ~100 MB.
    out = _resize(b, size, "bilinear")
    for k in range(3):
        out.addcmul_(_resize(a[:, :, k], size, "bilinear"), guide[:, k:k + 1])
    bsz = answer.shape[0]
    mask_like = is_mask_like(answer) if snap is None else torch.full((bsz,), bool(snap))
    if bool(mask_like.any()):
        grey = out.mean(1, keepdim=True)
        snapped = (grey > 0.5).to(out.dtype).expand_as(out)
        out = torch.where(mask_like.to(out.device).view(-1, 1, 1, 1), snapped, out)
    out = out.clamp_(0, 1)
    return out[0] if single else out


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
