"""Reading layers and the selection, the insertion plan, and inserting the answer,
through the real ``krita_api`` adapter on the fake ``krita`` module."""

from __future__ import annotations

from typing import Any

import fake_krita
import pytest
from documents import add_library, make_document, select
from plugin_support import native_pixel
from visual_prompt import png
from visual_prompt.controller import Choices, answer_image, finish, next_layer_name, prepare
from visual_prompt.document import Rect
from visual_prompt.errors import DocumentChangedError, InputError
from visual_prompt.krita_api import KritaDocument, node_id
from visual_prompt.library import library_pairs
from visual_prompt.wire import PromptResponse


def ids(doc: fake_krita.Document) -> dict[str, str]:
    return {layer.name(): node_id(layer) for layer in doc.rootNode().childNodes()}


def choices_for(doc: fake_krita.Document, **kw: Any) -> Choices:
    i = ids(doc)
    return Choices(pairs=[(i["example in"], i["example out"])], **kw)


def answer(w: int, h: int, rgba: bytes = bytes([0, 200, 0, 255])) -> PromptResponse:
    image = png.b64encode(png.encode_rgba(rgba * (w * h), w, h))
    return PromptResponse(image, w, h, "default", {"total_ms": 1.0})


def decoded(b64: str) -> tuple[bytes, int, int]:
    return png.decode_rgba(png.b64decode(b64))


@pytest.mark.parametrize("depth", ["U8", "U16", "F16", "F32"])
def test_prepare_without_mask_uses_the_query_bounds(qapp: Any, krita: Any, depth: str) -> None:
    doc = make_document(krita, depth)
    port = KritaDocument(doc)
    request, plan = prepare(port, choices_for(doc, mask="none"))
    assert plan.region == Rect(20, 4, 20, 20)
    assert plan.mask is None and request.mask is None
    rgba, w, h = decoded(request.query)
    assert (w, h) == (20, 20) and rgba[:4] == bytes([200, 30, 30, 255])
    example_in, w, h = decoded(request.examples[0].input)
    example_out, _, _ = decoded(request.examples[0].output)
    assert (w, h) == (12, 12)
    assert example_in[:4] == bytes([200, 30, 30, 255])
    assert example_out[:4] == bytes([30, 30, 200, 255])
    assert plan.layer_name == "Visual Prompt 1 (1 pair)"


def test_prepare_with_selection(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    select(doc, 24, 8, 10, 6)
    request, plan = prepare(KritaDocument(doc), choices_for(doc))
    assert plan.region == Rect(24, 8, 10, 6)
    assert plan.mask is not None and plan.mask.data == bytes([255]) * 60
    assert decoded(request.query)[1:] == (10, 6)
    mask_rgba, w, h = decoded(request.mask or "")
    assert (w, h) == (10, 6) and mask_rgba[:3] == bytes([255, 255, 255])


def test_selection_is_clipped_to_the_image(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    select(doc, 40, -2, 20, 6)
    _request, plan = prepare(KritaDocument(doc), choices_for(doc))
    assert plan.region == Rect(40, 0, 8, 4)
    assert plan.mask is not None and len(plan.mask.data) == 32


def test_mask_layer(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    mask = doc.createNode("mask", "paintlayer")
    doc.rootNode().addChildNode(mask, None)
    mask.setPixelData(native_pixel(doc, 255, 255, 255) * 16, 22, 6, 4, 4)
    _request, plan = prepare(
        KritaDocument(doc), choices_for(doc, mask="layer", mask_layer=node_id(mask))
    )
    assert plan.region == Rect(22, 6, 4, 4) and plan.mask is not None
    assert set(plan.mask.data) == {255}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("no pairs", "at least one example pair"),
        ("half pair", "both an input and an output"),
        ("no selection", "Nothing is selected"),
        ("query is example", "also an example layer"),
        ("empty selection", "mask is empty"),
    ],
)
def test_bad_choices_are_explained(qapp: Any, krita: Any, change: str, words: str) -> None:
    doc = make_document(krita)
    choices = choices_for(doc)
    if change == "no pairs":
        choices.pairs = [("", "")]
    elif change == "half pair":
        choices.pairs = [(choices.pairs[0][0], "")]
    elif change == "query is example":
        choices.query = choices.pairs[0][0]
        choices.mask = "none"
    elif change == "empty selection":
        select(doc, 24, 8, 10, 6, value=0)
    with pytest.raises(InputError, match=words):
        prepare(KritaDocument(doc), choices)


@pytest.mark.parametrize("depth", ["U8", "U16"])
def test_finish_inserts_one_new_layer_above_the_query(qapp: Any, krita: Any, depth: str) -> None:
    doc = make_document(krita, depth)
    select(doc, 24, 8, 10, 6)
    port = KritaDocument(doc)
    before = {n.name(): bytes(n.data) for n in doc.rootNode().childNodes()}
    _request, plan = prepare(port, choices_for(doc))
    name = finish(port, plan, answer(10, 6))
    names = [n.name() for n in doc.rootNode().childNodes()]
    assert names == ["background", "example in", "example out", "query", name]
    new = doc.nodeByName(name)
    assert new is not None
    assert new.bounds().getRect() == (24, 8, 10, 6)
    assert bytes(new.pixelData(24, 8, 1, 1)) == native_pixel(doc, 0, 200, 0)
    # one undoable step: the node was filled before it entered the stack
    assert doc.undo_stack == [("add", new)] and doc.non_undoable_writes == 0
    for layer in doc.rootNode().childNodes():
        if layer.name() in before:
            assert bytes(layer.data) == before[layer.name()]


def test_soft_selection_becomes_the_layer_alpha(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    select(doc, 24, 8, 10, 6, value=100)
    port = KritaDocument(doc)
    _request, plan = prepare(port, choices_for(doc))
    image = answer_image(plan, answer(10, 6))
    assert set(image.rgba[3::4]) == {100}


def test_answer_of_another_size_is_scaled_to_the_region(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    _request, plan = prepare(KritaDocument(doc), choices_for(doc, mask="none", answer_size=64))
    image = answer_image(plan, answer(64, 64))
    assert image.rect == Rect(20, 4, 20, 20) and len(image.rgba) == 20 * 20 * 4


def test_names_count_up(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    port = KritaDocument(doc)
    _request, plan = prepare(port, choices_for(doc, mask="none"))
    finish(port, plan, answer(20, 20))
    assert next_layer_name(port, 2) == "Visual Prompt 2 (2 pairs)"


@pytest.mark.parametrize("change", ["resize", "delete query", "close"])
def test_changed_document_gets_nothing(qapp: Any, krita: Any, change: str) -> None:
    doc = make_document(krita)
    port = KritaDocument(doc)
    _request, plan = prepare(port, choices_for(doc, mask="none"))
    if change == "resize":
        doc.resize(64, 64)
    elif change == "delete query":
        query = doc.nodeByName("query")
        assert query is not None
        query.remove()
    else:
        krita.closeDocument(doc)
    count = len(doc.rootNode().childNodes())
    with pytest.raises(DocumentChangedError, match="not inserted"):
        finish(port, plan, answer(20, 20))
    assert len(doc.rootNode().childNodes()) == count


def test_choices_are_stored_in_the_document(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    port = KritaDocument(doc)
    choices = choices_for(doc, mask="none", model="m", ensemble=3, select=2, detail=False)
    port.save_choices(choices.to_dict())
    assert Choices.from_dict(KritaDocument(doc).load_choices()) == choices
    junk = {"pairs": "junk", "mask": "moon", "ensemble": -1, "select": True, "detail": "no"}
    assert Choices.from_dict(junk) == Choices()
    request, _plan = prepare(port, choices)
    assert request.options.detail is False
    assert request.to_json()["options"]["detail"] is False


def test_grey_document(qapp: Any, krita: Any) -> None:
    doc = make_document(krita, "U8", "GRAYA")
    request, _plan = prepare(KritaDocument(doc), choices_for(doc, mask="none"))
    rgba = decoded(request.query)[0]
    assert rgba[0] == rgba[1] == rgba[2] and rgba[3] == 255


def test_server_limits_are_checked_before_sending(qapp: Any, krita: Any) -> None:
    from visual_prompt.controller import check_limits
    from visual_prompt.wire import ServerInfo

    doc = make_document(krita)
    _request, plan = prepare(KritaDocument(doc), choices_for(doc, mask="none"))
    check_limits(plan, None)
    check_limits(plan, ServerInfo(max_pairs=1, max_pixels=400))
    with pytest.raises(InputError, match="at most 399 pixels"):
        check_limits(plan, ServerInfo(max_pairs=1, max_pixels=399))
    two = choices_for(doc, mask="none")
    (a, b), = two.pairs
    two.pairs = [(a, b), (b, a)]  # two different pairs (a repeated one is sent once)
    _request, plan = prepare(KritaDocument(doc), two)
    with pytest.raises(InputError, match="at most 1 example pairs"):
        check_limits(plan, ServerInfo(max_pairs=1))
    # A library of pairs with 'Use closest': the server's max_pool applies instead.
    two.select = 1
    request, plan = prepare(KritaDocument(doc), two)
    assert request.options.to_json()["select"] == 1 and plan.select == 1
    check_limits(plan, ServerInfo(max_pairs=1, max_pool=2))
    with pytest.raises(InputError, match="library of at most 1"):
        check_limits(plan, ServerInfo(max_pairs=8, max_pool=1))
    with pytest.raises(InputError, match="cannot pick the closest"):
        check_limits(plan, ServerInfo(max_pairs=8))  # an older server
    plain, _plan = prepare(KritaDocument(doc), choices_for(doc, mask="none"))
    assert "select" not in plain.options.to_json()


def library_choices(doc: fake_krita.Document, **kw: Any) -> Choices:
    library = doc.nodeByName("library")
    assert library is not None
    return Choices(pairs=[("", "")], library=node_id(library), **kw)


def test_library_pairs_are_sent(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    add_library(doc)
    port = KritaDocument(doc)
    request, plan = prepare(port, library_choices(doc, mask="none", select=1))
    inputs = [decoded(p.input) for p in request.examples]
    outputs = [decoded(p.output) for p in request.examples]
    assert [i[1:] for i in inputs] == [(6, 6)] * 3  # read over the pair's own bounds
    assert [i[0][:4] for i in inputs] == [
        bytes([0, 0, 250, 255]), bytes([200, 30, 30, 255]), bytes([0, 200, 0, 255])
    ]  # fmt: skip
    assert [o[0][:4] for o in outputs] == [
        bytes([250, 250, 0, 255]), bytes([30, 30, 200, 255]), bytes([0, 100, 0, 255])
    ]  # fmt: skip
    assert (plan.pairs, plan.library, plan.library_pairs) == (3, "library", 3)
    assert plan.layer_name == "Visual Prompt 1 (3 pairs)"
    assert request.options.to_json()["select"] == 1
    # rows come first, then the library's pairs
    both = library_choices(doc, mask="none")
    both.pairs = choices_for(doc).pairs
    request, plan = prepare(port, both)
    assert plan.pairs == 4 and plan.library_pairs == 3
    assert decoded(request.examples[0].input)[1:] == (12, 12)
    # the same pair twice (two rows, or a row and a library pair) is sent once
    library_ids = library_pairs(port.layers(), both.library)
    twice = library_choices(doc, mask="none")
    twice.pairs = [choices_for(doc).pairs[0], choices_for(doc).pairs[0], library_ids[1]]
    request, plan = prepare(port, twice)
    assert (plan.pairs, plan.library_pairs, len(request.examples)) == (4, 2, 4)
    assert plan.layer_name.endswith("(4 pairs)")


def test_choices_round_trip_with_a_library(qapp: Any, krita: Any) -> None:
    doc = make_document(krita)
    add_library(doc)
    choices = library_choices(doc, select=1)
    port = KritaDocument(doc)
    port.save_choices(choices.to_dict())
    assert Choices.from_dict(port.load_choices()) == choices
    assert choices.to_dict()["library"] == choices.library != ""
    # dicts stored before the library existed, or with junk in the field
    old = Choices(pairs=[("a", "b")], select=2).to_dict()
    del old["library"]
    assert Choices.from_dict(old) == Choices(pairs=[("a", "b")], select=2)
    assert Choices.from_dict(dict(old, library=7)).library == ""


def run_refused(doc: fake_krita.Document, choices: Choices, limits: Any = None) -> list[str]:
    """Run the controller with a client that must never be called; the messages."""
    from visual_prompt.client import Client
    from visual_prompt.controller import PromptController

    controller = PromptController()
    controller.set_client(Client("http://127.0.0.1:9", ""))
    controller.limits = limits
    messages: list[str] = []
    controller.message.connect(lambda text, _level: messages.append(text))
    assert controller.run(KritaDocument(doc), choices) is False
    assert controller.call is None and not controller.busy
    return messages


def tree(node: fake_krita.Node) -> list[Any]:
    return [(c.name(), bytes(c.data), tree(c)) for c in node.childNodes()]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("empty library", "'library' holds no pair groups"),
        ("no output", "not an example pair: 'short names'"),
        ("deleted library", "library group no longer exists"),
        ("empty pair", "example layers 'lower' in 'by position' are empty"),
        ("query in library", "also an example layer"),
    ],
)
def test_library_errors_leave_the_document_alone(
    qapp: Any, krita: Any, change: str, words: str
) -> None:
    doc = make_document(krita)
    if change == "empty library":
        add_library(doc, pairs=[])
    elif change == "no output":
        add_library(doc)
        out = doc.nodeByName("cat-out")
        assert out is not None
        out.setName("cat")
    elif change == "empty pair":
        add_library(doc, pairs=[("by position", [("lower", None), ("upper", None)])])
    else:
        add_library(doc)
    choices = library_choices(doc, mask="none")
    if change == "deleted library":
        library = doc.nodeByName("library")
        assert library is not None
        library.remove()
    elif change == "query in library":
        lower = doc.nodeByName("lower")
        assert lower is not None
        choices.query = node_id(lower)
    before = tree(doc.rootNode())
    messages = run_refused(doc, choices)
    assert len(messages) == 1 and words in messages[0], messages
    assert tree(doc.rootNode()) == before
    assert doc.undo_stack == [] and doc.non_undoable_writes == 0
    assert bytes(doc.annotation("visual_prompt")) == b""  # choices not even stored


def test_library_limits_are_checked_before_sending(qapp: Any, krita: Any) -> None:
    from visual_prompt.wire import ServerInfo

    doc = make_document(krita)
    add_library(doc)
    choices = library_choices(doc, mask="none")
    # all three pairs at once: too many for a server taking 2
    messages = run_refused(doc, choices, ServerInfo(max_pairs=2, max_pool=64))
    assert messages[0].startswith("3 example pairs are chosen (3 from the library 'library')")
    assert "at most 2 example pairs" in messages[0] and "Set 'Use closest'" in messages[0]
    # an older server without max_pool
    messages = run_refused(doc, choices, ServerInfo(max_pairs=2))
    assert "cannot pick the closest pairs from a library" in messages[0]
    choices.select = 1
    messages = run_refused(doc, choices, ServerInfo(max_pairs=8))
    assert "cannot pick the closest" in messages[0]
    # a library larger than the server's max_pool
    choices.pairs = choices_for(doc).pairs
    messages = run_refused(doc, choices, ServerInfo(max_pairs=8, max_pool=3))
    assert messages[0].startswith("4 example pairs are chosen (3 from the library")
    assert "library of at most 3 example pairs" in messages[0]
    assert bytes(doc.annotation("visual_prompt")) == b""


def test_large_example_layers_are_sent_at_the_example_side(qapp: Any, krita: Any) -> None:
    from visual_prompt.controller import EXAMPLE_SIDE

    w, h = EXAMPLE_SIDE * 2 + 50, 700
    doc = make_document(krita, w=w, h=h)
    nodes = {node.name(): node for node in doc.rootNode().childNodes()}
    left, right = native_pixel(doc, 200, 30, 30), native_pixel(doc, 30, 200, 30)
    half = w // 2  # the example input: red left half, green right half, across the image
    nodes["example in"].setPixelData((left * half + right * (w - half)) * h, 0, 0, w, h)
    request, plan = prepare(KritaDocument(doc), choices_for(doc, mask="none"))
    example_in, sent_w, sent_h = decoded(request.examples[0].input)
    _out, out_w, out_h = decoded(request.examples[0].output)
    assert (sent_w, sent_h) == (out_w, out_h) == (EXAMPLE_SIDE, round(h * EXAMPLE_SIDE / w))
    row = sent_h // 2 * sent_w * 4
    assert example_in[row:row + 4] == bytes([200, 30, 30, 255])  # still red on the left
    end = row + (sent_w - 1) * 4
    assert example_in[end:end + 4] == bytes([30, 200, 30, 255])  # and green on the right
    assert decoded(request.query)[1:] == (plan.region.width, plan.region.height)  # not scaled


def test_examples_are_sent_no_smaller_than_the_server_reads_them() -> None:
    flatting = pytest.importorskip("visprompt_core.flatting")
    from visual_prompt.controller import EXAMPLE_SIDE

    assert EXAMPLE_SIDE >= flatting.GATE_SIZE


def test_requests_over_the_body_limit_are_refused_before_sending(qapp: Any, krita: Any) -> None:
    from visual_prompt.controller import check_body
    from visual_prompt.wire import ServerInfo

    doc = make_document(krita)
    request, _plan = prepare(KritaDocument(doc), choices_for(doc, mask="none"))
    images = len(request.query) + len(request.examples[0].input) + len(
        request.examples[0].output)
    check_body(request, None)
    check_body(request, ServerInfo())  # an older server says nothing
    check_body(request, ServerInfo(max_body_bytes=images))
    with pytest.raises(InputError, match="at most 0 MB per request"):
        check_body(request, ServerInfo(max_body_bytes=images - 1))


# ------------------------------------------------------------ encoding off the GUI thread


def gated_encode(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Make the controller's ``encode`` wait for ``state["gate"]`` and record its thread."""
    import threading

    from visual_prompt import controller as module

    state: dict[str, Any] = {"gate": threading.Event(), "threads": []}
    real = module.encode

    def encode(reading: Any) -> Any:
        state["threads"].append(threading.current_thread())
        assert state["gate"].wait(30), "the GUI thread never opened the gate"
        return real(reading)

    monkeypatch.setattr(module, "encode", encode)
    return state


def test_layers_are_encoded_while_the_gui_thread_runs(
    qtbot: Any, krita: Any, backend: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from visual_prompt.client import Client
    from visual_prompt.controller import PromptController
    from visual_prompt.qt import QTimer

    state = gated_encode(monkeypatch)
    doc = make_document(krita, "F16")
    select(doc, 24, 8, 10, 6)
    controller = PromptController()
    controller.set_client(Client(backend["url"], backend["token"]))
    messages: list[str] = []
    controller.message.connect(lambda text, _level: messages.append(text))
    inserted_on: list[Any] = []
    controller.inserted.connect(lambda _name: inserted_on.append(threading.current_thread()))
    assert controller.run(KritaDocument(doc), choices_for(doc)) is True
    assert controller.busy and controller.call is None and controller.job is not None
    # the encoder waits for a timer that only the GUI thread's event loop can fire
    QTimer.singleShot(50, state["gate"].set)
    qtbot.waitUntil(lambda: not controller.busy, timeout=60000)
    assert messages[0] == "Preparing the layers..." and "Added layer" in messages[-1]
    assert [t.name for t in state["threads"]] == ["visual-prompt-encode"]
    assert inserted_on == [threading.main_thread()]
    assert doc.nodeByName("Visual Prompt 1 (1 pair)").bounds().getRect() == (24, 8, 10, 6)


def test_cancel_while_encoding_sends_nothing(
    qtbot: Any, krita: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from visual_prompt.client import Client
    from visual_prompt.controller import PromptController

    state = gated_encode(monkeypatch)
    doc = make_document(krita)
    controller = PromptController()
    controller.set_client(Client("http://127.0.0.1:9", ""))  # nothing listens there
    messages: list[str] = []
    controller.message.connect(lambda text, _level: messages.append(text))
    busy: list[bool] = []
    controller.busy_changed.connect(busy.append)
    assert controller.run(KritaDocument(doc), choices_for(doc, mask="none")) is True
    job = controller.job
    controller.cancel()
    assert not controller.busy and busy == [True, False]
    state["gate"].set()
    job.wait(30)
    qtbot.wait(300)  # the encoder's result arrives and is dropped
    assert messages == ["Preparing the layers...", "Cancelled."]
    assert controller.call is None and not controller.busy
    names = [n.name() for n in doc.rootNode().childNodes()]
    assert not any(name.startswith("Visual Prompt") for name in names)


@pytest.mark.parametrize("case", ["empty mask layer", "over the body limit"])
def test_problems_found_while_encoding_are_reported(qtbot: Any, krita: Any, case: str) -> None:
    from visual_prompt.client import Client
    from visual_prompt.controller import PromptController
    from visual_prompt.wire import ServerInfo

    doc = make_document(krita)
    controller = PromptController()
    controller.set_client(Client("http://127.0.0.1:9", ""))  # must never be called
    choices = choices_for(doc, mask="none")
    if case == "empty mask layer":
        mask = doc.createNode("mask", "paintlayer")
        doc.rootNode().addChildNode(mask, None)
        mask.setPixelData(native_pixel(doc, 0, 0, 0) * 16, 22, 6, 4, 4)  # black: no mask
        choices = choices_for(doc, mask="layer", mask_layer=node_id(mask))
        words = "The mask is empty"
    else:
        controller.limits = ServerInfo(max_body_bytes=100)
        words = "accepts at most 0 MB per request"
    messages: list[tuple[str, str]] = []
    controller.message.connect(lambda text, level: messages.append((level, text)))
    assert controller.run(KritaDocument(doc), choices) is True
    qtbot.waitUntil(lambda: not controller.busy, timeout=30000)
    assert messages[-1][0] == "error" and words in messages[-1][1]
    assert len(messages) == 2 and controller.call is None


def test_the_worker_sends_what_prepare_sends(qtbot: Any, krita: Any) -> None:
    """Encoding on the worker thread (QImage scaling the examples there) gives the request
    that ``prepare`` gives on the GUI thread."""
    from visual_prompt.controller import EXAMPLE_SIDE, EncodeJob, read

    w, h = EXAMPLE_SIDE + 200, 90  # examples scaled down, in a 16-bit float document
    doc = make_document(krita, "F16", w=w, h=h)
    nodes = {node.name(): node for node in doc.rootNode().childNodes()}
    stripes = b"".join(native_pixel(doc, 10 * (x % 25), 255 - x % 256, 40) for x in range(w))
    nodes["example in"].setPixelData(stripes * h, 0, 0, w, h)
    choices = choices_for(doc, mask="none")
    expected, plan = prepare(KritaDocument(doc), choices)
    results: list[Any] = []
    job = EncodeJob(read(KritaDocument(doc), choices))
    job.done.connect(lambda _job, result: results.append(result))
    job.failed.connect(lambda _job, error: results.append(error))
    job.start()
    qtbot.waitUntil(lambda: bool(results), timeout=30000)
    request, worker_plan = results[0]
    assert decoded(request.examples[0].input)[1] == EXAMPLE_SIDE
    assert request == expected and worker_plan == plan
