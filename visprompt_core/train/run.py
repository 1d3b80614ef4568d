"""Entry point of a training run: ``visprompt train`` / ``python -m visprompt_core.train``.

One output folder holds everything: ``config.json``, ``log.jsonl``, resumable states
(``tokenizer.pt``, ``mae.pt``), the final ``model.safetensors`` (fp16) and ``eval.json``.
Running the same command again resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path

import torch

from visprompt_core.evaluation import evaluate_model
from visprompt_core.pipeline import pick_device
from visprompt_core.train.common import TrainConfig
from visprompt_core.train.mae import train_mae
from visprompt_core.train.tokenizer import train_tokenizer

log = logging.getLogger(__name__)

# Sized to train on a 2-core CPU in a couple of hours (see docs/model_card.md).
CPU_OVERRIDES = {"tok_steps": 1500, "tok_batch": 16, "mae_steps": 6000, "mae_batch": 32,
                 "eval_every": 1000, "eval_episodes": 64}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/default", help="output folder (resumes if "
                        "it holds a run)")
    parser.add_argument("--cpu-size", action="store_true", help="the smaller CPU schedule "
                        f"({CPU_OVERRIDES})")
    for f in fields(TrainConfig):
        if f.name in ("out", "extra"):
            continue
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default),
                            default=None, help=f"default {f.default}")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig(out=args.out)
    if args.cpu_size:
        for key, value in CPU_OVERRIDES.items():
            setattr(cfg, key, value)
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name not in ("out", "extra"):
            setattr(cfg, f.name, value)
    return cfg


def run_training(cfg: TrainConfig, echo: object = print) -> Path:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg.device = str(pick_device(cfg.device))
    if cfg.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    (out / "config.json").write_text(cfg.to_json())

    def held_out(model: torch.nn.Module, step: int) -> dict[str, float]:
        per_task = max(1, cfg.eval_episodes // 16)
        report = evaluate_model(model, episodes_per_task=per_task)
        return {k: round(v, 4) for k, v in report.summary().items()}

    tokenizer = train_tokenizer(cfg, echo)
    model = train_mae(cfg, tokenizer, echo, held_out)
    report = evaluate_model(model, episodes_per_task=max(8, cfg.eval_episodes // 8))
    report.write_json(out / "eval.json")
    if callable(echo):
        echo(report.table())
    return out / "model.safetensors"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="visprompt train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = config_from_args(args)
    path = run_training(cfg, echo=lambda line: print(line, flush=True))
    print(json.dumps({"model": str(path)}), file=sys.stderr)
    return 0
