"""Token, Host and Origin checks, the token file, and refused bind addresses."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import REPO, ServerProcess, server_env, start_server

PROTECTED = [
    ("GET", "/v1/info"),
    ("GET", "/v1/models"),
    ("POST", "/v1/models/load"),
    ("POST", "/v1/prompt"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs/x"),
    ("DELETE", "/v1/jobs/x"),
    ("GET", "/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_token(server: ServerProcess, method: str, path: str) -> None:
    answer = server.request(method, path, {} if method == "POST" else None, token=False)
    assert answer.status == 401
    assert answer.code == "unauthorized"
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic abc", "Bearer", "bearer  "])
def test_wrong_token(server: ServerProcess, header: str) -> None:
    answer = server.request("GET", "/v1/info", token=False, headers={"Authorization": header})
    assert answer.status == 401
    assert answer.code == "unauthorized"


def test_right_token(server: ServerProcess) -> None:
    assert server.request("GET", "/v1/info").status == 200
    # The scheme name is case-insensitive (RFC 7235).
    headers = {"Authorization": f"bearer {server.token}"}
    assert server.request("GET", "/v1/info", token=False, headers=headers).status == 200


def test_token_file_created_private(server: ServerProcess) -> None:
    assert server.token_file == server.config_dir / "config" / "token"
    assert server.token and len(server.token) >= 32
    if os.name == "posix":
        assert stat.S_IMODE(server.token_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "192.168.1.10"]
)
def test_foreign_host_refused(server: ServerProcess, host: str) -> None:
    for path in ("/v1/health", "/v1/info"):
        answer = server.request("GET", path, host=host)
        assert answer.status == 403
        assert answer.code == "forbidden_host"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "localhost:1234", "LOCALHOST"])
def test_local_hosts_accepted(server: ServerProcess, host: str) -> None:
    assert server.request("GET", "/v1/info", host=host).status == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:3000"])
def test_browser_origin_refused(server: ServerProcess, origin: str) -> None:
    for method, path in (("GET", "/v1/health"), ("GET", "/v1/info"), ("OPTIONS", "/v1/prompt")):
        answer = server.request(method, path, headers={"Origin": origin})
        assert answer.status == 403
        assert answer.code == "forbidden_origin"
        assert "access-control-allow-origin" not in answer.headers


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that allows one extra Host name and one browser origin, custom token file."""
    base = tmp_path_factory.mktemp("open")
    token_file = base / "elsewhere" / "my-token"
    srv = start_server(
        base,
        "--allow-host",
        "visprompt.test",
        "--allow-origin",
        "http://app.test:8000",
        "--token-file",
        str(token_file),
    )
    yield srv
    srv.stop()


def test_token_file_option(open_server: ServerProcess) -> None:
    assert open_server.token_file is not None
    assert open_server.token_file.name == "my-token"
    assert not (open_server.config_dir / "config" / "token").exists()


def test_allowed_host(open_server: ServerProcess) -> None:
    assert open_server.request("GET", "/v1/info", host="visprompt.test:7480").status == 200
    assert open_server.request("GET", "/v1/info", host="other.test").code == "forbidden_host"


def test_allowed_origin_and_preflight(open_server: ServerProcess) -> None:
    origin = {"Origin": "http://app.test:8000"}
    answer = open_server.request("OPTIONS", "/v1/prompt", token=False, headers=origin)
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == "http://app.test:8000"
    assert "Authorization" in answer.headers["access-control-allow-headers"]
    answer = open_server.request("GET", "/v1/info", headers=origin)
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == "http://app.test:8000"
    # Still needs the token.
    assert open_server.request("GET", "/v1/info", token=False, headers=origin).status == 401
    other = {"Origin": "http://app.test:9000"}
    assert open_server.request("GET", "/v1/info", headers=other).code == "forbidden_origin"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend_server", "--port", "0", *args],
        capture_output=True,
        text=True,
        env=server_env(tmp_path),
        cwd=REPO,
        timeout=60,
    )


def test_no_auth_on_public_address_refused(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--host", "0.0.0.0", "--no-auth")
    assert done.returncode == 2
    assert "loopback" in done.stderr
    assert "VISPROMPT_READY" not in done.stdout


def test_no_auth_on_loopback(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "--no-auth")
    try:
        assert srv.token is None
        assert srv.request("GET", "/v1/info", token=False).status == 200
        assert srv.request("GET", "/v1/info", host="evil.example").code == "forbidden_host"
    finally:
        assert srv.stop() == 0
