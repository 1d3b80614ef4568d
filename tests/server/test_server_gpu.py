"""The server on a CUDA device, including a real out-of-memory and the recovery from it.

Skipped where no CUDA device is present (CI). The out-of-memory is real: a second process
takes all the free device memory, a large prompt then fails with ``out_of_memory``, and
once that memory is released the same prompt succeeds in the same server process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import REPO, ServerProcess, prompt_body, server_env, start_server

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

HOG = """
import sys, torch
blocks = []
size = 1 << 30
while size >= 1 << 20:
    try:
        blocks.append(torch.empty(size, dtype=torch.uint8, device="cuda"))
    except torch.OutOfMemoryError:
        size //= 2
print("full", flush=True)
sys.stdin.readline()
"""


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("gpu"), "--device", "cuda")
    yield srv
    srv.stop()


def test_runs_on_cuda(gpu_server: ServerProcess) -> None:
    info = gpu_server.request("GET", "/v1/info").json()
    assert info["device"].startswith("cuda")
    assert info["memory"]["device_total"] > 0
    answer = gpu_server.request("POST", "/v1/prompt", prompt_body(seed=1))
    assert answer.status == 200, answer.body


def test_real_out_of_memory_then_recovery(gpu_server: ServerProcess, tmp_path: Path) -> None:
    big = prompt_body(seed=2, pairs=8, size=(32, 32), query_size=(32, 32), ensemble=16)
    assert gpu_server.request("POST", "/v1/prompt", prompt_body(seed=3)).status == 200
    hog = subprocess.Popen(
        [sys.executable, "-c", HOG],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=server_env(tmp_path),
        cwd=REPO,
    )
    try:
        assert hog.stdout is not None and hog.stdout.readline().strip() == "full"
        answers = [gpu_server.request("POST", "/v1/prompt", big) for _ in range(3)]
        codes = [(a.status, a.code) for a in answers]
        assert (503, "out_of_memory") in codes, codes
        failed = next(a for a in answers if a.code == "out_of_memory")
        assert int(failed.headers["retry-after"]) >= 1
        assert gpu_server.proc.poll() is None
    finally:
        assert hog.stdin is not None
        hog.stdin.write("\n")
        hog.stdin.flush()
        hog.wait(30)
    answer = gpu_server.request("POST", "/v1/prompt", big)
    assert answer.status == 200, answer.body
    assert gpu_server.request("GET", "/v1/health").status == 200
