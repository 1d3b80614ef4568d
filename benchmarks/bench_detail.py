"""Query detail transfer: answer quality with and without it, and what it costs.

    python benchmarks/bench_detail.py --episodes 32 --seed-index 1600

Quality: held-out synthetic episodes (evaluation seed index --seed-index on), the same
for every row. Answers of 1 canvas (the default path) and of 4 views (the pipeline's
ensemble), each as decoded and with the query's detail carried in
(``visprompt_core.detail``) at every (radius, eps) of --settings: as the pipeline does
(``refine_cells``: ``transfer_plan``'s colours, or colours and contrast for line art, the
latter in its own windows, ``CONTRAST_RADIUS`` / ``CONTRAST_EPS``; the query filled
along its lines where the example pair fills its outlines, ``visprompt_core.flatting``,
or else snapped to the query's regions where the pair paints regions,
``visprompt_core.regions``; then the example pair's linear filter where it explains the
pair, ``visprompt_core.linear_filter``), the same without the filling and the snapping
(the tenth session's recipe), without those and the filter (the ninth session's), with
colours alone (the eighth session's), and with colours alone at full weight
("ungated"); mean IoU over the
mask-like families, mean PSNR (dB) over the image-like ones; then per family (first
setting), with the "copy the query" and "copy the example output" baselines, the mean
``pointwise_fit`` of each family's example pairs, of colours and of colours and contrast,
and their mean ``filter_fit``.

Cost: ``VisualPrompter.prompt`` (PIL in -> PIL out, 512x512 images, one example pair
that turns grey, so the transfer runs at full weight after the filter's fit; a pair that
moves pixels skips the transfer, one that is a linear filter takes the filter instead),
detail transfer off and on, ``ensemble=1`` and ``ensemble=4``, the four timed in turn,
median of --repeat rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
from bench_ensemble import add_scores, means
from PIL import Image, ImageOps

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.tasks import TASK_NAMES, TASKS
from visprompt_core.detail import (
    follow_plan,
    pointwise_fit,
    refine_cells,
    transfer_detail,
    transfer_plan,
    transfer_weight,
)
from visprompt_core.evaluation import predict_answers
from visprompt_core.linear_filter import filter_fit, fit_linear_filter
from visprompt_core.pipeline import VisualPrompter, load_model


def parse_settings(text: str) -> list[tuple[int, float]]:
    """"12:3e-4,8:1e-3" -> [(12, 0.0003), (8, 0.001)]."""
    settings = []
    for item in text.split(","):
        radius, eps = item.split(":")
        settings.append((int(radius), float(eps)))
    return settings


Variant = tuple[int, tuple[int, float] | None, str]
# How a setting's answer is refined: as the pipeline does (``refine_cells``), the same
# without the filling and the region snapping (the tenth session's recipe), without those
# and the linear filter (the ninth session's: colours, or colours and contrast for line art:
# ``transfer_plan``), colours alone (the eighth session's recipe), colours alone at full
# weight.
MODES = ("recipe", "no regions", "no filter", "colours only", "ungated")


@torch.inference_mode()
def quality(prompter: VisualPrompter, args: argparse.Namespace) -> None:
    model = prompter.model
    settings = parse_settings(args.settings)
    names: list[Variant] = []
    for views in (1, 4):
        names.append((views, None, "recipe"))
        names += [(views, s, mode) for s in settings for mode in MODES]
    sums = {n: dict.fromkeys(TASK_NAMES, 0.0) for n in names}
    baselines = {b: dict.fromkeys(TASK_NAMES, 0.0) for b in ("copy query", "copy example")}
    counts = dict.fromkeys(TASK_NAMES, 0)
    fits = {kind: dict.fromkeys(TASK_NAMES, 0.0) for kind in ("colours", "contrast", "filter")}
    layout = cv.LAYOUT_2X2
    rows, cols = layout.query.slices()
    total, done, index = args.episodes * len(TASK_NAMES), 0, args.seed_index
    start = time.perf_counter()
    while done < total:
        n = min(len(TASK_NAMES) * 4, total - done)
        episodes = generate_batch(n, episode_seed("eval", index), layout=layout)
        index += 1
        seen = model.reconstruct_region(episodes.canvas, rows, cols)
        example_in, example_out = episodes.examples_in[:, 0], episodes.examples_out[:, 0]
        plans = {s: transfer_plan(example_in, example_out, *s) for s in settings}
        colour_weights = {s: transfer_weight(pointwise_fit(example_in, example_out, *s))
                          for s in settings}
        linear = fit_linear_filter(example_in, example_out)
        for kind, fit in (
                ("colours", pointwise_fit(example_in, example_out, *settings[0])),
                ("contrast", pointwise_fit(example_in, example_out, *settings[0],
                                           contrast=True)),
                ("filter", filter_fit(linear, example_in, example_out))):
            for tid, value in zip(episodes.task_ids.tolist(), fit.tolist()):
                fits[kind][TASK_NAMES[tid]] += value
        for views in (1, 4):
            raw = predict_answers(model, episodes, views, detail_transfer=False)
            add_scores(sums[(views, None, "recipe")], raw, episodes)
            for setting in settings:
                recipe = refine_cells(raw, example_in, example_out, episodes.query,
                                      seen.__getitem__, *setting).answers
                add_scores(sums[(views, setting, "recipe")], recipe, episodes)
                no_regions = refine_cells(raw, example_in, example_out, episodes.query,
                                          seen.__getitem__, *setting, regions=False).answers
                add_scores(sums[(views, setting, "no regions")], no_regions, episodes)
                weight, contrast = plans[setting]
                no_filter = follow_plan(raw, seen, episodes.query, *setting, weight, contrast)
                add_scores(sums[(views, setting, "no filter")], no_filter, episodes)
                for mode, weight in (("colours only", colour_weights[setting]),
                                     ("ungated", None)):
                    refined = transfer_detail(raw, seen, episodes.query, *setting, weight)
                    add_scores(sums[(views, setting, mode)], refined, episodes)
        add_scores(baselines["copy query"], episodes.query, episodes)
        add_scores(baselines["copy example"], episodes.examples_out[:, 0], episodes)
        for tid in episodes.task_ids.tolist():
            counts[TASK_NAMES[tid]] += 1
        done += n
    print(f"quality: {done} held-out episodes ({args.episodes} per family), evaluation seed "
          f"index {args.seed_index} on, model {args.model} "
          f"({time.perf_counter() - start:.0f} s)")

    def label(name: Variant) -> str:
        views, setting, mode = name
        head = "1 canvas" if views == 1 else f"{views} views"
        if setting is None:
            return f"{head}, as decoded"
        tail = "" if mode == "recipe" else f", {mode}"
        return f"{head} + detail r{setting[0]} eps {setting[1]:g}{tail}"

    per = {label(n): {t: sums[n][t] / counts[t] for t in TASK_NAMES} for n in names}
    per.update({b: {t: s[t] / counts[t] for t in TASK_NAMES} for b, s in baselines.items()})
    print(f"{'variant':<52} {'mean IoU (mask)':>16} {'mean PSNR (image)':>18}")
    for name, values in per.items():
        mean_iou, mean_psnr = means(values)
        print(f"{name:<52} {mean_iou:>16.3f} {mean_psnr:>18.2f}")
    first = settings[0]
    columns = [label((1, None, "recipe")), label((1, first, "colours only")),
               label((1, first, "no filter")), label((1, first, "no regions")),
               label((1, first, "recipe")),
               label((4, None, "recipe")), label((4, first, "recipe")), "copy query",
               "copy example"]
    print(f"\nper family (detail r{first[0]} eps {first[1]:g}; fit: the example pairs' "
          f"pointwise_fit, of colours and of colours + contrast, and their filter_fit):")
    print(f"{'family':<18} {'metric':<5} {'1 canvas':>9} {'colours':>8} {'no filt':>8} "
          f"{'no reg':>8} {'+detail':>8} {'4 views':>8} {'+detail':>8} {'copy q':>7} "
          f"{'copy ex':>8} "
          f"{'fit':>5} {'+contr':>6} {'filter':>6}")
    for task in TASK_NAMES:
        metric = "IoU" if TASKS[task].kind == "mask" else "PSNR"
        values = " ".join(f"{per[c][task]:>8.3f}" for c in columns)
        print(f"{task:<18} {metric:<5} {values} {fits['colours'][task] / counts[task]:>5.2f} "
              f"{fits['contrast'][task] / counts[task]:>6.2f} "
              f"{fits['filter'][task] / counts[task]:>6.2f}")


def cost(prompter: VisualPrompter, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)

    def image() -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))

    example = image()
    pair = (example, ImageOps.grayscale(example).convert("RGB"))  # colours: full weight
    query = image()
    variants = [(k, detail) for k in (1, 4) for detail in (False, True)]
    times: dict[tuple[int, bool], list[float]] = {v: [] for v in variants}
    for rounds in range(args.repeat + 1):  # round 0 warms up
        for k, detail in variants:
            prompter.detail_transfer = detail
            start = time.perf_counter()
            prompter.prompt([pair], query, ensemble=k)
            if rounds:
                times[(k, detail)].append(time.perf_counter() - start)
    median = {v: statistics.median(t) * 1000 for v, t in times.items()}
    print(f"\ncost: prompt() on {platform.machine()} CPU, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.1f} "
          f"at the end, median of {args.repeat}")
    for k in (1, 4):
        off, on = median[(k, False)], median[(k, True)]
        print(f"ensemble={k}: as decoded {off:6.1f} ms, + detail {on:6.1f} ms "
              f"({on / off:.2f}x)")
    print(f"4 views / 1 canvas: {median[(4, False)] / median[(1, False)]:.2f}x as decoded, "
          f"{median[(4, True)] / median[(1, True)]:.2f}x with detail")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--episodes", type=int, default=16, help="per task family")
    parser.add_argument("--seed-index", type=int, default=1600,
                        help="first evaluation seed index of the episodes")
    parser.add_argument("--settings", default="12:3e-4",
                        help="radius:eps pairs to score, comma-separated; the first is "
                             "the per-family table's and the cost's (default: the "
                             "embedded model's recipe)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    prompter = load_model(args.model, device="cpu", dtype="fp32")
    radius, eps = parse_settings(args.settings)[0]
    config = prompter.model.model_config
    prompter.model.model_config = replace(config, detail_radius=radius, detail_eps=eps)
    if not args.skip_quality:
        quality(prompter, args)
    cost(prompter, args)


if __name__ == "__main__":
    main()
