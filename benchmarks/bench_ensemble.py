"""Ensembling: answer quality of 1 vs several canvases, and the cost of one batched call.

    python benchmarks/bench_ensemble.py --episodes 16

Quality: held-out synthetic episodes (evaluation seeds), the same episodes for every
variant; each variant is a subset of the arrangements (0 = 2x2 white, 1 = transposed 2x2
white, 2 = 2x2 black, 3 = transposed 2x2 black) and a rule for combining the per-patch
distributions. Mean IoU over the mask-like families, mean PSNR (dB) over the image-like
ones, then the per-family table of 1 vs 4 canvases.

Cost: ``VisualPrompter.prompt`` (PIL in -> PIL out, one example pair, 512x512 query) with
``ensemble=1`` and ``ensemble=4`` timed alternately, median of --repeat runs each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch
from PIL import Image

from visprompt_core.data.tasks import TASKS
from visprompt_core.evaluation import arrangement_study
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--episodes", type=int, default=16, help="episodes per family")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args)
    cost(args)


if __name__ == "__main__":
    main()
