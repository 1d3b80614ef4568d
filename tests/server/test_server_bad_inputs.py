"""Bad requests of every kind get a 4xx with the documented code; the server keeps serving."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from server_helpers import ServerProcess, b64, png_bytes, prompt_body, random_image


@pytest.fixture(autouse=True)
def still_serving(server: ServerProcess) -> Iterator[None]:
    yield
    assert server.proc.poll() is None, server.stderr()
    assert server.request("GET", "/v1/health").status == 200


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def crafted_png(width: int, height: int) -> bytes:
    """A small PNG file whose header claims ``width`` x ``height`` (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 10_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def with_query(data: bytes | str) -> dict[str, Any]:
    body = prompt_body()
    body["query"] = data if isinstance(data, str) else b64(data)
    return body


def check(server: ServerProcess, body: Any, status: int, code: str, path: str = "/v1/prompt"):
    answer = server.request("POST", path, body)
    assert (answer.status, answer.code) == (status, code), answer.body
    message = answer.json()["error"]["message"]
    assert isinstance(message, str) and message
    return answer


GOOD_PNG = png_bytes(random_image(80, 60, 1))
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("not base64", "this is not base64!"),
        ("empty", ""),
        ("text", b"hello, I am not an image"),
        ("truncated png", GOOD_PNG[: len(GOOD_PNG) // 2]),
        ("png header only", GOOD_PNG[:30]),
        ("png signature only", GOOD_PNG[:8]),
        ("bad crc", GOOD_PNG[:40] + bytes([GOOD_PNG[40] ^ 0xFF]) + GOOD_PNG[41:]),
        ("zero width", crafted_png(0, 10)),
        ("gif", GIF),
    ],
)
def test_bad_image(server: ServerProcess, name: str, data: bytes | str) -> None:
    for path in ("/v1/prompt", "/v1/jobs"):
        check(server, with_query(data), 400, "bad_image", path)


def test_bad_image_in_example_names_the_field(server: ServerProcess) -> None:
    body = prompt_body(pairs=2)
    body["examples"][1]["output"] = b64(b"garbage")
    answer = check(server, body, 400, "bad_image")
    assert "examples[1].output" in answer.json()["error"]["message"]


def test_undecodable_images_are_reported_in_request_order(server: ServerProcess) -> None:
    """Of two images that fail only once their pixels are read (valid headers, truncated
    data), the earlier field is named."""
    truncated = b64(GOOD_PNG[: len(GOOD_PNG) // 2])
    body = prompt_body(pairs=2)
    body["examples"][1]["output"] = truncated
    body["query"] = truncated
    answer = check(server, body, 400, "bad_image")
    message = answer.json()["error"]["message"]
    assert "examples[1].output" in message and "query" not in message


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (4097, 4097), (2**31, 1)])
def test_decompression_bomb_refused(server: ServerProcess, width: int, height: int) -> None:
    check(server, with_query(crafted_png(width, height)), 413, "image_too_large")


def test_real_large_png_refused(server: ServerProcess) -> None:
    big = png_bytes(Image.new("L", (5000, 4000)))  # 20 Mpx in a few kB
    assert len(big) < 100_000
    check(server, with_query(big), 413, "image_too_large")


def test_request_pixel_total_refused(server: ServerProcess) -> None:
    """Each image is under the per-image limit, together they are over 4x that limit."""
    blank = b64(png_bytes(Image.new("L", (2100, 2100))))
    body = prompt_body()
    body["examples"] = [{"input": blank, "output": blank}] * 8
    answer = check(server, body, 413, "image_too_large")
    assert "together" in answer.json()["error"]["message"]


def test_mismatched_pair(server: ServerProcess) -> None:
    body = prompt_body()
    body["examples"][0]["output"] = b64(png_bytes(random_image(65, 48, 3)))
    check(server, body, 400, "size_mismatch")


def test_mask_size_mismatch(server: ServerProcess) -> None:
    body = prompt_body()
    body["mask"] = b64(png_bytes(Image.new("L", (10, 10), 255)))
    check(server, body, 400, "size_mismatch")


def test_too_many_pairs(server: ServerProcess) -> None:
    body = prompt_body(pairs=9, size=(16, 16), query_size=(16, 16))
    answer = check(server, body, 400, "too_many_pairs")
    assert "8" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "patch",
    [
        {"examples": []},
        {"examples": "x"},
        {"examples": [{"input": "x"}]},
        {"examples": [["a", "b"]]},
        {"query": 5},
        {"query": None},
        {"mask": 12},
        {"options": {"ensemble": "many"}},
        {"options": {"ensemble": 0}},
        {"options": {"ensemble": 1000}},
        {"options": {"answer_size": [1]}},
        {"options": {"answer_size": "big"}},
        {"options": {"model": 3}},
        {"options": {"colour": "blue"}},
        {"surprise": True},
    ],
)
def test_wrong_json_types(server: ServerProcess, patch: dict[str, Any]) -> None:
    body = prompt_body()
    for key, value in patch.items():
        if key == "options":
            body["options"] = value
        else:
            body[key] = value
    check(server, body, 400, "bad_json")


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b"\xff\xfe", b'"text"', b""])
def test_not_json(server: ServerProcess, raw: bytes) -> None:
    check(server, raw, 400, "bad_json")


def test_answer_size_limits(server: ServerProcess) -> None:
    check(server, prompt_body(answer_size=[100_000, 100_000]), 413, "image_too_large")
    check(server, prompt_body(answer_size=[0, 10]), 400, "bad_json")


def test_unknown_model_option(server: ServerProcess) -> None:
    check(server, prompt_body(model="no-such-model"), 404, "unknown_model")


def test_model_option_not_downloaded(server: ServerProcess) -> None:
    check(server, prompt_body(model="mae-vqgan-cvf"), 409, "model_not_downloaded")


def test_load_model_bad_json(server: ServerProcess) -> None:
    check(server, {"name": 5}, 400, "bad_json", "/v1/models/load")
    check(server, {}, 400, "bad_json", "/v1/models/load")


def test_good_request_after_all_that(server: ServerProcess) -> None:
    answer = server.request("POST", "/v1/prompt", prompt_body(seed=7))
    assert answer.status == 200
