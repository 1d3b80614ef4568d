"""Build the Krita plugin zip: ``python installer/build_plugin_zip.py [--out DIR]``.

The zip is what Krita's *Tools > Scripts > Import Python Plugin from File...* accepts:
the ``.desktop`` file and the package folder at the root, the ``.action`` file (Krita
copies it into its ``actions`` folder), and an explicit entry for every directory, which
Krita's importer needs to find the package. Caches and tests are left out; timestamps
are fixed so the same sources give the same bytes.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "krita_plugin"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "tests"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", "~")


class PluginError(Exception):
    """The plugin source folder is not laid out as Krita expects."""


def project_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return m.group(1) if m else "0"


def plugin_layout(src: Path = SOURCE) -> tuple[Path, str, Path | None]:
    """(desktop file, module name, action file or None) of the plugin in ``src``."""
    desktops = sorted(src.glob("*.desktop"))
    if len(desktops) != 1:
        raise PluginError(f"expected one .desktop file in {src}, found {len(desktops)}")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(desktops[0], encoding="utf-8")
    try:
        module = cfg["Desktop Entry"]["X-KDE-Library"]
        cfg["Desktop Entry"]["Name"]
    except KeyError as exc:
        raise PluginError(f"{desktops[0]} lacks {exc}") from None
    if not (src / module / "__init__.py").is_file():
        raise PluginError(f"{src / module} is not a package (no __init__.py)")
    action = next(
        (p for p in (src / f"{module}.action", src / module / f"{module}.action") if p.is_file()),
        None,
    )
    return desktops[0], module, action


def package_files(package: Path) -> tuple[list[Path], list[Path]]:
    """(directories, files) of the package, sorted, caches and tests left out."""
    dirs: list[Path] = [package]
    files: list[Path] = []
    for p in sorted(package.rglob("*")):
        rel = p.relative_to(package)
        if any(part in SKIP_DIRS for part in rel.parts):
            continue
        if p.is_dir():
            dirs.append(p)
        elif p.is_file() and not p.name.endswith(SKIP_SUFFIXES):
            files.append(p)
    return dirs, files


def _add_dir(zf: zipfile.ZipFile, name: str) -> None:
    info = zipfile.ZipInfo(name.rstrip("/") + "/", FIXED_TIME)
    info.external_attr = (0o40755 << 16) | 0x10
    zf.writestr(info, b"")


def _add_file(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = 0o100644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_plugin_zip(out_dir: Path, src: Path = SOURCE, version: str | None = None) -> Path:
    """Write ``<out_dir>/<module>-<version>.zip`` and return its path."""
    desktop, module, action = plugin_layout(src)
    version = version or project_version()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{module}-{version}.zip"
    dirs, files = package_files(src / module)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add_file(zf, desktop.name, desktop.read_bytes())
        if action is not None:
            _add_file(zf, f"{module}.action", action.read_bytes())
        for d in dirs:
            _add_dir(zf, d.relative_to(src).as_posix())
        for f in files:
            if f == action:
                continue  # shipped once, at the root
            _add_file(zf, f.relative_to(src).as_posix(), f.read_bytes())
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--src", type=Path, default=SOURCE, help="plugin source folder")
    args = parser.parse_args(argv)
    try:
        out = build_plugin_zip(args.out, args.src)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(out) as zf:
        n = len(zf.namelist())
    print(f"{out} ({out.stat().st_size / 1024:.0f} KiB, {n} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
