"""GPU figures of issue 8 in one run: batched throughput, single-prompt model time (eager
and CUDA graph), reduced-precision fidelity against fp32, peak memory.

    PYTHONPATH=. python3 benchmarks/bench_gpu.py --json gpu.json          # on the GPU machine
    python benchmarks/bench_gpu.py --device cpu --preset tiny --batches 1 4 --repeat 2

Model time = canvases already on the device -> answer cells: MAE logits, argmax, the
decode of the model's recipe (``decode_context``, ``decode_margin``), the pipeline's
``visprompt_core.graphs.AnswerStep``; the device is synchronised before and after. Speed
uses random weights of ``--preset`` (the published size by default; speed does not
depend on the values). Fidelity uses the trained ``--fidelity-model`` (random weights
give near-tied logits and would understate agreement): held-out synthetic episodes,
answer tokens and answer-cell pixels of each reduced precision against fp32.

Compiled (``--compile``): the VQGAN decoder through ``torch.compile`` at one batch size,
against eager and as a CUDA graph, with its compile time and the answer's PSNR against
eager.

Pipeline: ``VisualPrompter.prompt`` (PIL in -> PIL out, 512-px images) and a
``prompt_batch`` of 8 one-canvas prompts with the ``--fidelity-model``, CUDA graphs on
(the CUDA default) and off, alternated, median of --repeat.

CUDA graph: the whole step is captured once per batch size and replayed
(``graphs.capture_cuda_graph``, what the pipeline replays). Where capture fails the error
is printed and the eager figure stands alone. Without CUDA (``--device cpu``) the graph rows are
skipped: that mode only checks that the script runs.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_cpu_speed import random_model, same_weights_copy
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.config import PRESETS
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.graphs import AnswerStep, capture_cuda_graph
from visprompt_core.pipeline import PromptRequest, load_model

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MASK = cv.LAYOUT_2X2.patch_mask()


def timed(fn: Callable[[], object], device: torch.device, warmup: int, repeat: int
          ) -> float:
    """Median seconds of ``fn`` with the device synchronised around each call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    rows = []
    base = random_model(args.preset)
    for name in args.dtypes:
        model = same_weights_copy(base).to(device, DTYPES[name]).optimize_for_inference()
        for batch in args.batches:
            canvases = torch.rand(batch, 3, 224, 224, device=device)
            step = AnswerStep(model, cv.LAYOUT_2X2, batch)
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            eager = timed(lambda s=step, c=canvases: s(c), device, args.warmup, args.repeat)
            row: dict[str, Any] = {"dtype": name, "batch": batch, "eager_ms": eager * 1e3,
                                   "eager_canvases_per_s": batch / eager}
            if device.type == "cuda":
                row["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
                try:
                    replay = capture_cuda_graph(step, canvases)
                    same = bool(torch.equal(replay(canvases)[0], step(canvases)[0]))
                    graph = timed(lambda r=replay, c=canvases: r(c), device, args.warmup,
                                  args.repeat)
                    row.update(graph_ms=graph * 1e3, graph_canvases_per_s=batch / graph,
                               graph_tokens_identical=same)
                    del replay
                except RuntimeError as exc:  # capture is not possible: eager stands alone
                    row["graph_error"] = str(exc).splitlines()[0][:200]
            rows.append(row)
            print(_speed_line(row), flush=True)
        del model
    return rows


def compiled(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """The VQGAN decoder (two thirds of the FLOPs, memory-bound) through ``torch.compile``
    at one batch size: time against eager and as a CUDA graph, the compile time, and the
    answer pixels against eager (tokens come before the decoder, so they cannot change)."""
    rows = []
    base = random_model(args.preset)
    batch = args.compile_batch
    for name in args.compile_dtypes:
        model = same_weights_copy(base).to(device, DTYPES[name]).optimize_for_inference()
        canvases = torch.rand(batch, 3, 224, 224, device=device)
        step = AnswerStep(model, cv.LAYOUT_2X2, batch)
        _, want = step(canvases)
        eager = timed(lambda s=step, c=canvases: s(c), device, args.warmup, args.repeat)
        model.vae.decoder = torch.compile(model.vae.decoder, mode=args.compile_mode)
        start = time.perf_counter()
        _, got = step(canvases)
        if device.type == "cuda":
            torch.cuda.synchronize()
        compile_s = time.perf_counter() - start
        fast = timed(lambda s=step, c=canvases: s(c), device, args.warmup, args.repeat)
        mse = float((got.float() - want.float()).pow(2).mean())
        row: dict[str, Any] = {
            "dtype": name, "batch": batch, "mode": args.compile_mode, "eager_ms": eager * 1e3,
            "compiled_ms": fast * 1e3, "compiled_canvases_per_s": batch / fast,
            "compile_s": compile_s,
            "answer_psnr_db_vs_eager": math.inf if mse == 0 else 10 * math.log10(1 / mse)}
        if device.type == "cuda":
            try:
                replay = capture_cuda_graph(step, canvases)
                graph = timed(lambda r=replay, c=canvases: r(c), device, args.warmup,
                              args.repeat)
                row.update(compiled_graph_ms=graph * 1e3,
                           compiled_graph_canvases_per_s=batch / graph)
                del replay
            except RuntimeError as exc:
                row["graph_error"] = str(exc).splitlines()[0][:200]
        rows.append(row)
        print(f"  {name:<5} batch {batch:>4}: eager {row['eager_ms']:9.2f} ms, compiled "
              f"decoder {row['compiled_ms']:9.2f} ms ({row['compiled_canvases_per_s']:.1f} "
              f"canvases/s; compile {compile_s:.0f} s), graph "
              f"{row.get('compiled_graph_ms', math.nan):.2f} ms, answer PSNR vs eager "
              f"{row['answer_psnr_db_vs_eager']:.1f} dB", flush=True)
        del model
    return rows


def _speed_line(row: dict[str, Any]) -> str:
    text = (f"  {row['dtype']:<5} batch {row['batch']:>4}: eager {row['eager_ms']:9.2f} ms "
            f"({row['eager_canvases_per_s']:8.1f} canvases/s)")
    if "graph_ms" in row:
        text += (f"   graph {row['graph_ms']:9.2f} ms ({row['graph_canvases_per_s']:8.1f}/s, "
                 f"tokens identical to eager: {row['graph_tokens_identical']})")
    if "graph_error" in row:
        text += f"   graph failed: {row['graph_error']}"
    if "peak_mib" in row:
        text += f"   peak {row['peak_mib']:.0f} MiB"
    return text


def fidelity(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """Answer tokens and pixels of each reduced precision against fp32."""
    episodes = generate_batch(args.fidelity_episodes, episode_seed("eval", 900), device="cpu",
                              layout=cv.LAYOUT_2X2)
    canvases = episodes.canvas.to(device)
    reference = None
    rows = []
    for name in ["fp32"] + [d for d in args.dtypes if d != "fp32"]:
        model = load_model(args.fidelity_model, device=str(device), dtype=name).model
        tokens, answer = AnswerStep(model, cv.LAYOUT_2X2, canvases.shape[0])(canvases)
        answer_tokens = tokens[:, MASK.to(device)]
        if reference is None:
            reference = (answer_tokens, answer)
            continue
        agree = float((answer_tokens == reference[0]).float().mean())
        mse = float(((answer - reference[1]) ** 2).mean())
        row = {"dtype": name, "token_agreement": agree,
               "answer_psnr_db": math.inf if mse == 0 else 10 * math.log10(1 / mse)}
        rows.append(row)
        print(f"  {name:<5} vs fp32: {agree * 100:.2f} % of answer tokens identical, answer "
              f"PSNR {row['answer_psnr_db']:.1f} dB", flush=True)
    return rows


def pipeline(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """``prompt`` and an 8-prompt ``prompt_batch``, CUDA graphs on and off."""
    rng = np.random.default_rng(0)

    def image() -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))

    requests = [PromptRequest([(image(), image())], image()) for _ in range(8)]
    prompters = {"eager": load_model(args.fidelity_model, device=str(device),
                                     cuda_graphs=False)}
    if device.type == "cuda":
        prompters["graphs"] = load_model(args.fidelity_model, device=str(device))
    calls = {"prompt": lambda pr: pr.prompt(requests[0].examples, requests[0].query),
             "prompt_batch of 8": lambda pr: pr.prompt_batch(requests)}
    rows = []
    for call, fn in calls.items():
        times: dict[str, list[float]] = {name: [] for name in prompters}
        for prompter in prompters.values():
            for _ in range(args.warmup):
                fn(prompter)
        for _ in range(args.repeat):
            for name, prompter in prompters.items():
                start = time.perf_counter()
                fn(prompter)
                times[name].append(time.perf_counter() - start)
        row = {"call": call, **{f"{name}_ms": statistics.median(t) * 1e3
                                for name, t in times.items()}}
        rows.append(row)
        print("  " + call + ": " + ", ".join(f"{name} {row[name + '_ms']:.2f} ms"
                                             for name in prompters), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--preset", default="mae_vqgan_large", choices=sorted(PRESETS))
    parser.add_argument("--dtypes", nargs="+", default=["fp16", "bf16", "fp32"],
                        choices=sorted(DTYPES))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--fidelity-model", default="default")
    parser.add_argument("--fidelity-episodes", type=int, default=256)
    parser.add_argument("--compile", action="store_true",
                        help="also time the VQGAN decoder through torch.compile")
    parser.add_argument("--compile-batch", type=int, default=256)
    parser.add_argument("--compile-dtypes", nargs="+", default=["bf16"], choices=sorted(DTYPES))
    parser.add_argument("--compile-mode", default="default",
                        help="torch.compile mode (max-autotune-no-cudagraphs tunes longer)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        where = torch.cuda.get_device_name(device)
    else:
        where = f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"{where}, torch {torch.__version__}, {args.preset} (random weights)", flush=True)
    print("model time per call (logits, argmax, context tokens, decode):", flush=True)
    speed_rows = speed(args, device)
    print(f"fidelity, {args.fidelity_model}, {args.fidelity_episodes} held-out episodes:",
          flush=True)
    fidelity_rows = fidelity(args, device)
    compiled_rows = []
    if args.compile:
        print(f"compiled VQGAN decoder ({args.compile_mode}):", flush=True)
        compiled_rows = compiled(args, device)
    print(f"pipeline, {args.fidelity_model}:", flush=True)
    pipeline_rows = pipeline(args, device)
    if args.json:
        args.json.write_text(json.dumps({"device": where, "torch": torch.__version__,
                                         "preset": args.preset, "speed": speed_rows,
                                         "fidelity": fidelity_rows,
                                         "compiled": compiled_rows,
                                         "pipeline": pipeline_rows}, indent=2))


if __name__ == "__main__":
    main()
