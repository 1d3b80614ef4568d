"""VQGAN tokenizer (encoder, nearest-code quantizer, decoder) in the taming layout.

Works in pixel range [-1, 1]. ``encode`` gives (B, h, w) token ids, ``decode_tokens`` the
(B, 3, H, W) image back; one token per ``2**(len(ch_mult)-1)`` pixels square.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visprompt_core.config import VQGANConfig

GN_EPS = 1e-6


def group_norm(channels: int, group_channels: int = 1) -> nn.GroupNorm:
    """Up to 32 groups of at least ``group_channels`` channels (``VQGANConfig``)."""
    groups = max(1, min(32, channels // group_channels))
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=GN_EPS, affine=True)


# Without autograd (inference), activations and residual sums reuse the fresh tensor they
# are computed from: the same values bit for bit, fewer large allocations (~4% of a
# decode on the CPU, docs/performance.md). With autograd they stay out of place.


def swish(x: torch.Tensor) -> torch.Tensor:
    return F.silu(x, inplace=not torch.is_grad_enabled())


def residual(x: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
    """x + fresh, written into ``fresh`` (a temporary) when no gradient is recorded."""
    return x + fresh if torch.is_grad_enabled() else fresh.add_(x)


class ResnetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, group_channels: int = 1) -> None:
        super().__init__()
        self.norm1 = group_norm(c_in, group_channels)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = group_norm(c_out, group_channels)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return residual(x, h)


class AttnBlock(nn.Module):
    """Single-head self-attention over all H*W positions, residual."""

    def __init__(self, channels: int, group_channels: int = 1) -> None:
        super().__init__()
        self.norm = group_norm(channels, group_channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = self.norm(x)
        q, k, v = (conv(n).reshape(b, 1, c, h * w).transpose(2, 3)
                   for conv in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)  # scale c**-0.5
        return residual(x, self.proj_out(out.transpose(2, 3).reshape(b, c, h, w)))


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, channels: int, group_channels: int = 1) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, group_channels)
        self.attn_1 = AttnBlock(channels, group_channels)
        self.block_2 = ResnetBlock(channels, channels, group_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Level(nn.Module):
    """One resolution level: res blocks (+ attention), then an optional resampler."""

    def __init__(self, blocks: list[ResnetBlock], attn: list[AttnBlock],
                 resample_name: str | None, resampler: nn.Module | None) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attn)
        if resample_name is not None:
            self.add_module(resample_name, resampler)
        self.resample_name = resample_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if self.attn:
                x = self.attn[i](x)
        if self.resample_name is not None:
            x = getattr(self, self.resample_name)(x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        g = cfg.min_group_channels
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        levels = []
        res = cfg.resolution
        c_in = cfg.ch
        last = len(cfg.ch_mult) - 1
        for i, mult in enumerate(cfg.ch_mult):
            c_out = cfg.ch * mult
            blocks = [ResnetBlock(c_in if j == 0 else c_out, c_out, g)
                      for j in range(cfg.num_res_blocks)]
            attn = ([AttnBlock(c_out, g) for _ in blocks] if res in cfg.attn_resolutions
                    else [])
            down = (None, None) if i == last else ("downsample", Downsample(c_out))
            levels.append(Level(blocks, attn, *down))
            c_in = c_out
            res = res if i == last else res // 2
        self.down = nn.ModuleList(levels)
        self.mid = Mid(c_in, g)
        self.norm_out = group_norm(c_in, g)
        self.conv_out = nn.Conv2d(c_in, cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        n = len(cfg.ch_mult)
        c = cfg.ch * cfg.ch_mult[-1]
        res = cfg.resolution // 2 ** (n - 1)
        g = cfg.min_group_channels
        self.conv_in = nn.Conv2d(cfg.z_channels, c, 3, padding=1)
        self.mid = Mid(c, g)
        levels: list[Level] = []
        for i in reversed(range(n)):
            c_out = cfg.ch * cfg.ch_mult[i]
            blocks = [ResnetBlock(c if j == 0 else c_out, c_out, g)
                      for j in range(cfg.num_res_blocks + 1)]
            attn = ([AttnBlock(c_out, g) for _ in blocks] if res in cfg.attn_resolutions
                    else [])
            up = (None, None) if i == 0 else ("upsample", Upsample(c_out))
            levels.insert(0, Level(blocks, attn, *up))
            c = c_out
            res = res if i == 0 else res * 2
        self.up = nn.ModuleList(levels)  # indexed by resolution level; run from the top
        self.norm_out = group_norm(c, g)
        self.conv_out = nn.Conv2d(c, cfg.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(swish(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest code by squared L2 distance; codes are not normalised."""

    def __init__(self, n_embed: int, embed_dim: int) -> None:
        super().__init__()
        weight = torch.empty(n_embed, embed_dim)
        if not weight.is_meta:  # nn.Embedding's own N(0, 1) init; on meta, ``normal_``
            nn.init.normal_(weight)  # would import torch's decompositions (~2 s)
        self.embedding = nn.Embedding(n_embed, embed_dim, _weight=weight)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, h, w) nearest code ids (distances in fp32, never autocast)."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).float()
        book = self.embedding.weight.float()
        with torch.autocast(z.device.type, enabled=False):
            dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t()
                    + book.pow(2).sum(1)[None, :])
        return dist.argmin(1).view(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, h, w) ids -> (B, C, h, w) code vectors."""
        return self.embedding(ids).permute(0, 3, 1, 2)


class VQGAN(nn.Module):
    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantize = VectorQuantizer(cfg.n_embed, cfg.embed_dim)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> pre-quantisation latent (B, embed_dim, h, w)."""
        return self.quant_conv(self.encoder(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, h, w) token ids."""
        return self.quantize.codes(self.encode_latent(x))

    def decode_latent(self, zq: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(zq))

    def decode_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, h, w) token ids -> (B, 3, H, W) in roughly [-1, 1] (not clamped)."""
        return self.decode_latent(self.quantize.lookup(ids))
