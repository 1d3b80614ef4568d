"""The box fit (``visprompt_core.boxes``) on held-out episodes: its gate per family, and
the answers with and without it.

    python benchmarks/bench_boxes.py --episodes 32 --seed-index 2920

Part 1, the gate: for ``--episodes`` episodes per family in 2x2 and in 3x2 (evaluation
seeds), how many prompts' example outputs are all one filled rectangle
(``find_boxes``), and how many of those the colour maps take first.
Part 2, the answers: the same 2x2 episodes answered as the evaluation answers them
(``detail.refine_cells`` with the model's recipe), with the box fit and without it; IoU
per family where the two differ, with the count of episodes better and worse, and the
time of the refinement either way.
"""

from __future__ import annotations

import argparse
import time

import torch

from visprompt_core import canvas as cv
from visprompt_core.boxes import find_boxes
from visprompt_core.colour_map import fit_colour_maps
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import score
from visprompt_core.data.tasks import TASK_NAMES
from visprompt_core.detail import refine_cells
from visprompt_core.evaluation import predict_answers
from visprompt_core.linear_filter import stack_pairs
from visprompt_core.pipeline import load_model


def gate_part(episodes_per_family: int, seed_index: int) -> None:
    passed = dict.fromkeys(TASK_NAMES, 0)
    mapped = dict.fromkeys(TASK_NAMES, 0)
    for offset, layout in enumerate((cv.LAYOUT_2X2, cv.LAYOUT_3X2)):
        episodes = generate_batch(episodes_per_family * len(TASK_NAMES),
                                  episode_seed("eval", seed_index + offset), layout=layout)
        inputs, outputs, real = stack_pairs(episodes.examples_in, episodes.examples_out)
        found = find_boxes(outputs, real).found
        maps = fit_colour_maps(inputs, outputs, real).explains()
        for name, box, colour in zip(episodes.names, found.tolist(), maps.tolist()):
            passed[name] += box
            mapped[name] += box and colour
    print(f"gate: {episodes_per_family} episodes per family in 2x2 and in 3x2 (seed indices "
          f"{seed_index}, {seed_index + 1}): prompts whose example outputs are boxes "
          f"(of them, taken by the colour map first)")
    for name in TASK_NAMES:
        if passed[name]:
            print(f"  {name:<18}{passed[name]:>4} / {2 * episodes_per_family}"
                  f"   ({mapped[name]})")
    others = [name for name in TASK_NAMES if not passed[name]]
    print(f"  none in: {', '.join(others)}")


def answers_part(model_name: str, episodes_per_family: int, seed_index: int,
                 option: str = "boxes", label: str = "the box fit") -> None:
    """2x2 episodes refined as the evaluation refines them, with and without one of
    ``refine_cells``'s refinements (its keyword ``option``, named ``label``): the score
    per family where the answers differ, and the refinement's time either way."""
    model = load_model(model_name, device="cpu").model
    config = model.model_config
    episodes = generate_batch(episodes_per_family * len(TASK_NAMES),
                              episode_seed("eval", seed_index))
    with torch.inference_mode():
        raw = predict_answers(model, episodes, detail_transfer=False)
        seen = model.reconstruct_region(episodes.canvas, *cv.LAYOUT_2X2.query.slices())
        results, seconds = {}, {}
        for used in (False, True):
            start = time.perf_counter()
            results[used] = refine_cells(raw, episodes.examples_in[:, 0],
                                         episodes.examples_out[:, 0], episodes.query,
                                         seen.__getitem__, config.detail_radius,
                                         config.detail_eps, **{option: used}).answers
            seconds[used] = time.perf_counter() - start
    ids = episodes.task_ids
    before, after = (score(results[b], episodes.answer, ids) for b in (False, True))
    print(f"\nanswers: {len(ids)} episodes (seed index {seed_index}), refinement without / "
          f"with {label}")
    for tid, name in enumerate(TASK_NAMES):
        rows = ids == tid
        if torch.equal(results[False][rows], results[True][rows]):
            continue
        b, a = before[rows], after[rows]
        print(f"  {name:<18}{float(b.mean()):>8.3f} -> {float(a.mean()):.3f}   better "
              f"{int((a > b + 1e-6).sum())}, worse {int((a < b - 1e-6).sum())} of {len(b)}")
    print(f"  every other family: identical answers. Refinement time {seconds[False]:.1f} s "
          f"without, {seconds[True]:.1f} s with")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--episodes", type=int, default=32, help="per family and layout")
    parser.add_argument("--seed-index", type=int, default=2920)
    args = parser.parse_args()
    gate_part(args.episodes, args.seed_index)
    answers_part(args.model, args.episodes, args.seed_index)


if __name__ == "__main__":
    main()
