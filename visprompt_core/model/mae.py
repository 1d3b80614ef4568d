"""The MAE ViT of MAE-VQGAN: encoder on visible patches, decoder predicting token logits.

Masks are (B, N) bool, True = masked (removed from the encoder, predicted by the decoder).
Every row of one batch must mask the same number of patches.
"""

from __future__ import annotations

import torch
from torch import nn

from visprompt_core.config import MAEConfig
from visprompt_core.model.vit import LN_EPS, Block, PatchEmbed, sincos_2d


class MaskedAutoencoderViT(nn.Module):
    def __init__(self, cfg: MAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, dd = cfg.embed_dim, cfg.decoder_embed_dim
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        # Fixed tables, saved with the weights as in the published checkpoints.
        self.register_buffer("pos_embed", sincos_2d(d, cfg.grid))
        self.blocks = nn.ModuleList(Block(d, cfg.num_heads, cfg.mlp_ratio) for _ in
                                    range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=LN_EPS)

        self.decoder_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        self.register_buffer("decoder_pos_embed", sincos_2d(dd, cfg.grid))
        self.decoder_blocks = nn.ModuleList(
            Block(dd, cfg.decoder_num_heads, cfg.mlp_ratio) for _ in range(cfg.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(dd, eps=LN_EPS)
        self.decoder_pred = nn.Linear(dd, cfg.vocab_size)

    def init_weights(self) -> None:
        """Training initialisation: xavier linears/patch conv, small normal tokens."""
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def mask_order(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(B, N) mask -> (ids_shuffle visible-first, ids_restore, number kept)."""
        counts = (~mask).sum(dim=1)
        n_keep = int(counts[0])
        if not bool((counts == n_keep).all()):
            raise ValueError("every mask in a batch must keep the same number of patches")
        ids_shuffle = torch.argsort(mask.to(torch.int8), dim=1, stable=True)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        return ids_shuffle, ids_restore, n_keep

    def forward_encoder(self, x: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised canvas, (B, K) kept patch ids -> (B, 1 + K, D)."""
        tokens = self.patch_embed(x) + self.pos_embed[:, 1:, :]
        d = tokens.shape[-1]
        tokens = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, d))
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(tokens.shape[0], -1, -1)
        h = torch.cat([cls, tokens], dim=1)
        for block in self.blocks:
            h = block(h)
        return self.norm(h)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """(B, 1 + K, D) latent -> (B, N, vocab) logits for every patch."""
        h = self.decoder_embed(latent)
        b, n = ids_restore.shape
        dd = h.shape[-1]
        fill = self.mask_token.expand(b, n - (h.shape[1] - 1), -1).to(h.dtype)
        patches = torch.cat([h[:, 1:, :], fill], dim=1)
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, dd))
        h = torch.cat([h[:, :1, :], patches], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            h = block(h)
        return self.decoder_pred(self.decoder_norm(h))[:, 1:, :]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised canvas, (B, N) bool mask -> (B, N, vocab) logits."""
        ids_shuffle, ids_restore, n_keep = self.mask_order(mask)
        latent = self.forward_encoder(x, ids_shuffle[:, :n_keep])
        return self.forward_decoder(latent, ids_restore)
