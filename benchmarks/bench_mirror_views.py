"""Mirrored views: answer the same prompt with every cell mirrored, un-mirror, average pixels.

    python benchmarks/bench_mirror_views.py                     # 32 episodes per family
    python benchmarks/bench_mirror_views.py --batches 2 --repeat 5

A candidate for issue #7's ensembling, not in the pipeline yet. Mirroring every cell of
a 2x2 canvas (both examples and the query) keeps the canvas in the layout the default
model was trained on, and every synthetic task commutes with it (a mirrored example
teaches the mirrored task; un-mirroring its answer gives the original task's answer), so
the views are equally valid prompts. Tokens are not mirror-symmetric, so the views are
combined after decoding: the un-mirrored answer cells are averaged in pixel space
(mask-like tasks are then scored by the usual 0.5 threshold). Or, cheaper, before
decoding ("token vote"): each view's answer-patch probabilities are un-mirrored as a patch
block and translated to the plain canvas's codes through a code-mirror table counted once
per model (which code the tokenizer gives a patch's mirror image), averaged, and decoded
once.

Prints mean IoU (mask-like families) and PSNR (image-like) for: the plain canvas, the
horizontally mirrored one alone, the mean of those two, and the mean of all four views
(none, horizontal, vertical, both), by pixel mean and by token vote; per mask-like family
too. Then the time of one canvas against the four views in one batched call, alternating,
medians (CPU, fp32).
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
from visprompt_core.train.retarget import cooccurrence

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


@torch.inference_mode()
def mirror_translations(model: MAEVQGAN, views: list[tuple[int, ...]], n: int = 256
                        ) -> list[torch.Tensor]:
    """Per view, T (V, V): T[a, b] = P(plain code b | the mirrored canvas has code a at the
    mirrored patch), counted on ``n`` training-split canvases mirrored whole (a whole-canvas
    mirror maps the 16-px patch grid onto itself). Codes never seen map to themselves."""
    x = torch.cat([generate_batch(64, episode_seed("train", 910_000 + i)).target
                   for i in range(0, n, 64)])
    grid = model.model_config.mae.img_size // model.model_config.mae.patch_size
    vocab = model.model_config.mae.vocab_size
    plain = model.tokenize(x).view(-1, grid, grid)
    out = []
    for dims in views:
        seen = mirror(model.tokenize(mirror(x, dims)).view(-1, grid, grid), dims)
        t = cooccurrence(seen, plain, vocab, vocab)
        unseen = t.sum(1) == 0
        t[unseen, unseen.nonzero().flatten()] = 1.0
        out.append(t / t.sum(1, keepdim=True))
    return out


@torch.inference_mode()
def token_vote(model: MAEVQGAN, episodes: EpisodeBatch, views: list[tuple[int, ...]],
               translations: list[torch.Tensor]) -> torch.Tensor:
    """Views combined before decoding: each view's answer-patch probabilities un-mirrored
    (block flip) and translated to the plain canvas's codes, averaged; one decode."""
    cells = [episodes.examples_in[:, 0], episodes.examples_out[:, 0], episodes.query]
    canvases = torch.cat([cv.place_cells([mirror(c, d) for c in cells], LAYOUT, background=1.0)
                          for d in views])
    mask = LAYOUT.patch_mask().to(canvases.device)
    side = round(int(mask.sum()) ** 0.5)
    probs = model.canvas_logits(canvases, mask.expand(len(canvases), -1)).softmax(-1)
    b = len(episodes.query)
    total = 0.0
    for i, (dims, t) in enumerate(zip(views, translations)):
        block = probs[i * b:(i + 1) * b][:, mask].view(b, side, side, -1)
        block = block.flip([d - 1 for d in dims]) if dims else block  # grid dims of (b,s,s,V)
        total = total + block.reshape(b, side * side, -1) @ t
    plain = canvases[:b]
    tokens = torch.zeros(b, mask.numel(), dtype=torch.long)
    tokens[:, mask] = total.argmax(-1)
    decoded = model.decode(model.context_tokens(plain, tokens, mask))
    return cv.crop_answer(cv.paste_answer(plain.float(), decoded, mask), LAYOUT).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=8,
                        help="batches of 76 held-out episodes (4 per family)")
    parser.add_argument("--seed-index", type=int, default=400)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--repeat", type=int, default=12, help="timed calls of each kind")
    args = parser.parse_args()
    model = load_model(args.model, device="cpu", dtype="fp32").model.eval()
    translations = mirror_translations(model, list(VIEWS.values()))
    totals: dict[str, dict[int, float]] = {}
    counts: dict[int, int] = {}
    for b in range(args.batches):
        episodes = generate_batch(76, episode_seed("eval", args.seed_index + b), device="cpu",
                                  layout=LAYOUT)
        plain, horizontal, vertical, both = answers(model, episodes, list(VIEWS.values()))
        voted = token_vote(model, episodes, list(VIEWS.values()), translations)
        combos = {"plain canvas": plain, "horizontal mirror alone": horizontal,
                  "mean of plain + horizontal": (plain + horizontal) / 2,
                  "mean of 4 views": (plain + horizontal + vertical + both) / 4,
                  "token vote of 4 views": voted}
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
    views = list(VIEWS.values())
    runs = {"1 canvas": lambda: answers(model, one, [()]),
            "4 views, pixel mean": lambda: answers(model, one, views),
            "4 views, token vote": lambda: token_vote(model, one, views, translations)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(args.repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    base = medians["1 canvas"]
    print(f"median per prompt, canvas to answer cell ({torch.get_num_threads()} threads): "
          + ", ".join(f"{name} {1000 * m:.1f} ms ({m / base:.2f}x)"
                      for name, m in medians.items()))

if __name__ == "__main__":
    main()
