"""The ``visprompt`` command line. Heavy modules are imported inside each command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from visprompt_core.errors import VisPromptError
from visprompt_core.memory import keep_freed_memory

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def _open_image(path: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError:
        raise VisPromptError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise VisPromptError(f"{path}: not a readable image ({exc})") from None


def _save_image(image: Any, path: str) -> None:
    """Write atomically so a failed save never leaves half a PNG behind."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        image.save(tmp, format=(out.suffix.lstrip(".") or "png").upper().replace("JPG", "JPEG"))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def detail_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-detail", action="store_true",
                        help="answers exactly as decoded: no query detail transfer (the "
                             "default model answers with the query mirrored or turned "
                             "where every example pair is that mirror or quarter turn, "
                             "with the query through the pair's lines where every output "
                             "channel is a straight line of one input channel or the "
                             "luma (a channel swap, a greyscale, levels), "
                             "carries the query's detail into answers whose "
                             "example pair recolours in place or draws line art, fills "
                             "the areas closed by lines where the pair does, gives the "
                             "query's pixels the pair's colour map where the pair maps "
                             "colours to colours, draws a crisp rectangle where every "
                             "example output is one filled rectangle, snaps "
                             "answers to the query's regions where the pair repaints flat "
                             "regions, and answers with the example's filter where the "
                             "pair is a linear filter such as a blur; docs/quality.md)")


# ------------------------------------------------------------------------ commands


def cmd_run(args: argparse.Namespace) -> int:
    from visprompt_core.pipeline import load_model

    if len(args.example) % 2:
        raise VisPromptError("--example takes INPUT OUTPUT pairs: give an even number of files")
    files = args.example
    pairs = [(_open_image(a), _open_image(b)) for a, b in zip(files[::2], files[1::2])]
    query = _open_image(args.query)
    mask = _open_image(args.mask) if args.mask else None
    model = load_model(args.model, device=args.device, dtype=args.dtype,
                       fast_decode=args.fast_decode, detail_transfer=not args.no_detail)
    answer = model.prompt(pairs, query, mask=mask, ensemble=args.ensemble,
                          answer_size=args.answer_size, resample=args.resize_filter,
                          upscale=args.upscale, select=args.select)
    _save_image(answer, args.output)
    print(f"wrote {args.output} ({answer.size[0]}x{answer.size[1]}, {answer.mode})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from visprompt_core.demo import run_demo

    path = run_demo(args.output, model_name=args.model, device=args.device)
    print(f"wrote {path}: rows of example input | example output | query | answer")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from visprompt_core.checkpoints import convert_checkpoint

    out = convert_checkpoint(args.source, args.output, dtype=args.dtype, vqgan=args.vqgan,
                             vqgan_yaml=args.vqgan_yaml)
    print(f"wrote {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from visprompt_core.checkpoints import describe
    from visprompt_core.registry import resolve_model

    path = Path(args.checkpoint)
    if not path.exists():
        path = resolve_model(args.checkpoint)[1]
    print(json.dumps(describe(path), indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from visprompt_core.pipeline import load_model

    prompter = load_model(args.model, device=args.device, dtype="fp32",
                          detail_transfer=not args.no_detail)
    if args.benchmark != "synthetic":
        return _eval_paper(args, prompter)
    from visprompt_core.evaluation import evaluate_model

    report = evaluate_model(prompter.model, episodes_per_task=args.episodes or 32,
                            ensemble=args.ensemble, batch=args.batch,
                            detail_transfer=not args.no_detail)
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"wrote {args.json}")
    return 0


def _eval_paper(args: argparse.Namespace, prompter: Any) -> int:
    from visprompt_core.pascal import run_colorization, run_mask_benchmark

    if not args.root:
        raise VisPromptError(f"eval {args.benchmark} needs --root (the dataset folder)")
    episodes = args.episodes or 1000
    if args.benchmark == "colorization":
        report = run_colorization(prompter, args.root, episodes, args.seed, args.ensemble)
    else:
        report = run_mask_benchmark(prompter, args.root, args.benchmark, args.fold, episodes,
                                    args.seed, args.ensemble)
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2))
        print(f"wrote {args.json}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from visprompt_core.train.run import config_from_args, run_training

    path = run_training(config_from_args(args), echo=lambda line: print(line, flush=True))
    print(f"model written to {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from visprompt_core.registry import list_models

    for entry in list_models():
        state = "ready" if entry["available"] else "not downloaded"
        print(f"{entry['name']:<28} {state:<15} {entry['description']}")
    return 0


# -------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visprompt",
        description="Visual prompting by inpainting (MAE-VQGAN): show an example pair, "
                    "get the query transformed the same way.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default="default",
                       help="model name (see `visprompt list`) or weight file; default: the "
                            "embedded default model")
        p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
        p.add_argument("--threads", type=int, default=None,
                       help="CPU threads for the model (default: torch's choice; 1 can be "
                            "faster on a busy 2-core machine)")

    run = sub.add_parser("run", help="answer one visual prompt and write the answer image",
                         description="Transform QUERY the way each example INPUT became its "
                                     "OUTPUT; the answer has the query's size.")
    run.add_argument("--example", nargs="+", required=True, metavar="FILE",
                     help="example pairs as INPUT OUTPUT [INPUT OUTPUT ...] (1-8 pairs; "
                          "up to 64 with --select)")
    run.add_argument("--query", required=True, help="the image to transform")
    run.add_argument("--mask", help="optional mask image (query size): white = apply the "
                                    "answer there; the output is RGBA, transparent elsewhere")
    run.add_argument("-o", "--output", required=True, help="answer image to write (PNG)")
    run.add_argument("--ensemble", type=int, default=None,
                     help="number of canvases to combine (default: one per example pair)")
    run.add_argument("--answer-size", type=_size, default=None, metavar="WxH",
                     help="answer size (default: the query's size)")
    run.add_argument("--upscale", default="auto",
                     choices=["auto", "bicubic", "guided", "tiled"],
                     help="how the 111-px answer reaches the answer size: guided by the "
                          "query (edge-aware), tiled (query cut into overlapping tiles), "
                          "bicubic, or auto (bicubic up to 222 px, guided above)")
    run.add_argument("--select", type=int, default=None, metavar="K",
                     help="treat the examples as a pool (up to 64 pairs) and use the K "
                          "whose inputs look most like the query")
    run.add_argument("--resize-filter", default="bicubic",
                     choices=["bicubic", "bilinear", "nearest", "lanczos", "box"],
                     help="filter for resizing cells and the answer")
    run.add_argument("--dtype", default=None, choices=["fp32", "fp16", "bf16"],
                     help="compute precision (default fp32 on CPU, fp16 on CUDA)")
    run.add_argument("--fast-decode", action="store_true",
                     help="opt-in, lossy: decode only the answer region of the token grid "
                          "(about 1.4x faster on the CPU; see docs/performance.md); for "
                          "models that decode whole canvases, like the published ones (the "
                          "embedded default model already decodes its answer window)")
    detail_option(run)
    model_options(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run the model on the bundled samples and write a "
                                       "PNG sheet (example pair | query | answer)")
    demo.add_argument("-o", "--output", default="visprompt-demo.png", help="sheet to write")
    model_options(demo)
    demo.set_defaults(func=cmd_demo)

    conv = sub.add_parser("convert", help="convert published weights to the fast "
                                          "safetensors format")
    conv.add_argument("source", help="checkpoint-1000.pth / checkpoint-3400.pth or a "
                                     "VisPrompt .safetensors")
    conv.add_argument("output", help="the .safetensors file to write")
    conv.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"],
                      help="storage precision (fp16 halves the size)")
    conv.add_argument("--vqgan", help="optional taming VQGAN last.ckpt to use as tokenizer")
    conv.add_argument("--vqgan-yaml", help="the model.yaml beside that last.ckpt")
    conv.set_defaults(func=cmd_convert)

    info = sub.add_parser("info", help="show what a checkpoint file holds")
    info.add_argument("checkpoint", help="a .safetensors/.pth/.ckpt file or a model name")
    info.set_defaults(func=cmd_info)

    ev = sub.add_parser("eval", help="score a model: held-out synthetic episodes per task "
                                     "family, or the paper's benchmarks on your datasets",
                        description="BENCHMARK synthetic (default): held-out synthetic "
                                    "episodes next to copy baselines. pascal5i: Pascal-5i "
                                    "foreground segmentation (--root VOC2012 folder, --fold). "
                                    "detection: VOC single-object detection (--root VOC2012). "
                                    "colorization: greyscale -> colour on a folder of images "
                                    "(--root, e.g. ImageNet val).")
    ev.add_argument("benchmark", nargs="?", default="synthetic",
                    choices=["synthetic", "pascal5i", "detection", "colorization"])
    ev.add_argument("--episodes", type=int, default=None,
                    help="episodes per task family (synthetic, default 32) or in all "
                         "(paper benchmarks, default 1000)")
    ev.add_argument("--ensemble", type=int, default=1,
                    help="canvas variants combined per episode, 1-16 (mirrored views first)")
    ev.add_argument("--batch", type=int, default=64, help="episodes per forward pass")
    detail_option(ev)
    ev.add_argument("--root", help="dataset folder (VOCdevkit/VOC2012, or an image folder "
                                   "for colorization)")
    ev.add_argument("--fold", type=int, default=0, choices=[0, 1, 2, 3],
                    help="Pascal-5i fold")
    ev.add_argument("--seed", type=int, default=0, help="episode seed (paper benchmarks)")
    ev.add_argument("--json", help="also write the results as JSON here")
    model_options(ev)
    ev.set_defaults(func=cmd_eval)

    from visprompt_core.train.run import add_train_arguments

    tr = sub.add_parser("train", help="train a model (tokenizer, then MAE) on synthetic "
                                      "tasks; resumes when OUT holds a run")
    add_train_arguments(tr)
    tr.set_defaults(func=cmd_train)

    ls = sub.add_parser("list", help="list the models this install knows")
    ls.set_defaults(func=cmd_list)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub: argparse._SubParsersAction) -> None:
    """Commands that live in their own modules: published weights, remote server."""
    from visprompt_core.models_cli import add_models_parser

    add_models_parser(sub)
    try:
        from visprompt_client.cli import add_remote_parser
    except ImportError:  # the client package is not installed beside the core
        return
    add_remote_parser(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    keep_freed_memory()
    if getattr(args, "threads", None) is not None:
        from visprompt_core.model import configure_threads

        configure_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except VisPromptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
