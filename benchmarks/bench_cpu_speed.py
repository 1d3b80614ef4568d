"""CPU fp32 speed of one visual prompt: reference path vs the answer-preserving levers.

    python benchmarks/bench_cpu_speed.py                       # published size, random weights
    python benchmarks/bench_cpu_speed.py --preset small --repeat 5
    python benchmarks/bench_cpu_speed.py --model default
    python benchmarks/bench_cpu_speed.py --against 9eff7ae --threads 1   # code before/after

Variants run alternately in one process on the same weights and the same prompt, so the
ratios share the machine's load (printed before and after). For every variant it checks
that the answer tokens equal the reference's and prints the largest answer-pixel
difference (in 1/255 steps). ``ref`` = the model as loaded, torch's default threads;
``cl`` = ``optimize_for_inference()`` (channels-last tokenizer weights); ``compiled``
(``--compile``) = that plus ``torch.compile`` of the MAE and the VQGAN decoder; ``tN`` = N
intra-op threads for the call (``cpu_threads``).

``--against REV``: instead, fresh processes alternate between the package as it was at git
revision REV (torch's default threads, no options) and the working tree (each
``--threads`` value, ``optimize_for_inference``), same random weights and prompt; prints
the median prompt time of each and the ratio.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def compiled_copy(model: MAEVQGAN) -> MAEVQGAN:
    """``optimize_for_inference`` + ``torch.compile`` (inductor) of the MAE forward and the
    VQGAN decoder, on the same parameter tensors; compiles on the first call."""
    twin = same_weights_copy(model).optimize_for_inference()
    twin.forward = torch.compile(twin.forward)
    twin.vae.decode_latent = torch.compile(twin.vae.decode_latent)
    return twin


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
        print(f"  {name:<18} median {med * 1000:8.0f} ms   x{ref / med:4.2f} vs {base}   "
              f"[{runs}] s")


# Runs in a fresh process against either tree; only API present in both revisions.
_CHILD = """
import json, time
import torch
from PIL import Image
from visprompt_core.config import PRESETS
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import VisualPrompter
{sample_prompt}
{random_model}
prompter = VisualPrompter(random_model({preset!r}), device="cpu", dtype="fp32")
if {threads!r} is not None:
    torch.set_num_threads({threads!r})
if {optimize!r}:
    prompter.model.optimize_for_inference()
pair, query = sample_prompt()
times = []
for i in range({warmup} + {repeat}):
    start = time.perf_counter()
    prompter.prompt([pair], query)
    times.append(time.perf_counter() - start)
print(json.dumps(times[{warmup}:]))
"""


def against(rev: str, preset: str, threads: list[int], rounds: int, warmup: int,
            repeat: int) -> None:
    """Alternate fresh processes: the package at ``rev`` vs the working tree."""
    root = Path(__file__).resolve().parents[1]
    source = inspect.getsource(sample_prompt)
    builder = inspect.getsource(random_model)
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev, "visprompt_core"],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        trees: dict[str, tuple[str, int | None, bool]] = {f"{rev} (default)": (tmp, None, False)}
        for n in threads:
            trees[f"working tree t{n}"] = (str(root), n, True)
        times: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(rounds):
            for name, (path, n, optimize) in trees.items():
                code = _CHILD.format(sample_prompt=source, random_model=builder,
                                     preset=preset, threads=n,
                                     optimize=optimize, warmup=warmup, repeat=repeat)
                env = {**os.environ, "PYTHONPATH": path}
                out = subprocess.run([sys.executable, "-c", code], env=env, cwd=path,
                                     capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(f"{name} failed:\n{out.stderr[-2000:]}")
                times[name] += json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{preset} (random weights), PIL in -> PIL out, {rounds} alternating rounds of "
          f"{repeat} prompts per tree")
    report(times, f"{rev} (default)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mae_vqgan_large", choices=sorted(PRESETS))
    parser.add_argument("--model", help="a model name or file instead of a random preset")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2],
                        help="thread counts to try on the optimised path")
    parser.add_argument("--compile", action="store_true", help="add torch.compile'd "
                        "variants (inductor; the first call compiles, about a minute)")
    parser.add_argument("--against", metavar="REV", help="compare with the code at a git rev")
    parser.add_argument("--rounds", type=int, default=2, help="with --against")
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"default threads {torch.get_num_threads()}; {load_line()}")
    if args.against:
        against(args.against, args.preset, args.threads, args.rounds, args.warmup, args.repeat)
        print(load_line())
        return

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
    if args.compile:
        comp = VisualPrompter(compiled_copy(base_model), name="compiled", device="cpu",
                              dtype="fp32")
        start = time.perf_counter()
        answer(comp, canvas, None)
        print(f"torch.compile: first call (compiling) {time.perf_counter() - start:.1f} s")
        for n in args.threads:
            variants[f"compiled t{n}"] = (comp, n)
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
