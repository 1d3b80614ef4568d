"""Time the Krita plugin's pixel conversions (``visual_prompt.pixels``) for every channel
depth, optionally against another checkout's plugin, side by side.

    python benchmarks/bench_pixels.py
    python benchmarks/bench_pixels.py --size 4096x3072 --against /tmp/old/krita_plugin

For each colour space (RGBA U16 / F16 / F32 with a linear and an sRGB-curve profile):
``to_rgba8`` (reading a layer: Krita's native bytes -> 8-bit RGBA) and ``from_rgba8``
(writing the answer layer), then ``mask_from_rgba`` (a mask layer). Native pixels are
photograph-like values in [0, 1] (gradients with grain, opaque). The first call, which
builds the lookup tables, is timed apart; then the median of --repeat calls, the
checkouts alternating. Checks that both checkouts give the same bytes, or says by how
many levels they differ.

Plain Python like the plugin in Krita (no Qt, no numpy in the timed code).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPACES = [(depth, profile) for depth in ("U16", "F16", "F32")
          for profile in ("sRGB-elle-V2-g10.icc", "sRGB-elle-V2-srgbtrc.icc")]


def load_plugin(plugin_dir: Path, alias: str) -> str:
    """Import the plugin package in ``plugin_dir`` as ``alias`` (two checkouts side by
    side); its modules are then ``alias + ".name"``."""
    package = plugin_dir / "visual_prompt"
    spec = importlib.util.spec_from_file_location(
        alias, package / "__init__.py", submodule_search_locations=[str(package)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return alias


def load_pixels(plugin_dir: Path, alias: str) -> ModuleType:
    """``visual_prompt.pixels`` of the plugin in ``plugin_dir``."""
    return importlib.import_module(f"{load_plugin(plugin_dir, alias)}.pixels")


def photo_values(width: int, height: int) -> np.ndarray:
    """(H, W, 4) float64 in [0, 1]: B, G, R gradients with grain, alpha 1."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    colour = np.stack([x, y, (x + y) / 2], -1) ** 2.2 + rng.normal(0, 0.01, (height, width, 3))
    return np.concatenate([np.clip(colour, 0, 1), np.ones((height, width, 1))], -1)


def native_bytes(values: np.ndarray, depth: str) -> bytes:
    if depth == "U16":
        return np.round(values * 65535).astype("<u2").tobytes()
    return values.astype("<f2" if depth == "F16" else "<f4").tobytes()


def timed(fn: Callable[[], bytes], repeat: int, times: list[float]) -> bytes:
    out = b""
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out


def compare(name: str, calls: dict[str, Callable[[], bytes]], repeat: int) -> None:
    first: dict[str, float] = {}
    outputs: dict[str, bytes] = {}
    for label, fn in calls.items():
        start = time.perf_counter()
        outputs[label] = fn()
        first[label] = time.perf_counter() - start
    times: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(repeat):
        for label, fn in calls.items():
            timed(fn, 1, times[label])
    cells = [f"{label} {statistics.median(times[label]) * 1000:8.0f} ms "
             f"(first {first[label] * 1000:6.0f})" for label in calls]
    line = f"  {name:<44} " + "  ".join(cells)
    if len(calls) == 2:
        old, new = (statistics.median(t) for t in times.values())
        a, b = outputs.values()
        diff = max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0) if (
            len(a) == len(b) and a != b) else None
        same = "same bytes" if a == b else (
            f"differ by <= {diff} (byte units)" if diff is not None else "different")
        line += f"  x{old / new:5.1f}  {same}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2048x1536", help="layer size WxH")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", type=Path,
                        help="another checkout's krita_plugin folder, timed first")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    modules = {"this": load_pixels(REPO / "krita_plugin", "vp_this")}
    if args.against:
        modules = {"other": load_pixels(args.against, "vp_other"), **modules}
    print(f"{args.size}, median of {args.repeat}, load {os.getloadavg()[0]:.2f}, "
          f"checkouts: {', '.join(modules)}")
    values = photo_values(width, height)
    rgba = np.round(values[..., [2, 1, 0, 3]] * 255).astype(np.uint8).tobytes()
    for depth, profile in SPACES:
        data = native_bytes(values, depth)
        fmts = {k: m.PixelFormat("RGBA", depth, profile) for k, m in modules.items()}
        compare(f"read  {depth} {profile}",
                {k: (lambda m=m, f=fmts[k], d=data: m.to_rgba8(d, f)) for k, m in modules.items()},
                args.repeat)
        compare(f"write {depth} {profile}",
                {k: (lambda m=m, f=fmts[k]: m.from_rgba8(rgba, f))
                 for k, m in modules.items()}, args.repeat)
    half = bytearray(rgba)
    half[3::4] = bytes(range(256)) * (len(half) // 4 // 256) + bytes(len(half) // 4 % 256)
    for name, layer in (("mask  opaque layer", rgba), ("mask  layer with transparency",
                                                        bytes(half))):
        compare(name, {k: (lambda m=m, d=layer: m.mask_from_rgba(d))
                       for k, m in modules.items()}, args.repeat)


if __name__ == "__main__":
    main()
