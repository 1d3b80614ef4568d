"""Episode batches: example pair(s) + query + answer of one task family, laid out on canvases.

``generate_batch`` renders every scene of the batch in one go (scenes of an episode share a
palette), lets each task family turn its scenes into (input, output) cells with parameters
drawn once per episode, and assembles the canvases with ``canvas.place_cells``.

Seeds: training uses seeds in ``[TRAIN_SEED_BASE, EVAL_SEED_BASE)``, held-out evaluation
uses ``[EVAL_SEED_BASE, EVAL_SEED_END)``; ``episode_seed`` hands them out and
``check_train_seed`` raises when a training seed falls in the reserved evaluation range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from visprompt_core.canvas import LAYOUT_2X2, Layout, place_cells
from visprompt_core.data.procedural import (
    CELL,
    render_scene,
    sample_palette,
    sample_scene_params,
)
from visprompt_core.data.tasks import TASK_NAMES, TASKS
from visprompt_core.errors import InputError

TRAIN_SEED_BASE = 0
EVAL_SEED_BASE = 1 << 48
EVAL_SEED_END = 1 << 49
SPLITS = ("train", "eval")


def episode_seed(split: str, index: int) -> int:
    """The seed of batch ``index`` (>= 0) of ``split`` ("train" or "eval"); ranges never meet."""
    if index < 0:
        raise InputError(f"seed index must be >= 0, got {index}")
    if split == "train":
        seed = TRAIN_SEED_BASE + index
        check_train_seed(seed)
        return seed
    if split == "eval":
        seed = EVAL_SEED_BASE + index
        if seed >= EVAL_SEED_END:
            raise InputError(f"eval seed index {index} is out of range")
        return seed
    raise InputError(f"split must be one of {SPLITS}, got {split!r}")


def check_train_seed(seed: int) -> int:
    """Return ``seed``; raise InputError when it lies in the reserved evaluation range."""
    if seed < TRAIN_SEED_BASE or EVAL_SEED_BASE <= seed < EVAL_SEED_END:
        raise InputError(f"seed {seed} is reserved for held-out evaluation (or negative)")
    return seed


@dataclass
class EpisodeBatch:
    """A batch of B episodes.

    canvas (B, 3, 224, 224): examples and query placed, answer cell = background.
    target (B, 3, 224, 224): the same canvas with the true answer in the answer cell.
    task_ids (B,) long: indices into ``task_names`` (== ``tasks.TASK_NAMES``).
    examples_in / examples_out (B, n_pairs, 3, h, w), query / answer (B, 3, h, w): the cells
    at the layout's cell size (h = w = 111 for 2x2, 74 for 3x2).
    """

    canvas: torch.Tensor
    target: torch.Tensor
    task_ids: torch.Tensor
    examples_in: torch.Tensor
    examples_out: torch.Tensor
    query: torch.Tensor
    answer: torch.Tensor
    layout: Layout
    task_names: tuple[str, ...] = TASK_NAMES
    seed: int | None = None

    def __len__(self) -> int:
        return self.canvas.shape[0]

    @property
    def names(self) -> list[str]:
        """The task name of every sample."""
        return [self.task_names[i] for i in self.task_ids.tolist()]

    @property
    def is_mask(self) -> torch.Tensor:
        """(B,) bool: mask task (IoU) rather than image task (PSNR)."""
        table = torch.tensor([TASKS[n].kind == "mask" for n in self.task_names])
        return table.to(self.task_ids.device)[self.task_ids]

    @property
    def dark_fg(self) -> torch.Tensor:
        """(B,) bool: the mask output is black ink on white."""
        table = torch.tensor([TASKS[n].dark_fg for n in self.task_names])
        return table.to(self.task_ids.device)[self.task_ids]

    def to(self, device: torch.device | str) -> EpisodeBatch:
        """A copy with every tensor on ``device``."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if isinstance(v, torch.Tensor):
                moved[k] = v.to(device)
        return EpisodeBatch(**moved)


def make_generator(seed_or_generator: int | torch.Generator,
                   device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device``: seeded from an int, or the given one (its device wins)."""
    if isinstance(seed_or_generator, torch.Generator):
        return seed_or_generator
    if not isinstance(seed_or_generator, int) or seed_or_generator < 0:
        raise InputError(f"seed must be a non-negative int, got {seed_or_generator!r}")
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(seed_or_generator)
    return gen


def _task_pool(tasks: Sequence[str] | None) -> list[int]:
    if tasks is None:
        return list(range(len(TASK_NAMES)))
    if isinstance(tasks, str):
        tasks = [tasks]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise InputError(f"unknown task(s) {unknown}; choose from {list(TASK_NAMES)}")
    return sorted({TASK_NAMES.index(t) for t in tasks})


def balanced_task_ids(gen: torch.Generator, n: int, pool: Sequence[int]) -> torch.Tensor:
    """(n,) long: every family in ``pool`` equally often (+-1), in random order."""
    dev = gen.device
    ids = torch.tensor(pool, device=dev)
    ids = ids[torch.randperm(len(pool), generator=gen, device=dev)]
    reps = -(-n // len(pool))
    tiled = ids.repeat(reps)[:n]
    return tiled[torch.randperm(n, generator=gen, device=dev)]


def generate_cells(
    gen: torch.Generator,
    task_ids: torch.Tensor,
    n_scenes: int,
    size: int = CELL,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and outputs (B, n_scenes, 3, size, size) for episodes of ``task_ids`` (B,)."""
    n = task_ids.shape[0]
    s = n_scenes
    palette = sample_palette(gen, n)
    psize = torch.randint(2, palette.shape[1] + 1, (n,), generator=gen, device=gen.device)
    sp = sample_scene_params(gen, n * s, palette.repeat_interleave(s, 0),
                             psize.repeat_interleave(s, 0), size=size)
    scene_task = task_ids.repeat_interleave(s)
    jobs = []
    for tid in range(len(TASK_NAMES)):
        sc_idx = torch.nonzero(scene_task == tid).flatten()
        if sc_idx.numel() == 0:
            continue
        spec = TASKS[TASK_NAMES[tid]]
        params = {k: v.repeat_interleave(s, 0)
                  for k, v in spec.sample(gen, sc_idx.numel() // s).items()}
        params["episode"] = torch.arange(sc_idx.numel(), device=gen.device) // s
        params["scene"] = torch.arange(sc_idx.numel(), device=gen.device) % s
        if spec.prepare is not None:
            sub = sp.select(sc_idx)
            spec.prepare(sub, params)
            for f in fields(sub):
                if f.name != "size":
                    getattr(sp, f.name)[sc_idx] = getattr(sub, f.name)
        jobs.append((spec, sc_idx, params))
    scene = render_scene(sp)
    inputs = torch.empty_like(scene.image)
    outputs = torch.empty_like(scene.image)
    for spec, sc_idx, params in jobs:
        x, y = spec.apply(scene.select(sc_idx, with_masks=False), params, gen)
        inputs[sc_idx] = x.clamp(0, 1)
        outputs[sc_idx] = y.clamp(0, 1)
    shape = (n, s, 3, size, size)
    return inputs.view(shape), outputs.view(shape)


def _resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == hw:
        return x
    lead = x.shape[:-3]
    y = F.interpolate(x.reshape(-1, *x.shape[-3:]), size=hw, mode="bilinear",
                      align_corners=False, antialias=True)
    return y.reshape(*lead, 3, *hw).clamp(0, 1)


def generate_batch(
    n: int,
    seed_or_generator: int | torch.Generator,
    device: torch.device | str = "cpu",
    layout: Layout = LAYOUT_2X2,
    tasks: Sequence[str] | None = None,
    background: float | torch.Tensor = 1.0,
    split: str | None = None,
) -> EpisodeBatch:
    """``n`` episodes on ``layout`` canvases, deterministic for a given seed and device.

    tasks: family names (None: all); families are balanced (equal counts +-1, random order).
    split: "train" checks that an int seed is not in the reserved evaluation range.
    Scenes are rendered at 111 px and resized (bilinear, antialiased) to the cell size.
    """
    if n < 1:
        raise InputError(f"batch size must be >= 1, got {n}")
    if split == "train" and isinstance(seed_or_generator, int):
        check_train_seed(seed_or_generator)
    seed = seed_or_generator if isinstance(seed_or_generator, int) else None
    gen = make_generator(seed_or_generator, device)
    task_ids = balanced_task_ids(gen, n, _task_pool(tasks))
    inputs, outputs = generate_cells(gen, task_ids, layout.n_pairs + 1)
    hw = layout.cell_size
    inputs, outputs = _resize(inputs, hw), _resize(outputs, hw)
    ex_in, ex_out = inputs[:, :-1], outputs[:, :-1]
    query, answer = inputs[:, -1], outputs[:, -1]
    cells = []
    for i in range(layout.n_pairs):
        cells += [ex_in[:, i], ex_out[:, i]]
    cells.append(query)
    canvas = place_cells(cells, layout, background)
    target = place_cells([*cells, answer], layout, background)
    return EpisodeBatch(canvas, target, task_ids, ex_in, ex_out, query, answer, layout,
                        TASK_NAMES, seed)
