"""Regenerate the sample images shipped in visprompt_core/samples (deterministic).

    python scripts/make_samples.py

Each sample is one held-out synthetic episode at 256 px: <task>_example_in.png,
<task>_example_out.png, <task>_query.png and <task>_expected.png. The ``outline_to_fill``
sample is drawn line art instead (``visprompt_core.data.line_art``: antialiased 3-px
outlines, about 1.3 px in the 111-px cell), the kind a drawing program makes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from visprompt_core.canvas import tensor_to_pil
from visprompt_core.data.episodes import episode_seed, generate_cells
from visprompt_core.data.line_art import Shape, draw_line_art
from visprompt_core.data.tasks import TASK_NAMES
from visprompt_core.demo import SAMPLE_TASKS

OUT = Path(__file__).resolve().parents[1] / "visprompt_core" / "samples"
SIZE = 256
# The drawn sample: an example pair of two outlines and their fills; a query of other
# outlines, one inside another (it keeps its own colour and fills its own inside).
SHOWN: list[Shape] = [("ellipse", (0.08, 0.12, 0.50, 0.55), (200, 40, 50)),
                      ("box", (0.58, 0.30, 0.90, 0.85), (40, 70, 190))]
ASKED: list[Shape] = [("ellipse", (0.10, 0.08, 0.80, 0.48), (30, 140, 70)),
                      ("ellipse", (0.30, 0.16, 0.52, 0.38), (230, 170, 20)),
                      ("box", (0.14, 0.58, 0.44, 0.90), (140, 50, 160)),
                      ("ellipse", (0.56, 0.56, 0.92, 0.92), (20, 120, 190))]
LINE = 3.0


def drawn_sample() -> dict[str, Image.Image]:
    return {"example_in": draw_line_art(SHOWN, (SIZE, SIZE), LINE, False),
            "example_out": draw_line_art(SHOWN, (SIZE, SIZE), LINE, True),
            "query": draw_line_art(ASKED, (SIZE, SIZE), LINE, False),
            "expected": draw_line_art(ASKED, (SIZE, SIZE), LINE, True)}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for i, task in enumerate(SAMPLE_TASKS):
        if task == "outline_to_fill":
            files = drawn_sample()
        else:
            gen = torch.Generator().manual_seed(episode_seed("eval", 10_000 + i))
            ids = torch.tensor([TASK_NAMES.index(task)])
            inputs, outputs = generate_cells(gen, ids, n_scenes=2, size=SIZE)
            files = {"example_in": inputs[0, 0], "example_out": outputs[0, 0],
                     "query": inputs[0, 1], "expected": outputs[0, 1]}
            files = {name: tensor_to_pil(tensor) for name, tensor in files.items()}
        for name, image in files.items():
            image.save(OUT / f"{task}_{name}.png", optimize=True)
        print("wrote", task)


if __name__ == "__main__":
    main()
