"""Fixtures for the server tests: real server processes on free loopback ports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parents[1]):  # server_helpers; the packages when not installed
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from server_helpers import ServerProcess, start_server  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with default settings, shared by the modules (each start costs seconds)."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()
