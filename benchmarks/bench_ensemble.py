"""Ensembling: answer quality of 1 vs several canvases, and the cost of one batched call.

    python benchmarks/bench_ensemble.py --episodes 32 --skip-arrangements

Views (the pipeline's ensembles, ``visprompt_core.ensemble``): held-out synthetic episodes
(evaluation seed index --seed-index on), the same for every row: the single canvas of the
default path against the first 2, 4 and 8 views of the 2x2 white canvas combined by the
pipeline's rule (pixel mean, contrast restored), and 4 views by the plain pixel mean.
Mean IoU over the mask-like families, mean PSNR (dB) over the image-like ones, then per
family for 1 canvas vs 4 views.

Arrangements (the earlier study, ``--skip-arrangements`` to leave it out): subsets of the
layouts 0 = 2x2 white, 1 = transposed 2x2 white, 2 = 2x2 black, 3 = transposed 2x2 black
with the per-patch distributions combined before the argmax (probabilities, logits or
log-probabilities).

Several pairs: 4 example pairs per episode; one 2x2 canvas per pair combined by the
pipeline's rule or by averaging probabilities, and the 3x2 two-pair layout; the
pipeline's 4-pair answer and the 1-pair answer also with the query detail transfer (the
pipeline's: the linear filter fitted on all 4 pairs; and on the first pair alone).

Cost: ``VisualPrompter.prompt`` (PIL in -> PIL out, one example pair, 512x512 query) with
``ensemble=1`` and ``ensemble=4`` timed alternately, median of --repeat runs each; then
the model alone (canvas tensors -> answer cells, ``evaluation.predict_answers``) the same
way.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import (
    EpisodeBatch,
    balanced_task_ids,
    episode_seed,
    generate_batch,
    generate_cells,
)
from visprompt_core.data.metrics import score
from visprompt_core.data.tasks import TASK_NAMES, TASKS
from visprompt_core.detail import ExampleCells, refine, refine_answers
from visprompt_core.ensemble import ARRANGEMENTS, restored_mean, view_answers, window_answers
from visprompt_core.evaluation import arrangement_study, predict_answers
from visprompt_core.pipeline import load_model

VARIANTS: dict[str, tuple[tuple[int, ...], str]] = {
    "1 canvas: 2x2 white": ((0,), "prob"),
    "1 canvas: 2x2T white": ((1,), "prob"),
    "1 canvas: 2x2 black": ((2,), "prob"),
    "1 canvas: 2x2T black": ((3,), "prob"),
    "2 canvases (0,1) prob": ((0, 1), "prob"),
    "2 canvases (0,2) prob": ((0, 2), "prob"),
    "4 canvases prob-mean": ((0, 1, 2, 3), "prob"),
    "4 canvases logit-mean": ((0, 1, 2, 3), "logit"),
    "4 canvases logprob-mean": ((0, 1, 2, 3), "logprob"),
}


def means(per_task: dict[str, float]) -> tuple[float, float]:
    mask = [v for t, v in per_task.items() if TASKS[t].kind == "mask"]
    image = [v for t, v in per_task.items() if TASKS[t].kind == "image"]
    return sum(mask) / len(mask), sum(image) / len(image)


def add_scores(sums: dict[str, float], pred: torch.Tensor, episodes: EpisodeBatch) -> None:
    """Add each episode's score (IoU or PSNR) of ``pred`` to its family's sum."""
    scores = score(pred.float(), episodes.answer.float(), episodes.task_ids)
    for tid, value in zip(episodes.task_ids.tolist(), scores.tolist()):
        sums[TASK_NAMES[tid]] += value


def print_means(title: str, sums: dict[str, dict[str, float]], counts: dict[str, int],
                width: int = 36) -> dict[str, dict[str, float]]:
    """Per-variant means of per-family sums; returns the per-family means."""
    print(title)
    print(f"{'variant':<{width}} {'mean IoU (mask)':>16} {'mean PSNR (image)':>18}")
    out = {}
    for name, per in sums.items():
        out[name] = {t: per[t] / counts[t] for t in per if counts[t]}
        m_iou, m_psnr = means(out[name])
        print(f"{name:<{width}} {m_iou:>16.3f} {m_psnr:>18.2f}")
    return out


@torch.inference_mode()
def views(args: argparse.Namespace) -> None:
    model = load_model(args.model, device="cpu", dtype="fp32").model
    names = ("1 canvas (default path)", "2 views", "4 views", "8 views",
             "4 views, plain pixel mean", "4 views, pipeline (predict_answers)")
    sums = {n: dict.fromkeys(TASK_NAMES, 0.0) for n in names}
    counts = dict.fromkeys(TASK_NAMES, 0)
    total, done, index = args.episodes * len(TASK_NAMES), 0, args.seed_index
    start = time.perf_counter()
    while done < total:
        n = min(len(TASK_NAMES) * 4, total - done)
        episodes = generate_batch(n, episode_seed("eval", index), layout=cv.LAYOUT_2X2)
        index += 1
        cells = [episodes.examples_in[:, 0], episodes.examples_out[:, 0], episodes.query]
        upright = view_answers(model, cells, ARRANGEMENTS[:8])
        preds = {names[0]: predict_answers(model, episodes, 1),
                 names[1]: restored_mean(upright[:2]), names[2]: restored_mean(upright[:4]),
                 names[3]: restored_mean(upright), names[4]: upright[:4].mean(0)}
        if args.check_pipeline:
            preds[names[5]] = predict_answers(model, episodes, 4)
        for name, pred in preds.items():
            add_scores(sums[name], pred, episodes)
        for tid in episodes.task_ids.tolist():
            counts[TASK_NAMES[tid]] += 1
        done += n
    if not args.check_pipeline:
        del sums[names[5]]
    per = print_means(f"views: {done} held-out episodes ({args.episodes} per family), "
                      f"evaluation seed index {args.seed_index} on, model {args.model} "
                      f"({time.perf_counter() - start:.0f} s)", sums, counts)
    one, four = per[names[0]], per[names[2]]
    print(f"\n{'family':<18} {'metric':<6} {'1 canvas':>9} {'4 views':>9} {'delta':>8}")
    for task in one:
        metric = "IoU" if TASKS[task].kind == "mask" else "PSNR"
        print(f"{task:<18} {metric:<6} {one[task]:>9.3f} {four[task]:>9.3f} "
              f"{four[task] - one[task]:>+8.3f}")


def quality(args: argparse.Namespace) -> None:
    prompter = load_model(args.model, device="cpu", dtype="fp32")
    start = time.perf_counter()
    study = arrangement_study(prompter.model, VARIANTS, episodes_per_task=args.episodes,
                              batch=args.batch)
    took = time.perf_counter() - start
    n_fam = len(next(iter(study.values())))
    print(f"quality: {args.episodes} held-out episodes x {n_fam} families, model "
          f"{args.model} ({took:.0f} s)")
    print(f"{'variant':<26} {'mean IoU (mask)':>16} {'mean PSNR (image)':>18}")
    for name, per_task in study.items():
        m_iou, m_psnr = means(per_task)
        print(f"{name:<26} {m_iou:>16.3f} {m_psnr:>18.2f}")
    one, four = study["1 canvas: 2x2 white"], study["4 canvases prob-mean"]
    print(f"\n{'family':<18} {'metric':<6} {'1 canvas':>9} {'4 canvases':>11} {'delta':>8}")
    for task in one:
        metric = "IoU" if TASKS[task].kind == "mask" else "PSNR"
        print(f"{task:<18} {metric:<6} {one[task]:>9.3f} {four[task]:>11.3f} "
              f"{four[task] - one[task]:>+8.3f}")


@torch.inference_mode()
def several_pairs(args: argparse.Namespace) -> None:
    """Four example pairs per episode: canvases over pairs (2x2 white), over pairs and the
    transposed arrangement, and the 3x2 two-pair layout; probabilities averaged over
    canvases that share the answer patches. 3x2 answers (74 px) are resized to 111 px."""
    model = load_model(args.model, device="cpu", dtype="fp32").model
    n = args.episodes * len(TASK_NAMES)
    gen = torch.Generator().manual_seed(episode_seed("eval", 500))
    ids = balanced_task_ids(gen, n, list(range(len(TASK_NAMES))))
    inputs, outputs = generate_cells(gen, ids, 5)
    names = ("1 pair, 1 canvas", "2 pairs, 2 canvases", "4 pairs, 4 canvases",
             "2 pairs x (2x2, 2x2T), 4 canv.", "2 pairs on one 3x2 canvas",
             "4 pairs on two 3x2 canvases", "2 pairs, 2 canvases, pipeline",
             "4 pairs, 4 canvases, pipeline", "1 pair + detail (default path)",
             "4 pairs, pipeline + detail", "4 pairs, pipeline + first pair's detail")
    sums = {k: dict.fromkeys(TASK_NAMES, 0.0) for k in names}
    counts = dict.fromkeys(TASK_NAMES, 0)
    m2, m3 = cv.LAYOUT_2X2.patch_mask(), cv.LAYOUT_3X2.patch_mask()
    for s0 in range(0, n, args.batch):
        sl = slice(s0, min(n, s0 + args.batch))
        b = sl.stop - sl.start
        x, y, tid = inputs[sl], outputs[sl], ids[sl]
        q = x[:, 4]
        c2 = torch.cat([cv.place_cells([x[:, i], y[:, i], q], cv.LAYOUT_2X2) for i in range(4)]
                       + [cv.place_cells([x[:, i], y[:, i], q], cv.LAYOUT_2X2_T)
                          for i in range(2)])
        c3 = torch.cat([cv.place_cells([x[:, i], y[:, i], x[:, i + 1], y[:, i + 1], q],
                                       cv.LAYOUT_3X2) for i in (0, 2)])
        p2 = model.canvas_logits(c2, m2.expand(6 * b, -1)).softmax(-1).unflatten(0, (6, b))
        p3 = model.canvas_logits(c3, m3.expand(2 * b, -1)).softmax(-1).unflatten(0, (2, b))

        def answer(probs: torch.Tensor, canvas: torch.Tensor, layout: cv.Layout,
                   mask: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
            tokens = torch.where(mask, probs.argmax(-1), first.argmax(-1))
            decoded = model.decode_answer(canvas, tokens, mask)  # the model's recipe
            cell = cv.crop_answer(cv.paste_answer(canvas, decoded, mask), layout)
            return F.interpolate(cell, size=(111, 111), mode="bilinear", align_corners=False)

        base = c2[:b]
        tokens = p2[:4].argmax(-1).flatten(0, 1)
        by_pair = window_answers(model, c2[:4 * b], tokens).unflatten(0, (4, b))
        preds = {
            names[6]: restored_mean(by_pair[:2]),
            names[7]: restored_mean(by_pair),
            names[0]: answer(p2[0], base, cv.LAYOUT_2X2, m2, p2[0]),
            names[1]: answer(p2[:2].mean(0), base, cv.LAYOUT_2X2, m2, p2[0]),
            names[2]: answer(p2[:4].mean(0), base, cv.LAYOUT_2X2, m2, p2[0]),
            names[3]: answer(p2[[0, 1, 4, 5]].mean(0), base, cv.LAYOUT_2X2, m2, p2[0]),
            names[4]: answer(p3[0], c3[:b], cv.LAYOUT_3X2, m3, p3[0]),
            names[5]: answer(p3.mean(0), c3[:b], cv.LAYOUT_3X2, m3, p3[0]),
        }
        preds[names[8]] = refine_answers(model, base, preds[names[0]], cv.LAYOUT_2X2)
        every_pair = ExampleCells(x[:, :4], y[:, :4], torch.full((b,), 4))
        preds[names[9]] = refine(model, base, preds[names[7]], cv.LAYOUT_2X2, every_pair).answers
        preds[names[10]] = refine_answers(model, base, preds[names[7]], cv.LAYOUT_2X2)
        for name, pred in preds.items():
            for t, v in zip(tid.tolist(), score(pred.clamp(0, 1), y[:, 4], tid).tolist()):
                sums[name][TASK_NAMES[t]] += v
        for t in tid.tolist():
            counts[TASK_NAMES[t]] += 1
    per = print_means(f"\nseveral example pairs ({args.episodes} x {len(TASK_NAMES)} "
                      f"episodes, 4 pairs each, evaluation seed index 500; rows without "
                      f"'pipeline': probabilities averaged; rows without 'detail': as "
                      f"decoded)", {n: sums[n] for n in names}, counts)
    columns = (names[0], names[8], names[7], names[9], names[10])
    print("\nper family: " + " | ".join(f"({i + 1}) {c}" for i, c in enumerate(columns)))
    print(f"{'family':<18} {'metric':<5}" + "".join(f"{f'({i + 1})':>9}"
                                                   for i in range(len(columns))))
    for task in TASK_NAMES:
        metric = "IoU" if TASKS[task].kind == "mask" else "PSNR"
        print(f"{task:<18} {metric:<5}" + "".join(f"{per[c][task]:>9.3f}" for c in columns))


def cost(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads or torch.get_num_threads())
    prompter = load_model(args.model, device="cpu", dtype="fp32")
    rng = np.random.default_rng(0)

    def img(size: int) -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))

    pair, query = (img(512), img(512)), img(512)
    times: dict[int, list[float]] = {1: [], 4: []}
    for k in (1, 4):  # warm-up
        prompter.prompt([pair], query, ensemble=k)
    for _ in range(args.repeat):
        for k in (1, 4):
            t0 = time.perf_counter()
            prompter.prompt([pair], query, ensemble=k)
            times[k].append(time.perf_counter() - t0)
    t1, t4 = statistics.median(times[1]), statistics.median(times[4])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\ncost: prompt() on {platform.machine()} CPU, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch threads, load average {load:.1f} at the end, "
          f"median of {args.repeat}")
    print(f"1 canvas  {t1 * 1000:7.1f} ms")
    print(f"4 canvases {t4 * 1000:6.1f} ms  (one batched call; ratio {t4 / t1:.2f}x)")
    model = prompter.model
    episode = generate_batch(1, episode_seed("eval", 9_999), layout=cv.LAYOUT_2X2)
    model_times: dict[int, list[float]] = {1: [], 4: []}
    for k in (1, 4):
        predict_answers(model, episode, k)
    for _ in range(args.repeat):
        for k in (1, 4):
            t0 = time.perf_counter()
            predict_answers(model, episode, k)
            model_times[k].append(time.perf_counter() - t0)
    m1, m4 = statistics.median(model_times[1]), statistics.median(model_times[4])
    print(f"model alone (canvas tensors -> answer cell): 1 canvas {m1 * 1000:.1f} ms, "
          f"4 views {m4 * 1000:.1f} ms (ratio {m4 / m1:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--episodes", type=int, default=16, help="episodes per family")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed-index", type=int, default=800,
                        help="first evaluation seed index of the views study")
    parser.add_argument("--check-pipeline", action="store_true",
                        help="views study: also score predict_answers(ensemble=4)")
    parser.add_argument("--skip-views", action="store_true")
    parser.add_argument("--skip-arrangements", action="store_true")
    parser.add_argument("--skip-pairs", action="store_true")
    args = parser.parse_args()
    if not args.skip_views:
        views(args)
    if not args.skip_arrangements:
        quality(args)
    if not args.skip_pairs:
        several_pairs(args)
    cost(args)


if __name__ == "__main__":
    main()
