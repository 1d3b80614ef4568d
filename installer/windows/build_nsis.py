"""Compile the Windows installer with makensis (NSIS 3; runs on Linux and Windows).

    python installer/windows/build_nsis.py --bundle dist/visprompt-server          # CPU
    python installer/windows/build_nsis.py --flavour nvidia --gpu-url URL --gpu-sha256 HEX
    python installer/windows/build_nsis.py --placeholder                            # test

The real CPU payload is the Windows PyInstaller bundle, which can only be built on
Windows (see .github/workflows/build.yml). ``--placeholder`` compiles the same script
against a clearly labelled stand-in payload so the script itself can be checked anywhere;
the result is named ``...-PLACEHOLDER-setup.exe`` and says so in its title.
"""

from __future__ import annotations

import argparse
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

PLACEHOLDER_TEXT = (
    "PLACEHOLDER - NOT A PROGRAM.\r\n"
    "This installer was compiled only to check the NSIS script; it contains no backend.\r\n"
    "Real installers are built on Windows by .github/workflows/build.yml.\r\n"
)


def placeholder_payload(folder: Path) -> Path:
    bundle = folder / "visprompt-server"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "visprompt-server.exe").write_text(PLACEHOLDER_TEXT)
    (bundle / "_internal" / "PLACEHOLDER.txt").write_text(PLACEHOLDER_TEXT)
    return bundle


def build(
    out_dir: Path,
    *,
    bundle: Path | None,
    flavour: str,
    placeholder: bool,
    gpu_url: str | None = None,
    gpu_sha256: str | None = None,
    plugin_src: Path = ROOT / "krita_plugin",
    version: str | None = None,
) -> Path:
    makensis = shutil.which("makensis")
    if makensis is None:
        raise SystemExit("makensis not found (Debian/Ubuntu: apt install nsis)")
    version = version or project_version()
    out_dir.mkdir(parents=True, exist_ok=True)
    label = "-PLACEHOLDER" if placeholder else ""
    out = (out_dir / f"visprompt-{version}-windows-{flavour}{label}-setup.exe").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        plugin_zip = build_plugin_zip(tmpdir / "zip", plugin_src, version)
        with zipfile.ZipFile(plugin_zip) as zf:
            zf.extractall(tmpdir / "plugin")
        defines = {
            "VERSION": version,
            "FLAVOUR": flavour,
            "OUTFILE": str(out),
            "PLUGIN_DIR": str(tmpdir / "plugin"),
        }
        if flavour == "cpu":
            payload = placeholder_payload(tmpdir / "payload") if placeholder else bundle
            if payload is None or not (payload / "visprompt-server.exe").is_file():
                raise SystemExit(f"{payload} holds no visprompt-server.exe (a Windows bundle)")
            defines["PAYLOAD_DIR"] = str(payload)
        else:
            if placeholder:
                gpu_url = gpu_url or "https://example.invalid/PLACEHOLDER-visprompt-nvidia.zip"
                gpu_sha256 = gpu_sha256 or "0" * 64
            if not gpu_url or not gpu_sha256:
                raise SystemExit("the nvidia flavour needs --gpu-url and --gpu-sha256")
            defines["GPU_PAYLOAD_URL"] = gpu_url
            defines["GPU_PAYLOAD_SHA256"] = gpu_sha256.lower()
        if placeholder:
            defines["PLACEHOLDER"] = "1"
        cmd = [
            makensis,
            "-V2",
            "-WX",
            *(f"-D{k}={v}" for k, v in defines.items()),
            str(HERE / "visprompt.nsi"),
        ]
        subprocess.run(cmd, check=True, cwd=HERE)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "visprompt-server")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--flavour", choices=("cpu", "nvidia"), default="cpu")
    parser.add_argument("--gpu-url", help="(nvidia) URL of the CUDA bundle zip")
    parser.add_argument("--gpu-sha256", help="(nvidia) its sha256")
    parser.add_argument(
        "--placeholder",
        action="store_true",
        help="compile against a labelled stand-in payload (script check)",
    )
    args = parser.parse_args(argv)
    out = build(
        args.out,
        bundle=args.bundle,
        flavour=args.flavour,
        placeholder=args.placeholder,
        gpu_url=args.gpu_url,
        gpu_sha256=args.gpu_sha256,
    )
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
