"""Ensembles: one prompt answered on several canvases, the answers combined in pixels.

Canvas variants. Every canvas of an ensemble is the 2x2 one-pair canvas with every cell
(example input, example output, query) seen through one symmetry of the square cell
(``views.VIEWS``: the identity, the mirrors, the quarter turns, the transposes) on
a white or black background (``ARRANGEMENTS``). The answer cell comes back through the
inverse symmetry. Any task that commutes with the symmetry (masks, line art, colour
changes, blur; a mirrored example teaches the mirrored flip) gives an equally valid
prompt whose answer errs differently. Each canvas stays in the layout the model was
trained on, unlike the transposed layout, which the default model answers worse
(docs/quality.md).

Combination rule (``restored_mean``): the answer cells are averaged in pixel space, then
each combined answer's contrast is restored: its deviation from its own mean brightness
is scaled up to the mean standard deviation of the answers it came from. Plain averaging
is what the PSNR of image-like answers wants, but where the answers disagree on the
details it shrinks them towards grey: thin dark lines fade above a mask's 0.5 threshold
and vanish. The global rescaling keeps the average's layout and the answers' contrast
(one affine map per answer, so smooth answers barely change). Tokens are not
averaged: mirrored canvases' codes are not mirror images of each other, and averaging
the token probabilities of several arrangements lost IoU with the default model
(docs/quality.md).

Decoding: each canvas of an ensemble decodes only its answer block
(``MAEVQGAN.decode_window`` with ``WINDOW_MARGIN`` = 0 tokens of context: no tokenizer
encode, a quarter of the decoder's pixels), which keeps several canvases cheap; a prompt
on a single canvas is decoded by the model's recipe (``ModelConfig.decode_margin``).
Measured on 304 held-out episodes, 4 views (docs/quality.md): margins 0, 1 and 2 gave
the same mask IoU (0.620, 0.621, 0.622) and PSNR 18.87, 19.02 and 19.11 dB, at 1.53x,
1.91x and 2.32x the time of a single canvas decoded whole.

The pipeline then carries the query's detail into the combined answer once per prompt
(``visprompt_core.detail``), as into a single canvas's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from visprompt_core import canvas as cv
from visprompt_core.model import MAEVQGAN
from visprompt_core.views import VIEWS, View

# Context tokens decoded around the answer block of an ensemble canvas (module doc).
WINDOW_MARGIN = 0
LAYOUT = cv.LAYOUT_2X2


@dataclass(frozen=True)
class Arrangement:
    """One canvas variant of an example pair and the query: a view and a background."""

    view: View
    background: cv.RGB = cv.WHITE

    @property
    def fill(self) -> float:
        """The background as a [0, 1] grey level (white or black)."""
        return self.background[0] / 255


# The order in which ensembles add canvas variants for each example pair: the four
# mirrors first (the set of four measured in docs/quality.md), then the transposes, all
# on white, then the same on black.
ARRANGEMENTS = tuple(Arrangement(v, bg) for bg in (cv.WHITE, cv.BLACK) for v in VIEWS)


def view_canvases(cells: Sequence[torch.Tensor], arrangement: Arrangement) -> torch.Tensor:
    """(B, 3, S, S) 2x2 canvases of ``cells`` (example input, example output, query;
    (B, 3, h, w) each) seen through the arrangement."""
    return cv.place_cells([arrangement.view.apply(c) for c in cells], LAYOUT,
                          background=arrangement.fill)


@torch.inference_mode()
def window_answers(model: MAEVQGAN, canvases: torch.Tensor, tokens: torch.Tensor,
                   margin: int = WINDOW_MARGIN) -> torch.Tensor:
    """(B, 3, h, w) answer cells of 2x2 ``canvases`` whose answer patches hold ``tokens``
    (B, N), each decoded in its answer window (``MAEVQGAN.decode_window``)."""
    mask = LAYOUT.patch_mask().to(canvases.device)
    decoded = model.decode_window(canvases, tokens, mask, margin)
    return cv.crop_answer(cv.paste_answer(canvases.float(), decoded, mask), LAYOUT)


@torch.inference_mode()
def view_answers(model: MAEVQGAN, cells: Sequence[torch.Tensor],
                 arrangements: Sequence[Arrangement]) -> torch.Tensor:
    """(K, B, 3, h, w): B prompts (``cells``: example input, example output, query;
    (B, 3, h, w) each) answered on each of K arrangements in one batch, answers upright."""
    canvases = torch.cat([view_canvases(cells, a) for a in arrangements])
    mask = LAYOUT.patch_mask().to(canvases.device)
    tokens = model.canvas_logits(canvases, mask.expand(len(canvases), -1)).argmax(-1)
    answers = window_answers(model, canvases, tokens).unflatten(0, (len(arrangements), -1))
    return torch.stack([a.view.invert(x) for a, x in zip(arrangements, answers)])


def restored_mean(answers: torch.Tensor) -> torch.Tensor:
    """(K, B, 3, h, w) answers of K canvases -> (B, 3, h, w): the pixel mean with each
    answer's contrast restored to the K answers' mean standard deviation (module doc)."""
    mean = answers.float().mean(0)
    if answers.shape[0] == 1:
        return mean
    centre = mean.mean((1, 2, 3), keepdim=True)
    wanted = answers.float().std((2, 3, 4), keepdim=True).mean(0)
    have = mean.std((1, 2, 3), keepdim=True).clamp(min=1e-4)
    return (centre + (mean - centre) * (wanted / have)).clamp(0, 1)


def combine(cells: torch.Tensor, arrangements: Sequence[Arrangement], owners: Sequence[int],
            n_prompts: int) -> torch.Tensor:
    """Answer cells (C, 3, h, w) of C canvases, each seen through its arrangement and
    owned by a prompt -> (n_prompts, 3, h, w) combined answers (``restored_mean``)."""
    upright: dict[int, list[torch.Tensor]] = {prompt: [] for prompt in range(n_prompts)}
    for cell, arrangement, owner in zip(cells, arrangements, owners):
        upright[owner].append(arrangement.view.invert(cell))
    empty = [prompt for prompt, mine in upright.items() if not mine]
    if empty:
        raise ValueError(f"prompt {empty[0]} has no canvas")
    return torch.stack([restored_mean(torch.stack(mine)[:, None])[0]
                        for mine in upright.values()])
