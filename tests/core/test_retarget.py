"""Starting an MAE from a model file under a new tokenizer (train/retarget.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from visprompt_core.checkpoints import CheckpointError, load_model_file, save_model
from visprompt_core.config import PRESETS
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.model import MAEVQGAN
from visprompt_core.model.vqgan import VQGAN
from visprompt_core.registry import default_weights_path
from visprompt_core.train.common import TrainConfig
from visprompt_core.train.mae import build_model
from visprompt_core.train.retarget import (
    UNSEEN_LOGIT,
    code_cooccurrence,
    load_mae_retargeted,
    remap_token_head,
    sample_canvases,
)


def test_remapped_head_shares_each_old_codes_probability() -> None:
    torch.manual_seed(0)
    old = nn.Linear(8, 3)
    # new 0 and 1 replace old 0 (3:1), new 2 replaces old 2, new 3 is never seen;
    # old 1 co-occurs with new 2 once (new 2 still belongs to old 2).
    cooc = torch.tensor([[3.0, 1.0, 0.0, 0.0],
                         [0.0, 0.0, 1.0, 0.0],
                         [0.0, 0.0, 5.0, 0.0]])
    new = remap_token_head(old, cooc)
    assert new.out_features == 4
    torch.testing.assert_close(new.weight[:2], old.weight[[0, 0]])
    torch.testing.assert_close(new.weight[2], old.weight[2])
    h = torch.randn(16, 8)
    old_logits, new_logits = old(h), new(h)
    # old code 0's logit is split over new 0 and 1 (3/4 and 1/4 of it) ...
    torch.testing.assert_close(new_logits[:, :2].logsumexp(-1), old_logits[:, 0])
    torch.testing.assert_close(new_logits[:, 0] - new_logits[:, 1],
                               torch.full((16,), float(torch.tensor(3.0).log())))
    # ... old code 2 passes to new 2 whole, and the unseen code is never the answer.
    torch.testing.assert_close(new_logits[:, 2], old_logits[:, 2])
    assert bool((new.bias[3] <= new.bias[:3].min() + UNSEEN_LOGIT + 1e-4).all())
    with pytest.raises(ValueError, match="3 outputs"):
        remap_token_head(old, cooc[:2])


def test_a_tokenizer_cooccurs_with_itself_on_the_diagonal() -> None:
    torch.manual_seed(1)
    vq = VQGAN(PRESETS["tiny"].vqgan).eval()
    canvases = sample_canvases(8, batch=4)
    cooc = code_cooccurrence(vq, vq, canvases)
    assert cooc.sum() == 8 * PRESETS["tiny"].mae.num_patches
    assert cooc.sum() == cooc.diagonal().sum()


@torch.no_grad()
def test_default_model_on_a_permuted_codebook_predicts_the_permuted_tokens() -> None:
    """Same tokenizer with its codes shuffled: the remapped model must give the same
    answers, spelled in the new code numbers."""
    _, original = load_model_file(default_weights_path())
    original = original.float().eval()
    n_codes = original.vae.quantize.embedding.weight.shape[0]
    perm = torch.randperm(n_codes, generator=torch.Generator().manual_seed(2))
    model = MAEVQGAN(original.model_config)
    model.load_state_dict(original.state_dict())
    model.vae.quantize.embedding.weight.copy_(original.vae.quantize.embedding.weight[perm])
    model.decoder_pred.reset_parameters()  # forget the head: it must come from the file
    load_mae_retargeted(model.eval(), str(default_weights_path()),
                        canvases=sample_canvases(96, batch=48))

    canvases = generate_batch(16, episode_seed("eval", 5)).target
    mask = torch.zeros(16, original.model_config.mae.num_patches, dtype=torch.bool)
    mask[:, -49:] = True  # a bottom band of patches, like an answer cell
    old_tokens = original.canvas_logits(canvases, mask).argmax(-1)
    new_tokens = model.canvas_logits(canvases, mask).argmax(-1)
    inverse = perm.argsort()
    agreement = (inverse[old_tokens] == new_tokens)[mask].float().mean().item()
    assert agreement > 0.99, agreement  # codes unseen on the sample canvases may differ
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight,
                               original.blocks[0].attn.qkv.weight)


def tiny_model_file(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = MAEVQGAN(PRESETS["tiny"])
    model.init_weights()
    save_model(model, PRESETS["tiny"], path, "fp32")
    return path


def test_build_model_starts_from_the_files_mae_under_the_new_tokenizer(tmp_path: Path) -> None:
    source = tiny_model_file(tmp_path / "old.safetensors", seed=3)
    _, old = load_model_file(source)
    torch.manual_seed(4)
    tokenizer = VQGAN(PRESETS["tiny"].vqgan)
    cfg = TrainConfig(out=str(tmp_path / "run"), preset="tiny", device="cpu",
                      mae_from=str(source))
    model = build_model(cfg, tokenizer, torch.device("cpu"))
    for key, value in old.state_dict().items():
        if key.startswith("vae."):
            torch.testing.assert_close(model.state_dict()[key], tokenizer.state_dict()[key[4:]])
        elif not key.startswith("decoder_pred."):
            torch.testing.assert_close(model.state_dict()[key], value)
    assert not model.vae.quant_conv.weight.requires_grad

    with pytest.raises(ValueError, match="exclude"):
        build_model(replace(cfg, init_from=str(source)), tokenizer, torch.device("cpu"))
    small = tiny_model_file(tmp_path / "other.safetensors", seed=5)
    with pytest.raises(CheckpointError, match="MAE"):
        build_model(replace(cfg, preset="small", mae_from=str(small)),
                    VQGAN(PRESETS["small"].vqgan), torch.device("cpu"))
