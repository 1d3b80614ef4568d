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
import torch.nn.functional as F
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import balanced_task_ids, episode_seed, generate_cells
from visprompt_core.data.metrics import score
from visprompt_core.data.tasks import TASK_NAMES, TASKS
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
             "4 pairs on two 3x2 canvases")
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
            decoded = model.decode(model.context_tokens(canvas, tokens, mask))
            cell = cv.crop_answer(cv.paste_answer(canvas, decoded, mask), layout)
            return F.interpolate(cell, size=(111, 111), mode="bilinear", align_corners=False)

        base = c2[:b]
        preds = {
            names[0]: answer(p2[0], base, cv.LAYOUT_2X2, m2, p2[0]),
            names[1]: answer(p2[:2].mean(0), base, cv.LAYOUT_2X2, m2, p2[0]),
            names[2]: answer(p2[:4].mean(0), base, cv.LAYOUT_2X2, m2, p2[0]),
            names[3]: answer(p2[[0, 1, 4, 5]].mean(0), base, cv.LAYOUT_2X2, m2, p2[0]),
            names[4]: answer(p3[0], c3[:b], cv.LAYOUT_3X2, m3, p3[0]),
            names[5]: answer(p3.mean(0), c3[:b], cv.LAYOUT_3X2, m3, p3[0]),
        }
        for name, pred in preds.items():
            for t, v in zip(tid.tolist(), score(pred.clamp(0, 1), y[:, 4], tid).tolist()):
                sums[name][TASK_NAMES[t]] += v
        for t in tid.tolist():
            counts[TASK_NAMES[t]] += 1
    print(f"\nseveral example pairs ({args.episodes} x {len(TASK_NAMES)} episodes, 4 pairs "
          f"each, evaluation seed index 500)")
    print(f"{'variant':<32} {'mean IoU (mask)':>16} {'mean PSNR (image)':>18}")
    for name in names:
        per = {t: sums[name][t] / counts[t] for t in TASK_NAMES if counts[t]}
        m_iou, m_psnr = means(per)
        print(f"{name:<32} {m_iou:>16.3f} {m_psnr:>18.2f}")


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
    parser.add_argument("--skip-pairs", action="store_true")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args)
    if not args.skip_pairs:
        several_pairs(args)
    cost(args)


if __name__ == "__main__":
    main()
