"""An example library kept in a group layer: which layers make which pairs.

The convention (also in ``docs/plugin.md`` and ``manual.html``):

- The library is a group layer. Each direct child of it that is itself a group is one
  example pair; other layers directly in the library (notes, a background) are ignored.
- Inside a pair group, the layers that are not groups are the candidates. A name that is
  or ends with "input" or "in" marks the input, one that is or ends with "output" or
  "out" marks the output (case-insensitive; the word stands alone or after a space, "_"
  or "-": "cat input", "Cat_In", "out"). Exactly one marked input and one marked output
  make the pair.
- Otherwise, a pair group with exactly two candidates uses their order: the lower layer
  is the input, the upper one the output, unless a name says the opposite.
- Any pair group that fits neither rule is named in the error; none is skipped.

Pure Python on ``LayerInfo`` lists (``DocumentPort.layers()``: top first, with parents).
"""

from __future__ import annotations

import re

from .document import LayerInfo
from .errors import InputError

GROUP = "grouplayer"
_INPUT_RE = re.compile(r"(?:^|[ _-])(?:input|in)$", re.IGNORECASE)
_OUTPUT_RE = re.compile(r"(?:^|[ _-])(?:output|out)$", re.IGNORECASE)
RULES = (
    "Each pair group needs a layer named '... input' (or 'in') and one named '... output' "
    "(or 'out'), or exactly two layers: the lower one is the input, the upper one the output."
)


def is_input_name(name: str) -> bool:
    return _INPUT_RE.search(name.strip()) is not None


def is_output_name(name: str) -> bool:
    return _OUTPUT_RE.search(name.strip()) is not None


def children(layers: list[LayerInfo], parent_id: str) -> list[LayerInfo]:
    """The direct children of ``parent_id``, top first (the order of ``layers``)."""
    return [layer for layer in layers if layer.parent == parent_id]


def pair_of(layers: list[LayerInfo], group: LayerInfo) -> tuple[str, str] | None:
    """(input id, output id) of one pair group, or None when neither rule applies."""
    candidates = [layer for layer in children(layers, group.id) if layer.kind != GROUP]
    inputs = [layer for layer in candidates if is_input_name(layer.name)]
    outputs = [layer for layer in candidates if is_output_name(layer.name)]
    if len(inputs) == 1 and len(outputs) == 1:
        return inputs[0].id, outputs[0].id
    if len(candidates) == 2:
        upper, lower = candidates
        if upper not in inputs and lower not in outputs:
            return lower.id, upper.id
    return None


def library_candidates(layers: list[LayerInfo]) -> list[LayerInfo]:
    """The group layers that can be a library: those holding a group, and empty ones (a
    library being set up). Pair groups (layers only) are left out of the list."""
    return [
        layer for layer in layers
        if layer.kind == GROUP
        and (not (inside := children(layers, layer.id))
             or any(child.kind == GROUP for child in inside))
    ]  # fmt: skip


def library_pairs(layers: list[LayerInfo], library_id: str) -> list[tuple[str, str]]:
    """The example pairs of the library group ``library_id``, top pair group first.

    Raises InputError when the group is gone, is not a group, holds no pair groups, or
    holds pair groups that fit neither rule (all of them named)."""
    library = next((layer for layer in layers if layer.id == library_id), None)
    if library is None or library.kind != GROUP:
        raise InputError(
            "The library group no longer exists; choose it again or set Library to None."
        )
    groups = [layer for layer in children(layers, library_id) if layer.kind == GROUP]
    if not groups:
        raise InputError(
            f"The library group '{library.name}' holds no pair groups. Put each example "
            f"pair in a group of its own inside it. {RULES}"
        )
    pairs: list[tuple[str, str]] = []
    unusable: list[str] = []
    for group in groups:
        pair = pair_of(layers, group)
        if pair is None:
            unusable.append(f"'{group.name}'")
        else:
            pairs.append(pair)
    if unusable:
        which = "group is" if len(unusable) == 1 else "groups are"
        raise InputError(
            f"In the library '{library.name}', the {which} not an example pair: "
            f"{', '.join(unusable)}. {RULES}"
        )
    return pairs
