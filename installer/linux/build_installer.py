"""Build the Linux installer: one self-extracting ``.run`` file made with makeself.

    python installer/build_bundle.py            # -> dist/visprompt-server/
    python installer/linux/build_installer.py   # -> dist/visprompt-<v>-linux-<arch>-<flv>.run

The payload is the backend bundle (``server/``), the plugin exactly as the plugin zip
holds it (``plugin/``), ``install.sh`` and ``uninstall.sh``. Users run
``sh visprompt-....run`` (options for install.sh after ``--``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from build_plugin_zip import build_plugin_zip, project_version  # noqa: E402

EXE = "visprompt-server"
COMPRESSION = {"gzip": "--gzip", "xz": "--xz", "zstd": "--zstd", "none": "--nocomp"}


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage(bundle: Path, staging: Path, plugin_src: Path, version: str) -> None:
    """Lay out the installer's payload in ``staging``."""
    if not (bundle / EXE).is_file():
        raise SystemExit(f"{bundle} holds no {EXE}: build the bundle first")
    shutil.copytree(bundle, staging / "server", symlinks=True, copy_function=_link_or_copy)
    with tempfile.TemporaryDirectory() as tmp:
        plugin_zip = build_plugin_zip(Path(tmp), plugin_src, version)
        with zipfile.ZipFile(plugin_zip) as zf:
            zf.extractall(staging / "plugin")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(HERE / script, staging / script)
        (staging / script).chmod(0o755)
    (staging / "VERSION").write_text(version + "\n")


def build(
    bundle: Path,
    out_dir: Path,
    *,
    plugin_src: Path,
    compression: str,
    flavour: str | None = None,
    version: str | None = None,
) -> Path:
    version = version or project_version()
    if flavour is None:
        info = bundle / "BUNDLE_INFO.json"
        flavour = json.loads(info.read_text())["flavour"] if info.is_file() else "cpu"
    makeself = shutil.which("makeself") or shutil.which("makeself.sh")
    if makeself is None:
        raise SystemExit("makeself not found (Debian/Ubuntu: apt install makeself)")
    out_dir.mkdir(parents=True, exist_ok=True)
    arch = platform.machine() or "x86_64"
    out = (out_dir / f"visprompt-{version}-linux-{arch}-{flavour}.run").resolve()
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        staging = Path(tmp) / "payload"
        stage(bundle, staging, plugin_src, version)
        cmd = [
            makeself,
            COMPRESSION[compression],
            "--sha256",
            "--nox11",
            "--quiet",
            "--tar-quietly",
            str(staging),
            str(out),
            f"VisPrompt {version} for Krita ({flavour})",
            "./install.sh",
        ]
        subprocess.run(cmd, check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bundle",
        type=Path,
        default=ROOT / "dist" / EXE,
        help="the onedir bundle built by installer/build_bundle.py",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--plugin-src", type=Path, default=ROOT / "krita_plugin")
    parser.add_argument("--compression", choices=sorted(COMPRESSION), default="gzip")
    parser.add_argument("--flavour", choices=("cpu", "cuda", "placeholder"), default=None)
    args = parser.parse_args(argv)
    out = build(
        args.bundle,
        args.out,
        plugin_src=args.plugin_src,
        compression=args.compression,
        flavour=args.flavour,
    )
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
