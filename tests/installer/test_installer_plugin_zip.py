"""The plugin zip: layout Krita's importer needs, checked with Krita's own importer code."""

from __future__ import annotations

import builtins
import importlib.util
import zipfile
from pathlib import Path

import pytest
from build_plugin_zip import SOURCE, build_plugin_zip, package_files, plugin_layout

KRITA_IMPORTER = Path("/usr/share/krita/pykrita/plugin_importer/plugin_importer.py")


def test_zip_layout(tmp_path: Path) -> None:
    out = build_plugin_zip(tmp_path)
    desktop, module, action = plugin_layout()
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        infos = {i.filename: i for i in zf.infolist()}
    assert desktop.name in names and f"{module}/" in names
    assert f"{module}/__init__.py" in names
    if action is not None:
        assert f"{module}.action" in names
    # every folder of every file has its own explicit entry
    for name in names:
        parts = name.rstrip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            assert "/".join(parts[:i]) + "/" in names, name
    assert all(infos[n].is_dir() for n in names if n.endswith("/"))
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # everything at the root is the desktop file, the action file or the package
    roots = {n.split("/")[0] for n in names}
    assert roots <= {desktop.name, f"{module}.action", module}
    _, files = package_files(SOURCE / module)
    packed = {n for n in names if not n.endswith("/") and n.startswith(module + "/")}
    expected = {f.relative_to(SOURCE).as_posix() for f in files}
    if action is not None:
        expected.discard(action.relative_to(SOURCE).as_posix())
    assert packed == expected


def test_zip_is_reproducible(tmp_path: Path) -> None:
    a = build_plugin_zip(tmp_path / "a").read_bytes()
    b = build_plugin_zip(tmp_path / "b").read_bytes()
    assert a == b


@pytest.mark.skipif(not KRITA_IMPORTER.is_file(), reason="Krita's plugin importer not installed")
def test_krita_importer_accepts_the_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Krita's own importer module (Debian's krita package) extracts the zip."""
    monkeypatch.setattr(builtins, "i18n", lambda s: s, raising=False)
    spec = importlib.util.spec_from_file_location("krita_plugin_importer", KRITA_IMPORTER)
    assert spec is not None and spec.loader is not None
    importer_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(importer_mod)
    out = build_plugin_zip(tmp_path / "zip")
    resources = tmp_path / "resources"
    resources.mkdir()
    imported = importer_mod.PluginImporter(str(out), str(resources), lambda p: True).import_all()
    desktop, module, action = plugin_layout()
    assert [p["name"] for p in imported] == [module]
    assert (resources / "pykrita" / desktop.name).read_bytes() == desktop.read_bytes()
    assert (resources / "pykrita" / module / "__init__.py").is_file()
    if action is not None:
        assert (resources / "actions" / f"{module}.action").read_bytes() == action.read_bytes()
    _, files = package_files(SOURCE / module)
    for f in files:
        if f != action:
            rel = f.relative_to(SOURCE)
            assert (resources / "pykrita" / rel).read_bytes() == f.read_bytes(), rel
