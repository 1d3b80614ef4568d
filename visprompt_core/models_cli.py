"""``visprompt models list|download|import|verify``: the published weights from a terminal.

``add_models_parser(subparsers)`` adds the ``models`` command to the main CLI's
sub-parsers; each action sets ``func`` to a callable taking the parsed arguments and
returning an exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from visprompt_core import published
from visprompt_core.errors import VisPromptError

log = logging.getLogger(__name__)


def add_models_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models",
        help="list, download, import and verify the published weights",
        description="Manage the published MAE-VQGAN / VQGAN weights (never mirrored: "
        "downloaded from the authors' links).",
    )
    actions = parser.add_subparsers(dest="models_action", required=True)

    p = actions.add_parser("list", help="list the published models and their state")
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("download", help="download, verify and convert published models")
    p.add_argument("names", nargs="+", metavar="NAME", choices=sorted(published.CATALOGUE))
    p.add_argument(
        "--yes", "-y", action="store_true", help="accept the licence notice without asking"
    )
    _dtype(p)
    p.add_argument(
        "--keep-original",
        action="store_true",
        help="keep the downloaded checkpoint after conversion",
    )
    p.add_argument(
        "--no-convert",
        action="store_true",
        help="only download and verify (convert later with 'import')",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds")
    p.add_argument("--retries", type=int, default=5, help="retries after network failures")
    p.set_defaults(func=cmd_download)

    p = actions.add_parser("import", help="verify and convert files you downloaded yourself")
    p.add_argument("name", metavar="NAME", choices=sorted(published.CATALOGUE))
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _dtype(p)
    p.set_defaults(func=cmd_import)

    p = actions.add_parser("verify", help="check installed models against their records")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.set_defaults(func=cmd_verify)
    return parser


def _dtype(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dtype",
        choices=("fp16", "fp32"),
        default="fp16",
        help="precision of the converted safetensors file (default fp16)",
    )


def cmd_list(args: argparse.Namespace) -> int:
    print(f"{'NAME':26} {'STATE':11} DESCRIPTION")
    for name, model in published.CATALOGUE.items():
        print(f"{name:26} {published.status(name):11} {model.description}")
    print(f"\nfolder: {published.converted_path('x').parent}")
    return 0


class _Progress:
    """One self-overwriting stderr line per file: percent, MB and MB/s."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.last = 0.0
        self.name = ""

    def __call__(self, name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if name != self.name:
            self.name, self.start = name, now
        if now - self.last < 0.25 and (total is None or done < total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-3) / 1e6
        pct = f"{100 * done / total:5.1f}%" if total else "   ? %"
        size = f"{done / 1e6:,.0f}/{total / 1e6:,.0f} MB" if total else f"{done / 1e6:,.0f} MB"
        sys.stderr.write(f"\r{name}: {pct} {size} {rate:6.1f} MB/s ")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _accept_notice(assume_yes: bool) -> bool:
    print(published.LICENCE_NOTICE)
    if assume_yes:
        print("(accepted with --yes)")
        return True
    if not sys.stdin.isatty():
        print("not a terminal: re-run with --yes to accept the notice", file=sys.stderr)
        return False
    answer = input("Download? [y/N] ").strip().lower()
    return answer in {"y", "yes"}


def cmd_download(args: argparse.Namespace) -> int:
    if not _accept_notice(args.yes):
        return 2
    code = 0
    for name in args.names:
        try:
            path = published.install(
                name,
                dtype=args.dtype,
                convert=not args.no_convert,
                keep_original=args.keep_original,
                progress=_Progress(),
                timeout=args.timeout,
                retries=args.retries,
            )
        except VisPromptError as exc:
            print(f"\n{name}: {exc}", file=sys.stderr)
            code = 1
            continue
        print(f"{name}: ready at {path}")
    return code


def cmd_import(args: argparse.Namespace) -> int:
    try:
        path = published.import_files(args.name, list(args.files), dtype=args.dtype)
    except VisPromptError as exc:
        print(f"{args.name}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: imported and converted to {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    names = args.names or [n for n in published.CATALOGUE if published.status(n) != "missing"]
    if not names:
        print("no published model is installed")
        return 0
    code = 0
    for name in names:
        try:
            problems = published.verify(name)
        except VisPromptError as exc:
            problems = [str(exc)]
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            code = 1
        else:
            print(f"{name}: ok")
    return code


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m visprompt_core.models_cli``) for testing."""
    parser = argparse.ArgumentParser(prog="visprompt")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
