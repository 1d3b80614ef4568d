"""Fixtures for the tests inside real Krita (kritarunner / krita under xvfb-run)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugin"))

from plugin_support import BACKEND_AVAILABLE, Backend, start_backend  # noqa: E402

MISSING = [tool for tool in ("krita", "kritarunner", "xvfb-run") if shutil.which(tool) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MISSING:
        return
    reason = (
        f"real-Krita tests need {', '.join(MISSING)} (Debian: apt-get install krita xvfb xauth)"
    )
    for item in items:
        if "krita" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def krita_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if not BACKEND_AVAILABLE:
        pytest.skip("backend_server is not in this checkout")
    server = start_backend(tmp_path_factory.mktemp("krita-backend"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def krita_env(tmp_path: Path) -> dict[str, str]:
    """A fresh HOME (Krita writes its config, resources and caches there)."""
    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    for path in (home / ".config", home / ".local" / "share", runtime):
        path.mkdir(parents=True)
    runtime.chmod(0o700)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "QT_", "VIRTUAL_ENV", "XDG_"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_RUNTIME_DIR=str(runtime),
        VISPROMPT_CONFIG_DIR=str(home / ".config" / "visprompt"),
    )
    return env
