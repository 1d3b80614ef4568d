"""``visprompt remote``: send a prompt to a running server and write the answer PNG.

``add_remote_parser(subparsers)`` adds the command to the main CLI's sub-parsers and
sets ``func`` to ``run_remote`` (arguments in, exit code out).

    visprompt remote --example in.png out.png --query q.png --out answer.png
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visprompt_client.client import Client, PromptResult, ServerError


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def add_remote_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "remote",
        help="send a visual prompt to a running visprompt-server",
        description="Send example pairs and a query (PNG files) to a running server and "
        "write the answer PNG. Use --info to print the server's info instead.",
    )
    configure_parser(parser)
    return parser


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default=None, help="server URL (default $VISPROMPT_URL or http://127.0.0.1:7480)"
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="token file (default $VISPROMPT_TOKEN or the user's token file)",
    )
    parser.add_argument(
        "--example",
        nargs=2,
        action="append",
        metavar=("INPUT", "OUTPUT"),
        default=[],
        help="an example pair (repeat for more pairs: up to 8, or up to the server's "
        "max_pool with --select)",
    )
    parser.add_argument("--query", type=Path, help="the query image")
    parser.add_argument(
        "--mask",
        type=Path,
        default=None,
        help="optional mask at the query's size (nonzero = apply there)",
    )
    parser.add_argument("--out", type=Path, help="where to write the answer PNG")
    parser.add_argument("--model", default=None, help="model name (default: the loaded one)")
    parser.add_argument("--ensemble", type=int, default=None, help="number of canvases")
    parser.add_argument(
        "--select",
        type=int,
        default=None,
        metavar="K",
        help="the examples are a pool: answer with the K pairs most similar to the query",
    )
    parser.add_argument(
        "--answer-size",
        type=_size,
        default=None,
        metavar="WxH",
        help="answer size (default: the query's size)",
    )
    parser.add_argument(
        "--upscale",
        choices=["auto", "bicubic", "guided", "tiled"],
        default=None,
        help="how the answer is brought to full size (default: the server's choice)",
    )
    parser.add_argument(
        "--no-detail",
        action="store_true",
        help="the answer exactly as decoded: no query detail transfer",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    parser.add_argument(
        "--job", action="store_true", help="submit as a job and show progress (Ctrl-C cancels it)"
    )
    parser.add_argument("--info", action="store_true", help="print the server's info and exit")
    parser.set_defaults(func=run_remote)


def run_remote(args: argparse.Namespace) -> int:
    client = Client(args.url, token_file=args.token_file, timeout=args.timeout)
    try:
        if args.info:
            sys.stdout.write(json.dumps(client.info(), indent=2) + "\n")
            return 0
        if not args.example or args.query is None or args.out is None:
            sys.stderr.write("remote: give --example INPUT OUTPUT, --query and --out\n")
            return 2
        examples = [(Path(a), Path(b)) for a, b in args.example]
        options = {
            "model": args.model,
            "ensemble": args.ensemble,
            "answer_size": args.answer_size,
            "upscale": args.upscale,
            "select": args.select,
            "detail": False if args.no_detail else None,
        }
        if args.job:
            result = _run_job(client, examples, args.query, args.mask, options, args.timeout)
        else:
            result = client.prompt(examples, args.query, args.mask, **options)
    except ServerError as exc:
        sys.stderr.write(f"remote: {exc.message} ({exc.code})\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"remote: {exc}\n")
        return 1
    result.save(args.out)
    sys.stderr.write(
        f"wrote {args.out} ({result.width}x{result.height}, model {result.model}, "
        f"{result.timings.get('total_ms', 0):.0f} ms)\n"
    )
    return 0


def _run_job(
    client: Client,
    examples: list[tuple[Path, Path]],
    query: Path,
    mask: Path | None,
    options: dict[str, Any],
    timeout: float,
) -> PromptResult:
    job_id = client.submit_job(examples, query, mask, **options)

    def show(progress: float, state: str) -> None:
        sys.stderr.write(f"\r{state:9} {progress * 100:5.1f}%")
        sys.stderr.flush()

    try:
        result = client.wait_job(job_id, on_progress=show, timeout=timeout)
    except KeyboardInterrupt:
        client.cancel(job_id)
        sys.stderr.write("\ncancelled\n")
        raise ServerError("cancelled", "cancelled by the user", 0) from None
    sys.stderr.write("\n")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="visprompt-remote", description=__doc__.split("\n")[0])
    configure_parser(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))
