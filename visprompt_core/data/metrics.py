"""Per-sample scores: IoU for mask tasks, PSNR for image tasks.

Inputs are float (B, 3, H, W) in [0, 1] (answer cells or whole canvases).
"""

from __future__ import annotations

import torch

from visprompt_core.data.tasks import TASK_NAMES, TASKS


def binarize(x: torch.Tensor, dark_fg: bool | torch.Tensor = False) -> torch.Tensor:
    """(B, 3, H, W) -> (B, H, W) bool: channel mean > 0.5 (< 0.5 where ``dark_fg``)."""
    m = x.float().mean(dim=1)
    bright = m > 0.5
    if isinstance(dark_fg, torch.Tensor):
        return torch.where(dark_fg.to(m.device).view(-1, 1, 1), m < 0.5, bright)
    return m < 0.5 if dark_fg else bright


def iou(pred: torch.Tensor, target: torch.Tensor,
        dark_fg: bool | torch.Tensor = False) -> torch.Tensor:
    """(B,) intersection over union of the binarised masks; 1.0 when both are empty.

    dark_fg: the foreground is black ink on white (bool, or (B,) bool per sample).
    """
    p, t = binarize(pred, dark_fg), binarize(target, dark_fg)
    inter = (p & t).flatten(1).sum(1).float()
    union = (p | t).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def psnr(pred: torch.Tensor, target: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """(B,) peak signal-to-noise ratio in dB (peak 1.0), capped at ``max_db``."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1)
    return (-10.0 * torch.log10(mse.clamp(min=10 ** (-max_db / 10)))).clamp(max=max_db)


def score(pred: torch.Tensor, target: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
    """(B,) IoU for mask tasks, PSNR (dB) for image tasks; ``task_ids`` index TASK_NAMES."""
    dev = task_ids.device
    is_mask = torch.tensor([TASKS[n].kind == "mask" for n in TASK_NAMES], device=dev)[task_ids]
    dark = torch.tensor([TASKS[n].dark_fg for n in TASK_NAMES], device=dev)[task_ids]
    return torch.where(is_mask, iou(pred, target, dark), psnr(pred, target))


def per_task(scores: torch.Tensor, task_ids: torch.Tensor) -> dict[str, float]:
    """Mean score of every task family present in ``task_ids``."""
    out: dict[str, float] = {}
    for tid in sorted(set(task_ids.tolist())):
        out[TASK_NAMES[tid]] = float(scores[task_ids == tid].float().mean())
    return out
