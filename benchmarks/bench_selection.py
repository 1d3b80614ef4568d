"""Example selection vs a random pick from the same pool, on held-out synthetic episodes.

    python benchmarks/bench_selection.py --episodes 8 --pool 8

For every query (held-out evaluation seeds, all families balanced) the pool holds
--own pairs of the query's own episode (same task and parameters) and --pool minus
--own pairs from episodes of other families. One pair is chosen by: the encoder feature,
the pixel feature, both similarities averaged, a seeded random pick, and (for reference)
the query's own first pair.
The answer (111 px) is scored like ``visprompt eval``: mean IoU over mask-like families,
mean PSNR (dB) over image-like ones, plus how often the chosen pair shows the right task.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import balanced_task_ids, episode_seed, generate_cells
from visprompt_core.data.metrics import score
from visprompt_core.data.tasks import TASK_NAMES, TASKS
from visprompt_core.pipeline import PromptRequest, load_model
from visprompt_core.selection import rank_examples

METHODS = ("encoder", "pixels", "both", "random", "own pair (oracle)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--episodes", type=int, default=8, help="queries per family")
    parser.add_argument("--pool", type=int, default=8, help="pairs in each pool")
    parser.add_argument("--own", type=int, default=2, help="pairs of the query's task")
    parser.add_argument("--seed-index", type=int, default=200)
    args = parser.parse_args()
    prompter = load_model(args.model, device="cpu", dtype="fp32")
    gen = torch.Generator().manual_seed(episode_seed("eval", args.seed_index))
    n = args.episodes * len(TASK_NAMES)
    task_ids = balanced_task_ids(gen, n, list(range(len(TASK_NAMES))))
    inputs, outputs = generate_cells(gen, task_ids, args.own + 1)
    pil = lambda t: cv.tensor_to_pil(t)  # noqa: E731
    rng = random.Random(0)
    ids = task_ids.tolist()
    sums = {(m, t): 0.0 for m in METHODS for t in TASK_NAMES}
    right = dict.fromkeys(METHODS, 0)
    counts = dict.fromkeys(TASK_NAMES, 0)
    start = time.perf_counter()
    for i in range(n):
        own = [(pil(inputs[i, s]), pil(outputs[i, s]), True) for s in range(args.own)]
        others = [j for j in range(n) if ids[j] != ids[i]]
        picks = rng.sample(others, args.pool - args.own)
        pool = own + [(pil(inputs[j, 0]), pil(outputs[j, 0]), False) for j in picks]
        rng.shuffle(pool)
        pairs = [(a, b) for a, b, _ in pool]
        query = pil(inputs[i, -1])
        chosen = {
            "encoder": rank_examples(prompter, pairs, query, "encoder")[0],
            "pixels": rank_examples(None, pairs, query, "pixels")[0],
            "both": rank_examples(prompter, pairs, query, "both")[0],
            "random": rng.randrange(len(pool)),
            "own pair (oracle)": next(k for k, p in enumerate(pool) if p[2]),
        }
        truth = outputs[i, -1][None]
        answers = prompter.prompt_batch([PromptRequest([pairs[k]], query, answer_size=(111, 111))
                                         for k in chosen.values()])
        for (method, k), answer in zip(chosen.items(), answers):
            value = score(cv.pil_to_tensor(answer)[None], truth, task_ids[i:i + 1]).item()
            sums[(method, TASK_NAMES[ids[i]])] += value
            right[method] += int(pool[k][2])
        counts[TASK_NAMES[ids[i]]] += 1
    took = time.perf_counter() - start
    print(f"model {args.model}: {args.episodes} queries x {len(TASK_NAMES)} families, pool of "
          f"{args.pool} pairs ({args.own} of the query's task), {took:.0f} s")
    print(f"{'method':<20} {'mean IoU (mask)':>16} {'mean PSNR (image)':>18} {'right task':>11}")
    for m in METHODS:
        mask = [sums[(m, t)] / counts[t] for t in TASK_NAMES if TASKS[t].kind == "mask"]
        image = [sums[(m, t)] / counts[t] for t in TASK_NAMES if TASKS[t].kind == "image"]
        print(f"{m:<20} {sum(mask) / len(mask):>16.3f} {sum(image) / len(image):>18.2f} "
              f"{right[m] / n:>11.1%}")


if __name__ == "__main__":
    main()
