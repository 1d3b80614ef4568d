"""A short CPU training run lowers the losses, and a second run resumes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from visprompt_core.checkpoints import load_model_file
from visprompt_core.train.common import TrainConfig
from visprompt_core.train.mae import random_mask, train_mae
from visprompt_core.train.tokenizer import check_crop, random_crop, train_tokenizer


def records(out: Path, stage: str) -> list[dict]:
    lines = (out / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("stage") == stage and "loss" in r]


def test_short_cpu_run_lowers_loss_and_resumes(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    cfg = TrainConfig(out=str(tmp_path), preset="tiny", device="cpu", seed=3,
                      tok_steps=40, tok_batch=4, tok_lr=3e-3, mae_steps=40, mae_batch=8,
                      mae_lr=2e-3, warmup=5, log_every=5, save_every=20, p_3x2=0.0)
    tokenizer = train_tokenizer(cfg)
    tok = records(tmp_path, "tokenizer")
    assert tok[-1]["step"] == 40
    first = sum(r["loss"] for r in tok[:2]) / 2
    last = sum(r["loss"] for r in tok[-2:]) / 2
    assert last < first * 0.9, (first, last)

    model = train_mae(cfg, tokenizer)
    mae = records(tmp_path, "mae")
    assert mae[-1]["step"] == 40
    assert mae[-1]["loss"] < mae[0]["loss"] * 0.8
    _, saved = load_model_file(tmp_path / "model.safetensors")
    for key in ("decoder_pred.weight", "vae.quantize.embedding.weight"):
        torch.testing.assert_close(saved.state_dict()[key], model.state_dict()[key].half().float())

    # Same folder again: both stages resume from their saved final step, train nothing
    # more, and give back the same weights.
    again = train_mae(cfg, train_tokenizer(cfg))
    assert len(records(tmp_path, "tokenizer")) == len(tok)
    assert len(records(tmp_path, "mae")) == len(mae)
    torch.testing.assert_close(again.state_dict()["decoder_pred.weight"],
                               model.state_dict()["decoder_pred.weight"])


def test_random_mask_counts() -> None:
    gen = torch.Generator().manual_seed(0)
    mask = random_mask(5, 196, 0.75, torch.device("cpu"), gen)
    assert mask.shape == (5, 196)
    assert mask.sum(1).tolist() == [147] * 5


def test_tokenizer_crops_are_patch_aligned_windows() -> None:
    x = torch.arange(2 * 3 * 224 * 224, dtype=torch.float32).view(2, 3, 224, 224)
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        crop = random_crop(x, 112, gen)
        assert crop.shape == (2, 3, 112, 112)
        top, left = divmod(int(crop[0, 0, 0, 0]), 224)
        assert top % 16 == 0 and left % 16 == 0
        assert torch.equal(crop, x[..., top:top + 112, left:left + 112])
        seen.add((top, left))
    assert len(seen) > 5  # the window moves
    assert random_crop(x, 0, gen) is x
    for bad in (-16, 100, 240):
        with pytest.raises(ValueError, match="tok_crop"):
            check_crop(bad, 224)


def test_tokenizer_trains_on_crops(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    cfg = TrainConfig(out=str(tmp_path), preset="tiny", device="cpu", seed=5, tok_steps=40,
                      tok_batch=4, tok_lr=3e-3, tok_crop=112, warmup=5, log_every=5,
                      save_every=40, p_3x2=0.0)
    train_tokenizer(cfg)
    tok = records(tmp_path, "tokenizer")
    assert tok[-1]["step"] == 40
    assert sum(r["loss"] for r in tok[-2:]) < 0.9 * sum(r["loss"] for r in tok[:2])
    with pytest.raises(ValueError, match="tok_crop"):
        train_tokenizer(TrainConfig(out=str(tmp_path / "bad"), preset="tiny", device="cpu",
                                    tok_steps=2, tok_crop=100))
