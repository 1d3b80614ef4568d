"""Example selection: from a pool of example pairs, the ones whose input looks most like
the query.

Features, compared by cosine similarity between the query and each example *input*
(the query has no output yet):

* ``"encoder"``: the model's own ViT encoder. The image is placed in the query cell of an
  otherwise blank 2x2 canvas, only that cell's patches are encoded (as the MAE sees a
  query), and the patch tokens are averaged. One batched encoder pass for the whole pool.
* ``"pixels"``: a cheap image feature: an 8x8 thumbnail (mean removed) and a joint RGB
  colour histogram (4 bins per channel), each L2-normalised, concatenated.
* ``"both"``: the two similarities averaged.

Default ``"pixels"``: on held-out synthetic pools it measured as good as the encoder
feature and never below a random pick (docs/quality.md), without a model pass.

Ties keep the pool's order, so selection is deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.errors import InputError

if TYPE_CHECKING:
    from visprompt_core.pipeline import Pair, VisualPrompter

log = logging.getLogger(__name__)

FEATURES = ("encoder", "pixels", "both")
MAX_POOL = 64


def _cells(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    return torch.stack([cv.pil_to_tensor(cv.to_rgb(im).resize((size, size),
                                                              Image.Resampling.BICUBIC))
                        for im in images])


@torch.inference_mode()
def encoder_features(prompter: VisualPrompter, images: Sequence[Image.Image]
                     ) -> torch.Tensor:
    """(N, D) L2-normalised mean encoder tokens of each image seen as a query cell."""
    layout = cv.LAYOUT_2X2
    cells = _cells(images, layout.query.width)
    canvases = cv.place_cells([torch.ones_like(cells), torch.ones_like(cells), cells],
                              layout, background=1.0)
    box = layout.query
    p = layout.patch_size
    rows = range(box.top // p, (box.bottom - 1) // p + 1)
    cols = range(box.left // p, (box.right - 1) // p + 1)
    keep = torch.tensor([r * layout.grid + c for r in rows for c in cols])
    model = prompter.model
    x = model.normalize(canvases.to(prompter.device))
    ids = keep.to(prompter.device).expand(len(images), -1)
    tokens = model.forward_encoder(x, ids)[:, 1:].float()
    return F.normalize(tokens.mean(1), dim=-1).cpu()


def pixel_features(images: Sequence[Image.Image]) -> torch.Tensor:
    """(N, 256) thumbnail + colour-histogram features, each half L2-normalised."""
    thumbs = _cells(images, 8)
    thumb = (thumbs - thumbs.mean((1, 2, 3), keepdim=True)).flatten(1)
    small = _cells(images, 32)
    bins = (small.clamp(0, 0.999) * 4).long()
    index = (bins[:, 0] * 16 + bins[:, 1] * 4 + bins[:, 2]).flatten(1)
    hist = torch.zeros(len(images), 64).scatter_add_(1, index, torch.ones_like(index,
                                                                             dtype=torch.float))
    return torch.cat([F.normalize(thumb, dim=-1), F.normalize(hist, dim=-1)], dim=1)


def rank_examples(prompter: VisualPrompter | None, pool: Sequence[Pair],
                  query: Image.Image, feature: str = "pixels") -> list[int]:
    """Indices of ``pool`` from the most to the least similar input to ``query``."""
    if feature not in FEATURES:
        raise InputError(f"unknown selection feature {feature!r}; choose from {list(FEATURES)}")
    if not pool:
        raise InputError("the example pool is empty")
    if len(pool) > MAX_POOL:
        raise InputError(f"an example pool holds at most {MAX_POOL} pairs, got {len(pool)}")
    images = [pair[0] for pair in pool] + [query]
    if feature != "pixels" and prompter is None:
        raise InputError(f"the {feature} feature needs a model")
    sims = torch.zeros(len(pool))
    if feature in ("encoder", "both"):
        feats = encoder_features(prompter, images)
        sims += feats[:-1] @ feats[-1]
    if feature in ("pixels", "both"):
        feats = pixel_features(images)
        sims += feats[:-1] @ feats[-1]
    order = sorted(range(len(pool)), key=lambda i: (-float(sims[i]), i))
    log.debug("selection %s: similarities %s", feature, [round(float(s), 3) for s in sims])
    return order


def select_examples(prompter: VisualPrompter | None, pool: Sequence[Pair],
                    query: Image.Image, k: int, feature: str = "pixels") -> list[Pair]:
    """The ``k`` pairs of ``pool`` whose inputs are most similar to ``query``, best first."""
    if k < 1:
        raise InputError(f"select at least one example pair, got {k}")
    if k >= len(pool):
        return list(pool)
    return [pool[i] for i in rank_examples(prompter, pool, query, feature)[:k]]

