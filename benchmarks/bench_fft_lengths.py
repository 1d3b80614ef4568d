"""Linear-filter answers at full size: exact padded FFT lengths against fast ones.

    python benchmarks/bench_fft_lengths.py
    python benchmarks/bench_fft_lengths.py --sizes 2048x1536 4096x3072 --repeat 5

``apply_linear_filter_at_scale`` pads each plane by the kernel's reach and, since the
eighteenth session, on to a length with no prime factor above 5
(``linear_filter.fast_fft_length``). The exact lengths come back by replacing that
function with one that keeps them. Side by side, alternating:

* the filter alone, on a query of noise, for three filters fitted on 111-px procedural
  cells (a blur, an unsharp mask, an inversion): median ms, and how the two answers
  differ once clamped and rounded to 8 bits (largest difference, share of values);
* whole prompts of the default model whose answers take that path (the synthetic blur and
  denoise families, generator seed 2947, the query resized to the size): median ms and
  the pixels that differ.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core import linear_filter
from visprompt_core.data import TASK_NAMES, ops
from visprompt_core.data.episodes import generate_cells
from visprompt_core.data.procedural import random_scenes
from visprompt_core.memory import keep_freed_memory
from visprompt_core.pipeline import load_model


@contextmanager
def exact_lengths() -> Iterator[None]:
    """The padded lengths as they were: no rounding up to fast FFT lengths."""
    fast = linear_filter.fast_fft_length
    linear_filter.fast_fft_length = lambda n, most: n
    try:
        yield
    finally:
        linear_filter.fast_fft_length = fast


def side_by_side(run: Callable[[], object], repeat: int) -> dict[str, tuple[float, object]]:
    """Median seconds and last result of ``run`` with exact and with fast lengths."""
    times: dict[str, list[float]] = {"exact": [], "fast": []}
    results: dict[str, object] = {}
    for _ in range(repeat + 1):  # the first round warms up
        for name in ("exact", "fast"):
            start = time.perf_counter()
            if name == "exact":
                with exact_lengths():
                    results[name] = run()
            else:
                results[name] = run()
            times[name].append(time.perf_counter() - start)
    return {n: (statistics.median(times[n][1:]), results[n]) for n in ("exact", "fast")}


def levels(x: torch.Tensor) -> np.ndarray:
    return np.asarray(cv.tensor_to_pil(x.clamp(0, 1)), dtype=np.int16)


def filters() -> dict[str, linear_filter.LinearFilter]:
    cells = random_scenes(torch.Generator().manual_seed(2948), 2, size=111).image
    blurred = ops.gaussian_blur(cells, torch.full((2,), 2.5))
    return {
        "blur": linear_filter.fit_linear_filter(cells, blurred),
        "unsharp": linear_filter.fit_linear_filter(cells, cells + 0.8 * (cells - blurred)),
        "inversion": linear_filter.fit_linear_filter(cells, 1 - cells),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1024x768", "4096x3072"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()
    print(f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load {os.getloadavg()[0]:.2f}")
    fitted = filters()
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        query = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
        for name, linear in fitted.items():
            one = linear.select(torch.tensor([0]))
            runs = side_by_side(
                lambda one=one, query=query: linear_filter.apply_linear_filter_at_scale(
                    one, query, (111, 111)),
                args.repeat)
            (exact_s, exact), (fast_s, fast) = runs["exact"], runs["fast"]
            diff = np.abs(levels(exact[0]) - levels(fast[0]))
            print(f"{size:>10} filter {name:<10} exact {exact_s * 1000:7.1f} ms, fast "
                  f"{fast_s * 1000:7.1f} ms ({exact_s / fast_s:.2f}x); 8-bit values differing "
                  f"{(diff > 0).mean():.4%}, at most by {diff.max()}")
    prompter = load_model("default", device="cpu")
    gen = torch.Generator().manual_seed(2947)
    inputs, outputs = generate_cells(gen, torch.arange(len(TASK_NAMES)), 2, size=512)
    for family in ("blur", "denoise"):
        tid = TASK_NAMES.index(family)
        pair = (cv.tensor_to_pil(inputs[tid, 0]), cv.tensor_to_pil(outputs[tid, 0]))
        for size in args.sizes:
            w, h = map(int, size.split("x"))
            query = cv.tensor_to_pil(inputs[tid, 1]).resize((w, h), Image.Resampling.BICUBIC)
            runs = side_by_side(lambda pair=pair, query=query: prompter.prompt([pair], query),
                                args.repeat)
            (exact_s, exact), (fast_s, fast) = runs["exact"], runs["fast"]
            a, b = (np.asarray(image, dtype=np.int16) for image in (exact, fast))
            diff = np.abs(a - b)
            print(f"{size:>10} prompt {family:<10} exact {exact_s * 1000:7.1f} ms, fast "
                  f"{fast_s * 1000:7.1f} ms ({exact_s / fast_s:.2f}x); pixels differing "
                  f"{(diff > 0).any(-1).mean():.4%}, at most by {diff.max()}")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
