"""Mirrors and quarter turns: where every example output is one symmetry of its input,
the answer is that symmetry of the query.

The model answers a mirrored or turned picture from its tokens, and the small default
model does it poorly (about 2 dB above copying the query, docs/model_card.md): it has to
move every patch, and its tokenizer blurs what it moves. The example pair states such a
task exactly, and the query holds every pixel the answer needs. So each of the seven
symmetries of the square cell other than the identity (``views.VIEWS``: the mirrors, the
quarter turns, the transposes) is tried on the example inputs (``find_symmetries``).

Gate: a view explains a pair where the mean squared difference between the pair's output
and its input seen through the view is at most ``MAX_ERROR`` per value (exact flips of
pictures differ only by resampling, a level or two). A prompt takes the view that
explains every real pair, and only if the input itself, unchanged, does not explain some
pair: a picture that is its own mirror image, shown unchanged, teaches nothing. Where
several views pass (the pictures are symmetric), the one with the smallest error wins.
The cells must be square for the transposes. Measured in docs/quality.md ("Mirrors and
quarter turns").
"""

from __future__ import annotations

import torch

from visprompt_core.views import VIEWS

# The gate: at most this mean squared difference per value ([0, 1] colours, about 3.6
# levels of 255 as a root mean square) between an example output and its input seen
# through the view (measured in docs/quality.md: the families that are no symmetry leave
# at least 0.0009 on 1,152 pairs).
MAX_ERROR = 2e-4
NONE = -1


def view_errors(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) example inputs and outputs -> (N, len(VIEWS)): the mean squared
    difference between each output and its input seen through each view (inf for the
    transposes of cells that are not square)."""
    inputs, outputs = inputs.float(), outputs.float()
    square = inputs.shape[-1] == inputs.shape[-2]
    errors = [((view.apply(inputs) - outputs) ** 2).mean((1, 2, 3))
              if square or not view.transpose
              else torch.full((len(inputs),), float("inf"), device=inputs.device)
              for view in VIEWS]
    return torch.stack(errors, 1)


def find_symmetries(inputs: torch.Tensor, outputs: torch.Tensor, real: torch.Tensor
                    ) -> torch.Tensor:
    """(B,) long: for each prompt, the index into ``VIEWS`` of the symmetry its example
    pairs show (module doc), or ``NONE``. ``inputs`` and ``outputs`` (B, P, 3, h, w),
    ``real`` (B, P, 1, 1, 1), 1 for the pairs that count (``linear_filter.stack_pairs``)."""
    b, p = inputs.shape[:2]
    errors = view_errors(inputs.flatten(0, 1), outputs.flatten(0, 1)).view(b, p, -1)
    counted = real.view(b, p, 1) > 0
    explained = ((errors <= MAX_ERROR) | ~counted).all(1)  # (B, views)
    # Some pair the identity does not explain: so the identity itself is never chosen.
    changed = ((errors[:, :, 0] > MAX_ERROR) & counted[:, :, 0]).any(1)
    total = torch.where(explained, (errors * counted).sum(1), torch.inf)
    best = total.argmin(1)
    return torch.where(explained.any(1) & changed, best, torch.full_like(best, NONE))


def apply_symmetries(found: torch.Tensor, queries: torch.Tensor, answers: torch.Tensor
                     ) -> torch.Tensor:
    """``answers`` (B, 3, h, w) with each row that found a symmetry (``found`` (B,),
    ``find_symmetries``) replaced by its query (B, 3, h, w) seen through that view.
    float32."""
    out = answers.float().clone()
    for row, index in enumerate(found.tolist()):
        if index != NONE:
            out[row] = VIEWS[index].apply(queries[row].float())
    return out
