"""Ensembling: canvas plans, views, the combination rule, window decoding, the study."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import iou, score
from visprompt_core.ensemble import (
    ARRANGEMENTS,
    VIEWS,
    Arrangement,
    combine,
    restored_mean,
    view_canvases,
    window_answers,
)
from visprompt_core.errors import InputError
from visprompt_core.evaluation import (
    STUDY_ARRANGEMENTS,
    arrangement_canvases,
    arrangement_study,
    combine_answers,
    evaluate_model,
    predict_answers,
)
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import (
    MAX_ENSEMBLE,
    PromptRequest,
    VisualPrompter,
    _prompt_canvases,
)


def test_plan_adds_pairs_before_views() -> None:
    pairs = [(Image.new("RGB", (8, 8), (i, 0, 0)), Image.new("RGB", (8, 8))) for i in range(3)]
    query = Image.new("RGB", (8, 8))
    plan = PromptRequest(pairs, query).plan()
    assert [p for _, p in plan] == pairs and {a for a, _ in plan} == {ARRANGEMENTS[0]}
    plan = PromptRequest(pairs[:1], query, ensemble=4).plan()
    assert [a.view.name for a, _ in plan] == [
        "identity", "mirror left-right", "mirror top-bottom", "rotate 180"]
    assert {a.background for a, _ in plan} == {cv.WHITE}
    plan = PromptRequest(pairs[:2], query, ensemble=5).plan()
    assert [(a, p) for a, p in plan][:2] == [(ARRANGEMENTS[0], pairs[0]),
                                             (ARRANGEMENTS[0], pairs[1])]
    assert plan[2] == (ARRANGEMENTS[1], pairs[0])
    assert MAX_ENSEMBLE == len(ARRANGEMENTS) == 16 and len(set(ARRANGEMENTS)) == 16


def test_views_are_the_eight_symmetries_and_invert() -> None:
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    seen = [v.apply(x) for v in VIEWS]
    assert len({tuple(s.flatten().tolist()) for s in seen}) == 8
    for view, s in zip(VIEWS, seen):
        assert torch.equal(view.invert(s), x)
    # PIL path = tensor path, also for a non-square image (a transpose swaps W and H)
    image = cv.tensor_to_pil(torch.rand(3, 6, 9))
    for view in VIEWS:
        shown = view.apply_image(image)
        assert torch.equal(cv.pil_to_tensor(shown), view.apply(cv.pil_to_tensor(image)))


def test_restored_mean_keeps_a_line_that_plain_averaging_loses() -> None:
    """Two answers draw the same dark line two pixels apart: the plain mean turns it
    into a 0.5 grey band that a mask's threshold drops; the restored mean keeps it."""
    a = torch.ones(1, 3, 32, 32)
    b = a.clone()
    a[..., 10:12] = 0.0
    b[..., 12:14] = 0.0
    answers = torch.stack([a, b])
    truth = torch.ones(1, 3, 32, 32)
    truth[..., 10:14] = 0.0
    plain = answers.mean(0)
    restored = restored_mean(answers)
    assert float(iou(plain, truth, dark_fg=True)) == 0.0
    assert float(iou(restored, truth, dark_fg=True)) == 1.0
    # one affine map per answer, clamped to [0, 1]: the background stays white
    assert float(restored[..., 14:].min()) == 1.0 and float(restored.min()) >= 0.0


def test_restored_mean_leaves_agreeing_answers_alone() -> None:
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(restored_mean(x[None]), x)
    torch.testing.assert_close(restored_mean(torch.stack([x, x, x])), x)


def test_combine_brings_every_view_upright() -> None:
    truth = torch.rand(2, 3, 11, 11)
    chosen = ARRANGEMENTS[:5] + ARRANGEMENTS[9:11]
    cells, arrangements, owners = [], [], []
    for owner in (0, 1):
        for arrangement in chosen:
            cells.append(arrangement.view.apply(truth[owner]))
            arrangements.append(arrangement)
            owners.append(owner)
    combined = combine(torch.stack(cells), arrangements, owners, 2)
    torch.testing.assert_close(combined, truth)
    with pytest.raises(ValueError, match="no canvas"):
        combine(torch.stack(cells), arrangements, owners, 3)


def test_view_canvases_put_every_cell_through_the_view() -> None:
    episodes = generate_batch(2, episode_seed("eval", 3))
    cells = [episodes.examples_in[:, 0], episodes.examples_out[:, 0], episodes.query]
    view = VIEWS[5]
    canvas = view_canvases(cells, Arrangement(view, cv.BLACK))
    layout = cv.LAYOUT_2X2
    (box_in, box_out), box_q = layout.pairs[0], layout.query
    for box, cell in zip((box_in, box_out, box_q), cells):
        rows, cols = box.slices()
        torch.testing.assert_close(canvas[:, :, rows, cols], view.apply(cell))
    rows, cols = layout.answer.slices()
    assert float(canvas[:, :, rows, cols].abs().max()) == 0.0  # black background


def test_prompt_canvases_are_the_canvases_of_the_viewed_images() -> None:
    """The pipeline fits each image to its cell once and views the cells: the same
    canvases as building each arrangement from viewed full-size images (exactly for the
    mirrors; the transposes resize in the other pass order), on either background,
    transparency included."""
    rng = np.random.default_rng(5)

    def image(w: int, h: int) -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")

    pair, query = (image(300, 200), image(64, 64)), image(517, 410)
    request = PromptRequest([pair], query, ensemble=MAX_ENSEMBLE)
    plan = request.plan()
    canvases = _prompt_canvases(request, plan)
    assert canvases.shape == (MAX_ENSEMBLE, 3, 224, 224)
    for canvas, (arrangement, (example_in, example_out)) in zip(canvases, plan):
        view = arrangement.view.apply_image
        built = cv.pil_to_tensor(cv.build_canvas([(view(example_in), view(example_out))],
                                                 view(query), cv.LAYOUT_2X2,
                                                 arrangement.background))
        difference = (canvas - built).abs()
        if arrangement.view.transpose:  # noise upscaled from 64 px clips most: still < 1/255
            assert float(difference.mean()) < 1 / 255
        else:
            assert float(difference.max()) == 0.0, arrangement


def test_window_decode_with_the_whole_grid_is_the_full_decode(tiny_model: MAEVQGAN) -> None:
    episodes = generate_batch(3, episode_seed("eval", 1))
    mask = cv.LAYOUT_2X2.patch_mask()
    with torch.inference_mode():
        tokens = tiny_model.canvas_logits(episodes.canvas, mask.expand(3, -1)).argmax(-1)
        full = tiny_model.decode(tiny_model.context_tokens(episodes.canvas, tokens, mask))
        window = tiny_model.decode_window(episodes.canvas, tokens, mask, margin=7)
        near = tiny_model.decode_window(episodes.canvas, tokens, mask, margin=2)
    torch.testing.assert_close(window, full)
    assert near.shape == full.shape
    assert float(near[..., :5 * 16, :].sub(0.5).abs().max()) == 0.0  # outside the window
    cells = window_answers(tiny_model, episodes.canvas, tokens)
    assert cells.shape == (3, 3, 111, 111)


def test_predict_answers_ensembles_like_the_pipeline(tiny_model: MAEVQGAN) -> None:
    """Evaluation and the pipeline build the same canvases and combine them alike."""
    episodes = generate_batch(2, episode_seed("eval", 2))
    evaluated = predict_answers(tiny_model, episodes, 4)
    prompter = VisualPrompter(tiny_model, device="cpu")
    for i in range(2):
        pair = (cv.tensor_to_pil(episodes.examples_in[i, 0]),
                cv.tensor_to_pil(episodes.examples_out[i, 0]))
        answer = prompter.prompt([pair], cv.tensor_to_pil(episodes.query[i]), ensemble=4)
        # the pipeline's cells pass through 8-bit images: allow their rounding
        assert float((cv.pil_to_tensor(answer) - evaluated[i]).abs().mean()) < 0.02
    assert evaluated.shape == (2, 3, 111, 111)
    with pytest.raises(InputError, match=r"ensemble must be 1\.\.16"):
        evaluate_model(tiny_model, episodes_per_task=1, ensemble=17)


def test_mixed_batch_answers_like_single_prompts(tiny_prompter: VisualPrompter) -> None:
    """One canvas (whole decode), an ensemble and two pairs (window decodes) in one batch
    answer as each prompt alone (to one 8-bit level)."""
    episodes = generate_batch(3, episode_seed("eval", 4))
    pil = cv.tensor_to_pil
    pairs = [(pil(episodes.examples_in[i, 0]), pil(episodes.examples_out[i, 0]))
             for i in range(3)]
    requests = [PromptRequest(pairs[:1], pil(episodes.query[0])),
                PromptRequest(pairs[1:2], pil(episodes.query[1]), ensemble=3),
                PromptRequest(pairs[1:3], pil(episodes.query[2]))]
    together = tiny_prompter.prompt_batch(requests)
    for request, answer in zip(requests, together):
        alone = tiny_prompter.prompt_batch([PromptRequest(request.examples, request.query,
                                                          ensemble=request.ensemble)])[0]
        difference = cv.pil_to_tensor(answer) - cv.pil_to_tensor(alone)
        assert float(difference.abs().max()) < 1.5 / 255  # batched rounding: 1 level


def test_combination_rules(tiny_model: MAEVQGAN) -> None:
    episodes = generate_batch(6, episode_seed("eval", 0))
    n_arr = len(STUDY_ARRANGEMENTS)
    flat = arrangement_canvases(episodes, n_arr, STUDY_ARRANGEMENTS)
    mask = episodes.layout.patch_mask()
    with torch.inference_mode():
        logits = tiny_model.canvas_logits(flat, mask.expand(flat.shape[0], -1))
    logits, canvases = logits.unflatten(0, (6, n_arr)), flat.unflatten(0, (6, n_arr))
    single = [combine_answers(tiny_model, episodes, logits, canvases, (0,), rule)
              for rule in ("prob", "logit", "logprob")]
    assert torch.equal(single[0], single[1]) and torch.equal(single[0], single[2])
    assert torch.allclose(single[0], predict_answers(tiny_model, episodes, 1), atol=1e-5)
    both = combine_answers(tiny_model, episodes, logits, canvases, (0, 2), "prob")
    assert both.shape == (6, 3, 111, 111)
    scores = score(both, episodes.answer, episodes.task_ids)
    assert bool(torch.isfinite(scores).all())


def test_arrangement_study_matches_scores(tiny_model: MAEVQGAN) -> None:
    tasks = ("fg_mask", "invert")
    study = arrangement_study(tiny_model, {"one": ((0,), "prob"), "four": ((0, 1, 2, 3),
                                                                           "logit")},
                              episodes_per_task=2, batch=4, tasks=tasks)
    assert set(study) == {"one", "four"} and set(study["one"]) == set(tasks)
    episodes = generate_batch(4, episode_seed("eval", 0), tasks=list(tasks))
    expected = score(predict_answers(tiny_model, episodes, 1), episodes.answer,
                     episodes.task_ids)
    names = episodes.names
    for task in tasks:
        values = [float(v) for v, n in zip(expected, names) if n == task]
        assert abs(study["one"][task] - sum(values) / len(values)) < 1e-4
