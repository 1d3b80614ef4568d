"""How long a prompt's start keeps Krita's GUI thread busy, before and after the encoding
moved to a worker thread (nineteenth session).

    python benchmarks/bench_plugin_prepare.py --against /tmp/old/krita_plugin
    python benchmarks/bench_plugin_prepare.py --size 4096x3072 --depths U8 F16

A document of --size with an example pair and a query, three full-size layers of
photograph-like pixels (gradients with grain, opaque), in the test suite's stand-in for
Krita's ``krita`` module (``tests/plugin/fake_krita.py``: layers are native bytes, as
Krita hands them out). For each depth (linear "g10" profiles above 8 bits, Krita's
default there):

* this checkout: ``controller.read`` (the GUI thread's part: copying the layers) and
  ``controller.encode`` (the worker thread's: converting, scaling, PNG files), then the
  longest a 5 ms Python timer on the main thread waits while ``encode`` runs on another
  (the GIL: how long a Python slot in Krita may be held up);
* with --against, the other checkout's ``controller.prepare``, which did everything on
  the GUI thread.

Median of --repeat runs, the checkouts alternating; checks that both give the same
request.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "plugin"), str(REPO / "benchmarks")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import fake_krita  # noqa: E402
from bench_pixels import load_plugin, native_bytes, photo_values  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

sys.modules["krita"] = fake_krita  # the plugin imports ``krita`` lazily
PROFILES = {"U8": "sRGB-elle-V2-srgbtrc.icc", "U16": "sRGB-elle-V2-g10.icc",
            "F16": "sRGB-elle-V2-g10.icc", "F32": "sRGB-elle-V2-g10.icc"}


def plugin_modules(plugin_dir: Path, alias: str) -> dict[str, ModuleType]:
    """The plugin in ``plugin_dir`` as package ``alias``: its controller, krita_api, png."""
    package = load_plugin(plugin_dir, alias)
    return {name: importlib.import_module(f"{package}.{name}")
            for name in ("controller", "krita_api", "png")}


def wire_images(request: Any) -> list[str]:
    """A request's base64 images (the two checkouts' request classes differ)."""
    return [request.query] + [t for p in request.examples for t in (p.input, p.output)]


def longest_pause(encode: Any, reading: Any) -> float:
    """Seconds of the longest wait of a 5 ms Python timer on this thread while ``encode``
    runs on another, as the plugin runs it: how long Krita's GUI thread may wait for the
    GIL when a Python slot is due."""
    worker = threading.Thread(target=encode, args=(reading,))
    longest, last = 0.0, time.perf_counter()
    worker.start()
    while worker.is_alive():
        time.sleep(0.005)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


def max_difference(png: ModuleType, before: Any, now: Any) -> int:
    """0 for the same request, else the largest difference of their decoded pixels."""
    if wire_images(before) == wire_images(now):
        return 0
    largest = 0
    for a, b in zip(wire_images(before), wire_images(now), strict=True):
        pixels_a = np.frombuffer(png.decode_rgba(png.b64decode(a))[0], np.uint8)
        pixels_b = np.frombuffer(png.decode_rgba(png.b64decode(b))[0], np.uint8)
        largest = max(largest, int(np.abs(pixels_a.astype(int) - pixels_b).max()))
    return largest


def document(width: int, height: int, depth: str) -> fake_krita.Document:
    doc = fake_krita.Krita.instance().createDocument(width, height, "bench", "RGBA", depth,
                                                      PROFILES[depth], 72.0)
    root = doc.rootNode()
    for seed, name in enumerate(("example in", "example out", "query")):
        values = np.roll(photo_values(width, height), seed * 97, 1)
        if depth in ("F16", "F32"):  # R, G, B, A; photo_values gives B, G, R, A
            values = values[..., [2, 1, 0, 3]]
        node = doc.createNode(name, "paintlayer")
        root.addChildNode(node, root.childNodes()[-1] if root.childNodes() else None)
        node.setPixelData(native_bytes(values, depth) if depth != "U8" else
                          np.round(values * 255).astype(np.uint8).tobytes(),
                          0, 0, width, height)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="4096x3072", help="document size WxH")
    parser.add_argument("--depths", nargs="+", default=["U8", "U16", "F16", "F32"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", type=Path,
                        help="another checkout's krita_plugin folder (encodes on the GUI thread)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    this = plugin_modules(REPO / "krita_plugin", "vp_this")
    other = plugin_modules(args.against, "vp_other") if args.against else None
    width, height = map(int, args.size.split("x"))
    print(f"{args.size}, median of {args.repeat}, load {os.getloadavg()[0]:.2f}")
    for depth in args.depths:
        doc = document(width, height, depth)
        ids = {n.name(): this["krita_api"].node_id(n) for n in doc.rootNode().childNodes()}
        times: dict[str, list[float]] = {"read": [], "encode": [], "before": []}
        requests: dict[str, Any] = {}
        for _ in range(args.repeat):
            if other is not None:
                choices = other["controller"].Choices(
                    pairs=[(ids["example in"], ids["example out"])], query=ids["query"],
                    mask="none")
                start = time.perf_counter()
                requests["before"], _ = other["controller"].prepare(
                    other["krita_api"].KritaDocument(doc), choices)
                times["before"].append(time.perf_counter() - start)
            choices = this["controller"].Choices(
                pairs=[(ids["example in"], ids["example out"])], query=ids["query"],
                mask="none")
            start = time.perf_counter()
            reading = this["controller"].read(this["krita_api"].KritaDocument(doc), choices)
            middle = time.perf_counter()
            requests["now"], _ = this["controller"].encode(reading)
            times["read"].append(middle - start)
            times["encode"].append(time.perf_counter() - middle)
        read_ms, encode_ms = (statistics.median(times[k]) * 1000 for k in ("read", "encode"))
        pause_ms = longest_pause(this["controller"].encode, reading) * 1000
        row = (f"  {depth} {PROFILES[depth]:<26} GUI thread now {read_ms:7.0f} ms, "
               f"worker {encode_ms:7.0f} ms (GUI thread's Python paused <= {pause_ms:.0f} ms)")
        if other is not None:
            before = statistics.median(times["before"])
            difference = max_difference(this["png"], requests["before"], requests["now"])
            row += (f"; before, all on the GUI thread {before * 1000:7.0f} ms "
                    f"(x{before * 1000 / read_ms:.0f} less now); "
                    + ("same request" if difference == 0 else
                       f"pixels differ by at most {difference} level(s)"))
        print(row, flush=True)
        del doc
    app.quit()


if __name__ == "__main__":
    main()
