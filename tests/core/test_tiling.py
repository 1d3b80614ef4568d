"""Tiling: tile plans, seamless blending, tiled and guided answers in the pipeline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from core_helpers import noise
from PIL import Image

from visprompt_core.errors import InputError
from visprompt_core.pipeline import PromptRequest, VisualPrompter
from visprompt_core.tiling import blend_tiles, plan_tiles, ramp, tile_starts


def test_tiles_cover_with_overlap() -> None:
    assert tile_starts(300, 512, 0.25) == [0]
    starts = tile_starts(1024, 512, 0.25)
    assert starts[0] == 0 and starts[-1] == 512
    assert all(b - a <= 384 for a, b in itertools.pairwise(starts))
    boxes = plan_tiles((1000, 700), 512, 0.25)
    covered = torch.zeros(700, 1000, dtype=torch.int32)
    for box in boxes:
        assert box.height == 512 and box.width == 512
        rows, cols = box.slices()
        covered[rows, cols] += 1
    assert covered.min() >= 1 and covered.max() >= 2
    assert len(plan_tiles((100, 60), 512)) == 1
    with pytest.raises(InputError):
        plan_tiles((100, 100), 8)
    with pytest.raises(InputError):
        plan_tiles((100, 100), 64, 1.0)


def test_ramp_is_smooth_and_positive() -> None:
    w = ramp(100, 25)
    assert w.min() > 0 and w.max() == 1.0
    assert torch.all(w[:50].diff() >= 0)
    assert torch.allclose(w, w.flip(0))


def test_blend_of_consistent_tiles_has_no_seams() -> None:
    image = torch.rand(3, 300, 450)
    boxes = plan_tiles((450, 300), 128, 0.25)
    tiles = [image[:, b.top:b.bottom, b.left:b.right] for b in boxes]
    out = blend_tiles(tiles, boxes, (450, 300), 0.25)
    assert torch.allclose(out, image, atol=1e-5)
    # Tiles that disagree (a constant per tile) blend into a continuous ramp.
    flat = [torch.full((3, b.height, b.width), float(i % 2)) for i, b in enumerate(boxes)]
    mixed = blend_tiles(flat, boxes, (450, 300), 0.25)
    assert mixed.diff(dim=-1).abs().max() < 0.2
    with pytest.raises(InputError):
        blend_tiles(tiles[:-1], boxes, (450, 300))


def test_tiled_prompt_is_one_batched_call(tiny_prompter: VisualPrompter,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = tiny_prompter.logits

    def counting(canvases: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        calls.append(canvases.shape[0])
        return original(canvases, mask)

    monkeypatch.setattr(tiny_prompter, "logits", counting)
    pair = (noise((64, 64), 1), noise((64, 64), 2))
    query = noise((600, 400), 3)
    answer = tiny_prompter.prompt([pair], query, upscale="tiled", ensemble=2)
    assert answer.size == (600, 400) and answer.mode == "RGB"
    n_tiles = len(plan_tiles((600, 400), 512, 0.25))
    assert calls == [2 * n_tiles]


def test_upscale_modes_in_the_pipeline(tiny_prompter: VisualPrompter) -> None:
    pair = (noise((64, 64), 1), noise((64, 64), 2))
    small = noise((150, 120), 4)
    auto = np.asarray(tiny_prompter.prompt([pair], small))
    bicubic = np.asarray(tiny_prompter.prompt([pair], small, upscale="bicubic"))
    assert np.array_equal(auto, bicubic)  # auto: bicubic up to 222 px
    big = noise((500, 300), 5)
    auto = np.asarray(tiny_prompter.prompt([pair], big))
    guided = np.asarray(tiny_prompter.prompt([pair], big, upscale="guided"))
    assert np.array_equal(auto, guided)  # auto: guided above
    mask = Image.new("L", (500, 300), 0)
    mask.paste(255, (0, 0, 250, 300))
    rgba = tiny_prompter.prompt([pair], big, mask=mask, upscale="tiled")
    assert rgba.mode == "RGBA" and rgba.size == (500, 300)
    with pytest.raises(InputError):
        tiny_prompter.prompt([pair], big, upscale="sharpest")
    with pytest.raises(InputError):
        tiny_prompter.prompt_batch([PromptRequest([pair], big, upscale="tiled", tile=4)])
