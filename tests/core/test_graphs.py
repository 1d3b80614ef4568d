"""The one-canvas answer step and its graph cache (visprompt_core.graphs).

Capture itself needs CUDA (last test); on the CPU the cache is driven with replays made
here: the step itself, a failing capture, a replay that answers wrongly."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from core_helpers import noise

from visprompt_core import canvas as cv
from visprompt_core.errors import InputError
from visprompt_core.graphs import AnswerStep, GraphedAnswers, bucket_size, pad_batch
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import VisualPrompter

LAYOUT = cv.LAYOUT_2X2



def recipe_model(tiny_model: MAEVQGAN, context: str, margin: int | None) -> MAEVQGAN:
    model = MAEVQGAN(replace(tiny_model.model_config, decode_context=context,
                             decode_margin=margin))
    model.load_state_dict(tiny_model.state_dict())
    return model.eval()


def eager_replay(step: AnswerStep, example: torch.Tensor):
    return step


@pytest.mark.parametrize(("context", "margin"),
                         [("predicted", None), ("encoded", None), ("encoded", 1)])
def test_step_answers_like_the_pipeline(tiny_model: MAEVQGAN, context: str,
                                        margin: int | None) -> None:
    prompter = VisualPrompter(recipe_model(tiny_model, context, margin), device="cpu")
    torch.manual_seed(0)
    canvases = torch.rand(3, 3, 224, 224)
    tokens, cells = AnswerStep(prompter.model, LAYOUT, 3)(canvases)
    want_tokens, filled = prompter.complete(canvases, LAYOUT.patch_mask())
    assert torch.equal(tokens, want_tokens)
    assert torch.equal(cells, cv.crop_answer(filled, LAYOUT))


def test_bucket_and_padding() -> None:
    assert [bucket_size(b) for b in (1, 2, 3, 4, 5, 33, 64, 65)] == [1, 2, 4, 4, 8, 64, 64, 128]
    with pytest.raises(ValueError, match="batch"):
        bucket_size(0)
    x = torch.rand(3, 3, 8, 8)
    padded = pad_batch(x, 4)
    assert padded.shape[0] == 4
    assert torch.equal(padded[:3], x) and torch.equal(padded[3], x[0])
    assert pad_batch(x, 3) is x


def test_cache_pads_to_buckets_and_keeps_one_replay_each(tiny_model: MAEVQGAN) -> None:
    model = recipe_model(tiny_model, "encoded", 1)
    captured: list[int] = []

    def capture(step: AnswerStep, example: torch.Tensor) -> AnswerStep:
        captured.append(example.shape[0])
        return step

    graphs = GraphedAnswers(model, LAYOUT, max_batch=4, capture=capture)
    torch.manual_seed(1)
    canvases = torch.rand(5, 3, 224, 224)
    for batch in (3, 1, 3, 4):
        tokens, cells = graphs(canvases[:batch])
        want_tokens, want_cells = graphs.eager(canvases[:batch])
        assert tokens.shape[0] == cells.shape[0] == batch
        assert torch.equal(tokens[:, LAYOUT.patch_mask()], want_tokens[:, LAYOUT.patch_mask()])
        assert torch.allclose(cells, want_cells, atol=1e-5)
    assert captured == [4, 1]  # batch 3 and 4 share the bucket of 4
    tokens, _ = graphs(canvases)  # 5 > max_batch: eager, nothing captured
    assert captured == [4, 1] and tokens.shape[0] == 5


def test_failed_or_wrong_capture_runs_eager(tiny_model: MAEVQGAN,
                                            caplog: pytest.LogCaptureFixture) -> None:
    model = recipe_model(tiny_model, "encoded", 1)
    canvases = torch.rand(2, 3, 224, 224)

    def failing(step: AnswerStep, example: torch.Tensor) -> AnswerStep:
        raise RuntimeError("operation not permitted when stream is capturing")

    def wrong(step: AnswerStep, example: torch.Tensor):
        return lambda x: (x.new_zeros(x.shape[0], 196, dtype=torch.long),
                          x.new_zeros(x.shape[0], 3, 111, 111))

    for capture, message in ((failing, "not captured"), (wrong, "disagrees")):
        graphs = GraphedAnswers(model, LAYOUT, capture=capture)
        with caplog.at_level(logging.WARNING, logger="visprompt_core.graphs"):
            tokens, cells = graphs(canvases)
        assert message in caplog.text
        assert graphs.replays == {2: None}
        want_tokens, want_cells = graphs.eager(canvases)
        assert torch.equal(tokens, want_tokens) and torch.equal(cells, want_cells)
        caplog.clear()


def test_prompter_uses_the_cache_for_one_canvas_prompts(tiny_model: MAEVQGAN) -> None:
    """With a cache in place, prompt_batch answers exactly as without it; ensembles and
    several pairs keep the eager path."""
    model = recipe_model(tiny_model, "encoded", 1)
    plain = VisualPrompter(model, name="plain", device="cpu")
    assert plain.graphs is None and plain.info()["cuda_graphs"] is False
    cached = VisualPrompter(model, name="cached", device="cpu")
    cached.graphs = GraphedAnswers(cached.model, LAYOUT, capture=eager_replay)
    pair = (noise((111, 111), 1), noise((111, 111), 2))
    pair2 = (noise((111, 111), 4), noise((111, 111), 5))
    query = noise((160, 120), 3)
    for kwargs in ({}, {"ensemble": 4}):
        a = np.asarray(plain.prompt([pair], query, **kwargs))
        b = np.asarray(cached.prompt([pair], query, **kwargs))
        assert np.array_equal(a, b)
    assert np.array_equal(np.asarray(plain.prompt([pair, pair2], query)),
                          np.asarray(cached.prompt([pair, pair2], query)))
    assert list(cached.graphs.replays) == [1]  # only the one-canvas call used it


def test_cuda_graphs_option_is_checked(tiny_model: MAEVQGAN) -> None:
    with pytest.raises(InputError, match="cuda_graphs"):
        VisualPrompter(tiny_model, device="cpu", cuda_graphs=True)
    assert VisualPrompter(tiny_model, device="cpu", cuda_graphs=False).graphs is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_answers_like_eager(tiny_model: MAEVQGAN) -> None:
    model = recipe_model(tiny_model, "encoded", 1)
    graphed = VisualPrompter(model, name="graphed", device="cuda", dtype="fp32")
    assert graphed.graphs is not None
    eager = VisualPrompter(recipe_model(tiny_model, "encoded", 1), name="eager",
                           device="cuda", dtype="fp32", cuda_graphs=False)
    pair = (noise((111, 111), 1), noise((111, 111), 2))
    query = noise((111, 111), 3)
    a = np.asarray(graphed.prompt([pair], query), dtype=int)
    b = np.asarray(eager.prompt([pair], query), dtype=int)
    assert graphed.graphs.replays[1] is not None  # captured and checked
    assert np.abs(a - b).max() <= 1
