"""The prompt pipeline end to end on a tiny random model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from core_helpers import noise
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.errors import InputError, ModelNotFoundError
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import PromptRequest, VisualPrompter, load_model


def test_answer_has_query_size_for_any_mode(tiny_prompter: VisualPrompter) -> None:
    pair = (noise((300, 200), 1, "RGBA"), noise((50, 80), 2, "L"))
    for mode in ("RGB", "RGBA", "L", "P"):
        answer = tiny_prompter.prompt([pair], noise((640, 480), 3, mode))
        assert answer.size == (640, 480) and answer.mode == "RGB"
    sixteen = Image.fromarray(np.full((33, 47), 40000, dtype=np.uint16))
    assert tiny_prompter.prompt([(sixteen, sixteen)], sixteen).size == (47, 33)


def test_deterministic(tiny_prompter: VisualPrompter) -> None:
    pair = (noise((64, 64), 1), noise((64, 64), 2))
    a = np.asarray(tiny_prompter.prompt([pair], noise((90, 70), 3)))
    b = np.asarray(tiny_prompter.prompt([pair], noise((90, 70), 3)))
    assert np.array_equal(a, b)


def test_batch_equals_one_by_one(tiny_prompter: VisualPrompter) -> None:
    requests = [PromptRequest([(noise((64, 64), i), noise((64, 64), i + 10))],
                              noise((80 + i, 60), i + 20)) for i in range(4)]
    requests.append(PromptRequest([(noise((64, 64), 7), noise((64, 64), 8)),
                                   (noise((64, 64), 9), noise((64, 64), 5))],
                                  noise((50, 50), 30), ensemble=3))
    batched = tiny_prompter.prompt_batch(requests)
    single = [tiny_prompter.prompt_batch([r])[0] for r in requests]
    # Tokens are identical; the convolutional decoder's batched kernels differ from the
    # single-image ones by ~1e-5, which can flip the rounding of a pixel by one level.
    for a, b in zip(batched, single):
        diff = np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_batched_logits_equal_single_logits(tiny_prompter: VisualPrompter) -> None:
    canvases = torch.rand(4, 3, 224, 224)
    mask = cv.LAYOUT_2X2.patch_mask()
    batched = tiny_prompter.logits(canvases, mask).argmax(-1)
    single = torch.cat([tiny_prompter.logits(c[None], mask) for c in canvases]).argmax(-1)
    assert torch.equal(batched, single)


def test_the_answer_is_the_decoded_answer_cell(tiny_prompter: VisualPrompter) -> None:
    """Lower-level path and prompt path agree on the answer cell."""
    pair = (noise((111, 111), 1), noise((111, 111), 2))
    query = noise((111, 111), 3)
    canvas = cv.pil_to_tensor(cv.build_canvas([pair], query))[None]
    _, filled = tiny_prompter.complete(canvas, cv.LAYOUT_2X2.patch_mask())
    cell = cv.tensor_to_pil(cv.crop_answer(filled, cv.LAYOUT_2X2)[0])
    answer = tiny_prompter.prompt([pair], query)
    assert np.array_equal(np.asarray(cell), np.asarray(answer))
    # Outside the mask the completed canvas is the input canvas.
    assert torch.equal(filled[:, :, :112], canvas[:, :, :112])


def test_mask_gives_rgba_with_query_outside(tiny_prompter: VisualPrompter) -> None:
    query = noise((100, 60), 3)
    mask = Image.new("L", (100, 60), 0)
    mask.paste(255, (10, 10, 50, 40))
    answer = tiny_prompter.prompt([(noise((64, 64), 1), noise((64, 64), 2))], query, mask=mask)
    arr = np.asarray(answer)
    assert answer.mode == "RGBA" and answer.size == (100, 60)
    assert (arr[10:40, 10:50, 3] == 255).all()
    assert (arr[:10, :, 3] == 0).all() and (arr[:, 50:, 3] == 0).all()
    assert np.array_equal(arr[:10, :, :3], np.asarray(query)[:10])


def test_answer_size_and_ensemble_plan(tiny_prompter: VisualPrompter) -> None:
    pair = (noise((64, 64), 1), noise((64, 64), 2))
    answer = tiny_prompter.prompt([pair], noise((30, 30), 3), answer_size=(128, 96))
    assert answer.size == (128, 96)
    request = PromptRequest([pair, pair], noise((30, 30), 3), ensemble=4)
    plan = request.plan()
    # pairs first, then the views of each pair, mirrors first (docs/quality.md)
    assert [(a.view.name, a.background) for a, _ in plan] == [
        ("identity", (255, 255, 255)), ("identity", (255, 255, 255)),
        ("mirror left-right", (255, 255, 255)), ("mirror left-right", (255, 255, 255))]
    assert len(PromptRequest([pair] * 3, noise((30, 30), 3)).plan()) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"examples": []}, "1 to 8"),
    ({"examples": [(1, 2)]}, "two PIL images"),
    ({"mask": Image.new("L", (5, 5))}, "mask is 5x5"),
    ({"ensemble": 0}, "ensemble"),
    ({"answer_size": (0, 10)}, "out of range"),
])
def test_bad_input_is_refused(tiny_prompter: VisualPrompter, kwargs: dict, message: str) -> None:
    args = {"examples": [(noise((8, 8), 1), noise((8, 8), 2))], "query": noise((20, 20), 3)}
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        tiny_prompter.prompt(**args)
    with pytest.raises(InputError, match="1 to 8"):
        tiny_prompter.prompt([(noise((8, 8), 1), noise((8, 8), 2))] * 9, noise((8, 8), 3))


def test_inpaint_changes_only_the_masked_region(tiny_prompter: VisualPrompter) -> None:
    image = noise((200, 150), 4)
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (120, 80, 180, 140))
    out = np.asarray(tiny_prompter.inpaint(image, mask))
    src = np.asarray(image)
    assert out.shape == src.shape
    outside = np.asarray(mask) == 0
    assert np.array_equal(out[outside], src[outside])


def test_load_model_by_path_and_unknown_name(tiny_file: Path) -> None:
    model = load_model(str(tiny_file), device="cpu")
    assert model.name == "tiny" and model.dtype == torch.float32
    assert model.info()["parameters"] > 0
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        load_model("no-such-model")
    with pytest.raises(ModelNotFoundError, match="no such model file"):
        load_model("/nonexistent/file.safetensors")


def test_thread_option_and_fast_decode(tiny_model: MAEVQGAN) -> None:
    pair = (noise((64, 64), 1), noise((64, 64), 2))
    query = noise((111, 111), 3)
    default = VisualPrompter(tiny_model, device="cpu")
    one_thread = VisualPrompter(tiny_model, device="cpu", threads=1)
    fast = VisualPrompter(tiny_model, device="cpu", fast_decode=True)
    a = np.asarray(default.prompt([pair], query), dtype=int)
    b = np.asarray(one_thread.prompt([pair], query), dtype=int)
    c = np.asarray(fast.prompt([pair], query), dtype=int)
    assert np.abs(a - b).max() <= 1  # same tokens; summation order may move a level
    assert a.shape == c.shape  # fast decode: same tokens, context cropped (lossy)
    with pytest.raises(InputError, match="threads"):
        VisualPrompter(tiny_model, device="cpu", threads=0)


def test_encoded_context_decodes_around_the_tokenizers_tokens(tiny_model: MAEVQGAN) -> None:
    """With ``decode_context="encoded"`` the answer is decoded among the tokenizer's tokens
    of the visible canvas; the answer patches are still the MAE's argmax."""
    model = MAEVQGAN(replace(tiny_model.model_config, decode_context="encoded"))
    model.load_state_dict(tiny_model.state_dict())
    prompter = VisualPrompter(model.eval(), name="tiny-encoded", device="cpu")
    canvas = torch.rand(1, 3, 224, 224)
    mask = cv.LAYOUT_2X2.patch_mask()
    tokens, filled = prompter.complete(canvas, mask)
    assert torch.equal(tokens, prompter.logits(canvas, mask).argmax(-1))
    whole = prompter.with_context(canvas, tokens, mask)
    assert torch.equal(whole[:, mask], tokens[:, mask])
    assert torch.equal(whole[:, ~mask], prompter.tokenize(canvas)[:, ~mask])
    expected = cv.paste_answer(canvas, prompter.decode_tokens(whole), mask)
    assert torch.equal(filled, expected)
    # The prompt path decodes the same way.
    pair = (noise((111, 111), 1), noise((111, 111), 2))
    query = noise((111, 111), 3)
    canvas = cv.pil_to_tensor(cv.build_canvas([pair], query))[None]
    _, filled = prompter.complete(canvas, mask)
    cell = cv.tensor_to_pil(cv.crop_answer(filled, cv.LAYOUT_2X2)[0])
    assert np.array_equal(np.asarray(cell), np.asarray(prompter.prompt([pair], query)))


def test_decode_margin_decodes_one_canvas_in_its_answer_window(tiny_model: MAEVQGAN) -> None:
    """A model with ``decode_margin`` answers a one-canvas prompt from the answer block and
    that many context tokens (``MAEVQGAN.decode_window``), in ``complete`` and ``prompt``
    alike; ``fast_decode`` changes nothing there."""
    cfg = replace(tiny_model.model_config, decode_context="encoded", decode_margin=1)
    model = MAEVQGAN(cfg)
    model.load_state_dict(tiny_model.state_dict())
    prompter = VisualPrompter(model.eval(), name="tiny-window", device="cpu")
    pair = (noise((111, 111), 1), noise((111, 111), 2))
    query = noise((111, 111), 3)
    canvas = cv.pil_to_tensor(cv.build_canvas([pair], query))[None]
    mask = cv.LAYOUT_2X2.patch_mask()
    tokens, filled = prompter.complete(canvas, mask)
    expected = cv.paste_answer(canvas, model.decode_window(canvas, tokens, mask, 1), mask)
    assert torch.equal(filled, expected)
    cell = cv.tensor_to_pil(cv.crop_answer(filled, cv.LAYOUT_2X2)[0])
    answer = np.asarray(prompter.prompt([pair], query))
    assert np.array_equal(np.asarray(cell), answer)
    fast = VisualPrompter(model, name="tiny-window-fast", device="cpu", fast_decode=True)
    assert np.array_equal(np.asarray(fast.prompt([pair], query)), answer)
    # The whole-canvas recipe answers differently.
    whole = VisualPrompter(tiny_model, name="tiny", device="cpu")
    assert not np.array_equal(np.asarray(whole.prompt([pair], query)), answer)
