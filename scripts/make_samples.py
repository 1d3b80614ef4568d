"""Regenerate the sample images shipped in visprompt_core/samples (deterministic).

    python scripts/make_samples.py

Each sample is one held-out synthetic episode at 256 px: <task>_example_in.png,
<task>_example_out.png, <task>_query.png and <task>_expected.png.
"""

from __future__ import annotations

from pathlib import Path

import torch

from visprompt_core.canvas import tensor_to_pil
from visprompt_core.data.episodes import episode_seed, generate_cells
from visprompt_core.data.tasks import TASK_NAMES
from visprompt_core.demo import SAMPLE_TASKS

OUT = Path(__file__).resolve().parents[1] / "visprompt_core" / "samples"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for i, task in enumerate(SAMPLE_TASKS):
        gen = torch.Generator().manual_seed(episode_seed("eval", 10_000 + i))
        ids = torch.tensor([TASK_NAMES.index(task)])
        inputs, outputs = generate_cells(gen, ids, n_scenes=2, size=256)
        files = {"example_in": inputs[0, 0], "example_out": outputs[0, 0],
                 "query": inputs[0, 1], "expected": outputs[0, 1]}
        for name, tensor in files.items():
            tensor_to_pil(tensor).save(OUT / f"{task}_{name}.png", optimize=True)
        print("wrote", task)


if __name__ == "__main__":
    main()
