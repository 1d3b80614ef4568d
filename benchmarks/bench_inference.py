"""Time one visual prompt end to end (PIL in -> PIL out) and the model stages.

    python benchmarks/bench_inference.py --model default
    python benchmarks/bench_inference.py --preset mae_vqgan_large   # random weights
    python benchmarks/bench_inference.py --preset mae_vqgan_large --optimize --threads 1
    python benchmarks/bench_inference.py --size 4096x3072     # an artist's 4k canvas

Prints the median over --repeat runs after --warmup runs, on the CPU and on CUDA when
present (or only --device). Figures are for the machine it runs on. Like the CLI and the
server, it keeps freed memory for reuse (``visprompt_core.memory``) unless
--default-malloc.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from visprompt_core import canvas as cv
from visprompt_core.config import PRESETS
from visprompt_core.data import ops
from visprompt_core.detail import refine_answers
from visprompt_core.linear_filter import filter_fit, fit_linear_filter
from visprompt_core.memory import keep_freed_memory
from visprompt_core.model import MAEVQGAN, configure_threads
from visprompt_core.pipeline import VisualPrompter, load_model


def build(args: argparse.Namespace, device: str) -> VisualPrompter:
    if args.preset:
        with torch.device("meta"):
            model = MAEVQGAN(PRESETS[args.preset])
        model = model.to_empty(device="cpu")
        model.reset_constants()
        torch.manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.02)
        prompter = VisualPrompter(model, name=args.preset, device=device)
    else:
        prompter = load_model(args.model, device=device)
    if args.optimize:
        prompter.model.optimize_for_inference()
    return prompter


def timed(fn: Callable[[], object], warmup: int, repeat: int, sync: bool) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(args: argparse.Namespace, device: str) -> None:
    prompter = build(args, device)
    rng = np.random.default_rng(0)
    example = Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))
    # a hue rotation: a colour map, and neither a channel map nor a linear filter, so the
    # query detail transfer runs at full weight after the filter's fit (the costliest
    # refinement), then the colour map, at the answer size too
    hue = ops.apply_color_matrix(cv.pil_to_tensor(example)[None],
                                 ops.hue_matrix(torch.tensor([1.0])))
    pair = (example, cv.tensor_to_pil(hue[0]))
    # a greyscale: a channel map, whose answer is the query so mapped at the answer size
    grey_pair = (example, ImageOps.grayscale(example).convert("RGB"))
    width, height = map(int, args.size.split("x"))
    query = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    canvas = cv.pil_to_tensor(cv.build_canvas([pair], query))[None].to(prompter.device)
    mask = cv.LAYOUT_2X2.patch_mask()
    tokens = prompter.logits(canvas, mask).argmax(-1)
    cells = cv.crop_answer(canvas, cv.LAYOUT_2X2)

    @torch.inference_mode()
    def detail() -> torch.Tensor:
        return refine_answers(prompter.model, canvas, cells, cv.LAYOUT_2X2)

    box_in, box_out = cv.LAYOUT_2X2.pairs[0]
    shown_in = canvas[:, :, box_in.slices()[0], box_in.slices()[1]].float()
    shown_out = canvas[:, :, box_out.slices()[0], box_out.slices()[1]].float()

    @torch.inference_mode()
    def linear_fit() -> torch.Tensor:
        return filter_fit(fit_linear_filter(shown_in, shown_out), shown_in, shown_out)

    sync = prompter.device.type == "cuda"
    figures = {
        "prompt (PIL in -> PIL out)": timed(lambda: prompter.prompt([pair], query),
                                            args.warmup, args.repeat, sync),
        "prompt, greyscale pair (channel map)": timed(
            lambda: prompter.prompt([grey_pair], query), args.warmup, args.repeat, sync),
        "  MAE logits": timed(lambda: prompter.logits(canvas, mask), args.warmup,
                              args.repeat, sync),
        "  context tokens": timed(  # a tokenizer encode when decode_context="encoded"
            lambda: prompter.with_context(canvas, tokens, mask), args.warmup, args.repeat,
            sync),
        "  VQGAN decode, whole canvas": timed(lambda: prompter.decode_tokens(tokens),
                                              args.warmup, args.repeat, sync),
        "  answer decode (model's recipe)": timed(  # decode_margin: window or whole
            lambda: prompter.decode_answers(canvas, tokens, mask), args.warmup, args.repeat,
            sync),
        "  query detail transfer (recipe)": timed(detail, args.warmup, args.repeat, sync),
        "    of which the linear filter's fit": timed(linear_fit, args.warmup, args.repeat,
                                                     sync),
    }
    print(f"\n{prompter.name} on {device} ({prompter.dtype}), query {args.size}, "
          f"load {os.getloadavg()[0]:.2f}, "
          f"{prompter.info()['parameters'] / 1e6:.1f} M parameters, "
          f"torch threads {torch.get_num_threads()}")
    for name, seconds in figures.items():
        print(f"  {name:<38} {seconds * 1000:9.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="random weights of a preset")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="only this device")
    parser.add_argument("--size", default="1024x768", help="query size WxH (noise)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (CPU)")
    parser.add_argument("--optimize", action="store_true",
                        help="model.optimize_for_inference() (channels-last tokenizer)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator as it is (the entry points' setting off)")
    args = parser.parse_args()
    kept = False if args.default_malloc else keep_freed_memory()
    configure_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, freed memory kept: {kept}")
    devices = [args.device] if args.device else ["cpu"] + (
        ["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        bench(args, device)


if __name__ == "__main__":
    main()
