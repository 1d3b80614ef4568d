"""The symmetry gate (``visprompt_core.symmetry``) on held-out pairs, per family.

    python benchmarks/bench_symmetry.py --episodes 32 --seed-index 2910

Part 1, cells: for every example pair of ``--episodes`` episodes per family, 2x2 and 3x2
(evaluation seeds), the smallest error of a view other than the identity and the
identity's error (mean squared difference per value), and how many prompts pass the
gate (``find_symmetries``), against ``MAX_ERROR``.
Part 2, pictures as an artist hands them in: ``--pictures`` random 300x400 pictures of
flat shapes, each mirrored or turned by PIL and both saved as JPEG at ``--quality``,
then fitted to the canvas cells as the pipeline fits them (``canvas.fit_cell``): the same
figures for each view, and for the unchanged picture and a blurred one (no symmetry).
"""

from __future__ import annotations

import argparse
import io
from collections import defaultdict

import numpy as np
import torch
from PIL import Image, ImageFilter

from visprompt_core import canvas as cv
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.tasks import TASK_NAMES
from visprompt_core.symmetry import MAX_ERROR, NONE, find_symmetries, view_errors
from visprompt_core.views import VIEWS


def cells_part(episodes_per_family: int, seed_index: int) -> None:
    best: dict[str, list[float]] = defaultdict(list)
    unchanged: dict[str, list[float]] = defaultdict(list)
    passed: dict[str, int] = defaultdict(int)
    prompts: dict[str, int] = defaultdict(int)
    for offset, layout in enumerate((cv.LAYOUT_2X2, cv.LAYOUT_3X2)):
        episodes = generate_batch(episodes_per_family * len(TASK_NAMES),
                                  episode_seed("eval", seed_index + offset), layout=layout)
        inputs, outputs = episodes.examples_in, episodes.examples_out
        b, p = inputs.shape[:2]
        errors = view_errors(inputs.flatten(0, 1), outputs.flatten(0, 1)).view(b, p, -1)
        found = find_symmetries(inputs, outputs, torch.ones(b, p, 1, 1, 1))
        for name, row, view in zip(episodes.names, errors, found.tolist()):
            best[name] += row[:, 1:].min(1).values.tolist()
            unchanged[name] += row[:, 0].tolist()
            passed[name] += view != NONE
            prompts[name] += 1
    print(f"cells: {episodes_per_family} episodes per family in 2x2 and in 3x2 (seed indices "
          f"{seed_index}, {seed_index + 1}); gate {MAX_ERROR:g}")
    print(f"{'family':<18}{'pairs':>6}{'best view: min':>16}{'median':>10}{'max':>10}"
          f"{'identity: min':>15}{'passed':>10}")
    for name in TASK_NAMES:
        errs, same = torch.tensor(best[name]), torch.tensor(unchanged[name])
        print(f"{name:<18}{len(errs):>6}{errs.min():>16.5f}{errs.median():>10.5f}"
              f"{errs.max():>10.5f}{same.min():>15.5f}{passed[name]:>6}/{prompts[name]}")


def shapes(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    """Flat rectangles and ellipses of random colours on a random background."""
    picture = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
    for _ in range(8):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        box = (x0, y0, x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2)))
        layer = Image.new("RGB", picture.size, tuple(int(v) for v in rng.integers(0, 256, 3)))
        mask = Image.new("L", picture.size, 0)
        shape = Image.new("L", (box[2] - box[0], box[3] - box[1]), 255)
        mask.paste(shape, box[:2])
        picture = Image.composite(layer, picture, mask)
    return picture


def jpeg(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def pictures_part(count: int, quality: int) -> None:
    rng = np.random.default_rng(0)
    layout = cv.LAYOUT_2X2
    box_in, box_out = layout.pairs[0]
    variants = {view.name: view.apply_image for view in VIEWS[1:]}
    variants["unchanged"] = lambda picture: picture
    variants["blurred"] = lambda picture: picture.filter(ImageFilter.GaussianBlur(2))
    rows: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for _ in range(count):
        picture = shapes(rng, 300, 400)
        for name, change in variants.items():
            pair = [jpeg(p, quality) for p in (picture, change(picture))]
            cells = [cv.pil_to_tensor(cv.fit_cell(p, box)) for p, box in
                     zip(pair, (box_in, box_out))]
            errors = view_errors(cells[0][None], cells[1][None])[0]
            found = find_symmetries(cells[0][None, None], cells[1][None, None],
                                    torch.ones(1, 1, 1, 1, 1))
            rows[name].append((float(errors[1:].min()), float(errors[0]), int(found)))
    print(f"\npictures: {count} of 300x400 px, JPEG quality {quality}, fitted to 111-px cells")
    print(f"{'output':<26}{'best view: min':>16}{'max':>10}{'identity: min':>15}"
          f"{'found as itself':>17}")
    for name, found in rows.items():
        best, same, views = zip(*found)
        right = sum(VIEWS[v].name == name for v in views if v != NONE)
        print(f"{name:<26}{min(best):>16.5f}{max(best):>10.5f}{min(same):>15.5f}"
              f"{right:>11}/{count}"
              f"   (any view: {sum(v != NONE for v in views)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=32, help="per family and layout")
    parser.add_argument("--seed-index", type=int, default=2910)
    parser.add_argument("--pictures", type=int, default=16)
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    args = parser.parse_args()
    cells_part(args.episodes, args.seed_index)
    pictures_part(args.pictures, args.quality)


if __name__ == "__main__":
    main()
