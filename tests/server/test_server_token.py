"""The token file: created once, private, shared by servers that start together."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from backend_server.security import load_or_create_token

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@posix_only
def test_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "token"
    token = load_or_create_token(path)
    assert len(token) >= 40
    assert path.read_text() == token + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_token(path) == token


@posix_only
def test_existing_folder_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    load_or_create_token(tmp_path / "token")
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_concurrent_starts_agree(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "token"
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(load_or_create_token(path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 8 and len(set(tokens)) == 1


def test_empty_file_replaced(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("\n")
    token = load_or_create_token(path)
    assert token and path.read_text().strip() == token
