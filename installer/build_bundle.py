"""Build the backend server bundle: ``python installer/build_bundle.py``.

Runs PyInstaller on ``installer/pyinstaller/visprompt-server.spec`` (onedir), checks the
result (executable, default model, ``torch_shm_manager``, nothing that was meant to be
trimmed) and reports its size. The flavour follows the installed torch: a CPU wheel gives
the CPU bundle, a CUDA wheel the NVIDIA one (several GB; see docs/installer.md).

Output: ``<dist>/visprompt-server/`` with ``visprompt-server[.exe]`` and ``_internal/``,
plus ``BUNDLE_INFO.json``; ``--archive`` also writes ``visprompt-server-<flavour>-<os>.tar.xz``
(``.zip`` on Windows) with its sha256 beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "pyinstaller" / "visprompt-server.spec"
NAME = "visprompt-server"

sys.path.insert(0, str(HERE))
from bundle_rules import keep_entry  # noqa: E402

log = logging.getLogger("build_bundle")


def torch_flavour() -> tuple[str, str]:
    """("cpu" or "cuda", torch version) of the torch this Python would bundle."""
    out = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return ("cpu" if out[1] == "None" else "cuda"), out[0]


def tree_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under ``path``, not following symlinks."""
    total = files = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
            files += 1
    return total, files


def check_bundle(bundle: Path) -> list[str]:
    """Problems with a built bundle (empty: fine)."""
    problems = []
    exe = bundle / (NAME + (".exe" if os.name == "nt" else ""))
    if not exe.is_file():
        problems.append(f"missing executable {exe}")
    internal = bundle / "_internal"
    if not list(internal.glob("visprompt_core/weights/*.safetensors")):
        problems.append("the default model (visprompt_core/weights/*.safetensors) is missing")
    shm = internal / "torch" / "bin" / "torch_shm_manager"
    if sys.platform.startswith("linux") and not shm.is_file():
        problems.append("torch/bin/torch_shm_manager is missing")
    for p in internal.rglob("*"):
        rel = p.relative_to(internal).as_posix()
        if p.is_file() and rel.startswith("torch/") and not keep_entry(rel):
            problems.append(f"not trimmed: {rel}")
            break
    return problems


def biggest(internal: Path, n: int = 8) -> list[tuple[str, int]]:
    sizes: dict[str, int] = {}
    for p in internal.rglob("*"):
        if p.is_file() and not p.is_symlink():
            rel = p.relative_to(internal).parts
            key = "/".join(rel[:2]) if rel[0] == "torch" and len(rel) > 2 else rel[0]
            sizes[key] = sizes.get(key, 0) + p.stat().st_size
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:n]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def make_archive(bundle: Path, flavour: str) -> Path:
    system = platform.system().lower()
    if os.name == "nt":
        out = bundle.parent / f"{NAME}-{flavour}-{system}.zip"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(bundle.rglob("*")):
                zf.write(p, Path(NAME) / p.relative_to(bundle))
    else:
        out = bundle.parent / f"{NAME}-{flavour}-{system}.tar.xz"
        with tarfile.open(out, "w:xz", preset=6) as tf:
            tf.add(bundle, arcname=NAME)
    out.with_name(out.name + ".sha256").write_text(f"{sha256(out)}  {out.name}\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "build" / "pyinstaller",
        help="PyInstaller's work folder",
    )
    parser.add_argument(
        "--flavour",
        choices=("cpu", "cuda"),
        default=None,
        help="fail unless the installed torch is of this flavour",
    )
    parser.add_argument("--archive", action="store_true", help="also write a compressed archive")
    parser.add_argument("--check-only", action="store_true", help="check an existing bundle")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    flavour, torch_version = torch_flavour()
    if args.flavour and args.flavour != flavour:
        log.error(
            "asked for a %s bundle but torch %s is a %s build", args.flavour, torch_version, flavour
        )
        return 2
    bundle = args.dist / NAME
    if not args.check_only:
        if not list((ROOT / "visprompt_core" / "weights").glob("*.safetensors")):
            log.error("visprompt_core/weights/*.safetensors is missing: no default model")
            return 2
        started = time.monotonic()
        cmd = [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(args.dist),
            "--workpath",
            str(args.work),
            str(SPEC),
        ]
        log.info("running %s", " ".join(cmd))
        subprocess.run(cmd, check=True, cwd=ROOT)
        log.info("PyInstaller took %.0f s", time.monotonic() - started)
    problems = check_bundle(bundle)
    for problem in problems:
        log.error("%s", problem)
    size, files = tree_size(bundle)
    info = {
        "name": NAME,
        "flavour": flavour,
        "torch": torch_version,
        "python": platform.python_version(),
        "platform": sys.platform,
        "size_bytes": size,
        "files": files,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if bundle.is_dir():
        (bundle / "BUNDLE_INFO.json").write_text(json.dumps(info, indent=1))
    log.info(
        "bundle %s: %.0f MB in %d files (%s, torch %s)",
        bundle,
        size / 1e6,
        files,
        flavour,
        torch_version,
    )
    if bundle.is_dir():
        for key, n in biggest(bundle / "_internal"):
            log.info("  %-32s %7.1f MB", key, n / 1e6)
    if problems:
        return 1
    if args.archive:
        started = time.monotonic()
        out = make_archive(bundle, flavour)
        log.info(
            "archive %s: %.0f MB (%.0f s)",
            out,
            out.stat().st_size / 1e6,
            time.monotonic() - started,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
