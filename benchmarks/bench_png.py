"""Time the server's answer encoding: Pillow's PNG writer (compress_level=1, the server's
writer up to the seventeenth session) against ``backend_server.images.png_bytes``.

    python benchmarks/bench_png.py
    python benchmarks/bench_png.py --sizes 1024x1024 4096x3072 --repeat 7

Three kinds of answer at each size: a photograph-like one (gradients with grain, about
as compressible as a photograph), a smooth one (gradients) and a mask (two colours).
The two writers alternate, so both share the machine's load; every file is decoded back
by Pillow and compared with the answer. Prints median ms, MB and the speed-up.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend_server.images import png_bytes


def answers(width: int, height: int) -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x / width + y / height) / 2], -1)
    grain = rng.normal(0, 0.03, base.shape)
    mask = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(mask)
    for _ in range(12):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        r = int(rng.integers(min(width, height) // 20, min(width, height) // 5))
        draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=(255, 255, 255))
    return {
        "photograph-like": Image.fromarray((np.clip(base + grain, 0, 1) * 255).astype(np.uint8)),
        "smooth": Image.fromarray((base * 255).astype(np.uint8)),
        "mask": mask,
    }


def pillow_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def timed(encode: Callable[[Image.Image], bytes], image: Image.Image) -> tuple[float, bytes]:
    start = time.perf_counter()
    data = encode(image)
    return time.perf_counter() - start, data


def check(data: bytes, image: Image.Image) -> None:
    back = Image.open(io.BytesIO(data))
    if not np.array_equal(np.asarray(back.convert(image.mode)), np.asarray(image)):
        raise SystemExit("a file did not decode to the answer's pixels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1024x1024", "4096x3072"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'size':>10} {'answer':>16} {'Pillow ms':>10} {'MB':>6} {'ours ms':>8} {'MB':>6}"
          f" {'speed-up':>9}")
    for size in args.sizes:
        width, height = map(int, size.split("x"))
        for kind, image in answers(width, height).items():
            times: dict[str, list[float]] = {"pillow": [], "ours": []}
            sizes = {}
            for _ in range(args.repeat):
                for name, encode in (("pillow", pillow_png), ("ours", png_bytes)):
                    seconds, data = timed(encode, image)
                    times[name].append(seconds)
                    sizes[name] = len(data)
            for encode in (pillow_png, png_bytes):
                check(encode(image), image)
            old, new = (statistics.median(times[n]) * 1000 for n in ("pillow", "ours"))
            print(f"{size:>10} {kind:>16} {old:10.1f} {sizes['pillow'] / 1e6:6.2f} "
                  f"{new:8.1f} {sizes['ours'] / 1e6:6.2f} {old / new:8.2f}x")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
