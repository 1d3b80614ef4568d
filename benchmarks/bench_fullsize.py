"""Time the full-size steps of an answer, whole planes against bands of rows.

    python benchmarks/bench_fullsize.py
    python benchmarks/bench_fullsize.py --sizes 1024x768 4096x3072 --repeat 5

For each answer size, the three full-size steps a prompt can end with, from the RGB
query at the answer size and the 111-px answer cell to the RGB answer:

* guided: the query-guided filter (``upsample.guided_upsample_image``);
* guided + colour map: the same with the example pair's colour map on every pixel
  (``colour_map.ColourLookup``), the path of a colour task;
* channel map: the query through the example's channel lines (``bands.map_image``).

"whole" is the same step on whole float planes of the image, as the pipeline computed it
before the seventeenth session (torch's bilinear ``interpolate`` of the filter's
coefficient planes, ``colour_map.apply_colour_maps``, ``canvas.pil_to_tensor`` and
``tensor_to_pil``); "bands" is the pipeline's code. Both run alternately in one process,
so the ratio is measured side by side. ``--memory`` runs each path once more in a fresh
process and prints how much it adds at its peak to the resident memory (Linux). Also
prints how many pixels the two differ by (at most one level, at rounding ties of the
interpolation).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from visprompt_core import bands
from visprompt_core import canvas as cv
from visprompt_core.channel_map import ChannelMaps
from visprompt_core.colour_map import BINS, ColourLookup, ColourMaps, apply_colour_maps
from visprompt_core.memory import keep_freed_memory
from visprompt_core.model import configure_threads
from visprompt_core.upsample import guided_coefficients, guided_upsample_image

PATHS = ("guided", "guided + colour map", "channel map")


def inputs(width: int, height: int) -> tuple[Image.Image, torch.Tensor, ColourMaps,
                                             ChannelMaps]:
    """A photo-like query (smooth colour fields with noise, made in 8 bits so that the
    set-up adds little to the peak memory), an answer cell, a colour map that covers
    half the colour bins, and a channel swap."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    fields = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    fields = fields.resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 40) for _ in range(3)])
    query = Image.blend(fields, noise, 0.1)
    cell = cv.pil_to_tensor(query.resize((111, 111), Image.Resampling.BICUBIC)).flip(0)
    colours = ColourMaps(torch.rand(1, BINS ** 3, 3), torch.rand(1, BINS ** 3) > 0.5,
                         torch.zeros(1))
    swap = ChannelMaps(torch.tensor([[2, 0, 1]]), torch.ones(1, 3), torch.zeros(1, 3),
                       torch.zeros(1, 3), torch.full((1,), 16), torch.ones(1),
                       torch.ones(1, 3, dtype=torch.bool))
    return query, cell, colours, swap


def whole_guided(cell: torch.Tensor, query: Image.Image,
                 colours: ColourMaps | None = None) -> Image.Image:
    """The guided filter (and colour map) on whole float planes."""
    guide = cv.pil_to_tensor(query).contiguous()
    low = F.interpolate(guide[None], size=cell.shape[-2:], mode="area")
    a, b = guided_coefficients(low, cell[None], 2, 1e-3)
    size = guide.shape[-2:]

    def up(planes: torch.Tensor) -> torch.Tensor:  # one plane per image, as before
        out = F.interpolate(planes.reshape(-1, 1, *planes.shape[-2:]), size=size,
                            mode="bilinear", align_corners=False)
        return out.view(*planes.shape[:-2], *size)

    out = up(b)
    for k in range(3):
        out.addcmul_(up(a[:, :, k]), guide[None, k:k + 1])
    out = out.clamp_(0, 1)
    if colours is not None:
        out = apply_colour_maps(colours, guide[None], out)
    return cv.tensor_to_pil(out[0])


def runners(width: int, height: int) -> dict[str, tuple[Callable[[], Image.Image],
                                                          Callable[[], Image.Image]]]:
    query, cell, colours, swap = inputs(width, height)
    lookup = ColourLookup.of(colours)
    return {
        "guided": (lambda: whole_guided(cell, query),
                   lambda: guided_upsample_image(cell, query)),
        "guided + colour map": (lambda: whole_guided(cell, query, colours),
                                lambda: guided_upsample_image(cell, query, lookup)),
        "channel map": (lambda: cv.tensor_to_pil(swap.apply(cv.pil_to_tensor(query)[None])[0]),
                        lambda: bands.map_image(query, swap.apply)),
    }


def alternate(whole: Callable[[], Image.Image], banded: Callable[[], Image.Image],
              warmup: int, repeat: int) -> tuple[float, float]:
    for _ in range(warmup):
        whole(), banded()
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(repeat):
        for key, fn in enumerate((whole, banded)):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


PEAK_CHILD = """
import sys
sys.path.insert(0, {here!r})
from visprompt_core.memory import keep_freed_memory
keep_freed_memory()
import bench_fullsize as b
fn = b.runners({width}, {height})[{path!r}][{index}]
def rss(field):
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as refs:  # the peak starts again from here
    refs.write("5")
before = rss("VmRSS")
fn()
print(rss("VmHWM") - before)
"""


def peak_memory(width: int, height: int, path: str, banded: bool) -> float | None:
    """MiB the step adds at its peak to the resident memory of a fresh process that has
    built its inputs (Linux: the peak is reset through /proc/self/clear_refs); None where
    that is not available."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    code = PEAK_CHILD.format(here=os.path.dirname(os.path.abspath(__file__)), width=width,
                             height=height, path=path, index=int(banded))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1024x768", "2048x1536", "4096x3072"],
                        help="answer sizes WxH")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch intra-op threads")
    parser.add_argument("--memory", action="store_true",
                        help="also the peak resident memory of each path in a fresh process")
    args = parser.parse_args()
    keep_freed_memory()
    configure_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    print(f"{'size':>10} {'step':<20} {'whole ms':>9} {'bands ms':>9} {'speed-up':>8} "
          f"{'pixels differing':>17}"
          + ("  MiB added at the peak, whole / bands" if args.memory else ""))
    for size in args.sizes:
        width, height = map(int, size.split("x"))
        for name, (whole, banded) in runners(width, height).items():
            slow, fast = alternate(whole, banded, args.warmup, args.repeat)
            a, b = np.asarray(whole()), np.asarray(banded())
            differing = int((a != b).any(-1).sum())
            line = (f"{size:>10} {name:<20} {slow * 1000:9.1f} {fast * 1000:9.1f} "
                    f"{slow / fast:7.2f}x {differing:>8} (max {np.abs(a.astype(int) - b).max()})")
            if args.memory:
                peaks = [peak_memory(width, height, name, banded) for banded in (False, True)]
                line += "  " + " / ".join("n/a" if p is None else f"{p:.0f}" for p in peaks)
            print(line)


if __name__ == "__main__":
    main()
