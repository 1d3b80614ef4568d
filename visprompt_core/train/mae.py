"""Stage 2: train the MAE to predict the frozen tokenizer's tokens (cross-entropy).

Each batch masks either the answer cell (the visual-prompt task) or a random 75% of the
patches (plain MAE), chosen at random per batch; the loss covers the masked patches.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from visprompt_core.checkpoints import load_into, read_safetensors, save_model
from visprompt_core.model import MAEVQGAN
from visprompt_core.model.vqgan import VQGAN
from visprompt_core.train.common import (
    RunLog,
    StepBudget,
    TrainConfig,
    autocast,
    episode_stream,
    load_training_state,
    lr_at,
    save_training_state,
)
from visprompt_core.train.retarget import load_mae_retargeted


def random_mask(batch: int, n: int, ratio: float, device: torch.device,
                gen: torch.Generator) -> torch.Tensor:
    """(B, N) bool with exactly round(ratio * N) True per row."""
    n_mask = round(ratio * n)
    scores = torch.rand(batch, n, device=device, generator=gen)
    ranks = scores.argsort(1).argsort(1)
    return ranks < n_mask


def build_model(cfg: TrainConfig, tokenizer: VQGAN, device: torch.device) -> MAEVQGAN:
    """Fresh MAE (or the one in ``cfg.init_from`` / ``cfg.mae_from``) around the frozen
    tokenizer."""
    if cfg.init_from and cfg.mae_from:
        raise ValueError("init_from and mae_from exclude each other")
    torch.manual_seed(cfg.seed + 7)
    model = MAEVQGAN(cfg.model_config)
    model.init_weights()
    if cfg.init_from:
        _, state = read_safetensors(cfg.init_from)
        load_into(model, state, cfg.init_from)
    model.vae.load_state_dict(tokenizer.state_dict())
    if cfg.mae_from:
        load_mae_retargeted(model, cfg.mae_from)
    model.vae.requires_grad_(False)
    model = model.to(device)
    if device.type == "cuda":  # cuDNN's fast convolution kernels want NHWC
        model.vae.to(memory_format=torch.channels_last)
    return model


def mae_parameters(model: MAEVQGAN) -> list[torch.nn.Parameter]:
    return [p for name, p in model.named_parameters() if not name.startswith("vae.")]


def train_mae(cfg: TrainConfig, tokenizer: VQGAN, echo: object = None,
              evaluate: object = None) -> MAEVQGAN:
    """Train (or resume) the MAE; writes ``<out>/mae.pt`` and ``<out>/model.safetensors``.

    ``evaluate(model, step)`` (optional) returns a dict of held-out metrics to log.
    """
    out = Path(cfg.out)
    runlog = RunLog(out, echo)
    device = torch.device(cfg.device)
    model = build_model(cfg, tokenizer, device)
    params = mae_parameters(model)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.mae_lr, betas=(0.9, 0.95))
    state_path = out / "mae.pt"
    step, total = 0, cfg.mae_steps
    planned = total
    if (state := load_training_state(state_path)) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, total = int(state["step"]), int(state["total"])
        planned = total
        runlog.write(stage="mae", event="resumed", step=step)
    stream = episode_stream(cfg, cfg.mae_batch, device, seed=cfg.seed * 1000 + 500 + step)
    mask_gen = torch.Generator(device=device).manual_seed(cfg.seed + 11 + step)
    choice = torch.Generator().manual_seed(cfg.seed + 13 + step)
    n = cfg.model_config.mae.num_patches
    started, first = time.time(), step
    budget = StepBudget(planned, first, cfg.mae_time_budget)
    while step < total:
        model.train()
        model.vae.eval()
        episodes, layout = next(stream)
        with torch.no_grad(), autocast(device):
            targets = model.tokenize(episodes.target)
        b = targets.shape[0]
        if torch.rand(1, generator=choice).item() < cfg.p_answer_mask:
            mask = layout.patch_mask().to(device).expand(b, -1)
        else:
            mask = random_mask(b, n, cfg.random_mask_ratio, device, mask_gen)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total, cfg.mae_lr, min(cfg.warmup, total // 10))
        with autocast(device):
            logits = model(model.normalize(episodes.target), mask)
        loss = F.cross_entropy(logits[mask].float(), targets[mask])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"MAE loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        step += 1
        total = budget.update(step)
        if step % cfg.log_every == 0 or step == total:
            acc = (logits[mask].argmax(-1) == targets[mask]).float().mean().item()
            runlog.write(stage="mae", step=step, total=total, loss=loss.item(), token_acc=acc,
                         lr=opt.param_groups[0]["lr"], canvases_per_s=round(
                             (step - first) * cfg.mae_batch / (time.time() - started), 1))
        if evaluate is not None and (step % cfg.eval_every == 0 or step == total):
            runlog.write(stage="mae", step=step, eval=evaluate(model.eval(), step))
        if step % cfg.save_every == 0 or step == total:
            save_training_state(state_path, model=model.state_dict(),
                                optimizer=opt.state_dict(), step=step, total=total)
    model.eval()
    save_model(model, cfg.model_config, out / "model.safetensors", "fp16",
               {"trained_steps": str(step)})
    return model

