"""Model structure: parity with the published checkpoint layout, position tables, masking."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from visprompt_core.canvas import LAYOUT_2X2
from visprompt_core.config import PRESETS, ModelConfig
from visprompt_core.errors import CheckpointError
from visprompt_core.model import MAEVQGAN, MaskedAutoencoderViT
from visprompt_core.model.vit import sincos_2d

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "official_state_dict_keys.txt"


def reference_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, shape = line.split(" ", 1)
        shapes[name] = tuple(int(v) for v in shape.strip("[]").split(","))
    return shapes


@pytest.fixture(scope="module")
def large() -> MAEVQGAN:
    with torch.device("meta"):
        return MAEVQGAN(PRESETS["mae_vqgan_large"])


def test_large_preset_matches_published_keys_and_shapes(large: MAEVQGAN) -> None:
    ours = {k: tuple(v.shape) for k, v in large.state_dict().items()}
    ref = reference_shapes()
    assert len(ref) == 741
    assert sorted(set(ours) - set(ref)) == []
    assert sorted(set(ref) - set(ours)) == []
    assert {k: v for k, v in ours.items() if ref[k] != v} == {}


def test_large_preset_parameter_counts(large: MAEVQGAN) -> None:
    state = large.state_dict()
    count = lambda pred: sum(v.numel() for k, v in state.items() if pred(k))  # noqa: E731
    assert count(lambda k: True) == 401_814_915
    assert count(lambda k: k.startswith("vae.")) == 72_141_699
    assert count(lambda k: k.startswith("vae.encoder.")) == 29_298_176
    assert count(lambda k: k.startswith("vae.decoder.")) == 42_449_795


def test_sincos_table_layout() -> None:
    table = sincos_2d(16, 14)[0]
    assert table.shape == (197, 16)
    assert torch.all(table[0] == 0)  # cls row
    # Patch index 14*row + col; first half encodes the column: sin(col * 1) at dim 0.
    row, col = 3, 5
    entry = table[1 + 14 * row + col]
    assert entry[0].item() == pytest.approx(math.sin(col))
    assert entry[4].item() == pytest.approx(math.cos(col))
    assert entry[8].item() == pytest.approx(math.sin(row))
    assert entry[12].item() == pytest.approx(math.cos(row))


def test_masked_patches_do_not_influence_visible_logits_of_encoder(tiny_model: MAEVQGAN) -> None:
    """Content under the mask never reaches the encoder: changing it leaves logits equal."""
    x = torch.rand(1, 3, 224, 224)
    mask = LAYOUT_2X2.patch_mask()[None]
    y = x.clone()
    y[:, :, 112:, 112:] = torch.rand(1, 3, 112, 112)
    with torch.no_grad():
        a = tiny_model.canvas_logits(x, mask)
        b = tiny_model.canvas_logits(y, mask)
    torch.testing.assert_close(a, b)
    assert a.shape == (1, 196, 64)


def test_mask_rows_must_keep_the_same_count() -> None:
    mask = torch.zeros(2, 196, dtype=torch.bool)
    mask[0, :10] = True
    with pytest.raises(ValueError, match="same number"):
        MaskedAutoencoderViT.mask_order(mask)


def test_tokenizer_round_trip_shapes(tiny_model: MAEVQGAN) -> None:
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        tokens = tiny_model.tokenize(x)
        pixels = tiny_model.decode(tokens)
    assert tokens.shape == (2, 196) and tokens.dtype == torch.long
    assert int(tokens.max()) < 64
    assert pixels.shape == (2, 3, 224, 224)
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0


def test_config_round_trip_and_validation() -> None:
    cfg = PRESETS["small"]
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    bad = cfg.to_dict()
    bad["vqgan"]["n_embed"] = 100
    with pytest.raises(CheckpointError, match="codes"):
        ModelConfig.from_dict(bad)
    with pytest.raises(CheckpointError, match="unknown"):
        ModelConfig.from_dict({"mae": {"bogus": 1}, "vqgan": {}})


def test_decode_context_in_config() -> None:
    cfg = PRESETS["small"]
    assert cfg.decode_context == "encoded"
    assert PRESETS["mae_vqgan_large"].decode_context == "predicted"  # the published recipe
    old = cfg.to_dict()
    del old["decode_context"]  # files written before the field existed
    assert ModelConfig.from_dict(old).decode_context == "predicted"
    with pytest.raises(CheckpointError, match="decode_context"):
        ModelConfig.from_dict({**cfg.to_dict(), "decode_context": "guessed"})
    with pytest.raises(CheckpointError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="decode_context"):
        ModelConfig(cfg.mae, cfg.vqgan, decode_context="guessed")


def encoded_tiny_case(seed: int
                      ) -> tuple[MAEVQGAN, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random tiny model decoding among encoded context, two random canvases, the 2x2
    answer mask and random answer tokens."""
    torch.manual_seed(seed)
    model = MAEVQGAN(replace(PRESETS["tiny"], decode_context="encoded"))
    model.init_weights()
    model.eval()
    mask = LAYOUT_2X2.patch_mask()
    answer = torch.randint(0, model.model_config.mae.vocab_size, (2, mask.numel()))
    return model, torch.rand(2, 3, 224, 224), mask, answer


def test_decode_margin_in_config() -> None:
    cfg = PRESETS["small"]
    assert cfg.decode_margin == 1
    assert PRESETS["mae_vqgan_large"].decode_margin is None  # the published recipe
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["decode_margin"]  # files written before the field existed
    assert ModelConfig.from_dict(old).decode_margin is None
    for bad in (-1, 15, 1.5, True, "1"):
        with pytest.raises(CheckpointError, match="decode_margin"):
            ModelConfig.from_dict({**cfg.to_dict(), "decode_margin": bad})
        with pytest.raises(ValueError, match="decode_margin"):
            ModelConfig(cfg.mae, cfg.vqgan, decode_margin=bad)


def test_detail_transfer_in_config() -> None:
    cfg = PRESETS["small"]
    assert (cfg.detail_radius, cfg.detail_eps) == (12, 3e-4)
    assert PRESETS["mae_vqgan_large"].detail_radius is None  # the published recipe
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["detail_radius"], old["detail_eps"]  # files written before the fields existed
    assert ModelConfig.from_dict(old).detail_radius is None
    for field_name, bad in (("detail_radius", 0), ("detail_radius", 65),
                            ("detail_radius", 2.5), ("detail_radius", True),
                            ("detail_eps", 0), ("detail_eps", -1e-3), ("detail_eps", "1")):
        with pytest.raises(CheckpointError, match=field_name):
            ModelConfig.from_dict({**cfg.to_dict(), field_name: bad})
        with pytest.raises(ValueError, match=field_name):
            replace(cfg, **{field_name: bad})


def test_decode_answer_follows_the_margin() -> None:
    """decode_margin None decodes the whole canvas; k decodes the answer block and k
    tokens around it, the context tokenized from that window's pixels alone."""
    model, canvas, mask, answer = encoded_tiny_case(4)
    cfg = model.model_config
    with torch.no_grad():
        whole = model.decode_answer(canvas, answer, mask)
        assert torch.equal(whole, model.decode(model.context_tokens(canvas, answer, mask)))
        model.model_config = replace(cfg, decode_margin=1)
        window = model.decode_answer(canvas, answer, mask)
        assert torch.equal(window, model.decode_window(canvas, answer, mask, 1))
        # A batch of identical (B, N) masks decodes like the shared (N,) mask.
        assert torch.equal(model.decode_answer(canvas, answer, mask.expand(2, -1)), window)
    # The answer block is 7x7 tokens in the lower right: 8x8 with a margin of 1, clipped.
    inside = torch.zeros(224, 224, dtype=torch.bool)
    inside[96:, 96:] = True
    assert bool((window[:, :, ~inside] == 0.5).all())
    assert not torch.equal(window[:, :, inside], whole[:, :, inside])


def test_context_tokens_follow_the_recipe() -> None:
    model, canvas, mask, answer = encoded_tiny_case(3)
    with torch.no_grad():
        own = model.tokenize(canvas)
        mixed = model.context_tokens(canvas, answer, mask)
    assert torch.equal(mixed[:, mask], answer[:, mask])
    assert torch.equal(mixed[:, ~mask], own[:, ~mask])
    model.model_config = PRESETS["tiny"]  # "predicted": the tokens as they are
    assert torch.equal(model.context_tokens(canvas, answer, mask), answer)


def test_group_norm_groups_follow_min_group_channels() -> None:
    from visprompt_core.model.vqgan import VQGAN, group_norm

    assert [group_norm(c).num_groups for c in (8, 16, 128, 512)] == [8, 16, 32, 32]
    assert [group_norm(c, 4).num_groups for c in (8, 16, 96, 128, 512)] == [2, 4, 24, 32, 32]
    assert group_norm(3, 4).num_groups == 1
    # The published layout is untouched; a config without the field means 1.
    assert PRESETS["mae_vqgan_large"].vqgan.min_group_channels == 1
    old = PRESETS["small"].to_dict()
    del old["vqgan"]["min_group_channels"]
    assert ModelConfig.from_dict(old).vqgan.min_group_channels == 1
    # Every norm of a tokenizer built with 4 channels per group has groups of >= 4 channels.
    vq = VQGAN(replace(PRESETS["small"].vqgan, min_group_channels=4))
    norms = [m for m in vq.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_channels // m.num_groups >= 4 for m in norms)
    # Group count does not change parameter shapes: weights of either setting load.
    other = VQGAN(replace(PRESETS["small"].vqgan, min_group_channels=1))
    other.load_state_dict(vq.state_dict())
