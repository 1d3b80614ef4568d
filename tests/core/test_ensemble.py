"""Ensembling: canvas plans, combination rules and the arrangement study."""

from __future__ import annotations

import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import score
from visprompt_core.evaluation import (
    EVAL_ARRANGEMENTS,
    STUDY_ARRANGEMENTS,
    arrangement_canvases,
    arrangement_study,
    combine_answers,
    predict_answers,
)
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import ARRANGEMENTS, PromptRequest


def test_plan_adds_pairs_before_arrangements() -> None:
    pairs = [(Image.new("RGB", (8, 8), (i, 0, 0)), Image.new("RGB", (8, 8))) for i in range(3)]
    query = Image.new("RGB", (8, 8))
    plan = PromptRequest(pairs, query).plan()
    assert [p for _, p in plan] == pairs and {a for a, _ in plan} == {ARRANGEMENTS[0]}
    plan = PromptRequest(pairs[:1], query, ensemble=4).plan()
    assert [a for a, _ in plan] == list(ARRANGEMENTS)
    assert ARRANGEMENTS[0] == ARRANGEMENTS[0].__class__(cv.LAYOUT_2X2, cv.WHITE)
    assert [(a.layout.name, a.background == cv.WHITE) for a in ARRANGEMENTS] == [
        (layout.name, bg == 1.0) for layout, bg in EVAL_ARRANGEMENTS]


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
    assert torch.allclose(both, predict_answers(tiny_model, episodes, 2), atol=1e-5)
    assert both.shape == (6, 3, 111, 111)


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
