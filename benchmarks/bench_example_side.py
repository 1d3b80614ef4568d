"""What sending example layers at most 1024 px costs in answers (the Krita plugin's
``EXAMPLE_SIDE``), and what it saves on the server.

    python benchmarks/bench_example_side.py                  # 2048 px, every task family
    python benchmarks/bench_example_side.py --size 3072 --families 5

For each synthetic task family, one held-out prompt generated at ``--size`` px (example
pair and query, generator seed ``--seed``): the default model answers it once with the
example pair at full size, once with the pair scaled down by the plugin's own code
(``visual_prompt.png.scale_rgba``, Qt's smooth scaling) to the plugin's EXAMPLE_SIDE,
as the plugin now sends it. Prints, per family, how many answer pixels differ, the PSNR
between the two answers, and each answer's score against the ground truth (IoU for the
mask families, PSNR for the others), then the time of each prompt on the server side
(median over the families' prompts, alternating). Needs PyQt5 (the dev extra).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "krita_plugin"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from visual_prompt.controller import EXAMPLE_SIDE  # noqa: E402
from visual_prompt.png import scale_rgba  # noqa: E402

from visprompt_core import canvas as cv  # noqa: E402
from visprompt_core.data import TASK_NAMES, TASKS  # noqa: E402
from visprompt_core.data.episodes import generate_cells  # noqa: E402
from visprompt_core.data.metrics import iou, psnr  # noqa: E402
from visprompt_core.memory import keep_freed_memory  # noqa: E402
from visprompt_core.pipeline import load_model  # noqa: E402


def as_sent(image: Image.Image) -> Image.Image:
    """``image`` as the plugin sends an example layer: at most EXAMPLE_SIDE px."""
    w, h = image.size
    if max(w, h) <= EXAMPLE_SIDE:
        return image
    size = (EXAMPLE_SIDE, round(h * EXAMPLE_SIDE / w)) if w >= h else (
        round(w * EXAMPLE_SIDE / h), EXAMPLE_SIDE)
    rgba = scale_rgba(image.convert("RGBA").tobytes(), w, h, *size)
    return Image.frombytes("RGBA", size, rgba).convert("RGB")


def score(answer: Image.Image, truth: torch.Tensor, family: str) -> float:
    pred = cv.pil_to_tensor(answer)[None]
    spec = TASKS[family]
    if spec.kind == "mask":
        return float(iou(pred, truth[None], spec.dark_fg)[0])
    return float(psnr(pred, truth[None])[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048, help="side of the generated images")
    parser.add_argument("--seed", type=int, default=2946, help="generator seed (held out)")
    parser.add_argument("--families", type=int, default=len(TASK_NAMES))
    args = parser.parse_args()
    keep_freed_memory()
    prompter = load_model("default", device="cpu")
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; examples {args.size} px "
          f"against {EXAMPLE_SIDE} px (the plugin's EXAMPLE_SIDE)")
    print(f"{'family':>16} {'differ':>8} {'PSNR a/b':>9} {'full':>7} {'sent':>7}  (score: IoU "
          "or PSNR dB)")
    gen = torch.Generator().manual_seed(args.seed)
    times: dict[str, list[float]] = {"full": [], "sent": []}
    differing, total = 0, 0
    for tid, family in enumerate(TASK_NAMES[:args.families]):
        inputs, outputs = generate_cells(gen, torch.tensor([tid]), 2, size=args.size)
        pair = (cv.tensor_to_pil(inputs[0, 0]), cv.tensor_to_pil(outputs[0, 0]))
        query, truth = cv.tensor_to_pil(inputs[0, 1]), outputs[0, 1]
        sent = (as_sent(pair[0]), as_sent(pair[1]))
        answers = {}
        for name, examples in (("full", pair), ("sent", sent)):
            start = time.perf_counter()
            answers[name] = prompter.prompt([examples], query)
            times[name].append(time.perf_counter() - start)
        a, b = (np.asarray(answers[n], dtype=np.int16) for n in ("full", "sent"))
        changed = int((a != b).any(-1).sum())
        differing, total = differing + changed, total + a.shape[0] * a.shape[1]
        between = float(psnr(torch.from_numpy(a / 255.0)[None],
                             torch.from_numpy(b / 255.0)[None])[0])
        print(f"{family:>16} {changed / (a.shape[0] * a.shape[1]):8.2%} {between:9.1f} "
              f"{score(answers['full'], truth, family):7.3f} "
              f"{score(answers['sent'], truth, family):7.3f}")
    print(f"pixels differing in all: {differing / total:.2%}")
    full, sent = (statistics.median(times[n]) * 1000 for n in ("full", "sent"))
    print(f"prompt, median: examples at full size {full:.0f} ms, as sent {sent:.0f} ms "
          f"({full / sent:.2f}x); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
