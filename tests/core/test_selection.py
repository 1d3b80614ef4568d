"""Example selection from a pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visprompt_core.errors import InputError
from visprompt_core.pipeline import PromptRequest, VisualPrompter
from visprompt_core.selection import (
    encoder_features,
    pixel_features,
    rank_examples,
    select_examples,
)


def flat(colour: tuple[int, int, int], size: int = 48) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def stripes(colour: tuple[int, int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.zeros((64, 64, 3), np.uint8)
    arr[:] = colour
    arr[::8] = 255 - np.asarray(colour, np.uint8)
    arr += rng.integers(0, 8, arr.shape, dtype=np.uint8)
    return Image.fromarray(arr)


def test_pixel_feature_picks_the_similar_input() -> None:
    pool = [(flat((0, 0, 255)), flat((0, 0, 0))), (flat((250, 10, 10)), flat((255,) * 3)),
            (flat((10, 200, 10)), flat((0, 0, 0)))]
    query = flat((240, 20, 20), 100)
    assert rank_examples(None, pool, query, "pixels")[0] == 1
    assert select_examples(None, pool, query, 1, "pixels") == [pool[1]]
    feats = pixel_features([p[0] for p in pool])
    assert feats.shape == (3, 256)


def test_encoder_feature(tiny_prompter: VisualPrompter) -> None:
    images = [stripes((200, 30, 30), 0), stripes((200, 30, 30), 1), flat((20, 20, 220))]
    feats = encoder_features(tiny_prompter, images)
    assert feats.shape[0] == 3
    assert torch.allclose(feats.norm(dim=1), torch.ones(3), atol=1e-5)
    assert float(feats[0] @ feats[1]) > float(feats[0] @ feats[2])
    pool = [(images[2], images[2]), (images[1], images[1])]
    assert rank_examples(tiny_prompter, pool, images[0], "encoder") == [1, 0]
    assert rank_examples(tiny_prompter, pool, images[0], "both") == [1, 0]


def test_select_validation(tiny_prompter: VisualPrompter) -> None:
    pool = [(flat((i * 10, 0, 0)), flat((0, 0, 0))) for i in range(3)]
    assert select_examples(tiny_prompter, pool, flat((0, 0, 0)), 5) == pool
    with pytest.raises(InputError):
        select_examples(tiny_prompter, pool, flat((0, 0, 0)), 0)
    with pytest.raises(InputError):
        rank_examples(tiny_prompter, pool, flat((0, 0, 0)), "clip")
    for feature in ("encoder", "both"):
        with pytest.raises(InputError):
            rank_examples(None, pool, flat((0, 0, 0)), feature)


def test_prompt_with_a_pool(tiny_prompter: VisualPrompter) -> None:
    """A 12-pair pool (above the 8-pair limit) narrowed to the two closest pairs."""
    pool = [(flat((i * 20, 255 - i * 20, 0)), flat((0, 0, 0))) for i in range(12)]
    query = flat((220, 30, 0), 90)
    answer = tiny_prompter.prompt(pool, query, select=2)
    assert answer.size == (90, 90)
    chosen = select_examples(tiny_prompter, pool, query, 2)
    direct = tiny_prompter.prompt(chosen, query)
    assert np.array_equal(np.asarray(answer), np.asarray(direct))
    with pytest.raises(InputError):
        tiny_prompter.prompt(pool, query)  # 12 pairs without select
    with pytest.raises(InputError):
        tiny_prompter.prompt_batch([PromptRequest(pool, query, select=9)])


def test_cli_run_with_pool_and_upscale(tiny_file: Path, tmp_path: Path) -> None:
    from visprompt_core import cli

    files = []
    for i in range(10):
        for j, colour in enumerate(((i * 20, 0, 0), (0, 0, 0))):
            path = tmp_path / f"p{i}_{j}.png"
            flat(colour).save(path)
            files.append(str(path))
    query = tmp_path / "q.png"
    flat((200, 0, 0), 300).save(query)
    out = tmp_path / "a.png"
    code = cli.main(["run", "--example", *files, "--query", str(query), "-o", str(out),
                     "--select", "2", "--upscale", "guided", "--model", str(tiny_file),
                     "--device", "cpu"])
    assert code == 0 and Image.open(out).size == (300, 300)
