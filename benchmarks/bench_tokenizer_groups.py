"""The small tokenizer with 1 vs 4 (or other) channels per group norm group, same training.

    python benchmarks/bench_tokenizer_groups.py                  # 500 steps each, ~13 min
    python benchmarks/bench_tokenizer_groups.py --steps 50 --groups 1 4

Each setting trains the ``small`` preset's tokenizer from the same seed on the same
batches (``visprompt_core.train.tokenizer``: 16 random 112-px crops a step) in its own
process with one torch thread, the settings side by side. Then it reconstructs 64
held-out canvases (evaluation seeds) and prints, per setting: PSNR; "chroma PSNR", the
PSNR of the colour part alone (each pixel minus its grey mean; an all-grey output scores
about 17 dB on these canvases); and the saturation ratio (mean colour amplitude of the
reconstruction over the target's; 1 = as colourful as the target, 0 = grey).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from visprompt_core import canvas as cv
from visprompt_core.config import PRESETS
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.model.vqgan import VQGAN
from visprompt_core.train.common import TrainConfig
from visprompt_core.train.tokenizer import train_tokenizer


def reconstruction_figures(vq: VQGAN, episodes: int = 64) -> dict[str, float]:
    target = generate_batch(episodes, episode_seed("eval", 77), device="cpu",
                            layout=cv.LAYOUT_2X2).target
    with torch.no_grad():
        rec = (vq.decode_tokens(vq.encode(target * 2 - 1)).clamp(-1, 1) + 1) / 2

    def colour(image: torch.Tensor) -> torch.Tensor:
        return image - image.mean(1, keepdim=True)

    def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return 10 * math.log10(1 / float(((a - b) ** 2).mean()))

    return {"psnr": psnr(rec, target), "chroma_psnr": psnr(colour(rec), colour(target)),
            "saturation_ratio": float(colour(rec).abs().mean() / colour(target).abs().mean())}


def child(groups: int, steps: int, out: str) -> None:
    torch.set_num_threads(1)
    name = f"small_g{groups}"
    small = PRESETS["small"]
    PRESETS[name] = replace(small, vqgan=replace(small.vqgan, min_group_channels=groups))
    cfg = TrainConfig(out=out, preset=name, device="cpu", seed=1, tok_steps=steps,
                      tok_batch=16, tok_crop=112, log_every=50, save_every=10**6)
    start = time.time()
    vq = train_tokenizer(cfg)
    figures = {"min_group_channels": groups, "steps": steps,
               "train_s": round(time.time() - start), **reconstruction_figures(vq.eval())}
    print(json.dumps(figures), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.steps, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        runs = [subprocess.Popen([sys.executable, __file__, "--child", str(g), "--steps",
                                  str(args.steps), "--out", str(Path(tmp) / f"g{g}")],
                                 stdout=subprocess.PIPE, text=True) for g in args.groups]
        for run in runs:
            out, _ = run.communicate()
            if run.returncode:
                raise SystemExit(f"a training run failed (exit {run.returncode})")
            figures = json.loads(out.strip().splitlines()[-1])
            print(f"channels per group >= {figures['min_group_channels']}: "
                  f"{figures['steps']} steps in {figures['train_s']} s, held-out PSNR "
                  f"{figures['psnr']:.2f} dB, chroma PSNR {figures['chroma_psnr']:.2f} dB, "
                  f"saturation {figures['saturation_ratio']:.3f}")


if __name__ == "__main__":
    main()
