"""The stdlib client and the ``visprompt remote`` command against a real server."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from server_helpers import REPO, ServerProcess, random_image

from visprompt_client import Client, ServerError, read_token
from visprompt_client.cli import add_remote_parser
from visprompt_client.cli import main as remote_main


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Client:
    return Client(server.url, token_file=server.token_file, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = {}
    for name, (size, seed) in {
        "in": ((64, 48), 1),
        "out": ((64, 48), 2),
        "query": ((90, 70), 3),
    }.items():
        paths[name] = folder / f"{name}.png"
        random_image(*size, seed).save(paths[name])
    mask = Image.new("L", (90, 70), 0)
    mask.paste(255, (10, 10, 50, 50))
    paths["mask"] = folder / "mask.png"
    mask.save(paths["mask"])
    return paths


def test_stdlib_only() -> None:
    code = (
        "import sys, visprompt_client, visprompt_client.cli\n"
        "heavy = {'PIL', 'numpy', 'torch', 'fastapi', 'pydantic', 'backend_server',"
        " 'visprompt_core'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout.strip() == "[]"


def test_read_token_from_config_dir(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISPROMPT_CONFIG_DIR", str(server.config_dir / "config"))
    monkeypatch.delenv("VISPROMPT_TOKEN", raising=False)
    assert read_token() == server.token
    assert Client(server.url).info()["loaded_model"] == "default"


def test_endpoints(client: Client) -> None:
    assert client.health() == {"status": "ok"}
    assert client.info()["max_pairs"] == 8
    assert any(m["name"] == "default" for m in client.models())
    assert client.load_model("default") == "default"


def test_prompt_with_paths_bytes_and_pil(client: Client, files: dict[str, Path]) -> None:
    from_paths = client.prompt([(files["in"], files["out"])], files["query"])
    from_bytes = client.prompt(
        [(files["in"].read_bytes(), files["out"].read_bytes())], files["query"].read_bytes()
    )
    from_pil = client.prompt(
        [(Image.open(files["in"]), Image.open(files["out"]))], Image.open(files["query"])
    )
    assert (from_paths.width, from_paths.height) == (90, 70)
    assert from_paths.model == "default"
    assert from_paths.timings["total_ms"] > 0
    assert from_paths.png == from_bytes.png == from_pil.png
    assert from_paths.image().size == (90, 70)


def test_prompt_options(client: Client, files: dict[str, Path]) -> None:
    result = client.prompt(
        [(files["in"], files["out"])] * 2,
        str(files["query"]),
        files["mask"],
        model="default",
        ensemble=2,
        answer_size=(45, 35),
    )
    image = result.image()
    assert image.size == (45, 35) and image.mode == "RGBA"


def test_select_from_a_pool(
    server: ServerProcess, client: Client, files: dict[str, Path], tmp_path: Path
) -> None:
    """A pool of 10 pairs (above the 8-pair limit) with ``select``; the chosen pair is the
    one whose input is the query itself, so the answer equals that pair alone."""
    decoys = []
    for i in range(9):
        path = tmp_path / f"decoy{i}.png"
        random_image(64, 48, 50 + i).save(path)
        decoys.append((path, files["out"]))
    best = (files["query"], files["mask"])
    pool = [*decoys, best]
    chosen = client.prompt(pool, files["query"], select=1).image()
    alone = client.prompt([best], files["query"]).image()
    assert np.array_equal(np.asarray(chosen), np.asarray(alone))
    job = client.submit_job(pool, files["query"], select=1)
    assert client.wait_job(job, timeout=120).image().size == (90, 70)
    with pytest.raises(ServerError) as err:
        client.prompt(pool, files["query"])
    assert err.value.code == "too_many_pairs"
    out = tmp_path / "selected.png"
    pairs = [arg for a, b in pool for arg in ("--example", str(a), str(b))]
    base = ["--url", server.url, "--token-file", str(server.token_file)]
    code = remote_main([*base, *pairs, "--select", "1", "--query", str(files["query"]),
                        "--out", str(out)])
    assert code == 0
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(alone))


def test_server_error(client: Client, files: dict[str, Path]) -> None:
    with pytest.raises(ServerError) as caught:
        client.prompt([(files["in"], files["query"])], files["query"])
    assert caught.value.code == "size_mismatch"
    assert caught.value.status == 400
    with pytest.raises(ServerError) as caught:
        client.prompt([(b"junk", b"junk")], files["query"])
    assert caught.value.code == "bad_image"


def test_wrong_token(server: ServerProcess) -> None:
    with pytest.raises(ServerError) as caught:
        Client(server.url, token="wrong").info()
    assert (caught.value.code, caught.value.status) == ("unauthorized", 401)
    assert Client(server.url, token="wrong").health()["status"] == "ok"


def test_connection_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerError) as caught:
        Client(f"http://127.0.0.1:{port}", token="x", timeout=5).health()
    assert (caught.value.code, caught.value.status) == ("connection_failed", 0)


def test_jobs(client: Client, files: dict[str, Path]) -> None:
    job_id = client.submit_job([(files["in"], files["out"])], files["query"])
    seen: list[tuple[float, str]] = []
    result = client.wait_job(job_id, poll_s=0.05, on_progress=lambda p, s: seen.append((p, s)))
    assert seen[-1] == (1.0, "done")
    direct = client.prompt([(files["in"], files["out"])], files["query"])
    assert np.array_equal(np.asarray(result.image()), np.asarray(direct.image()))
    assert client.cancel(job_id)["state"] == "done"
    with pytest.raises(ServerError) as caught:
        client.job("no-such-job")
    assert caught.value.code == "not_found"


def test_cancelled_job_raises(client: Client, files: dict[str, Path]) -> None:
    blocker = client.submit_job([(files["in"], files["out"])], files["query"], ensemble=16)
    job_id = client.submit_job([(files["in"], files["out"])], files["query"], ensemble=16)
    client.cancel(job_id)
    with pytest.raises(ServerError) as caught:
        client.wait_job(job_id)
    assert caught.value.code == "cancelled"
    client.wait_job(blocker)


def test_remote_cli(server: ServerProcess, files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "answer.png"
    base = ["--url", server.url, "--token-file", str(server.token_file)]
    pair = ["--example", str(files["in"]), str(files["out"])]
    code = remote_main([*base, *pair, "--query", str(files["query"]), "--out", str(out)])
    assert code == 0
    assert Image.open(out).size == (90, 70)

    out2 = tmp_path / "masked.png"
    args = [*base, *pair, *pair, "--query", str(files["query"]), "--mask", str(files["mask"])]
    code = remote_main([*args, "--out", str(out2), "--answer-size", "30x20", "--job"])
    assert code == 0
    assert Image.open(out2).size == (30, 20) and Image.open(out2).mode == "RGBA"


def test_remote_cli_errors(
    server: ServerProcess, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base = ["--url", server.url, "--token-file", str(server.token_file)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    args = ["--example", str(bad), str(files["out"]), "--query", str(files["query"])]
    assert remote_main([*base, *args, "--out", str(tmp_path / "x.png")]) == 1
    assert "bad_image" in capsys.readouterr().err
    assert remote_main([*base, "--query", str(files["query"])]) == 2
    missing = ["--example", "nope.png", "nope.png", "--query", "nope.png", "--out", "x.png"]
    assert remote_main([*base, *missing]) == 1


def test_remote_parser_hooks_into_a_cli(server: ServerProcess, capsys: pytest.CaptureFixture):
    parser = argparse.ArgumentParser(prog="visprompt")
    add_remote_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["remote", "--url", server.url, "--token-file", str(server.token_file), "--info"]
    )
    assert args.func(args) == 0
    assert '"loaded_model": "default"' in capsys.readouterr().out


def test_visprompt_remote_command(
    server: ServerProcess, files: dict[str, Path], tmp_path: Path
) -> None:
    """``visprompt remote`` through the core CLI, as users type it."""
    from visprompt_core.cli import main as visprompt_main

    out = tmp_path / "via-core-cli.png"
    args = ["remote", "--url", server.url, "--token-file", str(server.token_file)]
    args += ["--example", str(files["in"]), str(files["out"]), "--query", str(files["query"])]
    assert visprompt_main([*args, "--out", str(out)]) == 0
    assert Image.open(out).size == (90, 70)
