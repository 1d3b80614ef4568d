"""The channel maps (``visprompt_core.channel_map``) on held-out episodes and on pictures:
the gate per family, the answers with and without the maps, and pictures changed by PIL.

    python benchmarks/bench_channel_maps.py --episodes 32 --seed-index 2933

Part 1, the gate: for ``--episodes`` episodes per family in 2x2 and in 3x2 (evaluation
seeds), how many prompts' example pairs pass ``ChannelMaps.explains`` (before the
agreement check, which needs the model's answer).
Part 2, the answers: the same 2x2 episodes answered as the evaluation answers them
(``detail.refine_cells`` with the model's recipe), with the channel maps and without;
the score per family where the two differ, with the episodes better and worse, and the
time of the refinement either way.
Part 3, pictures: smooth 8-bit pictures of 300x400 px (gradients and blurred noise)
changed by PIL (channel maps: a channel swap, greyscale, inversion, levels,
autocontrast, brightness, a sepia; no channel maps: a posterize, equalize, a gamma curve,
more saturation, a blur, and the swap saved as JPEG), fitted to 111-px cells: how many
pass the gate, and the largest and smallest error the best lines leave.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable

import numpy as np
import torch
from bench_boxes import answers_part
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from visprompt_core import canvas as cv
from visprompt_core.channel_map import MAX_ERROR, fit_channel_maps
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.tasks import TASK_NAMES
from visprompt_core.linear_filter import stack_pairs


def gate_part(episodes_per_family: int, seed_index: int) -> None:
    passed = dict.fromkeys(TASK_NAMES, 0)
    for offset, layout in enumerate((cv.LAYOUT_2X2, cv.LAYOUT_3X2)):
        episodes = generate_batch(episodes_per_family * len(TASK_NAMES),
                                  episode_seed("eval", seed_index + offset), layout=layout)
        inputs, outputs, real = stack_pairs(episodes.examples_in, episodes.examples_out)
        found = fit_channel_maps(inputs, outputs, real).explains()
        for name, ok in zip(episodes.names, found.tolist()):
            passed[name] += ok
    print(f"gate: {episodes_per_family} episodes per family in 2x2 and in 3x2 (seed indices "
          f"{seed_index}, {seed_index + 1}): prompts whose example pairs are one channel map")
    for name in TASK_NAMES:
        if passed[name]:
            print(f"  {name:<18}{passed[name]:>4} / {2 * episodes_per_family}")
    print(f"  none in: {', '.join(name for name in TASK_NAMES if not passed[name])}")


def smooth_picture(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    """Colour gradients and blurred noise: a picture with many levels per channel."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    waves = np.stack([np.sin(rng.uniform(3, 9) * x + rng.uniform(0, 6)),
                      np.cos(rng.uniform(3, 9) * y + rng.uniform(0, 6)),
                      np.sin(rng.uniform(3, 9) * (x + y))], -1)
    noise = Image.fromarray(rng.integers(0, 256, (h // 10, w // 10, 3), dtype=np.uint8))
    blurred = np.asarray(noise.resize((w, h), Image.Resampling.BICUBIC)) / 255
    mixed = 0.5 * (waves + 1) / 2 + 0.5 * blurred
    return Image.fromarray((mixed * 255).round().clip(0, 255).astype(np.uint8))


def jpeg(picture: Image.Image, quality: int = 90) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def sepia(picture: Image.Image) -> Image.Image:
    grey = ImageOps.grayscale(picture)
    return Image.merge("RGB", [grey.point(lambda v, k=k: min(255, round(v * k)))
                               for k in (1.1, 0.95, 0.8)])


def pictures_part(count: int) -> None:
    rng = np.random.default_rng(0)
    box_in, box_out = cv.LAYOUT_2X2.pairs[0]
    swap = lambda p: Image.fromarray(np.asarray(p)[..., [2, 0, 1]])  # noqa: E731
    changes: dict[str, Callable[[Image.Image], Image.Image]] = {
        "channel swap": swap,
        "greyscale": lambda p: p.convert("L").convert("RGB"),
        "inversion": ImageOps.invert,
        "levels": lambda p: p.point(lambda v: round(40 + 0.7 * v)),
        "autocontrast": ImageOps.autocontrast,
        "brightness x0.7": lambda p: ImageEnhance.Brightness(p).enhance(0.7),
        "sepia (luma x 1.1, 0.95, 0.8)": sepia,
        "posterize (2 bits)": lambda p: ImageOps.posterize(p, 2),
        "equalize": ImageOps.equalize,
        "gamma 0.5": lambda p: p.point(lambda v: round(255 * (v / 255) ** 0.5)),
        "saturation x1.5": lambda p: ImageEnhance.Color(p).enhance(1.5),
        "blur": lambda p: p.filter(ImageFilter.GaussianBlur(2)),
        "channel swap, JPEG q90": lambda p: jpeg(swap(p)),
    }
    print(f"\npictures: {count} smooth 8-bit pictures of 300x400 px, fitted to 111-px cells; "
          f"gate {MAX_ERROR:g}")
    print(f"{'change':<32}{'passed':>8}{'largest error':>16}{'smallest error':>16}")
    for name, change in changes.items():
        passed, errors = 0, []
        for _ in range(count):
            picture = smooth_picture(rng, 300, 400)
            cells = [cv.pil_to_tensor(cv.fit_cell(p, box))[None, None]
                     for p, box in zip((picture, change(picture)), (box_in, box_out))]
            maps = fit_channel_maps(*cells, torch.ones(1, 1, 1, 1, 1))
            passed += int(maps.explains()[0])
            errors.append(float(maps.error[0].max()))
        print(f"{name:<32}{passed:>5}/{count}{max(errors):>16.2e}{min(errors):>16.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--episodes", type=int, default=32, help="per family and layout")
    parser.add_argument("--seed-index", type=int, default=2933)
    parser.add_argument("--pictures", type=int, default=16)
    args = parser.parse_args()
    gate_part(args.episodes, args.seed_index)
    pictures_part(args.pictures)
    answers_part(args.model, args.episodes, args.seed_index, option="channel_maps",
                 label="the channel maps")


if __name__ == "__main__":
    main()
