"""Start an MAE from a finished model file but under a newly trained tokenizer.

The MAE's transformer knows the tasks; only its token head (``decoder_pred``) speaks the
old tokenizer's codes. ``remap_token_head`` gives each new code the head row of the old
code it most often replaces on the same patches, so the warm-started model answers at
once, about as well as the old one (measured in docs/model_card.md: mask IoU 0.431 vs
0.415, PSNR 15.04 vs 15.60 dB); fine-tuning then has to teach what the new codes add
(e.g. which colour), which 908 small CPU steps did not.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from visprompt_core.checkpoints import CheckpointError, read_safetensors
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.model import MAEVQGAN
from visprompt_core.model.vqgan import VQGAN

# Logit offset of new codes that no old code maps to (never seen on the sample canvases).
UNSEEN_LOGIT = -20.0


@torch.no_grad()
def code_cooccurrence(old: VQGAN, new: VQGAN, canvases: torch.Tensor) -> torch.Tensor:
    """(old codes, new codes) counts of the two tokenizers' tokens on the same patches of
    (B, 3, H, W) canvases in [0, 1]."""
    x = canvases.float() * 2 - 1
    return cooccurrence(old.encode(x), new.encode(x), old.quantize.embedding.weight.shape[0],
                        new.quantize.embedding.weight.shape[0])


def cooccurrence(a: torch.Tensor, b: torch.Tensor, n_a: int, n_b: int) -> torch.Tensor:
    """(n_a, n_b) float counts of the id pairs (a[i], b[i]) of two same-shape id tensors."""
    pairs = a.flatten() * n_b + b.flatten()
    return torch.bincount(pairs, minlength=n_a * n_b).view(n_a, n_b).float()


@torch.no_grad()
def remap_token_head(old_head: nn.Linear, cooc: torch.Tensor) -> nn.Linear:
    """A head over the new codes from one over the old codes and their co-occurrence.

    New code j takes the weights of the old code i it co-occurs with most, and the bias
    ``b_i + log P(j | i)``: an old code's probability is shared among the new codes that
    replace it. New codes never seen get the mean row and a bias of ``UNSEEN_LOGIT``
    below the lowest seen one.
    """
    n_old, n_new = cooc.shape
    if old_head.out_features != n_old:
        raise ValueError(f"head has {old_head.out_features} outputs, co-occurrence counts "
                         f"{n_old} old codes")
    head = nn.Linear(old_head.in_features, n_new, device=old_head.weight.device)
    source = cooc.argmax(0)  # (n_new,) old code of each new code
    seen = cooc.sum(0) > 0
    share = cooc[source, torch.arange(n_new)] / cooc.sum(1)[source].clamp_min(1)
    weight = old_head.weight.float()[source]
    bias = old_head.bias.float()[source] + share.clamp_min(1e-6).log()
    weight[~seen] = old_head.weight.float().mean(0)
    if bool(seen.any()):
        bias[~seen] = bias[seen].min() + UNSEEN_LOGIT
    head.weight.copy_(weight)
    head.bias.copy_(bias)
    return head


def sample_canvases(n: int = 256, batch: int = 64) -> torch.Tensor:
    """``n`` training-split target canvases (answers in place) to compare tokenizers on."""
    parts = [generate_batch(min(batch, n - start), episode_seed("train", 900_000 + start),
                            split="train").target for start in range(0, n, batch)]
    return torch.cat(parts)


def load_mae_retargeted(model: MAEVQGAN, path: str,
                        canvases: torch.Tensor | None = None) -> None:
    """Load the MAE weights of the model file ``path`` into ``model`` (on the CPU, its new
    tokenizer already in ``model.vae``), the token head remapped from the file's tokenizer
    to ``model.vae``. The codebook sizes may differ; the rest of the MAE must match."""
    file_cfg, state = read_safetensors(path)
    vocab = model.model_config.mae.vocab_size
    if replace(file_cfg.mae, vocab_size=vocab) != model.model_config.mae:
        raise CheckpointError(f"{path}: its MAE ({file_cfg.mae}) differs from the one being "
                              f"trained ({model.model_config.mae})")
    old = VQGAN(file_cfg.vqgan)
    old.load_state_dict({k[4:]: v.float() for k, v in state.items() if k.startswith("vae.")})
    mae_state = {k: v.float() for k, v in state.items()
                 if not k.startswith("vae.") and not k.startswith("decoder_pred.")}
    missing, unexpected = model.load_state_dict(mae_state, strict=False)
    missing = [k for k in missing if not k.startswith(("vae.", "decoder_pred."))]
    if missing or unexpected:
        raise CheckpointError(f"{path}: MAE keys missing {missing[:5]}, unexpected "
                              f"{unexpected[:5]}")
    old_head = nn.Linear(model.decoder_pred.in_features, file_cfg.mae.vocab_size)
    old_head.load_state_dict({"weight": state["decoder_pred.weight"].float(),
                              "bias": state["decoder_pred.bias"].float()})
    sample = sample_canvases() if canvases is None else canvases
    cooc = code_cooccurrence(old.eval(), model.vae.eval(), sample)
    model.decoder_pred.load_state_dict(remap_token_head(old_head, cooc).state_dict())
