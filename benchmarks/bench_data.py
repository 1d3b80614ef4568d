"""How fast does the synthetic task generator make training canvases? Per family and mixed.

    python benchmarks/bench_data.py                              # CPU, batch 64
    python benchmarks/bench_data.py --layout 3x2 --threads 1
    PYTHONPATH=. python3 benchmarks/bench_data.py --device cuda --batches 256 1024

On the H200 the fifth session's training was bound by this generator: the MAE trained at
2,836 canvases/s (the model alone manages about twice that) and the tokenizer stage, 512
canvases generated per step, at 6 steps/s. The table says which families to make cheaper
and whether larger batches amortise the cost (per-launch overhead) or not (per-pixel work).

Each row: median seconds of ``generate_batch`` for one batch of that family alone (``--layout``,
the training split's seeds), the device synchronised around each call, and the
canvases per second that gives. "all" is the mixed batch training uses.
"""

from __future__ import annotations

import argparse
import itertools

import torch
from bench_inference import timed

from visprompt_core.canvas import LAYOUT_2X2, LAYOUT_3X2, Layout
from visprompt_core.data.episodes import generate_batch
from visprompt_core.data.tasks import TASK_NAMES

LAYOUTS = {"2x2": LAYOUT_2X2, "3x2": LAYOUT_3X2}


def seconds_per_batch(batch: int, tasks: list[str], layout: Layout, device: torch.device,
                      repeat: int) -> float:
    seeds = itertools.count(1)  # a new training seed for every call, the warm-up's too
    return timed(lambda: generate_batch(batch, next(seeds), device=device, layout=layout,
                                        tasks=tasks, split="train"),
                 warmup=1, repeat=repeat, sync=device.type == "cuda")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[64])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="2x2")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default); 1 on a busy machine")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads")
    print(f"generate_batch on {where}, torch {torch.__version__}, {args.layout} layout, "
          f"median of {args.repeat}")
    print(f"{'family':<18}" + "".join(f"{f'batch {b}: ms':>16}{'canvases/s':>12}"
                                      for b in args.batches))
    rows = [(name, [name]) for name in TASK_NAMES] + [("all", list(TASK_NAMES))]
    for label, tasks in rows:
        cells = []
        for batch in args.batches:
            s = seconds_per_batch(batch, tasks, LAYOUTS[args.layout], device, args.repeat)
            cells.append(f"{s * 1e3:>16.1f}{batch / s:>12.0f}")
        print(f"{label:<18}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
