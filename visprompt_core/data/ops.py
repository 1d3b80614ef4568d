"""Batched pixel operations behind the task families (pure functions, exactly testable).

Images are float (N, 3, H, W) in [0, 1]; masks are bool (N, H, W) or (N, 1, H, W);
label maps are long (N, H, W) with -1 on background.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601


def mask_to_image(mask: torch.Tensor, dark: bool = False) -> torch.Tensor:
    """Bool (N, H, W) or (N, 1, H, W) -> (N, 3, H, W): white on black (black on white if dark)."""
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    m = mask.float()
    if dark:
        m = 1.0 - m
    return m.expand(-1, 3, -1, -1).contiguous()


def luminance(img: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) BT.601 luma."""
    w = torch.tensor(LUMA, device=img.device, dtype=img.dtype).view(1, 3, 1, 1)
    return (img * w).sum(dim=1, keepdim=True)


def greyscale(img: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 3, H, W) luma replicated in all channels."""
    return luminance(img).expand(-1, 3, -1, -1).contiguous()


def invert(img: torch.Tensor) -> torch.Tensor:
    """1 - x."""
    return 1.0 - img


def permute_channels(img: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """out[:, c] = img[:, perm[:, c]]; perm (N, 3) long."""
    n, _, h, w = img.shape
    return img.gather(1, perm.view(n, 3, 1, 1).expand(-1, -1, h, w))


def hue_matrix(angle: torch.Tensor) -> torch.Tensor:
    """(N,) radians -> (N, 3, 3) rotation of RGB about the grey axis (Rodrigues)."""
    k = torch.full((3,), 1.0 / math.sqrt(3.0), device=angle.device)
    kx = torch.tensor([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]],
                      device=angle.device)
    c, s = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    eye = torch.eye(3, device=angle.device)
    return c * eye + s * kx + (1 - c) * torch.outer(k, k)


def apply_color_matrix(img: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """out[:, i] = clamp(sum_j m[:, i, j] * img[:, j]); m (N, 3, 3)."""
    return torch.einsum("nij,njhw->nihw", m, img).clamp(0, 1)


def posterize(img: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Quantise each channel to ``levels`` (N,) evenly spaced values (levels >= 2)."""
    q = (levels.float() - 1).view(-1, 1, 1, 1)
    return torch.round(img * q) / q


def gaussian_blur(
    img: torch.Tensor, sigma: torch.Tensor, radius: int | None = None
) -> torch.Tensor:
    """Separable Gaussian blur with a per-image ``sigma`` (N,), reflect padding."""
    n, c, h, w = img.shape
    if radius is None:
        radius = max(1, math.ceil(3 * float(sigma.max())))
    radius = min(radius, h - 1, w - 1)
    x = torch.arange(-radius, radius + 1, device=img.device, dtype=img.dtype)
    k = torch.exp(-(x.view(1, -1) ** 2) / (2 * sigma.view(-1, 1).to(img.dtype) ** 2))
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (N*C, ks)
    flat = img.reshape(1, n * c, h, w)
    flat = F.pad(flat, (0, 0, radius, radius), mode="reflect")
    flat = F.conv2d(flat, k.view(n * c, 1, -1, 1), groups=n * c)
    flat = F.pad(flat, (radius, radius, 0, 0), mode="reflect")
    flat = F.conv2d(flat, k.view(n * c, 1, 1, -1), groups=n * c)
    return flat.view(n, c, h, w)


def _max_min(label: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    lab = label.float().unsqueeze(1)
    mx = F.max_pool2d(lab, k, stride=1, padding=k // 2)
    mn = -F.max_pool2d(-lab, k, stride=1, padding=k // 2)
    return mx[:, 0], mn[:, 0]


def boundary_lines(label: torch.Tensor) -> torch.Tensor:
    """(N, H, W) label map -> bool (N, H, W) lines 3 px wide along every label change.

    A pixel is on a line when its 3x3 window holds two labels (2 px straddling the
    boundary); one more pixel down/right makes it 3 px. The image border is no boundary.
    """
    mx, mn = _max_min(label, 3)
    edge = (mx != mn).float().unsqueeze(1)
    edge = F.max_pool2d(F.pad(edge, (1, 0, 1, 0)), 2, stride=1)
    return edge[:, 0] > 0


def inner_outline(label: torch.Tensor, width: int = 3) -> torch.Tensor:
    """(N, H, W) label map -> bool (N, H, W): labelled pixels within ``width`` px of a change."""
    mx, mn = _max_min(label, 2 * width + 1)
    return (label >= 0) & (mx != mn)


def bbox_mask(fg: torch.Tensor) -> torch.Tensor:
    """(N, H, W) or (N, 1, H, W) bool -> (N, H, W) bool filled bounding box (empty if no fg)."""
    if fg.dim() == 4:
        fg = fg[:, 0]
    _, h, w = fg.shape
    rows, cols = fg.any(dim=2), fg.any(dim=1)
    top = rows.float().argmax(dim=1)
    bottom = h - 1 - rows.flip(1).float().argmax(dim=1)
    left = cols.float().argmax(dim=1)
    right = w - 1 - cols.flip(1).float().argmax(dim=1)
    ys = torch.arange(h, device=fg.device).view(1, h, 1)
    xs = torch.arange(w, device=fg.device).view(1, 1, w)
    box = ((ys >= top.view(-1, 1, 1)) & (ys <= bottom.view(-1, 1, 1))
           & (xs >= left.view(-1, 1, 1)) & (xs <= right.view(-1, 1, 1)))
    return box & rows.any(dim=1).view(-1, 1, 1)


def rot90(img: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate each image counter-clockwise by 90 * k[i] degrees (k (N,) long)."""
    out = img.clone()
    for kk in range(1, 4):
        idx = torch.nonzero(k % 4 == kk).flatten()
        if idx.numel():
            out[idx] = torch.rot90(img[idx], kk, dims=(2, 3))
    return out
