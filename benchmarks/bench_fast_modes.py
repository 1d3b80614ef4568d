"""Opt-in fast modes: speed-up next to their cost in fidelity, against the default path.

    python benchmarks/bench_fast_modes.py --fidelity default       # trained default model
    python benchmarks/bench_fast_modes.py --speed mae_vqgan_large  # random weights, timing

Modes: ``region mN`` = ``decode(tokens, region=answer mask, margin=N)``; ``bf16`` = the
whole model in bfloat16; ``int8`` = ``quantize_linears_int8()`` (dynamic int8 ViT
linears); combinations joined by ``+``. The default path is fp32 with
``optimize_for_inference()``. Every mode runs with the same intra-op thread count
(``--threads``).

Fidelity (``--fidelity MODEL``, a trained model): the bundled sample prompts in every
canvas arrangement; token agreement over the answer patches with the default path, and
the PSNR of the 111x111 answer cell against the default path's answer (dB, pixels in
[0, 1]; "inf" = identical). Speed (``--speed PRESET``): median model time per canvas
(logits, argmax, decode, paste, crop), modes run alternately.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from bench_cpu_speed import alternate, load_line, random_model, same_weights_copy
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.evaluation import STUDY_ARRANGEMENTS
from visprompt_core.model import MAEVQGAN, cpu_threads
from visprompt_core.pipeline import load_model

SAMPLES = Path(__file__).resolve().parents[1] / "visprompt_core" / "samples"
MASK = cv.LAYOUT_2X2.patch_mask()


def sample_canvases() -> torch.Tensor:
    """Every bundled sample prompt in the 4 layouts x backgrounds of the arrangement study
    (2x2 and transposed 2x2, white and black): (K, 3, 224, 224) in [0, 1]."""
    tasks = sorted(p.name.removesuffix("_query.png") for p in SAMPLES.glob("*_query.png"))
    images = []
    for task in tasks:
        pair = (Image.open(SAMPLES / f"{task}_example_in.png"),
                Image.open(SAMPLES / f"{task}_example_out.png"))
        query = Image.open(SAMPLES / f"{task}_query.png")
        for layout, grey in STUDY_ARRANGEMENTS:
            background = (round(255 * grey),) * 3
            canvas = cv.build_canvas([pair], query, layout, background)
            images.append(cv.pil_to_tensor(canvas))
    return torch.stack(images)


def modes(base: MAEVQGAN, names: list[str]) -> dict[str, tuple[MAEVQGAN, int | None]]:
    """name -> (model, decode margin or None for the full decode)."""
    default = same_weights_copy(base).optimize_for_inference()
    built: dict[str, MAEVQGAN] = {"fp32": default}
    out: dict[str, tuple[MAEVQGAN, int | None]] = {}
    for name in names:
        parts = name.split("+")
        margin = next((int(p.removeprefix("region m")) for p in parts
                       if p.startswith("region m")), None)
        kind = "bf16" if "bf16" in parts else "int8" if "int8" in parts else "fp32"
        if kind not in built:
            model = same_weights_copy(base)
            if kind == "bf16":
                model = model.to(torch.bfloat16)
                model.pixel_mean, model.pixel_std = default.pixel_mean, default.pixel_std
            else:
                model.quantize_linears_int8()
            built[kind] = model.optimize_for_inference()
        out[name] = (built[kind], margin)
    return out


@torch.inference_mode()
def run(model: MAEVQGAN, canvases: torch.Tensor, margin: int | None
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (answer tokens (K, 49), answer cells (K, 3, 111, 111)) the way the pipeline does."""
    mask = MASK.expand(canvases.shape[0], -1)
    tokens = model.canvas_logits(canvases, mask).argmax(-1)
    region = None if margin is None else MASK
    decoded = model.decode(model.context_tokens(canvases, tokens, MASK), region=region,
                           margin=margin or 0)
    pasted = cv.paste_answer(canvases, decoded, MASK)
    return tokens[:, MASK], cv.crop_answer(pasted, cv.LAYOUT_2X2)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def fidelity(model_name: str, names: list[str], threads: int | None) -> None:
    base = load_model(model_name, device="cpu", dtype="fp32").model
    canvases = sample_canvases()
    table = modes(base, ["fp32", *names])
    with cpu_threads(threads):
        ref_tokens, ref_cells = run(table["fp32"][0], canvases, None)
        print(f"\nfidelity on '{model_name}', {canvases.shape[0]} canvases "
              f"({ref_tokens.numel()} answer tokens) vs the default fp32 path")
        for name in names:
            model, margin = table[name]
            tokens, cells = run(model, canvases, margin)
            agree = float((tokens == ref_tokens).float().mean()) * 100
            per = [psnr(c, r) for c, r in zip(cells, ref_cells)]
            finite = [p for p in per if math.isfinite(p)]
            worst = min(per)
            print(f"  {name:<18} token agreement {agree:6.2f} %   answer PSNR: all canvases "
                  f"{psnr(cells, ref_cells):6.2f} dB, worst canvas {worst:6.2f} dB, median "
                  f"{statistics.median(finite) if finite else math.inf:6.2f} dB")


def speed(preset: str, names: list[str], threads: int | None, repeat: int) -> None:
    base = random_model(preset)
    table = modes(base, ["fp32", *names])
    canvas = sample_canvases()[:1]
    runs: dict[str, Callable[[], object]] = {
        name: (lambda m=m, g=g: run(m, canvas, g))
        for name, (m, g) in {"default fp32": (table["fp32"][0], None), **table}.items()
        if name != "fp32"
    }
    with cpu_threads(threads):
        times = alternate(runs, 1, repeat)
    ref = statistics.median(times["default fp32"])
    print(f"\nspeed on '{preset}' (random weights), threads {torch.get_num_threads()}"
          f"{'' if threads is None else f' -> {threads}'}, model time per canvas, "
          f"median of {repeat}, alternating")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:<18} {med * 1000:8.0f} ms   x{ref / med:4.2f}   "
              f"[{' '.join(f'{v:.2f}' for v in values)}] s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fidelity", metavar="MODEL", help="trained model name or file")
    parser.add_argument("--speed", metavar="PRESET", help="preset timed with random weights")
    parser.add_argument("--modes", nargs="*", default=[
        "region m0", "region m1", "region m2", "region m3", "bf16", "int8",
        "bf16+region m2"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(load_line())
    if args.fidelity:
        fidelity(args.fidelity, args.modes, args.threads)
    if args.speed:
        speed(args.speed, args.modes, args.threads, args.repeat)
    print(load_line())


if __name__ == "__main__":
    main()
