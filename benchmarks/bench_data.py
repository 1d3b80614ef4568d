"""Synthetic episode throughput: canvases/s of ``generate_batch`` (CPU, and CUDA if present).

    python benchmarks/bench_data.py [--batch 256] [--iters 5] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from visprompt_core.canvas import LAYOUT_2X2, LAYOUT_3X2
from visprompt_core.data.episodes import generate_batch


def bench(device: str, batch: int, iters: int) -> None:
    for layout in (LAYOUT_2X2, LAYOUT_3X2):
        generate_batch(batch, 0, device=device, layout=layout)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(iters):
            generate_batch(batch, i + 1, device=device, layout=layout)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        print(f"{device:5s} {layout.name} batch {batch}: {batch * iters / dt:9.0f} canvases/s "
              f"({dt / iters * 1000:.1f} ms/batch)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0: torch's default); use 1 on a busy machine")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    bench("cpu", args.batch, args.iters)
    if torch.cuda.is_available():
        bench("cuda", args.batch, max(args.iters, 20))


if __name__ == "__main__":
    main()
