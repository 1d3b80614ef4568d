"""Per-sample scores: IoU for mask tasks, PSNR for image tasks.

Inputs are float (B, 3, H, W) in [0, 1] (answer cells or whole canvases).
"""

from __future__ import annotations

import math

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


def colour_part(x: torch.Tensor) -> torch.Tensor:
    """Each pixel minus its grey mean (channel mean): the colour alone, 0 for grey."""
    return x.float() - x.float().mean(-3, keepdim=True)


def colour_figures(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Pooled over the whole batch: ``psnr``; ``chroma_psnr``, the PSNR of the colour
    parts alone (a grey ``pred`` scores what a grey answer scores); ``saturation_ratio``,
    the mean colour amplitude of ``pred`` over ``target``'s (1 = as colourful, 0 = grey;
    nan when ``target`` itself is grey)."""

    def pooled_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return 10 * math.log10(1 / max(float((a - b).pow(2).mean()), 1e-10))

    pred, target = pred.float(), target.float()
    amplitude = float(colour_part(target).abs().mean())
    saturation = (float(colour_part(pred).abs().mean()) / amplitude if amplitude > 1e-3
                  else math.nan)
    return {"psnr": pooled_psnr(pred, target),
            "chroma_psnr": pooled_psnr(colour_part(pred), colour_part(target)),
            "saturation_ratio": saturation}


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
