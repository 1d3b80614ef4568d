"""Flatting at the pictures' own size: drawn antialiased line art, and the pair gate.

    python benchmarks/bench_flatting.py
    python benchmarks/bench_flatting.py --drawn-only --sizes 640 --line 5

Drawn: ellipse and box outlines drawn at 4x their size and reduced with a box filter
(``data.line_art``: antialiased lines, --line px wide at every size), an example pair whose output
fills its outlines and a query of other shapes, at each of --sizes. Printed: the answer
of ``VisualPrompter.prompt`` (the default path) against the filled query, copying the
query, and the prompt's time (median of --repeat).

Gate: ``flatting.pair_fills`` on held-out synthetic example pairs rendered at each of
--gate-sizes (``generate_cells``, generator seed --seed, --pairs per family): how many
pass per family, and the median time per pair of those that pass its quick test (the
output keeps half the input's pixels) and so cost a fill.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.data.line_art import Shape, draw_line_art
from visprompt_core.data.metrics import psnr
from visprompt_core.pipeline import load_model

# The shapes on a 512-px picture, as fractions of it.
SHOWN: list[Shape] = [("ellipse", (60 / 512, 80 / 512, 260 / 512, 300 / 512), (200, 30, 40)),
                      ("box", (300 / 512, 120 / 512, 460 / 512, 420 / 512), (30, 60, 200))]
ASKED: list[Shape] = [("ellipse", (90 / 512, 50 / 512, 420 / 512, 200 / 512), (20, 140, 60)),
                      ("ellipse", (140 / 512, 260 / 512, 330 / 512, 470 / 512),
                       (120, 40, 160)),
                      ("box", (360 / 512, 250 / 512, 480 / 512, 330 / 512), (200, 120, 0))]


def draw(shapes: list[Shape], size: int, line: int, filled: bool) -> Image.Image:
    return draw_line_art(shapes, (size, size), line, filled)


def drawn_rows(args: argparse.Namespace) -> None:
    prompter = load_model(args.model, device="cpu")
    print(f"\ndrawn line art, {args.line}-px antialiased lines; PSNR (dB) against the "
          f"filled query")
    print(f"{'size':>6} {'answer':>8} {'copy query':>11} {'prompt s':>9}")
    for size in args.sizes:
        pair = draw(SHOWN, size, args.line, False), draw(SHOWN, size, args.line, True)
        query, truth = draw(ASKED, size, args.line, False), draw(ASKED, size, args.line, True)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            answer = prompter.prompt([pair], query)
            times.append(time.perf_counter() - start)
        wanted = cv.pil_to_tensor(truth)[None]
        scores = [float(psnr(cv.pil_to_tensor(image)[None], wanted)) for image in (answer, query)]
        print(f"{size:>6} {scores[0]:>8.2f} {scores[1]:>11.2f} {statistics.median(times):>9.2f}")


def gate_rows(args: argparse.Namespace) -> None:
    from visprompt_core.data.episodes import generate_cells
    from visprompt_core.data.tasks import TASK_NAMES
    from visprompt_core.flatting import keeps_most, pair_fills

    for seed, size in enumerate(args.gate_sizes, start=args.seed):
        gen = torch.Generator().manual_seed(seed)
        families = torch.arange(len(TASK_NAMES)).repeat_interleave(args.pairs)
        inputs, outputs = generate_cells(gen, families, 1, size=size)
        print(f"\npair gate at {size} px (generator seed {seed}): passed of {args.pairs}; "
              f"ms per pair that costs a fill")
        for family, name in enumerate(TASK_NAMES):
            passed, costly = 0, []
            for row in (families == family).nonzero().flatten().tolist():
                shown, made = inputs[row, 0], outputs[row, 0]
                start = time.perf_counter()
                passed += pair_fills(shown, made)
                if keeps_most(shown, made):
                    costly.append(time.perf_counter() - start)
            cost = f"{statistics.median(costly) * 1000:.0f}" if costly else "-"
            print(f"  {name:<20} {passed:>3} {len(costly):>4} fill(s) {cost:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--line", type=int, default=6, help="line width, px")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gate-sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--pairs", type=int, default=12, help="per family and size")
    parser.add_argument("--seed", type=int, default=2811)
    parser.add_argument("--drawn-only", action="store_true")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"load {os.getloadavg()[0]:.2f}")
    drawn_rows(args)
    if not args.drawn_only:
        gate_rows(args)


if __name__ == "__main__":
    main()
