"""Speed paths: the optimised path answers like the reference; fast modes as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from visprompt_core import canvas as cv
from visprompt_core.checkpoints import load_model_file, save_model
from visprompt_core.config import PRESETS
from visprompt_core.model import MAEVQGAN, cpu_threads, token_window
from visprompt_core.pipeline import VisualPrompter

MASK = cv.LAYOUT_2X2.patch_mask()
# Documented in docs/performance.md: region decode with the default margin (3) keeps the
# answer cell of the tiny preset above this PSNR against the full decode.
TINY_REGION_PSNR_DB = 18.0


def build(preset: str, seed: int = 0) -> MAEVQGAN:
    torch.manual_seed(seed)
    model = MAEVQGAN(PRESETS[preset])
    model.init_weights()
    return model.eval()


def twin(model: MAEVQGAN) -> MAEVQGAN:
    copy = build_like(model)
    copy.load_state_dict(model.state_dict())
    return copy.eval()


def build_like(model: MAEVQGAN) -> MAEVQGAN:
    return MAEVQGAN(model.model_config)


def canvases(n: int = 3, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 28, 28, generator=gen)
    return nn.functional.interpolate(base, size=224, mode="bilinear", align_corners=False)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * torch.log10(torch.tensor(1.0 / mse)))


@pytest.mark.parametrize("preset", ["tiny", "small"])
@pytest.mark.parametrize("threads", [None, 1])
def test_optimised_path_gives_the_reference_answers(preset: str, threads: int | None) -> None:
    model = build(preset)
    ref = VisualPrompter(model, name="ref", device="cpu", dtype="fp32")
    fast = VisualPrompter(twin(model).optimize_for_inference(), name="opt", device="cpu",
                          dtype="fp32")
    assert fast.model.vae.decoder.conv_in.weight.is_contiguous(
        memory_format=torch.channels_last)
    x = canvases()
    ref_tokens, ref_pixels = ref.complete(x, MASK)
    with cpu_threads(threads):
        tokens, pixels = fast.complete(x, MASK)
    assert torch.equal(tokens, ref_tokens)
    assert (pixels - ref_pixels).abs().max().item() <= 1 / 255
    assert torch.equal(pixels[..., :112, :], ref_pixels[..., :112, :])  # outside the mask


def test_cpu_threads_restores_the_setting() -> None:
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError), cpu_threads(0):
        pass


def test_token_window_is_the_widened_bounding_box() -> None:
    assert token_window(MASK, 14, 0) == (slice(7, 14), slice(7, 14))
    assert token_window(MASK, 14, 2) == (slice(5, 14), slice(5, 14))
    assert token_window(MASK, 14, 20) == (slice(0, 14), slice(0, 14))
    three = cv.LAYOUT_3X2.patch_mask()
    assert token_window(three[None].expand(2, -1), 14, 1) == (slice(8, 14), slice(6, 13))
    with pytest.raises(ValueError):
        token_window(torch.zeros(196, dtype=torch.bool), 14, 1)


@torch.inference_mode()
def test_region_decode_matches_full_decode_in_the_answer_cell() -> None:
    model = build("tiny")
    tokens = torch.randint(0, 64, (2, 196), generator=torch.Generator().manual_seed(3))
    full = model.decode(tokens)
    # A window covering the whole grid is the full decode.
    torch.testing.assert_close(model.decode(tokens, region=MASK, margin=7), full)
    part = model.decode(tokens, region=MASK)
    assert part.shape == full.shape and part.dtype == torch.float32
    rows, cols = token_window(MASK, 14, 3)
    assert torch.all(part[..., : rows.start * 16, :] == 0.5)  # not decoded
    assert torch.all(part[..., : cols.start * 16] == 0.5)
    cell = cv.crop_answer(part, cv.LAYOUT_2X2)
    ref = cv.crop_answer(full, cv.LAYOUT_2X2)
    assert psnr(cell, ref) >= TINY_REGION_PSNR_DB


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_assign_load_gives_the_weights_of_the_copy_load(tmp_path: Path, dtype: str) -> None:
    model = build("tiny")
    path = save_model(model, PRESETS["tiny"], tmp_path / f"tiny-{dtype}.safetensors", dtype)
    _, assigned = load_model_file(path)
    _, copied = load_model_file(path, assign=False)
    a, c = assigned.state_dict(), copied.state_dict()
    assert a.keys() == c.keys()
    for key in a:
        assert a[key].dtype == torch.float32, key
        assert torch.equal(a[key], c[key]), key
    assert all(isinstance(p, nn.Parameter) for p in assigned.parameters())
    assert not any(t.is_meta for t in [*assigned.parameters(), *assigned.buffers()])
    torch.testing.assert_close(assigned.pixel_mean, copied.pixel_mean)
    x = canvases(1)
    with torch.inference_mode():
        assert torch.equal(assigned.canvas_logits(x, MASK[None]),
                           copied.canvas_logits(x, MASK[None]))


def test_assigned_weights_do_not_write_through_to_the_file(tmp_path: Path) -> None:
    model = build("tiny")
    path = save_model(model, PRESETS["tiny"], tmp_path / "tiny.safetensors")
    _, first = load_model_file(path)
    with torch.no_grad():
        first.decoder_pred.weight.add_(1.0)
    _, second = load_model_file(path)
    torch.testing.assert_close(second.decoder_pred.weight, model.decoder_pred.weight)


def test_int8_mode_quantises_the_block_linears_only() -> None:
    model = twin(build("tiny")).quantize_linears_int8()
    assert type(model.blocks[0].attn.qkv) is not nn.Linear
    assert type(model.decoder_blocks[0].mlp.fc1) is not nn.Linear
    assert type(model.decoder_pred) is nn.Linear
    with torch.inference_mode():
        logits = model.canvas_logits(canvases(2), MASK.expand(2, -1))
    assert logits.shape == (2, 196, 64) and torch.isfinite(logits).all()


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_in_place_inference_decode_equals_the_autograd_decode(preset: str) -> None:
    """Without autograd the tokenizer reuses temporaries; the values stay bit-identical."""
    model = build(preset)
    tokens = torch.randint(0, model.cfg.vocab_size, (2, 196),
                           generator=torch.Generator().manual_seed(4))
    with torch.enable_grad():
        graph = model.decode(tokens)
        assert graph.requires_grad
    with torch.inference_mode():
        fast = model.decode(tokens)
    assert torch.equal(graph.detach(), fast)


def test_optimised_model_saves_and_reloads_the_same_weights(tmp_path: Path) -> None:
    model = build("tiny")
    fast = twin(model).optimize_for_inference()
    path = save_model(fast, PRESETS["tiny"], tmp_path / "fast.safetensors")
    _, loaded = load_model_file(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
