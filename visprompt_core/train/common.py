"""Shared training plumbing: configuration, schedule, logging, checkpoints, data batches.

Imports stay within torch/numpy/safetensors and the package, so training runs on a bare
GPU machine with ``PYTHONPATH=.``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from visprompt_core import canvas as cv
from visprompt_core.config import PRESETS, ModelConfig
from visprompt_core.data.episodes import EpisodeBatch, generate_batch


@dataclass
class TrainConfig:
    """Everything one training run needs; saved next to its checkpoints."""

    out: str = "runs/default"
    preset: str = "small"
    seed: int = 0
    device: str = "auto"
    init_from: str = ""  # a finished model.safetensors: keep its tokenizer, continue its MAE
    # a finished model.safetensors: train a new tokenizer, start the MAE from this file's
    # with its token head remapped to the new codes (train/retarget.py)
    mae_from: str = ""
    # tokenizer stage
    tok_steps: int = 3000
    tok_batch: int = 128
    tok_lr: float = 3e-4  # 1e-3 collapsed to grey codes (docs/model_card.md)
    tok_time_budget: float = 0.0  # seconds; 0 = no limit
    # side of the random square crop of each target canvas the tokenizer trains on
    # (a multiple of the 16-px patch); 0 = the whole 224-px canvas
    tok_crop: int = 0
    # crops taken from each generated canvas (each at its own random place): the batch of
    # tok_batch crops then needs tok_batch / k canvases, where the data generator bounds
    # the step rate (the fifth session's GPU run)
    tok_crops_per_canvas: int = 1
    # MAE stage
    mae_steps: int = 8000
    mae_batch: int = 256
    mae_lr: float = 1e-3
    mae_time_budget: float = 0.0
    warmup: int = 200
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    p_answer_mask: float = 0.5  # else random MAE masking
    random_mask_ratio: float = 0.75
    p_3x2: float = 0.25
    p_transpose: float = 0.25
    p_black: float = 0.15
    log_every: int = 50
    eval_every: int = 500
    eval_episodes: int = 256
    save_every: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model_config(self) -> ModelConfig:
        return PRESETS[self.preset]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA; a disabled context on CPU (fp32 training)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 2% of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))


class RunLog:
    """JSON lines in ``<out>/log.jsonl`` plus a readable line through ``echo``."""

    def __init__(self, out: Path, echo: Any = None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "log.jsonl"
        self.echo = echo
        self.start = time.time()

    def write(self, **record: Any) -> None:
        record = {"time": round(time.time() - self.start, 2), **record}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.echo is not None:
            shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in record.items())
            self.echo(shown)


class StepBudget:
    """Fits a stage's step count into ``budget`` seconds (0 = no limit).

    The rate is measured from step ``skip`` on, so the slow first steps (CUDA start-up,
    cuDNN autotuning) do not shrink the estimate: a rate taken from the stage's start
    once cut a GPU tokenizer run to 330 planned steps where 788 fitted, and its cosine
    schedule had decayed to nothing before the step count was corrected. The estimate
    is refreshed at the ``checkpoints`` (steps since the stage started)."""

    def __init__(self, planned: int, first: int, budget: float, skip: int = 10,
                 checkpoints: tuple[int, ...] = (30, 100, 300, 1000),
                 clock: Callable[[], float] = time.time) -> None:
        self.planned, self.first, self.budget = planned, first, budget
        self.skip, self.checkpoints, self.clock = skip, checkpoints, clock
        self.started = clock()
        self.skip_time: float | None = None
        self.total = planned

    def update(self, step: int) -> int:
        """Call after every step; returns the stage's (possibly shrunk) total."""
        done = step - self.first
        if self.budget <= 0:
            return self.total
        if done == self.skip:
            self.skip_time = self.clock()
        elif done in self.checkpoints and self.skip_time is not None:
            now = self.clock()
            per_step = (now - self.skip_time) / (done - self.skip)
            left = self.budget - (now - self.started)
            fits = step + int(left / per_step) if per_step > 0 else self.planned
            self.total = max(step + 1, min(self.planned, fits))
        return self.total


def save_training_state(path: Path, **state: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_training_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def episode_stream(cfg: TrainConfig, batch: int, device: torch.device, seed: int
                   ) -> Iterator[tuple[EpisodeBatch, cv.Layout]]:
    """Endless training batches: random layout, arrangement and background per batch.

    A dedicated generator seeded from ``seed`` makes the stream reproducible and lets a
    resumed run continue with fresh (not repeated) data.
    """
    gen = torch.Generator(device=device).manual_seed(seed)
    pick = torch.Generator().manual_seed(seed + 1)
    while True:
        u = torch.rand(3, generator=pick).tolist()
        layout = cv.LAYOUT_3X2 if u[0] < cfg.p_3x2 else cv.LAYOUT_2X2
        background = 0.0 if u[1] < cfg.p_black else 1.0
        episodes = generate_batch(batch, gen, device=device, layout=layout,
                                  background=background)
        if layout is cv.LAYOUT_2X2 and u[2] < cfg.p_transpose:
            episodes = transpose_pairs(episodes)
            layout = cv.LAYOUT_2X2_T
        yield episodes, layout


def transpose_pairs(episodes: EpisodeBatch) -> EpisodeBatch:
    """2x2 canvases -> the transposed arrangement: swap the top-right and bottom-left cells."""
    a = cv.LAYOUT_2X2.pairs[0][1].slices()  # example output (top-right)
    b = cv.LAYOUT_2X2.query.slices()  # query (bottom-left)
    for name in ("canvas", "target"):
        t = getattr(episodes, name).clone()
        top_right = t[:, :, a[0], a[1]].clone()
        t[:, :, a[0], a[1]] = t[:, :, b[0], b[1]]
        t[:, :, b[0], b[1]] = top_right
        setattr(episodes, name, t)
    return episodes
