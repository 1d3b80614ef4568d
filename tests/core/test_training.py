"""A short CPU training run lowers the losses, and a second run resumes it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from visprompt_core.checkpoints import load_model_file
from visprompt_core.config import PRESETS
from visprompt_core.model.vqgan import VQGAN, AttnBlock, ResnetBlock
from visprompt_core.train.common import StepBudget, TrainConfig
from visprompt_core.train.mae import random_mask, train_mae
from visprompt_core.train.tokenizer import (
    DEAD_USAGE,
    USAGE_DECAY,
    EmaCodebook,
    check_crop,
    init_for_training,
    random_crops,
    reconstruction_figures,
    train_tokenizer,
)


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

    held_out = [r for r in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines())
                if r.get("event") == "held_out"]
    assert [r["step"] for r in held_out] == [20, 40]
    assert all(r["saturation_ratio"] > 0 and 5 < r["psnr"] < 40 for r in held_out)

    model = train_mae(cfg, tokenizer)
    mae = records(tmp_path, "mae")
    assert mae[-1]["step"] == 40
    # The tokenizer uses all its 64 codes from the start (seeded codebook), so the first
    # loss is the uniform guess, log(64) = 4.16; 40 tiny steps get clearly below it.
    assert mae[-1]["loss"] < mae[0]["loss"] * 0.95
    assert mae[-1]["loss"] < math.log(PRESETS["tiny"].mae.vocab_size) - 0.2
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
        crop = random_crops(x, 112, gen)
        assert crop.shape == (2, 3, 112, 112)
        top, left = divmod(int(crop[0, 0, 0, 0]), 224)
        assert top % 16 == 0 and left % 16 == 0
        assert torch.equal(crop, x[..., top:top + 112, left:left + 112])
        seen.add((top, left))
    assert len(seen) > 5  # the window moves
    assert random_crops(x, 0, gen) is x
    for bad in (-16, 100, 240):
        with pytest.raises(ValueError, match="tok_crop"):
            check_crop(bad, 224)


def test_several_crops_per_canvas_are_windows_at_their_own_places() -> None:
    x = torch.arange(2 * 3 * 224 * 224, dtype=torch.float32).view(2, 3, 224, 224)
    gen = torch.Generator().manual_seed(3)
    crops = random_crops(x, 112, gen, count=4)
    assert crops.shape == (8, 3, 112, 112)
    places = set()
    for k in range(4):
        top, left = divmod(int(crops[2 * k, 0, 0, 0]), 224)
        assert top % 16 == 0 and left % 16 == 0
        # crop-major: rows 2k and 2k + 1 are the same window of canvases 0 and 1
        assert torch.equal(crops[2 * k:2 * k + 2], x[..., top:top + 112, left:left + 112])
        places.add((top, left))
    assert len(places) > 1
    # one crop per canvas draws the same windows as before the option existed
    again = torch.Generator().manual_seed(3)
    assert torch.equal(random_crops(x, 112, again), crops[:2])
    for batch, per_canvas, side in ((8, 3, 112), (8, 0, 112), (8, 2, 0), (8, 2, 224)):
        with pytest.raises(ValueError, match="tok_crops_per_canvas"):
            check_crop(side, 224, batch, per_canvas)


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
    # several crops per canvas: half the canvases, the same batch of crops
    two = TrainConfig(out=str(tmp_path / "two"), preset="tiny", device="cpu", seed=5,
                      tok_steps=3, tok_batch=4, tok_crop=112, tok_crops_per_canvas=2,
                      warmup=1, log_every=1, save_every=3, p_3x2=0.0)
    train_tokenizer(two)
    assert [r["step"] for r in records(tmp_path / "two", "tokenizer")][-1] == 3


def test_training_init_makes_every_block_the_identity() -> None:
    torch.manual_seed(0)
    vq = VQGAN(PRESETS["tiny"].vqgan)
    init_for_training(vq)
    blocks = [m for m in vq.modules() if isinstance(m, (ResnetBlock, AttnBlock))]
    assert len(blocks) > 5
    with torch.no_grad():
        for block in blocks:
            if isinstance(block, ResnetBlock) and block.nin_shortcut is not None:
                continue
            channels = block.norm1.num_channels if isinstance(block, ResnetBlock) \
                else block.norm.num_channels
            x = torch.randn(2, channels, 8, 8)
            torch.testing.assert_close(block(x), x)
    conv = vq.encoder.conv_in
    fan_in = conv.weight[0].numel()
    assert abs(float(conv.weight.detach().std()) * fan_in ** 0.5 - 1) < 0.25
    assert not conv.bias.any()


def test_codebook_seeded_from_encoder_outputs_uses_every_code() -> None:
    torch.manual_seed(0)
    vq = VQGAN(PRESETS["tiny"].vqgan)
    init_for_training(vq)
    with torch.no_grad():
        z = vq.encode_latent(torch.rand(4, 3, 224, 224) * 2 - 1)
    n_codes = vq.cfg.n_embed
    # The N(0, 1) initial codes lie far from the encoder's outputs: few take everything.
    assert vq.quantize.codes(z).unique().numel() < n_codes // 2
    ema = EmaCodebook(vq)
    ema.seed(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]))
    assert ema.seeded
    # Every code is a distinct encoder output, so each is the nearest code of its own row.
    assert vq.quantize.codes(z).unique().numel() == n_codes
    torch.testing.assert_close(ema.sums, vq.quantize.embedding.weight)


def test_codes_unused_for_about_thirty_steps_restart() -> None:
    vq = VQGAN(PRESETS["tiny"].vqgan)
    ema = EmaCodebook(vq)
    z = torch.randn(256, vq.cfg.embed_dim)
    only_code_0 = torch.zeros(256, dtype=torch.long)
    # usage starts at the uniform share and decays by USAGE_DECAY per step without a hit
    quiet = 0
    while USAGE_DECAY ** (quiet + 1) >= DEAD_USAGE:
        quiet += 1
    assert 25 <= quiet <= 40
    restarted = [ema.update(z, only_code_0) for _ in range(quiet + 1)]
    assert sum(restarted[:quiet]) == 0
    assert restarted[quiet] == vq.cfg.n_embed - 1
    book = vq.quantize.embedding.weight
    # restarted codes are rows of the batch
    exact_match = (book[1:, None, :] == z[None]).all(-1).any(1)
    assert bool(exact_match.all())


class _Reconstructs(torch.nn.Module):
    """A stand-in tokenizer: 'tokens' are the image; decoding keeps it or greys it."""

    def __init__(self, grey: bool) -> None:
        super().__init__()
        self.grey = grey
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1, keepdim=True).expand_as(x) if self.grey else x


def test_reconstruction_figures_tell_grey_from_colour() -> None:
    exact = reconstruction_figures(_Reconstructs(grey=False), episodes=8)  # type: ignore[arg-type]
    assert exact["psnr"] == pytest.approx(100.0)
    assert exact["saturation_ratio"] == pytest.approx(1.0)
    grey = reconstruction_figures(_Reconstructs(grey=True), episodes=8)  # type: ignore[arg-type]
    assert grey["saturation_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert 14 < grey["chroma_psnr"] < 20  # about 17 dB: the colour part is all lost
    assert grey["psnr"] < 30


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_budget(budget: StepBudget, clock: FakeClock, first_steps_s: float, step_s: float,
               first: int = 0) -> int:
    """Step until the budget's total: 10 slow start-up steps, then a steady rate."""
    step, total = first, budget.total
    while step < total:
        clock.now += first_steps_s if step - first < 10 else step_s
        step += 1
        total = budget.update(step)
    return step


def test_step_budget_ignores_slow_start_up_steps() -> None:
    clock = FakeClock()
    # 10 start-up steps of 2 s (autotuning), then 0.1 s a step, 100 s in all: after the
    # 20 s of start-up, 800 steady steps fit. A rate taken from the stage's start (as the
    # first GPU run did) would have planned about 30 / 22 * 100 = 136 steps at step 30.
    budget = StepBudget(planned=100_000, first=0, budget=100.0, clock=clock)
    steps = run_budget(budget, clock, first_steps_s=2.0, step_s=0.1)
    assert 805 <= steps <= 812  # 10 + 800
    assert clock.now <= 101.0


def test_step_budget_on_resume_counts_from_the_resumed_step() -> None:
    clock = FakeClock()
    budget = StepBudget(planned=5_000, first=4_000, budget=50.0, clock=clock)
    steps = run_budget(budget, clock, first_steps_s=0.5, step_s=0.1, first=4_000)
    assert 4_455 <= steps <= 4_462  # 10 steps in 5 s, then 450 steps of 0.1 s


def test_step_budget_without_limit_keeps_the_plan() -> None:
    clock = FakeClock()
    budget = StepBudget(planned=200, first=0, budget=0.0, clock=clock)
    assert run_budget(budget, clock, first_steps_s=5.0, step_s=5.0) == 200
