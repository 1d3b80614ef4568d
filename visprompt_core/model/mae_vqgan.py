"""MAE-VQGAN: the token-predicting MAE with its VQGAN tokenizer under ``vae``.

Parameter names match the published checkpoints: MAE keys at the root, tokenizer keys
under ``vae.``. Canvases enter as (B, 3, H, W) float in [0, 1].
"""

from __future__ import annotations

import torch

from visprompt_core.config import ModelConfig
from visprompt_core.model.mae import MaskedAutoencoderViT
from visprompt_core.model.vqgan import VQGAN

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MAEVQGAN(MaskedAutoencoderViT):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg.mae)
        self.model_config = cfg
        self.vae = VQGAN(cfg.vqgan)
        self.register_buffer("pixel_mean", torch.empty(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.empty(1, 3, 1, 1), persistent=False)
        self.reset_constants()

    def reset_constants(self) -> None:
        """Fill the non-saved constant buffers (after ``to_empty`` from the meta device)."""
        if self.pixel_mean.is_meta:
            return
        with torch.no_grad():
            self.pixel_mean.copy_(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.pixel_std.copy_(torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def normalize(self, canvas: torch.Tensor) -> torch.Tensor:
        """[0, 1] canvas -> ImageNet-normalised MAE input, in the model's dtype."""
        dtype = self.patch_embed.proj.weight.dtype
        return ((canvas.float() - self.pixel_mean) / self.pixel_std).to(dtype)

    def canvas_logits(self, canvas: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], (B, N) bool -> (B, N, vocab) float32 logits."""
        return self(self.normalize(canvas), mask).float()

    def tokenize(self, canvas: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, N) VQGAN token ids, row-major."""
        dtype = self.vae.quant_conv.weight.dtype
        ids = self.vae.encode((canvas.float() * 2 - 1).to(dtype))
        return ids.flatten(1)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N) token ids -> (B, 3, H, W) float32 in [0, 1]."""
        grid = round(tokens.shape[1] ** 0.5)
        pixels = self.vae.decode_tokens(tokens.view(-1, grid, grid)).float()
        return (pixels.clamp(-1, 1) + 1) / 2
