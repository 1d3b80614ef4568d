"""The example library convention (``library.library_pairs``): plain LayerInfo lists,
and the real ``krita_api`` adapter's layer list on the fake ``krita`` module."""

from __future__ import annotations

from typing import Any

import fake_krita
import pytest
from documents import add_library, add_node, make_document
from visual_prompt.document import LayerInfo
from visual_prompt.errors import InputError
from visual_prompt.krita_api import KritaDocument, node_id
from visual_prompt.library import (
    is_input_name,
    is_output_name,
    library_candidates,
    library_pairs,
)

G = "grouplayer"


def layer(name: str, parent: str, kind: str = "paintlayer") -> LayerInfo:
    """A layer whose id is its name (names are unique in these lists)."""
    return LayerInfo(name, name, kind, 0 if not parent else 1, parent)


def library(*groups: tuple[str, list[LayerInfo]]) -> list[LayerInfo]:
    """A library "lib" holding the given pair groups (top first, like ``layers()``)."""
    layers = [layer("lib", "", G)]
    for name, children in groups:
        layers.append(layer(name, "lib", G))
        layers.extend(children)
    return layers


@pytest.mark.parametrize(
    ("name", "is_in", "is_out"),
    [
        ("input", True, False),
        ("In", True, False),
        ("cat input", True, False),
        ("Cat_IN", True, False),
        ("cat-in ", True, False),
        ("output", False, True),
        ("OUT", False, True),
        ("cat output", False, True),
        ("cat_out", False, True),
        ("cat-Output", False, True),
        ("within", False, False),  # "in" only counts as a word of its own
        ("layout", False, False),
        ("input sketch", False, False),  # the word must end the name
        ("cat in.png", False, False),
        ("", False, False),
    ],
)
def test_names(name: str, is_in: bool, is_out: bool) -> None:
    assert is_input_name(name) is is_in
    assert is_output_name(name) is is_out


def test_pairs_by_name_in_any_order_beside_other_layers() -> None:
    layers = library(
        ("a", [layer("a in", "a"), layer("a notes", "a"), layer("a out", "a")]),
        ("b", [layer("b_OUTPUT", "b"), layer("b_INPUT", "b")]),
        ("c", [layer("c sub", "c", G), layer("c-in", "c"), layer("c-out", "c")]),
    )
    assert library_pairs(layers, "lib") == [
        ("a in", "a out"),
        ("b_INPUT", "b_OUTPUT"),
        ("c-in", "c-out"),
    ]


def test_pairs_by_position_lower_is_the_input() -> None:
    layers = library(("p", [layer("upper", "p"), layer("lower", "p")]))
    assert library_pairs(layers, "lib") == [("lower", "upper")]
    # one marked name that agrees with the position is fine
    layers = library(("p", [layer("mask out", "p"), layer("photo", "p")]))
    assert library_pairs(layers, "lib") == [("photo", "mask out")]


def test_other_layers_directly_in_the_library_are_not_pairs() -> None:
    layers = [layer("lib", "", G), layer("notes", "lib")]
    layers += [layer("p", "lib", G), layer("upper", "p"), layer("lower", "p")]
    layers += [layer("outside", "", G), layer("x in", "outside"), layer("x out", "outside")]
    assert library_pairs(layers, "lib") == [("lower", "upper")]


@pytest.mark.parametrize(
    "children",
    [
        [],  # an empty pair group
        [layer("only", "bad")],  # one layer
        [layer("one", "bad"), layer("two", "bad"), layer("three", "bad")],  # three unnamed
        [layer("x in", "bad"), layer("y in", "bad")],  # two inputs, no output
        [layer("photo", "bad"), layer("mask out", "bad")],  # the lower one is named output
        [layer("x in", "bad"), layer("y in", "bad"), layer("z out", "bad")],  # two inputs
        [layer("sub", "bad", G), layer("lower", "bad")],  # groups are not candidates
    ],
)
def test_a_group_that_fits_no_rule_is_named(children: list[LayerInfo]) -> None:
    layers = library(("good", [layer("u", "good"), layer("l", "good")]), ("bad", children))
    with pytest.raises(InputError, match="the group is not an example pair: 'bad'"):
        library_pairs(layers, "lib")


def test_every_unusable_group_is_named() -> None:
    layers = library(
        ("first bad", []),
        ("good", [layer("u", "good"), layer("l", "good")]),
        ("second bad", [layer("x", "second bad")]),
    )
    with pytest.raises(InputError) as info:
        library_pairs(layers, "lib")
    text = str(info.value)
    assert "In the library 'lib', the groups are not an example pair" in text
    assert "'first bad', 'second bad'" in text and "'good'" not in text
    assert "lower one is the input" in text  # the rules are spelled out


def test_empty_library() -> None:
    layers = [layer("lib", "", G), layer("a layer, not a group", "lib")]
    with pytest.raises(InputError, match="'lib' holds no pair groups"):
        library_pairs(layers, "lib")


@pytest.mark.parametrize("library_id", ["gone", "paint"])
def test_missing_library_or_not_a_group(library_id: str) -> None:
    layers = [layer("paint", "")]
    with pytest.raises(InputError, match="library group no longer exists"):
        library_pairs(layers, library_id)


def test_the_krita_adapter_lists_groups_with_their_children(
    qapp: Any, krita: fake_krita.Krita
) -> None:
    doc = make_document(krita)
    lib = add_library(doc)
    port = KritaDocument(doc)
    layers = port.layers()
    by_name = {info.name: info for info in layers}
    assert by_name["library"].kind == "grouplayer" and by_name["library"].parent == ""
    assert by_name["full names"].parent == node_id(lib) and by_name["full names"].level == 1
    assert by_name["input"].parent == by_name["full names"].id and by_name["input"].level == 2
    assert [info.name for info in layers][:5] == [
        "library", "full names", "input", "output", "short names"
    ]  # fmt: skip
    pairs = library_pairs(layers, node_id(lib))
    names = {info.id: info.name for info in layers}
    assert [(names[a], names[b]) for a, b in pairs] == [
        ("input", "output"), ("Cat_In", "cat-out"), ("lower", "upper")
    ]  # fmt: skip
    # a group nested deeper is a child of its own group, not of the library
    deeper = add_node(doc, doc.nodeByName("short names"), "deeper", "grouplayer")
    add_node(doc, deeper, "d in")
    add_node(doc, deeper, "d out")
    assert len(library_pairs(port.layers(), node_id(lib))) == 3


def test_library_candidates_are_groups_of_groups_or_empty_groups() -> None:
    layers = [
        *library(
            ("pair a", [layer("a in", "pair a"), layer("a out", "pair a")]),
            ("pair b", [layer("b in", "pair b"), layer("b out", "pair b")]),
        ),
        layer("empty", "", G),
        layer("plain", "", G),
        layer("paint", "plain"),
        layer("top paint", ""),
    ]
    assert [c.name for c in library_candidates(layers)] == ["lib", "empty"]
