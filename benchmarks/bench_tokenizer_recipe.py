"""Train the ``small`` tokenizer with different recipes on the same batches, side by side.

    python benchmarks/bench_tokenizer_recipe.py --against 2c98733       # ~10 min
    python benchmarks/bench_tokenizer_recipe.py --steps 300 --lr 3e-4 1e-3
    python benchmarks/bench_tokenizer_recipe.py --steps 500 --groups 1 4
    python benchmarks/bench_tokenizer_recipe.py --steps 400 --crops-per-canvas 1 4

Every run trains from seed 1 on the same stream of 16 random 112-px crops a step
(``visprompt_core.train.tokenizer``), in its own process with one torch thread; the runs
go two at a time. Then each reconstructs 64 held-out canvases (evaluation seeds) and
prints PSNR, "chroma PSNR" (the colour part alone; an all-grey output scores about 17 dB
on these canvases) and the saturation ratio (1 = as colourful as the target, 0 = grey).

Runs: the working tree's recipe with each ``--lr``, each ``--groups`` (channels per
group norm group) and each ``--crops-per-canvas`` value (``tok_crops_per_canvas``: the 16
crops then come from 16 / k canvases, so the batches differ); with ``--against REV``,
also the package as it was at git revision REV with that revision's own defaults (e.g.
the recipe that trained the previous default model, 2c98733).
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from visprompt_core.data.metrics import colour_figures, colour_part
from visprompt_core.train.tokenizer import reconstruction_figures

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh process with PYTHONPATH at either tree: only API present in both; the
# held-out figures are always the working tree's ``reconstruction_figures``.
_CHILD = """
import json, math, sys, time
from dataclasses import replace
import torch
torch.set_num_threads(1)
from visprompt_core import canvas as cv
from visprompt_core.config import PRESETS
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.model.vqgan import VQGAN
from visprompt_core.train.common import TrainConfig
from visprompt_core.train.tokenizer import train_tokenizer
{figures}
run = json.loads(sys.argv[1])
small = PRESETS["small"]
overrides = {{}}
if run["groups"]:
    PRESETS["bench"] = replace(small, vqgan=replace(small.vqgan,
                                                    min_group_channels=run["groups"]))
    overrides["preset"] = "bench"
if run["lr"]:
    overrides["tok_lr"] = run["lr"]
if run.get("per_canvas", 1) > 1:
    overrides["tok_crops_per_canvas"] = run["per_canvas"]
cfg = TrainConfig(out=run["out"], device="cpu", seed=1, tok_steps=run["steps"], tok_batch=16,
                  tok_crop=112, log_every=50, save_every=10**6, **overrides)
start = time.time()
vq = train_tokenizer(cfg)
figures = {{"train_s": round(time.time() - start), "lr": cfg.tok_lr,
           "per_canvas": run.get("per_canvas", 1),
           "groups": cfg.model_config.vqgan.min_group_channels,
           **reconstruction_figures(vq.eval())}}
print(json.dumps(figures), flush=True)
"""


def extract(rev: str, into: str) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "visprompt_core"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def start(label: str, tree: Path, run: dict) -> tuple[str, subprocess.Popen]:
    # The working tree's held-out figures, with what they call (absent from old trees).
    figures = "\n".join(inspect.getsource(f) for f in
                        (colour_part, colour_figures, reconstruction_figures))
    code = _CHILD.format(figures=figures)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return label, subprocess.Popen([sys.executable, "-c", code, json.dumps(run)], env=env,
                                   cwd=tree,
                                   stdout=subprocess.PIPE, text=True)


def report(label: str, process: subprocess.Popen) -> None:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"run {label!r} failed (exit {process.returncode})")
    f = json.loads(out.strip().splitlines()[-1])
    print(f"{label:<34} lr {f['lr']:<7g} groups>={f['groups']}  crops/canvas "
          f"{f['per_canvas']}  {f['train_s']:>5} s  "
          f"PSNR {f['psnr']:6.2f} dB  chroma PSNR {f['chroma_psnr']:6.2f} dB  "
          f"saturation {f['saturation_ratio']:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, nargs="+", default=[0.0],
                        help="learning rates for the working tree (0 = its default)")
    parser.add_argument("--groups", type=int, nargs="+", default=[0],
                        help="channels per group norm group (0 = the preset's)")
    parser.add_argument("--crops-per-canvas", type=int, nargs="+", default=[1],
                        help="tok_crops_per_canvas values for the working tree")
    parser.add_argument("--against", metavar="REV", help="also train with the code at REV")
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        jobs: list[tuple[str, Path, dict]] = []
        if args.against:
            old = Path(tmp) / "against"
            extract(args.against, str(old))
            jobs.append((f"{args.against} (its defaults)", old,
                         {"steps": args.steps, "lr": 0.0, "groups": 0}))
        for lr in args.lr:
            for groups in args.groups:
                for per_canvas in args.crops_per_canvas:
                    jobs.append(("working tree", ROOT, {"steps": args.steps, "lr": lr,
                                                        "groups": groups,
                                                        "per_canvas": per_canvas}))
        for i, (_, _, run) in enumerate(jobs):
            run["out"] = str(Path(tmp) / f"run{i}")
        print(f"{len(jobs)} runs of {args.steps} steps x 16 crops of 112 px, "
              f"{args.parallel} at a time", flush=True)
        for first in range(0, len(jobs), args.parallel):
            batch = [start(*job) for job in jobs[first:first + args.parallel]]
            for label, process in batch:
                report(label, process)


if __name__ == "__main__":
    main()
