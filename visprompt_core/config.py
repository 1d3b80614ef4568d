"""Model configurations and named presets.

A checkpoint in the project's own format stores ``ModelConfig.to_dict()`` in its metadata,
so inference rebuilds the network without any training setup.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from visprompt_core.errors import CheckpointError


@dataclass(frozen=True)
class MAEConfig:
    """The masked-autoencoder ViT that predicts one VQ token per patch."""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    vocab_size: int = 1024

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid


@dataclass(frozen=True)
class VQGANConfig:
    """The convolutional VQ tokenizer (taming-transformers layout)."""

    embed_dim: int = 256
    n_embed: int = 1024
    z_channels: int = 256
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    resolution: int = 256
    in_channels: int = 3
    out_ch: int = 3
    # Each group norm has min(32, channels // min_group_channels) groups. 1 = taming's 32
    # groups wherever there are >= 32 channels; with few channels that leaves one channel
    # per group, a per-channel instance norm. Parameter shapes do not depend on it.
    min_group_channels: int = 1

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


# Which tokens surround the predicted answer patches when a canvas is decoded:
# "predicted": the MAE's argmax on every patch (the published recipe; no extra pass).
# "encoded": the tokenizer's own tokens of the visible canvas (one tokenizer encode more);
# the embedded default model was measured better this way (docs/model_card.md).
DECODE_CONTEXTS = ("predicted", "encoded")

# How much of a one-canvas prompt the VQGAN decodes (``decode_margin``): None, the whole
# canvas (the published recipe); k, only the answer block and k tokens of context around
# it, tokenized from that window alone (``MAEVQGAN.decode_window``). The embedded default
# model was measured better and faster with 1 (docs/model_card.md).
MAX_DECODE_MARGIN = 14


def check_decode_margin(margin: Any) -> int | None:
    """``margin`` if it is a valid ``decode_margin``, else ValueError."""
    if margin is None:
        return None
    if isinstance(margin, bool) or not isinstance(margin, int) \
            or not 0 <= margin <= MAX_DECODE_MARGIN:
        raise ValueError(f"decode_margin must be None or an integer 0..{MAX_DECODE_MARGIN}, "
                         f"got {margin!r}")
    return margin


# Query detail transfer (``visprompt_core.detail``): None, answers as decoded (the
# published recipe); r, each answer cell gets the query's detail back through local colour
# gains fitted in windows of radius r pixels, ridge ``detail_eps``. The embedded default
# model was measured better with 12 and 3e-4 (docs/quality.md).
MAX_DETAIL_RADIUS = 64
DEFAULT_DETAIL_EPS = 3e-4


def check_detail(radius: Any, eps: Any) -> tuple[int | None, float]:
    """(``detail_radius``, ``detail_eps``) if valid, else ValueError."""
    if radius is not None and (isinstance(radius, bool) or not isinstance(radius, int)
                               or not 1 <= radius <= MAX_DETAIL_RADIUS):
        raise ValueError(f"detail_radius must be None or an integer 1..{MAX_DETAIL_RADIUS}, "
                         f"got {radius!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 1:
        raise ValueError(f"detail_eps must be a number in (0, 1], got {eps!r}")
    return radius, float(eps)


@dataclass(frozen=True)
class ModelConfig:
    mae: MAEConfig = field(default_factory=MAEConfig)
    vqgan: VQGANConfig = field(default_factory=VQGANConfig)
    decode_context: str = "predicted"
    decode_margin: int | None = None
    detail_radius: int | None = None
    detail_eps: float = DEFAULT_DETAIL_EPS

    def __post_init__(self) -> None:
        if self.decode_context not in DECODE_CONTEXTS:
            raise ValueError(f"decode_context must be one of {DECODE_CONTEXTS}, "
                             f"got {self.decode_context!r}")
        check_decode_margin(self.decode_margin)
        check_detail(self.detail_radius, self.detail_eps)

    def to_dict(self) -> dict[str, Any]:
        return {"mae": asdict(self.mae), "vqgan": asdict(self.vqgan),
                "decode_context": self.decode_context, "decode_margin": self.decode_margin,
                "detail_radius": self.detail_radius, "detail_eps": self.detail_eps}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        try:
            unknown = set(data) - {"mae", "vqgan", "decode_context", "decode_margin",
                                   "detail_radius", "detail_eps"}
            if unknown:
                raise ValueError(f"unknown ModelConfig fields {sorted(unknown)}")
            mae = _build(MAEConfig, data["mae"])
            vq = _build(VQGANConfig, data["vqgan"])
            context = data.get("decode_context", "predicted")
            if context not in DECODE_CONTEXTS:
                raise ValueError(f"decode_context must be one of {DECODE_CONTEXTS}, "
                                 f"got {context!r}")
            margin = check_decode_margin(data.get("decode_margin"))
            radius, eps = check_detail(data.get("detail_radius"), data.get("detail_eps",
                                                                   DEFAULT_DETAIL_EPS))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid model config: {exc}") from exc
        if vq.downsample_factor != mae.patch_size:
            raise CheckpointError(
                f"tokenizer downsamples by {vq.downsample_factor} but the ViT patch is "
                f"{mae.patch_size}: one token per patch is required"
            )
        if vq.n_embed != mae.vocab_size:
            raise CheckpointError(
                f"tokenizer has {vq.n_embed} codes but the ViT predicts {mae.vocab_size}"
            )
        return cls(mae=mae, vqgan=vq, decode_context=context, decode_margin=margin,
                   detail_radius=radius, detail_eps=eps)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"model config is not valid JSON: {exc}") from exc


def _build(kind: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {kind.__name__} fields {sorted(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return kind(**values)


# ------------------------------------------------------------------------- presets

MAE_VIT_LARGE_PATCH16 = MAEConfig()  # published: decoder 512-d, 8 blocks
VQGAN_IMAGENET_F16_1024 = VQGANConfig()

MAE_TINY = MAEConfig(
    embed_dim=64, depth=2, num_heads=4, decoder_embed_dim=32, decoder_depth=1,
    decoder_num_heads=4, vocab_size=64,
)
VQGAN_TINY = VQGANConfig(
    embed_dim=16, n_embed=64, z_channels=16, ch=8, ch_mult=(1, 1, 2, 2, 2), num_res_blocks=1,
    attn_resolutions=(16,),
)

# The embedded default model (trained by this project, see docs/model_card.md).
MAE_SMALL = MAEConfig(
    embed_dim=288, depth=6, num_heads=6, decoder_embed_dim=256, decoder_depth=4,
    decoder_num_heads=8, vocab_size=512,
)
# min_group_channels=4: in a 500-step CPU comparison (docs/model_card.md, old training
# recipe) the tokenizer reached 13.5 dB on held-out canvases against 10.2 dB with one
# channel per group. The shipped default file was trained with 1 (its own config says so).
VQGAN_SMALL = VQGANConfig(
    embed_dim=64, n_embed=512, z_channels=64, ch=16, ch_mult=(1, 2, 4, 4, 6),
    num_res_blocks=1, attn_resolutions=(), min_group_channels=4,
)

PRESETS: dict[str, ModelConfig] = {
    "mae_vqgan_large": ModelConfig(MAE_VIT_LARGE_PATCH16, VQGAN_IMAGENET_F16_1024),
    "small": ModelConfig(MAE_SMALL, VQGAN_SMALL, decode_context="encoded", decode_margin=1,
                         detail_radius=12),
    "tiny": ModelConfig(MAE_TINY, VQGAN_TINY),
}

