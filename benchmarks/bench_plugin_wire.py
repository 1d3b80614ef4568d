"""Time what the Krita plugin does with pixels around a prompt, before and after the
eighteenth session: encoding the layers it sends, and decoding the answer.

    python benchmarks/bench_plugin_wire.py
    python benchmarks/bench_plugin_wire.py --sizes 4096x3072 --repeat 5

Layers are photograph-like (gradients with grain; opaque). Side by side, alternating:

* one layer: Qt's PNG writer on RGBA pixels (the plugin's encoder before) against the
  plugin's ``png.encode_rgba`` (its own writer; RGB where opaque);
* a whole request of one example pair and a query, all the document's size: before,
  every layer through Qt at full size; now, the examples scaled to ``EXAMPLE_SIDE``
  first. Prints the time to encode and the images' base64 MB (the server refuses bodies
  over 64 MiB by default);
* the answer: QImage decoding a file from Pillow (compress_level=1, the server's writer
  before) against one from ``backend_server.images.png_bytes``.

Runs in this Python with PyQt5 (the dev extra), not inside Krita; Krita's GUI thread
does the same work with the same Qt.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "krita_plugin")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PyQt5.QtCore import QBuffer, QByteArray, QIODevice  # noqa: E402
from PyQt5.QtGui import QImage  # noqa: E402
from visual_prompt import png  # noqa: E402
from visual_prompt.controller import example_size  # noqa: E402
from visual_prompt.document import Rect  # noqa: E402

from backend_server.images import png_bytes  # noqa: E402


def layer(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x / width + y / height) / 2], -1)
    rgb = (np.clip(np.roll(base, seed * 97, 1) + rng.normal(0, 0.03, base.shape), 0, 1) * 255)
    alpha = np.full((height, width, 1), 255, np.uint8)
    return np.concatenate([rgb.astype(np.uint8), alpha], -1).tobytes()


def qt_png(rgba: bytes, width: int, height: int) -> bytes:
    """The plugin's encoder up to the seventeenth session."""
    image = QImage(rgba, width, height, width * 4, QImage.Format.Format_RGBA8888)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("Qt could not write the PNG")
    buffer.close()
    return bytes(data.data())


def request_before(layers: list[bytes], width: int, height: int) -> int:
    return sum(len(base64.b64encode(qt_png(rgba, width, height))) for rgba in layers)


def request_now(layers: list[bytes], width: int, height: int) -> int:
    *examples, query = layers
    size = example_size(Rect(0, 0, width, height))
    sent = [png.scale_rgba(rgba, width, height, *size) for rgba in examples]
    return sum(len(base64.b64encode(png.encode_rgba(rgba, *size))) for rgba in sent) + len(
        base64.b64encode(png.encode_rgba(query, width, height)))


def pillow_png(rgba: bytes, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGBA", (width, height), rgba).convert("RGB").save(
        buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def our_png(rgba: bytes, width: int, height: int) -> bytes:
    return png_bytes(Image.frombytes("RGBA", (width, height), rgba).convert("RGB"))


def alternate(variants: dict[str, Callable[[], object]], repeat: int
              ) -> dict[str, tuple[float, object]]:
    """Median seconds of each variant, run in turn ``repeat`` times, and its last result."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    results: dict[str, object] = {}
    for _ in range(repeat):
        for name, run in variants.items():
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), results[name]) for name in variants}


def measure(size: str, repeat: int) -> None:
    w, h = map(int, size.split("x"))
    layers = [layer(w, h, seed) for seed in range(3)]
    query = layers[-1]
    one = alternate({"Qt": lambda: len(qt_png(query, w, h)),
                     "ours": lambda: len(png.encode_rgba(query, w, h))}, repeat)
    whole = alternate({"before": lambda: request_before(layers, w, h),
                       "now": lambda: request_now(layers, w, h)}, repeat)
    files = {"Pillow": pillow_png(query, w, h), "ours": our_png(query, w, h)}
    back = alternate({name: (lambda data=data: png.decode_rgba(data)[0])
                      for name, data in files.items()}, repeat)
    if back["Pillow"][1] != back["ours"][1] or png.decode_rgba(
            png.encode_rgba(query, w, h))[0] != query:
        raise SystemExit("the files did not decode to the same pixels")
    (qt_s, qt_n), (our_s, our_n) = one["Qt"], one["ours"]
    (old_s, old_n), (new_s, new_n) = whole["before"], whole["now"]
    print(f"\n{size}, photograph-like opaque layers, median of {repeat}")
    print(f"  one layer: Qt {qt_s * 1000:.0f} ms ({qt_n / 1e6:.1f} MB), ours "
          f"{our_s * 1000:.0f} ms ({our_n / 1e6:.1f} MB): {qt_s / our_s:.2f}x")
    print(f"  request (a pair and the query): before {old_s * 1000:.0f} ms, "
          f"{old_n / 2**20:.1f} MiB base64; now {new_s * 1000:.0f} ms, "
          f"{new_n / 2**20:.1f} MiB: {old_s / new_s:.2f}x")
    print(f"  answer decoded by QImage: Pillow's file ({len(files['Pillow']) / 1e6:.1f} MB)"
          f" {back['Pillow'][0] * 1000:.0f} ms, ours ({len(files['ours']) / 1e6:.1f} MB) "
          f"{back['ours'][0] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1024x768", "4096x3072"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    for size in args.sizes:
        measure(size, args.repeat)
    print(f"\nload {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
