"""Start-up: published-size model file -> ready to answer, and peak memory, on the CPU.

    python benchmarks/bench_startup.py                 # writes fp32 + fp16 random-weight files
    python benchmarks/bench_startup.py --keep /tmp/vp  # reuse/keep the files there

Writes the published-size model (random weights) as project safetensors files (fp32 and
fp16), then starts a fresh Python process per measurement (warm disk: the files were just
written or read) that times ``import visprompt_core``, ``load_model_file`` (``assign``:
the file's tensors become the parameters; ``copy``: allocate, then copy), building the
fp32 ``VisualPrompter`` (+ ``optimize_for_inference``), and the first prompt; and reports
the peak resident memory after loading and after the first answer. Peak memory is the
process's ``VmHWM`` (``/proc/self/status``; file-backed pages of the memory-mapped weights
count once touched): ``resource.getrusage().ru_maxrss`` would be wrong here, because Linux
carries the parent's peak into a forked child. Loaders alternate, ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM), MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(path: str, mode: str, threads: int, prompt: bool) -> None:
    start = time.perf_counter()
    import torch

    from visprompt_core.checkpoints import load_model_file
    from visprompt_core.model import cpu_threads
    from visprompt_core.pipeline import VisualPrompter

    imported = time.perf_counter()
    _, model = load_model_file(path, assign=mode == "assign")
    loaded = time.perf_counter()
    prompter = VisualPrompter(model, device="cpu", dtype="fp32")
    prompter.model.optimize_for_inference()
    ready = time.perf_counter()
    rss_ready = peak_rss_mib()
    first = None
    if prompt:
        from bench_cpu_speed import sample_prompt

        pair, query = sample_prompt()
        with cpu_threads(threads):
            prompter.prompt([pair], query)
        first = time.perf_counter() - ready
    print(json.dumps({
        "import": imported - start, "load": loaded - imported, "prompter": ready - loaded,
        "ready": ready - start, "first_prompt": first, "rss_ready_mib": rss_ready,
        "rss_peak_mib": peak_rss_mib(),
        "torch_threads": torch.get_num_threads(),
    }))


def write_files(folder: Path) -> dict[str, Path]:
    from bench_cpu_speed import random_model

    from visprompt_core.checkpoints import save_model

    files = {dtype: folder / f"large-{dtype}.safetensors" for dtype in ("fp32", "fp16")}
    if all(p.is_file() for p in files.values()):
        return files
    model = random_model("mae_vqgan_large")
    for dtype, path in files.items():
        start = time.perf_counter()
        save_model(model, model.model_config, path, dtype=dtype)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - start:.1f} s")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="folder for the model files (kept)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads for the first prompt")
    parser.add_argument("--no-prompt", action="store_true", help="skip the first prompt")
    parser.add_argument("--child", nargs=2, metavar=("FILE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.threads, not args.no_prompt)
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = write_files(folder)
        print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.repeat):
            for dtype, path in files.items():
                for mode in ("assign", "copy"):
                    cmd = [sys.executable, __file__, "--child", str(path), mode,
                           "--threads", str(args.threads)]
                    if args.no_prompt:
                        cmd.append("--no-prompt")
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    results.setdefault((dtype, mode), []).append(
                        json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
        print(f"\nfresh process per run, medians of {args.repeat} (seconds, MiB)")
        print(f"  {'file':<6}{'loader':<8}{'import':>8}{'load':>8}{'prompter':>10}"
              f"{'ready':>8}{'1st prompt':>12}{'RSS ready':>11}{'RSS peak':>10}")
        for (dtype, mode), runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) if runs[0][k] is not None
                   else float("nan") for k in runs[0]}
            print(f"  {dtype:<6}{mode:<8}{med['import']:8.2f}{med['load']:8.2f}"
                  f"{med['prompter']:10.2f}{med['ready']:8.2f}{med['first_prompt']:12.2f}"
                  f"{med['rss_ready_mib']:11.0f}{med['rss_peak_mib']:10.0f}")


if __name__ == "__main__":
    main()
