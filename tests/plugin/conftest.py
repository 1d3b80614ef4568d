"""Fixtures for the plugin tests: the fake ``krita`` module, documents, a real backend."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import fake_krita  # noqa: E402
from plugin_support import BACKEND_AVAILABLE, PLUGIN_DIR, start_backend  # noqa: E402

if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
sys.modules["krita"] = fake_krita  # the plugin imports ``krita`` lazily; this is ours


@pytest.fixture
def krita() -> Iterator[fake_krita.Krita]:
    fake_krita.Krita._instance = None
    yield fake_krita.Krita.instance()
    fake_krita.Krita._instance = None


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config"
    monkeypatch.setenv("VISPROMPT_CONFIG_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real backend process on a free port (default model, CPU)."""
    if not BACKEND_AVAILABLE:
        pytest.skip("backend_server is not in this checkout")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        pytest.skip("the server extras (fastapi, uvicorn) are not installed")
    server = start_backend(tmp_path_factory.mktemp("backend"))
    try:
        yield {"url": server.url, "token": server.token, "token_file": str(server.token_file)}
    finally:
        server.stop()
