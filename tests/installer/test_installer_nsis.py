"""The NSIS script compiles (warnings are errors) against the real plugin files and a
clearly labelled placeholder payload; 7-Zip, when present, lists what it would install."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from build_plugin_zip import build_plugin_zip
from windows.build_nsis import build

pytestmark = pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis missing")


def listing(exe: Path) -> set[str]:
    out = subprocess.run(
        ["7z", "l", "-slt", str(exe)], capture_output=True, text=True, check=True
    ).stdout
    return {line[len("Path = ") :] for line in out.splitlines() if line.startswith("Path = ")}


@pytest.mark.parametrize("flavour", ["cpu", "nvidia"])
def test_nsis_script_compiles(flavour: str, tmp_path: Path) -> None:
    exe = build(tmp_path, bundle=None, flavour=flavour, placeholder=True)
    assert exe.is_file() and "PLACEHOLDER" in exe.name
    assert exe.read_bytes()[:2] == b"MZ"  # a Windows executable
    if shutil.which("7z") is None:
        return
    names = listing(exe)
    with zipfile.ZipFile(build_plugin_zip(tmp_path / "zip")) as zf:
        for name in zf.namelist():
            if name.endswith("/"):
                continue
            where = (
                "$APPDATA/krita/actions/"
                if name.endswith(".action")
                else ("$APPDATA/krita/pykrita/")
            )
            assert where + name in names, name
    assert "uninstall.exe" in names
    if flavour == "cpu":
        assert {"server/visprompt-server.exe", "server/_internal/PLACEHOLDER.txt"} <= names
    else:
        assert "$PLUGINSDIR/fetch_payload.ps1" in names
        assert not any(n.startswith("server/") for n in names)


def test_nsis_refuses_a_missing_payload(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"visprompt-server\.exe"):
        build(tmp_path, bundle=tmp_path / "nothing", flavour="cpu", placeholder=False)
