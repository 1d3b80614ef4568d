"""The shared box filter against a brute-force window mean."""

from __future__ import annotations

import pytest
import torch

from visprompt_core.boxfilter import box_mean


def brute_force(x: torch.Tensor, radius: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    expected = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            window = x[..., max(0, i - radius):i + radius + 1, max(0, j - radius):j + radius + 1]
            expected[..., i, j] = window.mean((-2, -1))
    return expected


@pytest.mark.parametrize("shape", [(2, 3, 9, 7), (1, 9, 6), (2, 2, 2, 5, 4), (6, 11)])
def test_box_mean_is_the_window_mean_clipped_at_the_borders(shape: tuple[int, ...]) -> None:
    x = torch.rand(shape)
    for radius in (0, 1, 2, 3, 20):  # 20: wider than the image on both axes
        out = box_mean(x, radius)
        assert out.shape == x.shape and out.dtype == x.dtype
        torch.testing.assert_close(out, brute_force(x, radius))


def test_box_mean_keeps_the_dtype_and_sums_in_float64() -> None:
    # A float32 integral image of a 1000x1000 image reaches 7e5, where float32 steps
    # are 0.06: its window means would be off by ~1e-4.
    x = torch.full((1, 1, 1000, 1000), 0.7)
    out = box_mean(x, 7)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)
    assert box_mean(torch.rand(1, 2, 8, 8).half(), 1).dtype == torch.float16


def test_box_mean_rejects_a_negative_radius() -> None:
    with pytest.raises(ValueError, match="radius"):
        box_mean(torch.rand(1, 1, 4, 4), -1)
