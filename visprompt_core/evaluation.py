"""Held-out evaluation on synthetic episodes, per task family, next to baselines.

For every family: the model's score, the tokenizer's ceiling (the true answer encoded and
decoded by the model's own VQGAN: the best any MAE could reach with it as decoded; the
query detail transfer of ``visprompt_core.detail`` can go above it), and two baselines on
the same episodes: "copy the example output" and "copy the query".
IoU for mask-like families, PSNR (dB) for image-like ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from visprompt_core import canvas as cv
from visprompt_core import ensemble as ensemble_mod
from visprompt_core.data.episodes import EpisodeBatch, episode_seed, generate_batch
from visprompt_core.data.metrics import score
from visprompt_core.data.tasks import TASK_NAMES, TASKS
from visprompt_core.detail import refine_answers
from visprompt_core.errors import InputError
from visprompt_core.model import MAEVQGAN

COLUMNS = ("model", "ceiling", "copy_example_output", "copy_query")

# The fixed numbering ``arrangement_study`` and benchmarks/bench_ensemble.py use:
# 0 = 2x2 white, 1 = transposed 2x2 white, 2 = 2x2 black, 3 = transposed 2x2 black.
STUDY_ARRANGEMENTS = ((cv.LAYOUT_2X2, 1.0), (cv.LAYOUT_2X2_T, 1.0), (cv.LAYOUT_2X2, 0.0),
                      (cv.LAYOUT_2X2_T, 0.0))


@dataclass
class EvalReport:
    per_task: dict[str, dict[str, float]] = field(default_factory=dict)
    episodes_per_task: int = 0
    ensemble: int = 1
    detail_transfer: bool = True

    def summary(self) -> dict[str, float]:
        mask = [t for t in self.per_task if TASKS[t].kind == "mask"]
        image = [t for t in self.per_task if TASKS[t].kind == "image"]
        out: dict[str, float] = {}
        for col in COLUMNS:
            if mask:
                out[f"mean_iou_{col}"] = sum(self.per_task[t][col] for t in mask) / len(mask)
            if image:
                out[f"mean_psnr_{col}"] = sum(self.per_task[t][col] for t in image) / len(image)
        beats = [t for t in self.per_task if self.beats_baselines(t)]
        out["families_beating_both_baselines"] = len(beats)
        out["families"] = len(self.per_task)
        return out

    def beats_baselines(self, task: str) -> bool:
        row = self.per_task[task]
        return row["model"] > max(row["copy_example_output"], row["copy_query"])

    def to_dict(self) -> dict[str, Any]:
        return {"episodes_per_task": self.episodes_per_task, "ensemble": self.ensemble,
                "detail_transfer": self.detail_transfer, "per_task": self.per_task,
                "summary": self.summary()}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    def table(self) -> str:
        head = f"{'task':<16} {'kind':<6} {'metric':<6} " + " ".join(f"{c:>19}" for c in COLUMNS)
        lines = [head, "-" * len(head)]
        for task, row in self.per_task.items():
            kind = TASKS[task].kind
            metric = "IoU" if kind == "mask" else "PSNR"
            mark = "" if self.beats_baselines(task) else "  <- not above baselines"
            lines.append(f"{task:<16} {kind:<6} {metric:<6} "
                         + " ".join(f"{row[c]:>19.3f}" for c in COLUMNS) + mark)
        summary = self.summary()
        lines.append("-" * len(head))
        for key in sorted(summary):
            value = summary[key]
            lines.append(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
        return "\n".join(lines)


def arrangement_canvases(episodes: EpisodeBatch, k: int,
                         arrangements: tuple[tuple[cv.Layout, float], ...] = STUDY_ARRANGEMENTS
                         ) -> torch.Tensor:
    """(B*k, 3, S, S): each episode laid out in the first ``k`` arrangements, episode-major."""
    cells = [episodes.examples_in[:, 0], episodes.examples_out[:, 0], episodes.query]
    variants = [cv.place_cells(cells, layout, background=bg) for layout, bg in
                arrangements[:k]]
    return torch.stack(variants, dim=1).flatten(0, 1)


@torch.inference_mode()
def predict_answers(model: MAEVQGAN, episodes: EpisodeBatch, ensemble: int = 1,
                    detail_transfer: bool = True) -> torch.Tensor:
    """(B, 3, h, w) predicted answer cells of the first example pair, as the pipeline
    answers them: ``ensemble`` > 1 answers on the first ``ensemble`` canvas variants
    (``ensemble.ARRANGEMENTS``) and combines them; then the query's detail is carried in
    by the model's recipe (``detail.refine_answers``) unless ``detail_transfer`` is
    False."""
    layout = episodes.layout
    mask = layout.patch_mask().to(episodes.canvas.device)
    canvases = episodes.canvas
    if ensemble <= 1:
        logits = model.canvas_logits(canvases, mask.expand(len(episodes), -1))
        decoded = model.decode_answer(canvases, logits.argmax(-1), mask)
        answers = cv.crop_answer(cv.paste_answer(canvases.float(), decoded, mask), layout)
    elif layout.name != ensemble_mod.LAYOUT.name:
        raise ValueError("ensembled evaluation needs 2x2 episodes")
    else:
        cells = [episodes.examples_in[:, 0], episodes.examples_out[:, 0], episodes.query]
        arrangements = ensemble_mod.ARRANGEMENTS[:ensemble]
        answers = ensemble_mod.restored_mean(ensemble_mod.view_answers(model, cells,
                                                                       arrangements))
    if not detail_transfer:
        return answers
    return refine_answers(model, canvases, answers, layout)


@torch.inference_mode()
def ceiling_answers(model: MAEVQGAN, episodes: EpisodeBatch) -> torch.Tensor:
    """The true answer as the tokenizer reproduces it (tokenize + decode the target)."""
    decoded = model.decode(model.tokenize(episodes.target))
    return cv.crop_answer(decoded, episodes.layout)


def evaluate_model(model: MAEVQGAN, episodes_per_task: int = 32, device: str | None = None,
                   layout: cv.Layout = cv.LAYOUT_2X2, batch: int = 128, ensemble: int = 1,
                   tasks: tuple[str, ...] = TASK_NAMES, seed_index: int = 0,
                   detail_transfer: bool = True) -> EvalReport:
    """Score ``model`` on held-out episodes (evaluation seeds only), answered as the
    pipeline answers them (``predict_answers``)."""
    if not 1 <= ensemble <= len(ensemble_mod.ARRANGEMENTS):
        raise InputError(f"ensemble must be 1..{len(ensemble_mod.ARRANGEMENTS)} canvases, "
                         f"got {ensemble}")
    dev = torch.device(device) if device else next(model.parameters()).device
    total = episodes_per_task * len(tasks)
    sums: dict[str, dict[str, float]] = {t: dict.fromkeys(COLUMNS, 0.0) for t in tasks}
    counts = dict.fromkeys(tasks, 0)
    done, index = 0, seed_index
    while done < total:
        n = min(batch, total - done)
        # Each batch covers all families; the last one is cut to the requested total.
        episodes = generate_batch(n, episode_seed("eval", index), device=dev, layout=layout,
                                  tasks=list(tasks))
        index += 1
        answers = {
            "model": predict_answers(model, episodes, ensemble, detail_transfer),
            "ceiling": ceiling_answers(model, episodes),
            "copy_example_output": episodes.examples_out[:, 0],
            "copy_query": episodes.query,
        }
        ids = episodes.task_ids
        for col, pred in answers.items():
            scores = score(pred.float(), episodes.answer.float(), ids).cpu()
            for tid, value in zip(ids.tolist(), scores.tolist()):
                sums[TASK_NAMES[tid]][col] += value
        for tid in ids.tolist():
            counts[TASK_NAMES[tid]] += 1
        done += n
    report = EvalReport(episodes_per_task=episodes_per_task, ensemble=ensemble,
                        detail_transfer=detail_transfer)
    for task in tasks:
        if counts[task]:
            report.per_task[task] = {c: sums[task][c] / counts[task] for c in COLUMNS}
            report.per_task[task]["n"] = counts[task]
    return report


@torch.inference_mode()
def combine_answers(model: MAEVQGAN, episodes: EpisodeBatch, logits: torch.Tensor,
                    canvases: torch.Tensor, subset: tuple[int, ...], rule: str = "prob"
                    ) -> torch.Tensor:
    """Answer cells from precomputed per-arrangement logits.

    logits (B, A, N, V) and canvases (B, A, 3, S, S) of ``A`` arrangements; ``subset``
    picks the canvases to combine (the first one supplies the context tokens and pixels).
    rule: "prob" averages softmax probabilities, "logit" averages logits, "logprob"
    averages log-probabilities (a geometric mean).
    """
    mask = episodes.layout.patch_mask().to(logits.device)
    chosen = logits[:, list(subset)]
    if rule == "prob":
        combined = chosen.softmax(-1).mean(1)
    elif rule == "logit":
        combined = chosen.mean(1)
    elif rule == "logprob":
        combined = chosen.log_softmax(-1).mean(1)
    else:
        raise ValueError(f"unknown combination rule {rule!r}")
    first = chosen[:, 0].argmax(-1)
    tokens = torch.where(mask[None, :], combined.argmax(-1), first)
    base = canvases[:, subset[0]].float()
    decoded = model.decode(model.context_tokens(base, tokens, mask))
    return cv.crop_answer(cv.paste_answer(base, decoded, mask), episodes.layout)


def arrangement_study(model: MAEVQGAN, variants: dict[str, tuple[tuple[int, ...], str]],
                      episodes_per_task: int = 16, batch: int = 64,
                      tasks: tuple[str, ...] = TASK_NAMES, seed_index: int = 0,
                      ) -> dict[str, dict[str, float]]:
    """Mean score per family for each named (arrangement subset, rule) on the same episodes.

    Arrangement indices refer to ``STUDY_ARRANGEMENTS``; every canvas goes through the MAE
    once per episode and each variant only re-combines and decodes.
    """
    dev = next(model.parameters()).device
    n_arr = len(STUDY_ARRANGEMENTS)
    sums = {name: dict.fromkeys(tasks, 0.0) for name in variants}
    counts = dict.fromkeys(tasks, 0)
    total, done, index = episodes_per_task * len(tasks), 0, seed_index
    while done < total:
        n = min(batch, total - done)
        episodes = generate_batch(n, episode_seed("eval", index), device=dev,
                                  tasks=list(tasks))
        index += 1
        flat = arrangement_canvases(episodes, n_arr, STUDY_ARRANGEMENTS)
        mask = episodes.layout.patch_mask().to(dev)
        with torch.inference_mode():
            logits = model.canvas_logits(flat, mask.expand(flat.shape[0], -1))
        logits = logits.unflatten(0, (n, n_arr))
        canvases = flat.unflatten(0, (n, n_arr))
        ids = episodes.task_ids
        for name, (subset, rule) in variants.items():
            pred = combine_answers(model, episodes, logits, canvases, subset, rule)
            scores = score(pred.float(), episodes.answer.float(), ids).cpu()
            for tid, value in zip(ids.tolist(), scores.tolist()):
                sums[name][TASK_NAMES[tid]] += value
        for tid in ids.tolist():
            counts[TASK_NAMES[tid]] += 1
        done += n
    return {name: {t: sums[name][t] / counts[t] for t in tasks if counts[t]}
            for name in variants}


def mask_boundary(mask: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool -> (B, H, W) bool: mask pixels with a 4-neighbour outside the mask
    (image borders do not count as outside)."""
    m = mask.float()[:, None]
    padded = F.pad(m, (1, 1, 1, 1), mode="replicate")
    neighbours = torch.stack([padded[..., :-2, 1:-1], padded[..., 2:, 1:-1],
                              padded[..., 1:-1, :-2], padded[..., 1:-1, 2:]]).amin(0)
    return (mask & (neighbours[:, 0] < 0.5))


def boundary_fscore(pred: torch.Tensor, target: torch.Tensor, tolerance: int = 2
                    ) -> torch.Tensor:
    """(B,) boundary F-score of two (B, H, W) bool masks.

    A boundary pixel of one mask counts as matched when a boundary pixel of the other lies
    within ``tolerance`` px (Chebyshev distance); precision over the prediction's boundary,
    recall over the target's, F = 2PR / (P + R). 1.0 when neither mask has a boundary.
    """
    pb, tb = mask_boundary(pred), mask_boundary(target)
    k = 2 * tolerance + 1

    def near(b: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(b.float()[:, None], k, stride=1, padding=tolerance)[:, 0] > 0

    n_p, n_t = pb.flatten(1).sum(1).float(), tb.flatten(1).sum(1).float()
    precision = (pb & near(tb)).flatten(1).sum(1) / n_p.clamp(min=1)
    recall = (tb & near(pb)).flatten(1).sum(1) / n_t.clamp(min=1)
    f = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    both_empty = (n_p == 0) & (n_t == 0)
    return torch.where(both_empty, torch.ones_like(f), f)
