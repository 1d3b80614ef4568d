"""CPU fp32 speed of one visual prompt: reference path vs the answer-preserving levers.

    python benchmarks/bench_cpu_speed.py                       # published size, random weights
    python benchmarks/bench_cpu_speed.py --preset small --repeat 5
    python benchmarks/bench_cpu_speed.py --model default

Variants run alternately in one process on the same weights and the same prompt, so the
ratios share the machine's load (printed before and after). For every variant it checks
that the answer tokens equal the reference's and prints the largest answer-pixel
difference (in 1/255 steps). ``ref`` = the model as loaded, torch's default threads;
``cl`` = ``optimize_for_inference()`` (channels-last tokenizer weights); ``tN`` = N
intra-op threads for the call (``cpu_threads``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.config import PRESETS
from visprompt_core.model import MAEVQGAN, cpu_threads
from visprompt_core.pipeline import VisualPrompter, load_model


def random_model(preset: str, seed: int = 0) -> MAEVQGAN:
    """A preset with random weights (normal 0.02, unit norms), built without a slow init."""
    with torch.device("meta"):
        model = MAEVQGAN(PRESETS[preset])
    model = model.to_empty(device="cpu")
    model.reset_constants()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0, 0.02, generator=gen)
    from visprompt_core.model.vit import sincos_2d

    cfg = PRESETS[preset].mae
    model.pos_embed.copy_(sincos_2d(cfg.embed_dim, cfg.grid))
    model.decoder_pos_embed.copy_(sincos_2d(cfg.decoder_embed_dim, cfg.grid))
    return model.eval()


def same_weights_copy(model: MAEVQGAN) -> MAEVQGAN:
    """A second module over the same parameter tensors (layout changes then copy)."""
    with torch.device("meta"):
        twin = MAEVQGAN(model.model_config)
    twin.load_state_dict(model.state_dict(), assign=True)
    twin.pixel_mean = model.pixel_mean.clone()
    twin.pixel_std = model.pixel_std.clone()
    return twin.eval()


def sample_prompt() -> tuple[tuple[Image.Image, Image.Image], Image.Image]:
    """A fixed, non-trivial prompt (a gradient pair and a patterned query)."""
    gen = torch.Generator().manual_seed(1)
    noise = (torch.rand(3, 96, 128, generator=gen) * 255).byte()
    pattern = Image.fromarray(noise.permute(1, 2, 0).numpy()).resize((512, 384))
    pair = (pattern, pattern.convert("L").point(lambda v: 255 if v > 128 else 0))
    query = pattern.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((1024, 768))
    return pair, query


def answer(prompter: VisualPrompter, canvas: torch.Tensor, threads: int | None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(answer tokens, answer cell pixels) of one canvas, the way ``prompt_batch`` does it."""
    mask = cv.LAYOUT_2X2.patch_mask()
    with cpu_threads(threads):
        tokens, pasted = prompter.complete(canvas, mask)
    return tokens[:, mask], cv.crop_answer(pasted, cv.LAYOUT_2X2)


def alternate(runs: dict[str, Callable[[], object]], warmup: int, repeat: int
              ) -> dict[str, list[float]]:
    for fn in runs.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def report(times: dict[str, list[float]], base: str) -> None:
    ref = statistics.median(times[base])
    for name, values in times.items():
        med = statistics.median(values)
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<14} median {med * 1000:8.0f} ms   x{ref / med:4.2f} vs {base}   "
              f"[{runs}] s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mae_vqgan_large", choices=sorted(PRESETS))
    parser.add_argument("--model", help="a model name or file instead of a random preset")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2],
                        help="thread counts to try on the optimised path")
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"default threads {torch.get_num_threads()}; {load_line()}")

    if args.model:
        base_model = load_model(args.model, device="cpu", dtype="fp32").model
        name = args.model
    else:
        base_model, name = random_model(args.preset), f"{args.preset} (random weights)"
    ref = VisualPrompter(base_model, name="ref", device="cpu", dtype="fp32")
    opt = VisualPrompter(same_weights_copy(base_model).optimize_for_inference(), name="opt",
                         device="cpu", dtype="fp32")
    pair, query = sample_prompt()
    canvas = cv.pil_to_tensor(cv.build_canvas([pair], query))[None]

    variants: dict[str, tuple[VisualPrompter, int | None]] = {"ref": (ref, None)}
    for n in args.threads:
        variants[f"ref t{n}"] = (ref, n)
        variants[f"cl t{n}"] = (opt, n)
    ref_tokens, ref_cell = answer(ref, canvas, None)
    print(f"\n{name}: answers vs ref (tokens of the 49 answer patches; answer-cell pixels)")
    for label, (prompter, n) in variants.items():
        tokens, cell = answer(prompter, canvas, n)
        steps = float((cell - ref_cell).abs().max()) * 255
        print(f"  {label:<14} tokens identical: {bool(torch.equal(tokens, ref_tokens))}   "
              f"max pixel difference {steps:.4f} / 255")

    print(f"\nPIL in -> PIL out, one prompt (median of {args.repeat}, alternating)")
    runs = {label: (lambda p=p, n=n: _prompt(p, n, pair, query))
            for label, (p, n) in variants.items()}
    report(alternate(runs, args.warmup, args.repeat), "ref")
    print(load_line())


def _prompt(prompter: VisualPrompter, threads: int | None,
            pair: tuple[Image.Image, Image.Image], query: Image.Image) -> Image.Image:
    with cpu_threads(threads):
        return prompter.prompt([pair], query)


if __name__ == "__main__":
    main()
