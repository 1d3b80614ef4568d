"""Guided upsampling, the upscale rule and the boundary F-score."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from visprompt_core.boxfilter import box_mean
from visprompt_core.errors import InputError
from visprompt_core.evaluation import boundary_fscore, mask_boundary
from visprompt_core.upsample import (
    bicubic_upsample,
    choose_upscale,
    guided_upsample,
    is_mask_like,
)


def disc(size: int, radius_frac: float = 0.3, centre: tuple[float, float] = (0.45, 0.55)
         ) -> torch.Tensor:
    """(size, size) bool disc."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius_frac ** 2


def test_constant_answer_stays_constant() -> None:
    answer = torch.full((3, 20, 20), 0.3)
    guide = torch.rand(3, 80, 80)
    out = guided_upsample(answer, guide, snap=False)
    assert out.shape == (3, 80, 80)
    assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-3)


def test_mask_edges_follow_the_guide() -> None:
    """A blurry low-resolution mask becomes crisp on the full-resolution guide's edge."""
    big = 448
    c = (torch.arange(big, dtype=torch.float32) + 0.5) / big
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    rect = ((yy - 0.45).abs() < 0.3) & ((xx - 0.55).abs() < 0.25)
    truth = rect | disc(big, 0.1, (0.2, 0.2))
    guide = torch.where(truth, torch.tensor([0.9, 0.2, 0.1])[:, None, None],
                        torch.tensor([0.1, 0.3, 0.8])[:, None, None])
    low = F.interpolate(truth.float()[None, None], size=(28, 28), mode="area")[0]
    low = box_mean(low[None], 1)[0].expand(3, -1, -1)  # a blurry 28-px answer
    assert bool(is_mask_like(low)[0])
    guided = guided_upsample(low, guide)
    bicubic = bicubic_upsample(low, (big, big))
    assert guided.unique().tolist() == [0.0, 1.0]
    g_mask = guided.mean(0)[None] > 0.5
    b_mask = bicubic.mean(0)[None] > 0.5
    f_guided = boundary_fscore(g_mask, truth[None], 2).item()
    f_bicubic = boundary_fscore(b_mask, truth[None], 2).item()
    assert f_guided > 0.95 and f_bicubic < 0.9
    iou = ((g_mask & truth).sum() / (g_mask | truth).sum()).item()
    b_iou = ((b_mask & truth).sum() / (b_mask | truth).sum()).item()
    assert iou > 0.97 and iou >= b_iou


def test_batched_colour_answer_keeps_range() -> None:
    answer, guide = torch.rand(2, 3, 30, 40), torch.rand(2, 3, 90, 120)
    out = guided_upsample(answer, guide)
    assert out.shape == (2, 3, 90, 120)
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(InputError):
        guided_upsample(answer, guide[:1])


def test_mask_like_detection() -> None:
    mask = disc(64).float().expand(3, -1, -1)
    colour = torch.rand(3, 64, 64)
    assert is_mask_like(torch.stack([mask, colour])).tolist() == [True, False]


def test_choose_upscale_rule() -> None:
    assert choose_upscale("auto", (200, 150)) == "bicubic"
    assert choose_upscale("auto", (223, 10)) == "guided"
    assert choose_upscale("auto", (4000, 3000)) == "guided"
    assert choose_upscale("auto", (4000, 3000), tile_above=2048) == "tiled"
    assert choose_upscale("tiled", (50, 50)) == "tiled"
    with pytest.raises(InputError):
        choose_upscale("sharp", (50, 50))


def test_boundary_fscore() -> None:
    a = disc(100)[None]
    assert boundary_fscore(a, a).item() == 1.0
    shifted = torch.roll(a, 2, dims=-1)
    assert boundary_fscore(shifted, a, 2).item() == 1.0
    assert boundary_fscore(shifted, a, 1).item() < 0.8
    far = torch.roll(a, 8, dims=-1)
    assert boundary_fscore(far, a, 2).item() < 0.3
    empty = torch.zeros_like(a)
    assert boundary_fscore(empty, empty).item() == 1.0
    assert boundary_fscore(empty, a).item() == 0.0
    full = torch.ones_like(a)
    assert not mask_boundary(full).any()  # image borders are not boundaries
