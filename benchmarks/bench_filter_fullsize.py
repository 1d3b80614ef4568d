"""Filters shown at full size: blur, sharpen and inversion answered at the query's size.

    python benchmarks/bench_filter_fullsize.py --size 888 --pairs 4

Example pair and query are procedural scenes of --size px (a fixed seed per pair); the
example output is the input through a filter (a Gaussian blur of sigma 1.5 / 2.5 / 3.5
cell pixels, i.e. times size/111 image pixels; an unsharp mask of amount 0.8 on the same
blurs; an inversion). ``VisualPrompter.prompt`` shrinks both into 111-px canvas cells,
where the example pair's linear filter is fitted (``visprompt_core.linear_filter``), and
answers at the query's size. PSNR (dB) of each answer against the query through the same
filter at full size, for: the pipeline with "guided" upscaling (the filter applied at the
answer size, the shipped path), the same 111-px answer upscaled by the guided filter
alone (without the filter at the answer size, as before), and by bicubic interpolation;
and the query itself. Then the cost of each upscaling step at --cost-sizes: the filter
at the answer size (``apply_linear_filter_at_scale``) and the guided upsampling it joins,
median of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from visprompt_core import canvas as cv
from visprompt_core.data import ops
from visprompt_core.data.metrics import psnr
from visprompt_core.data.procedural import random_scenes
from visprompt_core.linear_filter import apply_linear_filter_at_scale, fit_linear_filter
from visprompt_core.pipeline import load_model
from visprompt_core.upsample import guided_upsample

Filter = Callable[[torch.Tensor], torch.Tensor]
ROWS = ("guided + filter", "guided alone", "bicubic", "copy query")


def filters(size: int) -> dict[str, Filter]:
    span = size / 111
    out: dict[str, Filter] = {"invert": lambda x: 1 - x}
    for sigma in (1.5, 2.5, 3.5):
        def blur(x: torch.Tensor, s: float = sigma * span) -> torch.Tensor:
            return ops.gaussian_blur(x, torch.full((len(x),), s), radius=int(4 * s))

        def sharpen(x: torch.Tensor, blur: Filter = blur) -> torch.Tensor:
            return (x + 0.8 * (x - blur(x))).clamp(0, 1)

        out[f"blur {sigma}"] = blur
        out[f"sharpen {sigma}"] = sharpen
    return out


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--size", type=int, default=888, help="image side in pixels")
    parser.add_argument("--pairs", type=int, default=4, help="example/query pairs per filter")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--cost-sizes", default="1024,2048,4096",
                        help="comma-separated image sides for the cost rows")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.pairs < 1 or args.size < 111 or args.repeat < 1:
        parser.error("need --pairs >= 1, --size >= 111 and --repeat >= 1")
    prompter = load_model(args.model, device="cpu", dtype="fp32")
    scenes = random_scenes(torch.Generator().manual_seed(args.seed), 2 * args.pairs,
                           size=args.size).image
    print(f"{args.pairs} example/query pairs of {args.size} px, model {args.model}, "
          f"PSNR (dB) against the filtered query at full size")
    print(f"{'filter':<14} " + " ".join(f"{row:>16}" for row in ROWS))
    for name, task in filters(args.size).items():
        scores: dict[str, list[float]] = {row: [] for row in ROWS}
        for i in range(args.pairs):
            example, query = scenes[2 * i:2 * i + 1], scenes[2 * i + 1:2 * i + 2]
            truth = task(query)
            pair = (cv.tensor_to_pil(example[0]), cv.tensor_to_pil(task(example)[0]))
            query_image = cv.tensor_to_pil(query[0])
            answers = {
                "guided + filter": prompter.prompt([pair], query_image, upscale="guided"),
                "bicubic": prompter.prompt([pair], query_image, upscale="bicubic"),
            }
            cell = prompter.prompt([pair], query_image, answer_size=(111, 111),
                                   upscale="bicubic")
            plain = guided_upsample(cv.pil_to_tensor(cell), cv.pil_to_tensor(query_image))
            for row, image in answers.items():
                scores[row].append(float(psnr(cv.pil_to_tensor(image)[None], truth)))
            scores["guided alone"].append(float(psnr(plain[None], truth)))
            scores["copy query"].append(float(psnr(query, truth)))
        print(f"{name:<14} " + " ".join(f"{statistics.mean(scores[row]):>16.2f}"
                                        for row in ROWS))
    cost(args)


def median_seconds(step: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat + 1):  # the first run warms up
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def cost(args: argparse.Namespace) -> None:
    cell = torch.rand(1, 3, 111, 111, generator=torch.Generator().manual_seed(0))
    linear = fit_linear_filter(cell, 1 - cell)
    print(f"\ncost, median of {args.repeat}, {os.cpu_count()} cores, {torch.get_num_threads()} "
          f"torch threads, load {os.getloadavg()[0]:.1f}")
    for side in (int(text) for text in args.cost_sizes.split(",")):
        query = torch.rand(1, 3, side, side)
        at_size = median_seconds(
            lambda query=query: apply_linear_filter_at_scale(linear, query, (111, 111)),
            args.repeat)
        guided = median_seconds(lambda query=query: guided_upsample(cell[0], query[0]),
                                args.repeat)
        print(f"{side}x{side}: filter at the answer size {at_size * 1000:8.1f} ms, "
              f"guided upsampling {guided * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
