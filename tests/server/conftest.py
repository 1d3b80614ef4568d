"""Fixtures for the server tests: real server processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_helpers import ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module, default settings."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()
