"""The decode recipe of one-canvas prompts: whole canvas against the answer window.

    python benchmarks/bench_decode_margin.py --episodes 32

``ModelConfig.decode_margin``: None decodes the whole canvas (the published recipe); k
decodes only the answer block and k tokens of context around it (``decode_window``). For
each recipe, on the same held-out synthetic episodes (evaluation seed index
--seed-index on): mean IoU over the mask-like families, mean PSNR (dB) over the
image-like ones, then the model time of one prompt (2x2 canvas in -> answer cell out,
MAE and decode, batch 1), the recipes timed alternately, median of --repeat rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace

import torch
from bench_ensemble import add_scores, means

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.tasks import TASK_NAMES
from visprompt_core.evaluation import predict_answers
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import load_model

MARGINS: tuple[int | None, ...] = (None, 0, 1, 2)


def label(margin: int | None) -> str:
    return "whole canvas" if margin is None else f"answer block + {margin}"


def with_margin(model: MAEVQGAN, margin: int | None) -> MAEVQGAN:
    """The same weights, decoded by another recipe (the config is only read at decode)."""
    model.model_config = replace(model.model_config, decode_margin=margin)
    return model


@torch.inference_mode()
def quality(model: MAEVQGAN, args: argparse.Namespace) -> None:
    sums = {m: dict.fromkeys(TASK_NAMES, 0.0) for m in MARGINS}
    counts = dict.fromkeys(TASK_NAMES, 0)
    total, done, index = args.episodes * len(TASK_NAMES), 0, args.seed_index
    while done < total:
        n = min(len(TASK_NAMES) * 4, total - done)
        episodes = generate_batch(n, episode_seed("eval", index), layout=cv.LAYOUT_2X2)
        index += 1
        for margin in MARGINS:
            add_scores(sums[margin], predict_answers(with_margin(model, margin), episodes, 1),
                       episodes)
        for tid in episodes.task_ids.tolist():
            counts[TASK_NAMES[tid]] += 1
        done += n
    print(f"quality: {done} held-out episodes ({args.episodes} per family), evaluation seed "
          f"index {args.seed_index} on")
    print(f"{'recipe':<22} {'mean IoU (mask)':>16} {'mean PSNR (image)':>18}")
    for margin, per in sums.items():
        mean_iou, mean_psnr = means({t: per[t] / counts[t] for t in TASK_NAMES})
        print(f"{label(margin):<22} {mean_iou:>16.3f} {mean_psnr:>18.2f}")


@torch.inference_mode()
def cost(model: MAEVQGAN, args: argparse.Namespace) -> None:
    episodes = generate_batch(1, episode_seed("eval", args.seed_index), layout=cv.LAYOUT_2X2)
    canvas = episodes.canvas
    mask = cv.LAYOUT_2X2.patch_mask()

    def answer(margin: int | None) -> None:
        predict_answers(with_margin(model, margin), episodes, 1)

    times: dict[int | None, list[float]] = {m: [] for m in MARGINS}
    for margin in MARGINS:
        answer(margin)  # warm-up
    for _ in range(args.repeat):
        for margin in MARGINS:
            start = time.perf_counter()
            answer(margin)
            times[margin].append(time.perf_counter() - start)
    mae = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        model.canvas_logits(canvas, mask[None])
        mae.append(time.perf_counter() - start)
    whole = statistics.median(times[None])
    print(f"\ncost: one prompt, batch 1, median of {args.repeat} (load "
          f"{os.getloadavg()[0]:.2f}); the MAE alone {statistics.median(mae) * 1000:.1f} ms")
    for margin, values in times.items():
        median = statistics.median(values)
        print(f"{label(margin):<22} {median * 1000:8.1f} ms   {whole / median:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--episodes", type=int, default=32, help="per task family")
    parser.add_argument("--seed-index", type=int, default=1200,
                        help="first evaluation seed index of the episodes")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, model {args.model}")
    model = load_model(args.model, device="cpu", dtype="fp32").model
    if not args.skip_quality:
        quality(model, args)
    cost(model, args)


if __name__ == "__main__":
    main()
