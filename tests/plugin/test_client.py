"""The asynchronous client against a real backend process (and a few dead ends)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from documents import make_document
from visual_prompt import png
from visual_prompt.client import Call, Client
from visual_prompt.controller import Choices, check_body, prepare
from visual_prompt.krita_api import KritaDocument, node_id
from visual_prompt.wire import ExamplePair, PromptOptions, PromptRequest, PromptResponse, ServerInfo


def wait(qtbot: Any, call: Call, timeout_s: float = 120) -> Call:
    qtbot.waitUntil(lambda: call.done, timeout=int(timeout_s * 1000))
    return call


def square(colour: tuple[int, int, int], size: int = 32) -> str:
    rgba = bytes([*colour, 255]) * (size * size)
    return png.b64encode(png.encode_rgba(rgba, size, size))


def request(mask: bytes | None = None) -> PromptRequest:
    mask_png = png.b64encode(png.encode_grey(mask, 24, 16)) if mask else None
    query = png.b64encode(png.encode_rgba(bytes([200, 30, 30, 255]) * (24 * 16), 24, 16))
    return PromptRequest(
        [ExamplePair(square((200, 30, 30)), square((30, 30, 200)))], query, mask_png
    )


@pytest.fixture
def client(qapp: Any, backend: dict[str, str]) -> Iterator[Client]:
    yield Client(backend["url"], backend["token"])


def test_health_and_info(qtbot: Any, client: Client) -> None:
    assert wait(qtbot, client.health()).result == {"status": "ok"}
    info = wait(qtbot, client.info()).result
    assert isinstance(info, ServerInfo)
    assert "default" in [m.name for m in info.models] and info.max_pairs >= 1
    assert info.max_body_bytes == 64 * 2**20  # the server's default, read for check_body


def test_prompt_answers_at_the_query_size(qtbot: Any, client: Client) -> None:
    call = client.prompt(request())
    progress: list[float] = []
    call.progress.connect(progress.append)
    wait(qtbot, call)
    assert call.error is None, call.error
    response = call.result
    assert isinstance(response, PromptResponse)
    rgba, w, h = png.decode_rgba(png.b64decode(response.image))
    assert (w, h) == (24, 16) and len(rgba) == 24 * 16 * 4
    assert progress and progress[-1] == 1.0


def test_a_4k_document_of_noise_is_sent_and_answered(qtbot: Any, client: Client,
                                                    krita: Any) -> None:
    """PNG's worst case at an artist's size: a 4096x3072 document whose example pair and
    query are opaque noise. As the plugin sends it (the examples at EXAMPLE_SIDE), the
    request is under the real server's body limit and comes back answered at full size;
    the pair at full size alone would have been over it."""
    w, h = 4096, 3072
    doc = make_document(krita, w=w, h=h)
    nodes = {node.name(): node for node in doc.rootNode().childNodes()}
    for name in ("example in", "example out", "query"):
        pixels = bytearray(os.urandom(w * h * 4))
        pixels[3::4] = b"\xff" * (w * h)
        nodes[name].setPixelData(bytes(pixels), 0, 0, w, h)
    ids = {node.name(): node_id(node) for node in doc.rootNode().childNodes()}
    choices = Choices(pairs=[(ids["example in"], ids["example out"])], query=ids["query"],
                      mask="none")
    request, _plan = prepare(KritaDocument(doc), choices)
    info = wait(qtbot, client.info()).result
    assert isinstance(info, ServerInfo)
    check_body(request, info)
    full_pair = 2 * len(png.b64encode(png.encode_rgba(bytes(pixels), w, h)))
    assert full_pair > info.max_body_bytes
    call = wait(qtbot, client.prompt(request))
    assert call.error is None, call.error
    assert (call.result.width, call.result.height) == (w, h)


def test_prompt_with_mask_answers_rgba(qtbot: Any, client: Client) -> None:
    mask = bytes([255 if x < 12 else 0 for _y in range(16) for x in range(24)])
    call = wait(qtbot, client.prompt(request(mask)))
    assert call.error is None, call.error
    rgba, _w, _h = png.decode_rgba(png.b64decode(call.result.image))
    assert rgba[3] == 255 and rgba[23 * 4 + 3] == 0


def test_answer_size_option(qtbot: Any, client: Client) -> None:
    base = request()
    sized = PromptRequest(base.examples, base.query, None, PromptOptions(answer_size=(48, 32)))
    call = wait(qtbot, client.prompt(sized))
    assert call.error is None, call.error
    assert png.decode_rgba(png.b64decode(call.result.image))[1:] == (48, 32)


def test_wrong_token_is_reported_in_plain_words(qtbot: Any, backend: dict[str, str]) -> None:
    call = wait(qtbot, Client(backend["url"], "wrong").info())
    assert call.error is not None and call.error.code == "unauthorized"
    assert "token" in str(call.error)


def test_bad_image_is_reported(qtbot: Any, client: Client) -> None:
    bad = PromptRequest([ExamplePair("bm90IGEgcG5n", "bm90IGEgcG5n")], "bm90IGEgcG5n")
    call = wait(qtbot, client.prompt(bad))
    assert call.error is not None and call.error.code == "bad_image"


def test_cancel_stops_at_once(qtbot: Any, client: Client) -> None:
    call = client.prompt(request())
    failures: list[Any] = []
    call.failed.connect(failures.append)
    call.cancel()
    assert call.done and call.error is not None and call.error.code == "cancelled"
    qtbot.wait(300)
    assert len(failures) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_not_running(qtbot: Any, qapp: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    call = wait(qtbot, Client(url).health(), 20)
    assert call.error is not None and call.error.code == "server_not_running"
    assert "not running" in str(call.error) and url in str(call.error)


def test_timeout_when_the_server_never_answers(qtbot: Any, qapp: Any) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        call = wait(qtbot, Client(url, timeout_s=0.5).health(), 20)
    assert call.error is not None and call.error.code == "timeout"
    assert "did not answer" in str(call.error)
