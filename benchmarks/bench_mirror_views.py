"""Mirrored views: answer the same prompt with every cell mirrored, un-mirror, average pixels.

    python benchmarks/bench_mirror_views.py                     # 32 episodes per family
    python benchmarks/bench_mirror_views.py --batches 2 --repeat 5

A candidate for issue #7's ensembling, not in the pipeline yet. Mirroring every cell of
a 2x2 canvas (both examples and the query) keeps the canvas in the layout the default
model was trained on, and every synthetic task commutes with it (a mirrored example
teaches the mirrored task; un-mirroring its answer gives the original task's answer), so
the views are equally valid prompts. Tokens are not mirror-symmetric, so the views are
combined after decoding: the un-mirrored answer cells are averaged in pixel space
(mask-like tasks are then scored by the usual 0.5 threshold).

Prints mean IoU (mask-like families) and PSNR (image-like) for: the plain canvas, the
horizontally mirrored one alone, the mean of those two, and the mean of all four views
(none, horizontal, vertical, both); per mask-like family too. Then the time of one canvas
against the four views in one batched call, alternating, medians (CPU, fp32).
"""

from __future__ import annotations

import argparse
import time

import torch

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import EpisodeBatch, episode_seed, generate_batch
from visprompt_core.data.metrics import score
from visprompt_core.data.tasks import TASK_NAMES, TASKS
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import load_model

LAYOUT = cv.LAYOUT_2X2
VIEWS = {"none": (), "horizontal": (-1,), "vertical": (-2,), "both": (-2, -1)}


def mirror(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return t.flip(dims) if dims else t


@torch.inference_mode()
def answers(model: MAEVQGAN, episodes: EpisodeBatch, views: list[tuple[int, ...]]
            ) -> list[torch.Tensor]:
    """One batched call over every view of every episode -> un-mirrored answer cells."""
    cells = [episodes.examples_in[:, 0], episodes.examples_out[:, 0], episodes.query]
    canvases = torch.cat([cv.place_cells([mirror(c, d) for c in cells], LAYOUT, background=1.0)
                          for d in views])
    mask = LAYOUT.patch_mask().to(canvases.device)
    logits = model.canvas_logits(canvases, mask.expand(len(canvases), -1))
    decoded = model.decode(model.context_tokens(canvases, logits.argmax(-1), mask))
    answer = cv.crop_answer(cv.paste_answer(canvases.float(), decoded, mask), LAYOUT)
    return [mirror(a, d).clamp(0, 1) for a, d in zip(answer.chunk(len(views)), views)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=8,
                        help="batches of 76 held-out episodes (4 per family)")
    parser.add_argument("--seed-index", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=12, help="timed calls of each kind")
    args = parser.parse_args()
    model = load_model("default", device="cpu", dtype="fp32").model.eval()
    totals: dict[str, dict[int, float]] = {}
    counts: dict[int, int] = {}
    for b in range(args.batches):
        episodes = generate_batch(76, episode_seed("eval", args.seed_index + b), device="cpu",
                                  layout=LAYOUT)
        plain, horizontal, vertical, both = answers(model, episodes, list(VIEWS.values()))
        combos = {"plain canvas": plain, "horizontal mirror alone": horizontal,
                  "mean of plain + horizontal": (plain + horizontal) / 2,
                  "mean of 4 views": (plain + horizontal + vertical + both) / 4}
        for name, pred in combos.items():
            scores = score(pred, episodes.answer.float(), episodes.task_ids)
            row = totals.setdefault(name, {})
            for tid, value in zip(episodes.task_ids.tolist(), scores.tolist()):
                row[tid] = row.get(tid, 0.0) + value
        for tid in episodes.task_ids.tolist():
            counts[tid] = counts.get(tid, 0) + 1
    mask_ids = [t for t in sorted(counts) if TASKS[TASK_NAMES[t]].kind == "mask"]
    image_ids = [t for t in sorted(counts) if TASKS[TASK_NAMES[t]].kind == "image"]
    print(f"{sum(counts.values())} held-out episodes ({args.batches * 4} per family), "
          f"evaluation seed index {args.seed_index}")
    print(f"{'answer':<28} {'IoU':>6} {'PSNR':>6}  " + " ".join(
        f"{TASK_NAMES[t]:>10}" for t in mask_ids))
    for name, row in totals.items():
        iou = sum(row[t] / counts[t] for t in mask_ids) / len(mask_ids)
        db = sum(row[t] / counts[t] for t in image_ids) / len(image_ids)
        print(f"{name:<28} {iou:6.3f} {db:6.2f}  " + " ".join(
            f"{row[t] / counts[t]:10.3f}" for t in mask_ids))

    one = generate_batch(1, episode_seed("eval", args.seed_index + 999), device="cpu",
                         layout=LAYOUT)
    single: list[float] = []
    four: list[float] = []
    answers(model, one, list(VIEWS.values()))  # warm-up
    for _ in range(args.repeat):
        for views, times in (([()], single), (list(VIEWS.values()), four)):
            start = time.perf_counter()
            answers(model, one, views)
            times.append(time.perf_counter() - start)
    s, f = sorted(single)[len(single) // 2], sorted(four)[len(four) // 2]
    print(f"median per prompt, canvas to answer cell: 1 canvas {1000 * s:.1f} ms, "
          f"4 views in one call {1000 * f:.1f} ms, ratio {f / s:.2f}x "
          f"({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
