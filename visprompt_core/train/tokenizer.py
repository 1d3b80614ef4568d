"""Stage 1: train the VQ tokenizer on target canvases (answers included), whole or as
random patch-aligned crops (``tok_crop``: the network is convolutional, so a 112-px crop
costs about a quarter of a canvas per step; ``tok_crops_per_canvas`` takes several crops
from each generated canvas, so fewer canvases are generated per step).

Loss: L1 + MSE + an L1 on image gradients (keeps thin lines and mask edges crisp) plus the
commitment term; the codebook follows the encoder by exponential moving averages, and
codes unused for a while restart at random encoder outputs of the current batch.

Three things keep a run from settling on grey brightness and structure
(docs/model_card.md, "History: the colour-blind tokenizer"): a learning rate of 3e-4
(``TrainConfig.tok_lr``; at 1e-3 colour is dropped); a network that starts close to a
linear map (``init_for_training``: fan-in scaled convolutions, residual branches that start
at zero), which learns colour within the first hundred steps; and a codebook that starts
at encoder outputs of the first batch (N(0, 1) codes lie far from the encoder's small
initial outputs, so one code took every patch and the others waited ~700 steps for a
restart), with idle codes restarted after about 30 steps.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from visprompt_core import canvas as cv
from visprompt_core.checkpoints import read_safetensors
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import colour_figures
from visprompt_core.model.vqgan import VQGAN, AttnBlock, ResnetBlock
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

log = logging.getLogger(__name__)

EMA_DECAY = 0.99
COMMIT_BETA = 0.25
# A code is restarted when its share of the recent batches (EMA with USAGE_DECAY, about the
# last ten steps) falls under DEAD_USAGE times the uniform share: ~30 steps without a hit.
USAGE_DECAY = 0.9
DEAD_USAGE = 0.03


def init_for_training(vq: VQGAN) -> None:
    """Start near a linear map: every convolution N(0, 1/fan_in) with zero bias, and the
    last layer of each residual branch (ResnetBlock.conv2, AttnBlock.proj_out) at zero,
    so each block starts as the identity."""
    for module in vq.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=module.weight[0].numel() ** -0.5)
            torch.nn.init.zeros_(module.bias)
    for module in vq.modules():
        if isinstance(module, ResnetBlock):
            torch.nn.init.zeros_(module.conv2.weight)
        elif isinstance(module, AttnBlock):
            torch.nn.init.zeros_(module.proj_out.weight)


class EmaCodebook:
    """EMA statistics of a ``VectorQuantizer``'s codes; writes the averaged codes back."""

    def __init__(self, vq: VQGAN) -> None:
        book = vq.quantize.embedding.weight
        self.vq = vq
        self.usage = torch.ones(book.shape[0], device=book.device) / book.shape[0]
        self.sums = book.detach().clone().float()
        self.counts = torch.ones(book.shape[0], device=book.device)
        self.seeded = False

    @torch.no_grad()
    def seed(self, z: torch.Tensor) -> None:
        """Codes := distinct random rows of the encoder outputs z (M, C) (with repeats
        only when M is smaller than the codebook)."""
        book = self.vq.quantize.embedding.weight
        k = book.shape[0]
        pick = (torch.randperm(z.shape[0], device=z.device)[:k] if z.shape[0] >= k
                else torch.randint(0, z.shape[0], (k,), device=z.device))
        book.copy_(z[pick].float())
        self.sums = book.detach().clone().float()
        self.counts = torch.ones(k, device=book.device)
        self.seeded = True

    @torch.no_grad()
    def update(self, z: torch.Tensor, ids: torch.Tensor) -> int:
        """z (M, C) encoder outputs, ids (M,) -> number of restarted codes."""
        with torch.autocast(z.device.type, enabled=False):
            return self._update(z.float(), ids)

    def _update(self, z: torch.Tensor, ids: torch.Tensor) -> int:
        book = self.vq.quantize.embedding.weight
        onehot = F.one_hot(ids, book.shape[0]).float()
        counts = onehot.sum(0)
        self.counts.mul_(EMA_DECAY).add_(counts, alpha=1 - EMA_DECAY)
        self.sums.mul_(EMA_DECAY).add_(onehot.t() @ z.float(), alpha=1 - EMA_DECAY)
        self.usage.mul_(USAGE_DECAY).add_(counts / counts.sum(), alpha=1 - USAGE_DECAY)
        book.copy_(self.sums / self.counts.clamp_min(1e-5)[:, None])
        dead = torch.nonzero(self.usage < DEAD_USAGE / book.shape[0]).flatten()
        if dead.numel():
            pick = torch.randint(0, z.shape[0], (dead.numel(),), device=z.device)
            book[dead] = z[pick].float()
            self.sums[dead] = z[pick].float()
            self.counts[dead] = 1.0
            self.usage[dead] = 1.0 / book.shape[0]
        return int(dead.numel())


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def tokenizer_step(vq: VQGAN, ema: EmaCodebook, x: torch.Tensor
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """x (B, 3, H, W) in [-1, 1] -> (loss, metrics). Straight-through quantisation."""
    z = vq.encode_latent(x).float()
    c = z.shape[1]
    flat = z.permute(0, 2, 3, 1).reshape(-1, c)
    if not ema.seeded:
        ema.seed(flat.detach())
    ids = vq.quantize.codes(z)
    zq = vq.quantize.lookup(ids).float()
    commit = F.mse_loss(z, zq.detach())
    zq_st = z + (zq - z).detach()
    recon = vq.decode_latent(zq_st.to(x.dtype)).float()
    gy, gx = image_gradients(recon)
    ty, tx = image_gradients(x.float())
    l1 = (recon - x).abs().mean()
    mse = F.mse_loss(recon, x.float())
    grad = (gy - ty).abs().mean() + (gx - tx).abs().mean()
    loss = l1 + mse + grad + COMMIT_BETA * commit
    restarted = ema.update(flat.detach(), ids.flatten())
    psnr = 10 * torch.log10(4.0 / mse.detach().clamp_min(1e-10))
    return loss, {"loss": loss.item(), "l1": l1.item(), "psnr": psnr.item(),
                  "restarted": float(restarted)}


@torch.no_grad()
def reconstruction_figures(vq: VQGAN, episodes: int = 64) -> dict[str, float]:
    """Encode -> decode ``episodes`` held-out 2x2 target canvases (evaluation seeds).

    ``psnr``: whole image; ``chroma_psnr``: the colour part alone (each pixel minus its
    grey mean; an all-grey output scores about 17 dB on these canvases);
    ``saturation_ratio``: mean colour amplitude of the reconstruction over the target's
    (1 = as colourful as the target, 0 = grey)."""
    device = next(vq.parameters()).device
    target = generate_batch(episodes, episode_seed("eval", 77), device=device,
                            layout=cv.LAYOUT_2X2).target.float()
    was_training = vq.training
    vq.eval()
    rec = (vq.decode_tokens(vq.encode(target * 2 - 1)).float().clamp(-1, 1) + 1) / 2
    vq.train(was_training)
    return colour_figures(rec, target)


def random_crops(x: torch.Tensor, side: int, gen: torch.Generator, count: int = 1
                 ) -> torch.Tensor:
    """``count`` random ``side`` x ``side`` windows of the batch, stacked along the batch
    axis (crop-major: (count * B, C, side, side)). Each window is at one place for every
    canvas, a new place for each of the ``count`` and every step, aligned to the 16-px
    patch grid. ``side`` 0 (or the full size) gives the batch itself."""
    size = x.shape[-1]
    if side <= 0 or side >= size:
        return x
    windows = []
    for _ in range(count):
        top, left = (16 * int(v) for v in torch.randint(0, (size - side) // 16 + 1, (2,),
                                                          generator=gen))
        windows.append(x[..., top:top + side, left:left + side])
    return windows[0] if count == 1 else torch.cat(windows)


def check_crop(side: int, size: int, batch: int = 1, per_canvas: int = 1) -> None:
    if side < 0 or side % 16 or side > size:
        raise ValueError(f"tok_crop must be 0 or a multiple of 16 up to {size}, got {side}")
    if per_canvas < 1 or batch % per_canvas:
        raise ValueError(f"tok_crops_per_canvas must be >= 1 and divide tok_batch "
                         f"({batch}), got {per_canvas}")
    if per_canvas > 1 and side in (0, size):
        raise ValueError("tok_crops_per_canvas > 1 needs tok_crop smaller than the canvas")


def train_tokenizer(cfg: TrainConfig, echo: object = None) -> VQGAN:
    """Train (or resume) the tokenizer; returns it and writes ``<out>/tokenizer.pt``."""
    out = Path(cfg.out)
    runlog = RunLog(out, echo)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    vq = VQGAN(cfg.model_config.vqgan).to(device)
    if cfg.init_from:
        _, state = read_safetensors(cfg.init_from)
        prefix = "vae."
        vq.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                            if k.startswith(prefix)})
        return vq.eval()
    init_for_training(vq)
    if device.type == "cuda":
        vq.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(vq.parameters(), lr=cfg.tok_lr, betas=(0.9, 0.99),
                            weight_decay=0.0)
    ema = EmaCodebook(vq)
    state_path = out / "tokenizer.pt"
    step, total = 0, cfg.tok_steps
    planned = total
    if (state := load_training_state(state_path)) is not None:
        vq.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        ema.sums, ema.counts, ema.usage = (state["ema"][k].to(device) for k in
                                           ("sums", "counts", "usage"))
        ema.seeded = True
        step, total = int(state["step"]), int(state["total"])
        planned = total
        runlog.write(stage="tokenizer", event="resumed", step=step)
    if step >= total:
        return vq.eval()
    per_canvas = cfg.tok_crops_per_canvas
    check_crop(cfg.tok_crop, cfg.model_config.mae.img_size, cfg.tok_batch, per_canvas)
    stream = episode_stream(cfg, cfg.tok_batch // per_canvas, device,
                            seed=cfg.seed * 1000 + step)
    crops = torch.Generator().manual_seed(cfg.seed * 1000 + 17 + step)
    budget = StepBudget(planned, step, cfg.tok_time_budget)
    vq.train()
    while step < total:
        episodes, _ = next(stream)
        x = random_crops(episodes.target * 2 - 1, cfg.tok_crop, crops, per_canvas)
        x = x.contiguous(memory_format=torch.channels_last)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total, cfg.tok_lr, min(cfg.warmup, total // 10))
        with autocast(device):
            loss, metrics = tokenizer_step(vq, ema, x)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"tokenizer loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vq.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        total = budget.update(step)
        if step % cfg.log_every == 0 or step == total:
            used = int((ema.usage > DEAD_USAGE / ema.usage.numel()).sum())
            runlog.write(stage="tokenizer", step=step, total=total, codes_used=used,
                         lr=opt.param_groups[0]["lr"], **metrics)
        if step % cfg.save_every == 0 or step == total:
            runlog.write(stage="tokenizer", event="held_out", step=step,
                         **reconstruction_figures(vq, min(64, cfg.eval_episodes)))
            save_training_state(state_path, model=vq.state_dict(), optimizer=opt.state_dict(),
                                ema={"sums": ema.sums, "counts": ema.counts,
                                     "usage": ema.usage}, step=step, total=total)
    return vq.eval()
