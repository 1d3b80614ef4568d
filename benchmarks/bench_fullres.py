"""Full-resolution answers: bicubic vs guided vs tiled upsampling at 1024x1024.

    python benchmarks/bench_fullres.py --episodes 8 --size 1024

Held-out synthetic episodes of the mask-like families rendered at --size px (example pair
and query at full size; the pipeline shrinks them into the 111-px canvas cells). For each
upscale mode of ``VisualPrompter.prompt`` the answer at the query's size is compared with
the true full-size answer: foreground IoU and boundary F-score (boundary pixels matched
within 2 px). Same episodes, same model call for every mode except "tiled" (which answers
each tile of the query separately).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import balanced_task_ids, episode_seed, generate_cells
from visprompt_core.data.metrics import binarize
from visprompt_core.data.tasks import MASK_TASKS, TASK_NAMES, TASKS
from visprompt_core.evaluation import boundary_fscore
from visprompt_core.pipeline import load_model

MODES = ("bicubic", "guided", "tiled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--episodes", type=int, default=8, help="episodes per family")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--seed-index", type=int, default=100,
                        help="index of the held-out evaluation seed")
    args = parser.parse_args()
    prompter = load_model(args.model, device="cpu", dtype="fp32")
    tasks = list(MASK_TASKS)
    gen = torch.Generator().manual_seed(episode_seed("eval", args.seed_index))
    pool = [TASK_NAMES.index(t) for t in tasks]
    task_ids = balanced_task_ids(gen, args.episodes * len(tasks), pool)
    start = time.perf_counter()
    inputs, outputs = generate_cells(gen, task_ids, 2, size=args.size)
    print(f"rendered {len(task_ids)} episodes at {args.size} px "
          f"in {time.perf_counter() - start:.0f} s")
    sums = {(t, m, k): 0.0 for t in tasks for m in MODES for k in ("iou", "bf", "s")}
    counts = dict.fromkeys(tasks, 0)
    for i, tid in enumerate(task_ids.tolist()):
        name = TASK_NAMES[tid]
        dark = TASKS[name].dark_fg
        pair = (cv.tensor_to_pil(inputs[i, 0]), cv.tensor_to_pil(outputs[i, 0]))
        query = cv.tensor_to_pil(inputs[i, 1])
        truth = binarize(outputs[i, 1][None], dark)
        for mode in MODES:
            t0 = time.perf_counter()
            answer = prompter.prompt([pair], query, upscale=mode)
            took = time.perf_counter() - t0
            pred = binarize(cv.pil_to_tensor(answer)[None], dark)
            inter = (pred & truth).sum().item()
            union = (pred | truth).sum().item()
            sums[(name, mode, "iou")] += inter / union if union else 1.0
            sums[(name, mode, "bf")] += boundary_fscore(pred, truth, 2).item()
            sums[(name, mode, "s")] += took
        counts[name] += 1
    load = os.getloadavg()[0]
    print(f"model {args.model}, {args.episodes} episodes per family, query {args.size}x"
          f"{args.size}, tiles {args.tile} px (25% overlap); times: 2-core CPU, load "
          f"{load:.1f} at the end")
    head = f"{'family':<12}" + "".join(f"{m + ' IoU':>13}{m + ' BF':>12}" for m in MODES)
    print(head)
    totals = {(m, k): 0.0 for m in MODES for k in ("iou", "bf", "s")}
    for t in tasks:
        n = counts[t]
        row = f"{t:<12}"
        for m in MODES:
            row += f"{sums[(t, m, 'iou')] / n:>13.3f}{sums[(t, m, 'bf')] / n:>12.3f}"
            for k in ("iou", "bf", "s"):
                totals[(m, k)] += sums[(t, m, k)] / n / len(tasks)
        print(row)
    row = f"{'mean':<12}"
    for m in MODES:
        row += f"{totals[(m, 'iou')]:>13.3f}{totals[(m, 'bf')]:>12.3f}"
    print(row)
    print("seconds per prompt: " + ", ".join(f"{m} {totals[(m, 's')]:.2f}" for m in MODES))


if __name__ == "__main__":
    main()
