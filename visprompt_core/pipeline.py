"""Inference: PIL images in, the answer out, every canvas of a call in one forward pass.

Two levels:

* ``VisualPrompter.prompt`` / ``prompt_batch``: example pairs + query (+ mask) -> answer
  image at the query's size.
* ``VisualPrompter.logits`` / ``tokenize`` / ``with_context`` / ``decode_tokens`` / ``complete``:
  canvas tensors in, per-patch logits, tokens and decoded canvases out (for evaluation).

Ensembling (``visprompt_core.ensemble``): a prompt becomes several canvases, example pairs
first (one 2x2 canvas per pair), then further views of each pair in ``ARRANGEMENTS`` order
(every cell mirrored left-right, top-bottom, both; the transposes; then all of it on
black); ``ensemble=k`` takes the first k of that list and the default (``None``) is one
canvas per pair. Every canvas goes through the model in one batch; the answer cells of a
prompt's canvases are brought upright and averaged in pixels with their contrast
restored (``ensemble.restored_mean``; the rule and its measurements are in that module
and docs/quality.md).

Decoding: the answer patches take the argmax tokens; the patches around them take the
context of the model's recipe, ``ModelConfig.decode_context`` ("predicted": the MAE's own
argmax, as published; "encoded": the tokenizer's tokens of the visible canvas;
``MAEVQGAN.context_tokens``); then the VQGAN decodes. A prompt on one canvas is decoded
by the model's recipe, ``ModelConfig.decode_margin``: the whole canvas (or, with
``fast_decode``, the region around its answer), or only its answer block and a margin of
context tokens (the embedded default model: 1). The canvases of a prompt on several are
each decoded in the window of their answer block alone (``MAEVQGAN.decode_window``). On
CUDA, calls made of one-canvas prompts replay CUDA graphs (``visprompt_core.graphs``).

Detail: a prompt's (combined) answer cell then gets its query's detail back where the
model's recipe has it (``ModelConfig.detail_radius``; ``visprompt_core.detail``), as much
as its first canvas's example pair is a local map of colours (or, for line art, of colours
and contrast); where the pairs fill the areas their lines close, the answer is the query
so filled (``visprompt_core.flatting``); where their outputs are a function of their
inputs' colours, the query's pixels of those colours take that function
(``visprompt_core.colour_map``; again at the answer size); where every pair is a mirror
image or a quarter turn of its input, the answer is the query so mirrored or turned, at
the answer size (``visprompt_core.symmetry``); where every example output channel is a
straight line of one input channel or of the luma and the model's answer agrees, the
answer is the query through those lines, at the answer size
(``visprompt_core.channel_map``); where every example output is one filled
rectangle, the answer is the rectangle that best fits the model's answer, drawn crisp at
the answer size (``visprompt_core.boxes``); where they repaint flat
regions in touching regions' colours, the answer is snapped to the query's regions
(``visprompt_core.regions``); where that pair is a linear filter (a blur, an inversion),
the answer is the filter applied to the query (``visprompt_core.linear_filter``).
``detail_transfer=False`` (the prompter) or ``detail=False`` (a request) keeps the answer
as decoded.

Pools and full resolution: ``select=k`` narrows a pool of up to 64 pairs to the k whose
inputs look most like the query (``selection``); ``upscale`` brings the 111-px answer to
the answer size ("auto": bicubic up to 222 px, the query-guided filter above;
``upsample``, ``tiling``); a guided answer's linear-filter part is the filter applied to
the query at the answer size, and a filled answer is the query filled at its own size (up
to ``flatting.FILL_SIZE``) brought to the answer size. Example pairs whose lines the cell
breaks apart (thin, antialiased) are checked at their own size (``flatting.pair_fills``)
where nothing at the cell's size explained them (no filter share, fill or snapping).
The guided filter, the colour map and the channel map run on the full-size answer a band
of rows at a time, from the query's 8-bit planes to the answer's (``visprompt_core.bands``):
the pixels of whole float planes, without their fresh pages at 2-4k.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from visprompt_core import bands, ensemble, tiling
from visprompt_core import canvas as cv
from visprompt_core.boxes import FittedBox
from visprompt_core.channel_map import ChannelMaps
from visprompt_core.checkpoints import load_model_file
from visprompt_core.colour_map import ColourLookup, ColourMaps
from visprompt_core.detail import ExampleCells, refine
from visprompt_core.ensemble import ARRANGEMENTS, Arrangement
from visprompt_core.errors import InputError
from visprompt_core.flatting import (
    FILL_SIZE,
    GATE_SIZE,
    fill_enclosed,
    frame_contact_at,
    pair_fills,
)
from visprompt_core.graphs import GraphedAnswers
from visprompt_core.linear_filter import LinearFilter, apply_linear_filter_at_scale
from visprompt_core.model import MAEVQGAN, cpu_threads
from visprompt_core.registry import resolve_model
from visprompt_core.selection import MAX_POOL, select_examples
from visprompt_core.symmetry import NONE as NO_SYMMETRY
from visprompt_core.upsample import (
    blend_filtered_image,
    choose_upscale,
    guided_upsample_image,
    is_mask_like,
)
from visprompt_core.views import VIEWS, View

log = logging.getLogger(__name__)

MAX_PAIRS = 8
MAX_ENSEMBLE = len(ARRANGEMENTS)
Pair = tuple[Image.Image, Image.Image]


@dataclass
class PromptRequest:
    """One visual prompt. ``ensemble=None``: one canvas per example pair. ``detail``:
    carry the query's detail into the answer where the model's recipe has it
    (``visprompt_core.detail``); None follows the prompter (on unless it was made with
    ``detail_transfer=False``)."""

    examples: Sequence[Pair]
    query: Image.Image
    mask: Image.Image | None = None
    ensemble: int | None = None
    answer_size: tuple[int, int] | None = None
    resample: str = "bicubic"
    upscale: str = "auto"
    tile: int = 512
    tile_overlap: float = 0.25
    select: int | None = None
    select_feature: str = "pixels"
    detail: bool | None = None
    canvases: list[tuple[Arrangement, Pair]] = field(default_factory=list, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """The answer's (W, H): ``answer_size`` or the query's size."""
        return self.answer_size or self.query.size

    def upscale_mode(self) -> str:
        """``upscale`` with "auto" resolved for this answer size (see ``choose_upscale``)."""
        return choose_upscale(self.upscale, self.size)

    def plan(self) -> list[tuple[Arrangement, Pair]]:
        """Validate and choose the canvases of this prompt."""
        n = len(self.examples)
        limit = MAX_PAIRS if self.select is None else MAX_POOL
        if not 1 <= n <= limit:
            raise InputError(f"give 1 to {limit} example pairs, got {n}")
        if self.select is not None and not 1 <= self.select <= MAX_PAIRS:
            raise InputError(f"select must be 1..{MAX_PAIRS} pairs, got {self.select}")
        for i, pair in enumerate(self.examples):
            if len(pair) != 2 or not all(isinstance(im, Image.Image) for im in pair):
                raise InputError(f"example pair {i + 1} must be two PIL images (input, output)")
        if not isinstance(self.query, Image.Image):
            raise InputError("the query must be a PIL image")
        if self.detail not in (None, True, False):
            raise InputError(f"detail must be true, false or null, got {self.detail!r}")
        _check_size(self.query, "query")
        if self.mask is not None:
            if not isinstance(self.mask, Image.Image):
                raise InputError("the mask must be a PIL image")
            if self.mask.size != self.query.size:
                raise InputError(f"the mask is {self.mask.size[0]}x{self.mask.size[1]} but the "
                                 f"query is {self.query.size[0]}x{self.query.size[1]}")
        if self.answer_size is not None:
            w, h = self.answer_size
            if not (1 <= w <= 16384 and 1 <= h <= 16384):
                raise InputError(f"answer size {w}x{h} is out of range (1..16384)")
        choose_upscale(self.upscale, self.size)
        tiling.plan_tiles(self.size, self.tile, self.tile_overlap)
        pairs = n if self.select is None else min(n, self.select)
        k = pairs if self.ensemble is None else int(self.ensemble)
        if not 1 <= k <= MAX_ENSEMBLE:
            raise InputError(f"ensemble must be 1..{MAX_ENSEMBLE} canvases, got {k}")
        combos = [(arr, pair) for arr in ARRANGEMENTS for pair in self.examples]
        self.canvases = combos[:k]
        return self.canvases


def _example_cells(canvases: torch.Tensor, owners: Sequence[int],
                   plans: Sequence[Sequence[tuple[Arrangement, Pair]]], wanted: Sequence[int]
                   ) -> ExampleCells:
    """The example pairs of the ``wanted`` prompts as the model saw them: the example cells
    of each prompt's upright canvases (``ARRANGEMENTS[0]``, one per pair on its canvases),
    padded to the largest count with the prompt's first pair."""
    rows = []
    for job in wanted:
        start = owners.index(job)
        rows.append([start + k for k, (arrangement, _) in enumerate(plans[job])
                     if arrangement == ARRANGEMENTS[0]])
    most = max(len(r) for r in rows)
    index = torch.tensor([r + [r[0]] * (most - len(r)) for r in rows])
    chosen = canvases[index.flatten()].float().unflatten(0, index.shape)
    box_in, box_out = ensemble.LAYOUT.pairs[0]
    return ExampleCells(cv.crop_box(chosen, box_in), cv.crop_box(chosen, box_out),
                        torch.tensor([len(r) for r in rows]))


def _prompt_canvases(req: PromptRequest, plan: Sequence[tuple[Arrangement, Pair]]
                     ) -> torch.Tensor:
    """(len(plan), 3, S, S): the 2x2 canvas of each planned (arrangement, pair).

    Each image is fitted to its cell once per background (``canvas.fit_cell``) and the
    arrangements' views are applied to those cell tensors, not to the full-size images:
    an ensemble of 4 views resizes every image once instead of 4 times. With the
    smooth filters (bicubic, the default; bilinear, lanczos, box) mirroring commutes
    exactly with PIL's resize, so the mirror views' canvases are the ones built from
    mirrored images. A transpose swaps the order of PIL's two resize passes (rounding
    and clipping in between differ, by a level or two on natural images), and "nearest"
    breaks ties the other way: equally valid views of the same cells.
    """
    layout = ensemble.LAYOUT
    boxes = (*layout.pairs[0], layout.query)
    fitted: dict[tuple[int, int, cv.RGB], torch.Tensor] = {}
    canvases = []
    for arrangement, pair in plan:
        cells = []
        for slot, image in enumerate((*pair, req.query)):
            key = (id(image), slot, arrangement.background)
            if key not in fitted:
                cell = cv.fit_cell(image, boxes[slot], arrangement.background, req.resample)
                fitted[key] = cv.pil_to_tensor(cell)[None]
            cells.append(fitted[key])
        canvases.append(ensemble.view_canvases(cells, arrangement))
    return torch.cat(canvases)


def _at_most(image: Image.Image, side: int) -> tuple[int, int]:
    """``image``'s size, scaled down to a longer side of at most ``side`` px."""
    scale = min(1.0, side / max(image.size))
    return max(1, round(image.width * scale)), max(1, round(image.height * scale))


def _pairs_fill(examples: Sequence[Pair]) -> bool:
    """Every example pair, at its own size up to ``flatting.GATE_SIZE`` (longer side),
    fills the areas its lines close (``flatting.pair_fills``)."""
    for example_in, example_out in examples:
        size = _at_most(example_in, GATE_SIZE)
        pair = (cv.to_rgb(picture).resize(size, Image.Resampling.BICUBIC)
                for picture in (example_in, example_out))
        if not pair_fills(*(cv.pil_to_tensor(picture).contiguous() for picture in pair)):
            return False
    return True


def _filled_query(req: PromptRequest) -> Image.Image | None:
    """The query filled along its lines (``flatting.fill_enclosed``) at its own size up
    to ``flatting.FILL_SIZE`` (longer side; thin lines stay closed there), brought to the
    answer size; None where nothing closes."""
    size = _at_most(req.query, FILL_SIZE)
    query = cv.pil_to_tensor(cv.to_rgb(req.query).resize(size, Image.Resampling.BICUBIC))
    query = query.contiguous()
    filled = fill_enclosed(query[None], frame_contact_at(max(size)))[0]
    if torch.equal(filled, query):
        return None
    answer = cv.tensor_to_pil(filled)
    return answer if answer.size == req.size else answer.resize(
        req.size, cv.resample_filter(req.resample))


def _symmetric_query(req: PromptRequest, view: View) -> Image.Image:
    """The query seen through ``view`` (``visprompt_core.symmetry``) at the answer size:
    a quarter turn of a query that is not square is stretched back to it, as the model's
    square answer cell would be."""
    answer = view.apply_image(cv.to_rgb(req.query))
    return answer if answer.size == req.size else answer.resize(
        req.size, cv.resample_filter(req.resample))


def _query_at_size(req: PromptRequest) -> Image.Image:
    """The query as RGB at the answer size, resized by the request's filter if need be."""
    query = cv.to_rgb(req.query)
    if query.size != req.size:
        query = query.resize(req.size, cv.resample_filter(req.resample))
    return query


def _mapped_query(req: PromptRequest, lines: ChannelMaps) -> Image.Image:
    """The query at the answer size through ``lines`` (``visprompt_core.channel_map``)."""
    log.debug("answered by the example's channel map: %s", "; ".join(lines.describe()))
    return bands.map_image(_query_at_size(req), lines.apply)


def _tile_jobs(req: PromptRequest) -> tuple[list[PromptRequest], list[cv.Box]]:
    """One sub-prompt per tile of the (answer-sized) query, same examples and ensemble."""
    size = req.size
    query = _query_at_size(req)
    boxes = tiling.plan_tiles(size, req.tile, req.tile_overlap)
    jobs = [PromptRequest(req.examples, query.crop((b.left, b.top, b.right, b.bottom)),
                          ensemble=req.ensemble, resample=req.resample, detail=req.detail)
            for b in boxes]
    return jobs, boxes


def _check_size(image: Image.Image, what: str) -> None:
    w, h = image.size
    if w < 1 or h < 1:
        raise InputError(f"the {what} image is empty")


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("CUDA was requested but no CUDA device is available")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"unknown device {device!r}: {exc}") from None


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    table = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16,
             "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
    if dtype not in table:
        raise InputError(f"unknown dtype {dtype!r}; choose fp32, fp16 or bf16")
    return table[dtype]


@dataclass(frozen=True)
class FilterPart:
    """The part of a prompt's answer that is its example pair's linear filter: the filter,
    its share of the answer (0..1], and the answer cell before it was blended in."""

    linear: LinearFilter
    share: float
    unfiltered: torch.Tensor


@dataclass
class AnswerCells:
    """What ``VisualPrompter._answer_cells`` finds for a call's jobs: the (J, 3, 111, 111)
    answer cells on the CPU; the jobs whose answer is partly their example pair's linear
    filter, with that part; the jobs whose answer is their query filled along its lines
    (``visprompt_core.flatting``); the jobs refined with no filter share, no fill, no
    colour map and no region snapping, whose pairs the flatting gate may still explain at
    their own size; the jobs whose answer took their example pairs' colour map
    (``visprompt_core.colour_map``), with that map; the jobs whose answer is their
    query seen through the symmetry their example pairs show
    (``visprompt_core.symmetry``), with that view; the jobs whose answer is the
    rectangle their example pairs show (``visprompt_core.boxes``), with it; and the jobs
    whose answer is their query through their example pairs' channel map
    (``visprompt_core.channel_map``), with that map."""

    cells: torch.Tensor
    filters: dict[int, FilterPart] = field(default_factory=dict)
    filled: set[int] = field(default_factory=set)
    fill_candidates: set[int] = field(default_factory=set)
    colour_maps: dict[int, ColourMaps] = field(default_factory=dict)
    symmetries: dict[int, View] = field(default_factory=dict)
    boxes: dict[int, FittedBox] = field(default_factory=dict)
    channel_maps: dict[int, ChannelMaps] = field(default_factory=dict)


class VisualPrompter:
    """A loaded MAE-VQGAN on one device, ready to answer visual prompts."""

    def __init__(self, model: MAEVQGAN, name: str = "model", device: str = "cpu",
                 dtype: str | torch.dtype | None = None, threads: int | None = None,
                 fast_decode: bool = False, cuda_graphs: bool | None = None,
                 detail_transfer: bool = True) -> None:
        """``threads``: CPU threads for model work (None: torch's setting; 1 is faster on a
        busy 2-core machine, docs/performance.md). ``detail_transfer``: carry the query's
        detail into each answer where the model's recipe asks for it
        (``ModelConfig.detail_radius``, ``visprompt_core.detail``); False gives the
        answers exactly as decoded. ``fast_decode`` (opt-in, lossy): decode
        only the answer region of the token grid plus a margin of context tokens (models
        that decode whole canvases; the others already decode a window).
        ``cuda_graphs``: answer calls of one-canvas prompts replayed from CUDA graphs
        (``visprompt_core.graphs``; eager where capture fails). None: on for CUDA devices
        unless ``fast_decode``; True on another device is an error."""
        if threads is not None and threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.fast_decode = fast_decode
        self.detail_transfer = detail_transfer
        self.device = pick_device(device)
        if cuda_graphs and (self.device.type != "cuda" or fast_decode):
            raise InputError("cuda_graphs needs a CUDA device and no fast_decode")
        self.dtype = pick_dtype(self.device, dtype)
        self.name = name
        self.model = model.to(self.device, self.dtype).eval()
        self.model.reset_constants()
        self.model.pixel_mean = self.model.pixel_mean.float()
        self.model.pixel_std = self.model.pixel_std.float()
        self.model.optimize_for_inference()
        self._mask_cache: dict[str, torch.Tensor] = {}
        use_graphs = ((self.device.type == "cuda" and not fast_decode)
                      if cuda_graphs is None else cuda_graphs)
        self.graphs = GraphedAnswers(self.model, ensemble.LAYOUT) if use_graphs else None

    # ------------------------------------------------------------ lower-level path

    def patch_mask(self, layout: cv.Layout) -> torch.Tensor:
        if layout.name not in self._mask_cache:
            self._mask_cache[layout.name] = layout.patch_mask().to(self.device)
        return self._mask_cache[layout.name]

    @torch.inference_mode()
    def logits(self, canvases: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) in [0, 1], (N,) or (B, N) bool -> (B, N, vocab) float32."""
        canvases = canvases.to(self.device)
        mask = patch_mask.to(self.device)
        with cpu_threads(self.threads):
            return self._logits(canvases, mask)

    def _logits(self, canvases: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if mask.dim() == 1:
            mask = mask.expand(canvases.shape[0], -1)
        return self.model.canvas_logits(canvases, mask)

    @torch.inference_mode()
    def tokenize(self, canvases: torch.Tensor) -> torch.Tensor:
        with cpu_threads(self.threads):
            return self.model.tokenize(canvases.to(self.device))

    @torch.inference_mode()
    def decode_tokens(self, tokens: torch.Tensor, region: torch.Tensor | None = None
                      ) -> torch.Tensor:
        """(B, N) -> (B, 3, 224, 224) float32 in [0, 1]; ``region``: decode only around it."""
        with cpu_threads(self.threads):
            return self.model.decode(tokens.to(self.device), region=region)

    @torch.inference_mode()
    def window_answers(self, canvases: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) answer cells of 2x2 canvases, each decoded around its answer."""
        with cpu_threads(self.threads):
            return ensemble.window_answers(self.model, canvases.to(self.device),
                                           tokens.to(self.device))

    @torch.inference_mode()
    def complete(self, canvases: torch.Tensor, patch_mask: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fill the masked patches: -> (the MAE's argmax tokens (B, N), canvas with the
        answer pasted), decoded by the model's recipe (``decode_answers``)."""
        canvases = canvases.to(self.device)
        patch_mask = patch_mask.to(self.device)
        tokens = self.logits(canvases, patch_mask).argmax(-1)
        decoded = self.decode_answers(canvases, tokens, patch_mask)
        return tokens, cv.paste_answer(canvases.float(), decoded, patch_mask)

    @torch.inference_mode()
    def decode_answers(self, canvases: torch.Tensor, tokens: torch.Tensor,
                       patch_mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) in [0, 1], exact on the answer patches, from the MAE's
        ``tokens``: the model's recipe (``MAEVQGAN.decode_answer``), or with
        ``fast_decode`` on a model that decodes whole canvases, only the region around
        the answer."""
        canvases, tokens = canvases.to(self.device), tokens.to(self.device)
        patch_mask = patch_mask.to(self.device)
        with cpu_threads(self.threads):
            if self.fast_decode and self.model.model_config.decode_margin is None:
                whole = self.model.context_tokens(canvases, tokens, patch_mask)
                return self.model.decode(whole, region=patch_mask)
            return self.model.decode_answer(canvases, tokens, patch_mask)

    @torch.inference_mode()
    def with_context(self, canvases: torch.Tensor, tokens: torch.Tensor,
                     patch_mask: torch.Tensor) -> torch.Tensor:
        """Answer-patch ``tokens`` in the decode context of the model's recipe
        (``ModelConfig.decode_context``)."""
        with cpu_threads(self.threads):
            return self.model.context_tokens(canvases.to(self.device), tokens,
                                             patch_mask.to(self.device))

    # ---------------------------------------------------------------- prompt path

    def prompt(self, examples: Sequence[Pair], query: Image.Image,
               mask: Image.Image | None = None, ensemble: int | None = None,
               answer_size: tuple[int, int] | None = None, resample: str = "bicubic",
               upscale: str = "auto", select: int | None = None,
               detail: bool | None = None) -> Image.Image:
        """Answer one visual prompt (see ``PromptRequest``).

        upscale: how the 111-px answer reaches the answer size: "bicubic", "guided"
        (edge-aware, guided by the query), "tiled" (overlapping tiles of the query, each
        answered, blended) or "auto" (bicubic up to 222 px, guided above).
        select: treat ``examples`` as a pool (up to 64 pairs) and use the ``select`` pairs
        whose inputs are most similar to the query (``selection.select_examples``).
        detail: query detail transfer for this prompt (None: the prompter's setting).
        """
        request = PromptRequest(list(examples), query, mask, ensemble, answer_size, resample,
                                upscale, select=select, detail=detail)
        return self.prompt_batch([request])[0]

    @torch.inference_mode()
    def prompt_batch(self, requests: Sequence[PromptRequest]) -> list[Image.Image]:
        """Answer many prompts; all their canvases (tiles included) go through the model in
        one pass."""
        if not requests:
            return []
        jobs: list[PromptRequest] = []
        spans: list[tuple[int, list[cv.Box] | None]] = []
        requests = [self._selected(req) for req in requests]
        for req in requests:
            if req.upscale_mode() == "tiled":
                subs, tiles = _tile_jobs(req)
                spans.append((len(jobs), tiles))
                jobs += subs
            else:
                spans.append((len(jobs), None))
                jobs.append(req)
        found = self._answer_cells(jobs)
        cells = found.cells
        answers = []
        for req, (start, tiles) in zip(requests, spans):
            if start in found.symmetries:  # the whole query, tiled or not
                answer = _symmetric_query(req, found.symmetries[start])
            elif start in found.channel_maps:  # the same
                answer = _mapped_query(req, found.channel_maps[start])
            elif tiles is None and start in found.boxes:  # a tile's box is no answer
                width, height = req.size
                answer = cv.tensor_to_pil(found.boxes[start].draw(height, width))
            elif tiles is None:
                filled = start in found.filled or (start in found.fill_candidates
                                                   and _pairs_fill(req.examples))
                answer = self._upscale(req, cells[start], found.filters.get(start), filled,
                                       found.colour_maps.get(start))
            else:
                answer = self._blend(jobs[start:start + len(tiles)],
                                     cells[start:start + len(tiles)], tiles, req)
            answers.append(self._apply_mask(req, answer))
        return answers

    def _selected(self, req: PromptRequest) -> PromptRequest:
        """``req`` with its pool narrowed to the ``select`` most similar pairs (validated)."""
        req.plan()
        if req.select is None:
            return req
        chosen = select_examples(self, req.examples, req.query, req.select,
                                 req.select_feature)
        out = replace(req, examples=chosen, select=None, canvases=[])
        out.plan()
        return out

    def _answer_cells(self, jobs: Sequence[PromptRequest]) -> AnswerCells:
        """The jobs' answer cells, one forward pass for all, refined (``AnswerCells``)."""
        plans = [req.plan() for req in jobs]
        canvases, owners = self._build_canvases(jobs, plans)
        arrangements = [arrangement for plan in plans for arrangement, _ in plan]
        canvases = canvases.to(self.device)
        combined = ensemble.combine(self._canvas_cells(canvases, owners), arrangements,
                                    owners, len(jobs))
        wanted = [i for i, job in enumerate(jobs)
                  if (self.detail_transfer if job.detail is None else job.detail)]
        if not wanted or self.model.model_config.detail_radius is None:  # nothing to do
            return AnswerCells(combined)
        upright = canvases[[owners.index(i) for i in wanted]]  # each prompt's first canvas
        examples = _example_cells(canvases, owners, plans, wanted)
        with cpu_threads(self.threads):
            refined = refine(self.model, upright, combined[wanted].to(self.device),
                             ensemble.LAYOUT, examples)
        combined[wanted] = refined.answers.cpu()
        filters = {}
        if refined.linear is not None:
            for row, job in enumerate(wanted):
                if float(refined.filter_share[row]) > 0:
                    filters[job] = FilterPart(
                        refined.linear.select(torch.tensor([row])).to("cpu"),
                        float(refined.filter_share[row]), refined.unfiltered[row].cpu())
        filled = {job for row, job in enumerate(wanted) if bool(refined.filled[row])}
        snapped = {job for row, job in enumerate(wanted) if bool(refined.snapped[row])}
        maps = {wanted[row]: found.to("cpu") for row, found in refined.colour_maps.items()}
        views = {job: VIEWS[index] for job, index in zip(wanted, refined.symmetries.tolist())
                 if index != NO_SYMMETRY}
        boxes = {wanted[row]: box for row, box in refined.boxes.items()}
        lines = {wanted[row]: found.to("cpu") for row, found in refined.channel_maps.items()}
        fill_candidates = (set(wanted) - set(filters) - filled - snapped - set(maps)
                           - set(views) - set(boxes) - set(lines))
        return AnswerCells(combined, filters, filled, fill_candidates, maps, views, boxes,
                           lines)

    def _canvas_cells(self, canvases: torch.Tensor, owners: Sequence[int]) -> torch.Tensor:
        """(C, 3, 111, 111) answer cells, on the CPU, of C 2x2 canvases (owned by prompts)."""
        if self.graphs is not None and len(set(owners)) == len(owners):  # one per prompt
            return self.graphs(canvases)[1].cpu()
        layout = ensemble.LAYOUT
        mask = self.patch_mask(layout)
        tokens = self.logits(canvases, mask).argmax(-1)
        per_prompt = Counter(owners)
        alone = torch.tensor([per_prompt[owner] == 1 for owner in owners])
        cells = torch.empty(len(owners), 3, layout.answer.height, layout.answer.width)
        if bool(alone.any()):
            decoded = self.decode_answers(canvases[alone], tokens[alone], mask)
            pasted = cv.paste_answer(canvases[alone].float(), decoded, mask)
            cells[alone] = cv.crop_answer(pasted, layout).cpu()
        if not bool(alone.all()):
            cells[~alone] = self.window_answers(canvases[~alone], tokens[~alone]).cpu()
        return cells

    def _upscale(self, req: PromptRequest, cell: torch.Tensor,
                 part: FilterPart | None = None, filled: bool = False,
                 colour_map: ColourMaps | None = None) -> Image.Image:
        """The answer cell at the answer size. Guided: edge-aware, guided by the query;
        where the answer is partly the example pair's linear filter (``part``), that part
        is the filter applied to the query at the answer size
        (``apply_linear_filter_at_scale``), which keeps a blur blurred, and the rest is
        the answer before the filter, guided; where the answer is the query filled along
        its lines (``filled``), it is ``_filled_query``, unless nothing closes; where it
        took the example pairs' ``colour_map``, the query at the answer size takes it
        again, over the upscaled answer."""
        size = req.size
        if filled:
            answer = _filled_query(req)
            if answer is not None:
                return answer
        if req.upscale_mode() == "guided":
            query = cv.to_rgb(req.query)
            if query.size != size:
                query = query.resize(size, Image.Resampling.BICUBIC)
            # from the 8-bit query to the 8-bit answer, band by band
            then = None if colour_map is None else ColourLookup.of(colour_map)
            if part is None:
                return guided_upsample_image(cell.float(), query, then)
            planes = bands.split_planes(query)
            # the filter's FFTs need whole planes: the query as planar floats
            guide = cv.unit_from_bytes(torch.stack(planes))
            filtered = apply_linear_filter_at_scale(part.linear, guide[None], cell.shape[-2:])
            return blend_filtered_image(filtered[0], part.share, part.unfiltered, planes, then)
        resample = cv.resample_filter(req.resample)
        answer = cv.tensor_to_pil(cell).resize(size, resample)
        if colour_map is None:
            return answer
        return bands.map_answer(_query_at_size(req), answer, ColourLookup.of(colour_map))

    def _blend(self, jobs: Sequence[PromptRequest], cells: torch.Tensor,
               boxes: list[cv.Box], req: PromptRequest) -> Image.Image:
        tiles = [cv.pil_to_tensor(self._upscale(job, cell)) for job, cell in zip(jobs, cells)]
        out = tiling.blend_tiles(tiles, boxes, req.size, req.tile_overlap)
        if bool(is_mask_like(cells).all()):
            out = (out.mean(0, keepdim=True) > 0.5).float().expand(3, -1, -1)
        return cv.tensor_to_pil(out)

    def _build_canvases(self, requests: Sequence[PromptRequest],
                        plans: list[list[tuple[Arrangement, Pair]]]
                        ) -> tuple[torch.Tensor, list[int]]:
        canvases, owners = [], []
        for i, (req, plan) in enumerate(zip(requests, plans)):
            canvases.append(_prompt_canvases(req, plan))
            owners += [i] * len(plan)
        return torch.cat(canvases), owners

    def _apply_mask(self, req: PromptRequest, answer: Image.Image) -> Image.Image:
        size = req.size
        if req.mask is None:
            return answer
        alpha = req.mask.convert("L").point(lambda v: 255 if v else 0)
        if alpha.size != size:
            alpha = alpha.resize(size, Image.Resampling.NEAREST)
        out = Image.composite(answer, _query_at_size(req), alpha).convert("RGBA")
        out.putalpha(alpha)
        return out

    # ---------------------------------------------------------------- inpainting

    @torch.inference_mode()
    def inpaint(self, image: Image.Image, mask: Image.Image, min_fraction: float = 0.0
                ) -> Image.Image:
        """Free inpainting: fill the patches under ``mask`` (nonzero = fill) of ``image``."""
        if mask.size != image.size:
            raise InputError("the inpainting mask must have the image's size")
        size = self.model.cfg.img_size
        rgb = cv.to_rgb(image)
        small = cv.pil_to_tensor(rgb.resize((size, size), Image.Resampling.BICUBIC))[None]
        pix = torch.from_numpy(np.asarray(mask.convert("L").resize((size, size))) > 0)
        patch_mask = cv.patch_mask_from_pixels(pix, self.model.cfg.patch_size, min_fraction)
        if not bool(patch_mask.any()):
            return rgb.copy()
        _, filled = self.complete(small, patch_mask)
        full = cv.tensor_to_pil(filled[0].cpu()).resize(image.size, Image.Resampling.BICUBIC)
        return Image.composite(full, rgb, mask.convert("L").point(lambda v: 255 if v else 0))

    def info(self) -> dict[str, Any]:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"name": self.name, "parameters": n_params, "device": str(self.device),
                "dtype": str(self.dtype).removeprefix("torch."),
                "config": self.model.model_config.to_dict(), "max_pairs": MAX_PAIRS,
                "max_ensemble": MAX_ENSEMBLE, "cuda_graphs": self.graphs is not None,
                "detail_transfer": self.detail_transfer
                and self.model.model_config.detail_radius is not None}


def load_model(name_or_path: str = "default", device: str = "auto",
               dtype: str | torch.dtype | None = None, threads: int | None = None,
               fast_decode: bool = False, cuda_graphs: bool | None = None,
               detail_transfer: bool = True) -> VisualPrompter:
    """Load a model by name (``default``, a downloaded published model) or file path
    (options: ``VisualPrompter``)."""
    name, path = resolve_model(name_or_path)
    _, model = load_model_file(path)
    prompter = VisualPrompter(model, name=name, device=device, dtype=dtype, threads=threads,
                              fast_decode=fast_decode, cuda_graphs=cuda_graphs,
                              detail_transfer=detail_transfer)
    log.info("loaded %s from %s on %s (%s)", name, path, prompter.device, prompter.dtype)
    return prompter
