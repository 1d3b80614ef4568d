"""Query detail transfer: give an answer cell back the detail the tokenizer took away.

The MAE answers in VQGAN tokens, and the tokenizer of a small model reproduces a cell
only roughly (16-px patches, a few hundred codes): fine texture, crisp edges and exact
colours are lost, in the answer as in everything else it sees. The query itself is known
exactly. Its own tokenizer reconstruction (``MAEVQGAN.reconstruct_region``) shows what
the tokenizer does to it, and the model's answer is what the task does to that
reconstruction. Around every pixel, a window of ``radius`` pixels fits the answer as an
affine colour map of the reconstructed query (a 3x3 gain matrix and an offset, ridge
``eps``: a colour-guided filter's regression). The gains, averaged over the windows
covering the pixel, carry the query's residual, ``query - reconstruction``, into the
answer:

    answer + gains^T (query - reconstruction)

Where the task acts locally on colours (masks of objects or colours, inversion, greyscale,
hue, palette, posterize, denoise, background removal) the gains are what the task does
to a colour, and the residual comes back transformed: a mask's edge follows the query's,
an inverted texture comes back inverted. Where the answer shows other pixels (flips,
rotations) the windows still find chance colour relations and would carry the query's
detail to the wrong place, so the transfer is weighted by how well the example pair
itself is a local colour map (``pointwise_fit``, ``transfer_weight``): the pairs of
flips, rotations, line art and boxes fit poorly, and but for line art (below) their
answers stay as decoded.

Line art is not a colour map: a line is drawn where the colours *change*. So the fit is
tried a second time with one more input channel, the local contrast (``local_contrast``,
the largest colour range over a 4x4 window). Where that explains the example pair
clearly better than colours alone (by ``CONTRAST_GAIN_LOW`` to ``CONTRAST_GAIN_HIGH``) and
colours alone do not (their weight is 0), the transfer runs on both, in wider windows
(``CONTRAST_RADIUS``): the query's contrast draws its lines where the decoded answer only
hints at them (``transfer_plan``).

Before all of it, where every example pair is a mirror image or a quarter turn of its
input, the answer is the query so mirrored or turned (``visprompt_core.symmetry``); where
every example output channel is a straight line of one input channel or of the luma (a
channel swap, a greyscale, levels) and the model's answer agrees, it is the query through
those lines (``visprompt_core.channel_map``). Nothing else is done to such answers.
More refinements follow the transfer (``refine_cells``):
where the example pairs fill the areas their lines close, the answer is the query so
filled (``visprompt_core.flatting``); where their outputs are a function of their inputs'
colours, the query's pixels take that function (``visprompt_core.colour_map``); where
every example output is one filled rectangle, the answer is the rectangle that best fits
it (``visprompt_core.boxes``); where they repaint flat regions in the colours of touching
regions in other ways (colours swapped), the answer is snapped to the query's own
regions (``visprompt_core.regions``); where they are a linear filter of their inputs, the
answer is blended towards the query through that filter (``visprompt_core.linear_filter``).
Measured in docs/quality.md (section 0, "Query detail transfer" and what follows it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from visprompt_core.boxes import FittedBox, find_boxes, fit_box
from visprompt_core.boxfilter import box_mean
from visprompt_core.canvas import Layout, crop_box
from visprompt_core.channel_map import ChannelMaps, agrees, fit_channel_maps
from visprompt_core.colour_map import ColourMaps, apply_colour_maps, fit_colour_maps
from visprompt_core.flatting import fill_enclosed, fill_explains
from visprompt_core.linear_filter import (
    LinearFilter,
    apply_linear_filter,
    filter_fit,
    filter_weight,
    fit_linear_filter,
    stack_pairs,
)
from visprompt_core.model import MAEVQGAN
from visprompt_core.regions import regions_explain, snap_to_regions
from visprompt_core.symmetry import NONE, apply_symmetries, find_symmetries

# How much detail an answer gets follows how well its example pair is a local colour map
# (``pointwise_fit``): none below GATE_LOW, all above GATE_HIGH (measured in
# docs/quality.md: flips, rotations, edges and boxes fit 0.1-0.3, colour tasks 0.9-1).
GATE_LOW, GATE_HIGH = 0.5, 0.7
# The contrast channel is used where it raises the example pair's fit by this much (none
# below LOW, all above HIGH) and the colours alone get no weight (measured in
# docs/quality.md: line art gains about 0.75, every other family at most 0.05).
CONTRAST_GAIN_LOW, CONTRAST_GAIN_HIGH = 0.1, 0.3
# The window of ``local_contrast``: its 3-px bands straddle every colour change, as wide as
# the synthetic line art (docs/model_card.md); thinner or wider lines fit less well.
CONTRAST_WINDOW = 4
# The contrast channel's weight against the colours in the fits: x4, so its ridge is 1/16
# of theirs (measured in docs/quality.md: line art gains up to x4, little beyond).
CONTRAST_SCALE = 4.0
# The contrast path's own windows: wider than the colour maps' (line art follows the
# query's contrast much the same way across the cell) and a stronger ridge (measured in
# docs/quality.md: radius 12 -> 64 raised line art's IoU by 0.15-0.19).
CONTRAST_RADIUS, CONTRAST_EPS = 64, 1e-3


def local_contrast(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 1, H, W): around every pixel, the largest range (max - min) of
    a channel over a ``CONTRAST_WINDOW`` square window (edges repeated): high in a band
    along every colour change, 0 inside flat regions."""
    k = CONTRAST_WINDOW
    padded = F.pad(x.float(), (k // 2, (k - 1) // 2, k // 2, (k - 1) // 2), mode="replicate")
    largest = F.max_pool2d(padded, k, stride=1)
    smallest = -F.max_pool2d(-padded, k, stride=1)
    return (largest - smallest).amax(1, keepdim=True)


def with_contrast(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) colours -> (B, 4, H, W): the colours and their ``local_contrast``
    times ``CONTRAST_SCALE``."""
    return torch.cat([x.float(), CONTRAST_SCALE * local_contrast(x)], 1)


def _window_fits(x: torch.Tensor, y: torch.Tensor, radius: int, eps: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Around every pixel, the ridge-regularised affine map from ``x`` (B, I, H, W) to
    ``y`` (B, O, H, W) in the window of ``radius``: (gains (B, H, W, I, O), the in-out
    covariances of the same shape, ``y``'s variance summed over channels (B, H, W))."""
    b, _, h, w = x.shape
    x, y = x.float(), y.float()
    mean_x, mean_y = box_mean(x, radius), box_mean(y, radius)

    def covariance(u: torch.Tensor, mean_u: torch.Tensor, v: torch.Tensor,
                   mean_v: torch.Tensor) -> torch.Tensor:
        cu, cv = u.shape[1], v.shape[1]
        outer = box_mean((u[:, :, None] * v[:, None]).flatten(1, 2), radius)
        return (outer.view(b, cu, cv, h, w) - mean_u[:, :, None] * mean_v[:, None]
                ).permute(0, 3, 4, 1, 2)

    var = covariance(x, mean_x, x, mean_x)
    cross = covariance(x, mean_x, y, mean_y)
    ridge = eps * torch.eye(x.shape[1], dtype=var.dtype, device=var.device)
    gains = torch.linalg.solve(var + ridge, cross)
    spread = (box_mean(y * y, radius) - mean_y * mean_y).sum(1)
    return gains, cross, spread


def colour_gains(seen: torch.Tensor, answer: torch.Tensor, radius: int, eps: float
                 ) -> torch.Tensor:
    """(B, I, O, H, W): around every pixel, the ridge-regularised gains of the affine map
    that best takes ``seen``'s channels (B, I, H, W) to ``answer``'s (B, O, H, W) in a
    window of ``radius``, averaged over the windows that cover the pixel. Index
    [b, i, j]: how much input channel i moves output channel j."""
    b, ci, h, w = seen.shape
    co = answer.shape[1]
    gains = _window_fits(seen, answer, radius, eps)[0]
    gains = box_mean(gains.permute(0, 3, 4, 1, 2).reshape(b, ci * co, h, w), radius)
    return gains.view(b, ci, co, h, w)


def pointwise_fit(example_in: torch.Tensor, example_out: torch.Tensor, radius: int,
                  eps: float, contrast: bool = False) -> torch.Tensor:
    """(B,) how much of the example output's local variance an affine colour map of the
    example input explains in windows of ``radius`` (an R^2, 0..1): near 1 where the
    task acts on colours in place, low where it moves pixels (flips, rotations) or
    draws what the colours do not show (edges, boxes). ``contrast``: the input's
    ``local_contrast`` is a fourth channel of the map (line art then fits well)."""
    if contrast:
        example_in = with_contrast(example_in)
    gains, cross, spread = _window_fits(example_in, example_out, radius, eps)
    explained = (gains * cross).sum((-2, -1))
    return (explained.sum((1, 2)) / spread.sum((1, 2)).clamp(min=1e-8)).clamp(0, 1)


def transfer_weight(fit: torch.Tensor) -> torch.Tensor:
    """``pointwise_fit`` -> how much detail to transfer: 0 up to GATE_LOW, 1 from
    GATE_HIGH, linear between."""
    return ((fit - GATE_LOW) / (GATE_HIGH - GATE_LOW)).clamp(0, 1)


def transfer_plan(example_in: torch.Tensor, example_out: torch.Tensor, radius: int,
                  eps: float, colour_fit: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """For example pairs (B, 3, H, W): ((B,) how much detail to transfer, (B,) bool
    whether through the contrast channel). Colours alone where they fit
    (``transfer_weight``); else colours and contrast as much as the contrast raises the
    fit (module doc). ``colour_fit``: the pairs' ``pointwise_fit`` where already known."""
    if colour_fit is None:
        colour_fit = pointwise_fit(example_in, example_out, radius, eps)
    colour = transfer_weight(colour_fit)
    lines = torch.zeros_like(colour)
    rest = colour == 0  # only these may take the contrast path: fit them alone
    if bool(rest.any()):
        gain = pointwise_fit(example_in[rest], example_out[rest], radius, eps,
                             contrast=True) - colour_fit[rest]
        lines[rest] = ((gain - CONTRAST_GAIN_LOW) / (CONTRAST_GAIN_HIGH - CONTRAST_GAIN_LOW)
                       ).clamp(0, 1)
    contrast = lines > 0
    return torch.where(contrast, lines, colour), contrast


def transfer_detail(answer: torch.Tensor, seen: torch.Tensor, query: torch.Tensor,
                    radius: int, eps: float, weight: torch.Tensor | None = None,
                    contrast: bool = False) -> torch.Tensor:
    """The answer cells (B, 3, H, W) in [0, 1] with the query's detail carried in: the
    query (B, 3, H, W), what the tokenizer made of it (``seen``), module doc; ``weight``
    (B,) scales the transferred detail (None: 1); ``contrast``: the map also reads the
    ``local_contrast`` of ``seen`` and carries the query's."""
    if not answer.shape == seen.shape == query.shape or answer.dim() != 4:
        raise ValueError(f"answer, seen and query must be equal (B, 3, H, W) tensors, got "
                         f"{tuple(answer.shape)}, {tuple(seen.shape)}, {tuple(query.shape)}")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if contrast:
        seen, query = with_contrast(seen), with_contrast(query)
    gains = colour_gains(seen, answer, radius, eps)
    residual = query.float() - seen.float()
    moved = (gains * residual[:, :, None]).sum(1)
    if weight is not None:
        moved = moved * weight.to(moved).view(-1, 1, 1, 1)
    return (answer.float() + moved).clamp(0, 1).to(answer.dtype)


@dataclass(frozen=True)
class Refinement:
    """Refined answer cells (B, 3, h, w, float32); the same before the linear filter was
    blended in (``unfiltered``); each prompt's linear filter (None where the recipe has
    no refinement) and how much of each answer (B,) that filter is; which answers (B,)
    bool are the query filled along its lines (``visprompt_core.flatting``) and which
    were snapped to the query's regions (``visprompt_core.regions``); the rows that took
    their example pairs' colour map (``visprompt_core.colour_map``), with that map; and
    (B,) long the index into ``views.VIEWS`` of the symmetry each answer is of its query
    (``visprompt_core.symmetry``; ``symmetry.NONE`` for the others); the rows drawn as
    the rectangle their example pairs show (``visprompt_core.boxes``), with it; the rows
    that are their query through their example pairs' channel map
    (``visprompt_core.channel_map``), with that map."""

    answers: torch.Tensor
    unfiltered: torch.Tensor
    linear: LinearFilter | None
    filter_share: torch.Tensor
    filled: torch.Tensor
    snapped: torch.Tensor
    colour_maps: dict[int, ColourMaps]
    symmetries: torch.Tensor
    boxes: dict[int, FittedBox]
    channel_maps: dict[int, ChannelMaps]


def refine_answers(model: MAEVQGAN, canvases: torch.Tensor, answers: torch.Tensor,
                   layout: Layout) -> torch.Tensor:
    """``refine(...).answers``: the refined answer cells alone."""
    return refine(model, canvases, answers, layout).answers


@dataclass(frozen=True)
class ExampleCells:
    """Each prompt's example pairs as cells: ``inputs`` and ``outputs`` (B, P, 3, h, w),
    of which the first ``counts`` (B,) are real, the rest padding."""

    inputs: torch.Tensor
    outputs: torch.Tensor
    counts: torch.Tensor


def refine(model: MAEVQGAN, canvases: torch.Tensor, answers: torch.Tensor, layout: Layout,
           examples: ExampleCells | None = None) -> Refinement:
    """``answers`` (B, 3, h, w) to the prompts on ``canvases`` (B, 3, S, S, in ``layout``)
    refined by the model's recipe (``ModelConfig.detail_radius`` / ``detail_eps``) from
    the prompts' example pairs and their queries (``refine_cells``); unchanged where the
    radius is None. ``examples``: all of each prompt's pairs, the first of them the
    canvas's (None: the canvas's first pair alone)."""
    config = model.model_config
    if config.detail_radius is None:
        answers = answers.float()
        none = torch.zeros(len(answers))
        return Refinement(answers, answers, None, none, none.bool(), none.bool(), {},
                          torch.full((len(answers),), NONE, dtype=torch.long), {}, {})
    if examples is None:
        box_in, box_out = layout.pairs[0]
        examples = ExampleCells(crop_box(canvases, box_in).float()[:, None],
                                crop_box(canvases, box_out).float()[:, None],
                                torch.ones(len(canvases), dtype=torch.long))

    def reconstruct(rows: torch.Tensor) -> torch.Tensor:
        return model.reconstruct_region(canvases[rows], *layout.query.slices())

    return refine_cells(answers, examples.inputs, examples.outputs,
                        crop_box(canvases, layout.query).float(), reconstruct, config.detail_radius,
                        config.detail_eps, examples.counts)


def refine_cells(answers: torch.Tensor, example_in: torch.Tensor, example_out: torch.Tensor,
                 query: torch.Tensor, reconstruct: Callable[[torch.Tensor], torch.Tensor],
                 radius: int, eps: float, pairs: torch.Tensor | None = None,
                 regions: bool = True, colour_maps: bool = True,
                 symmetries: bool = True, boxes: bool = True,
                 channel_maps: bool = True) -> Refinement:
    """``answers`` (B, 3, h, w) replaced by their query mirrored or turned where every
    example pair is that symmetry (``symmetry.find_symmetries``), or by their query
    through a channel map where every example pair is that map and the model's answer
    agrees (``channel_map``); the others with their query's detail carried in, as much
    as the first example pair is a local map of colours, or of colours and contrast
    (``transfer_plan``; the contrast path in its own windows, ``CONTRAST_RADIUS`` /
    ``CONTRAST_EPS``); where the filter takes no share, replaced by the query with the
    areas its lines close filled where every example pair is so filled
    (``flatting.fill_explains``, ``flatting.fill_enclosed``), or else given the example
    pairs' colour map where their outputs are a function of their inputs' colours
    (``colour_map``), then snapped to the query's regions where every example pair
    paints regions of its input in touching regions' colours
    (``regions.regions_explain``, ``regions.snap_to_regions``); then
    blended towards the example pairs' linear filter applied to the query as much as
    that filter explains the pairs (``linear_filter.filter_weight``, against the pairs' mean
    ``pointwise_fit``). ``example_in`` / ``example_out``: (B, 3, h, w), one pair per
    prompt, or (B, P, 3, h, w), of which the first ``pairs`` (B,) count (None: all).
    ``reconstruct(rows)``: the tokenizer's reconstruction of those rows' queries, asked
    only for the rows that take the detail. ``regions``: False leaves the filling and
    the snapping out (the tenth session's recipe, for studies); ``colour_maps``: False
    leaves the colour maps out (the thirteenth session's recipe); ``symmetries``: False
    leaves the mirrors and turns out (the fourteenth session's recipe); ``boxes``: False
    leaves the box fit out (``visprompt_core.boxes``: where every example output is one
    filled rectangle, the answer is the rectangle that best fits it; after the colour
    maps, for rows they did not take); ``channel_maps``: False leaves the channel maps
    out (the fifteenth session's recipe)."""
    inputs, outputs, real = stack_pairs(example_in, example_out, pairs)
    out = answers.float().clone()
    found = torch.full((len(out),), NONE, dtype=torch.long, device=out.device)
    if symmetries:
        found = find_symmetries(inputs, outputs, real)
    lines = _fit_channel_maps(answers, inputs, outputs, real, query, found == NONE) \
        if channel_maps else {}
    exact = found != NONE  # answered exactly, by a symmetry or a channel map
    exact[list(lines)] = True
    linear: LinearFilter | None = None
    if bool(exact.all()):  # every answer is its query's pixels: nothing more to fit
        weight = share = contrast = torch.zeros(len(out), device=out.device)
    else:
        colour_fit = pointwise_fit(inputs[:, 0], outputs[:, 0], radius, eps)
        weight, contrast = transfer_plan(inputs[:, 0], outputs[:, 0], radius, eps,
                                         colour_fit)
        linear = fit_linear_filter(inputs, outputs, pairs)
        share = filter_weight(filter_fit(linear, inputs, outputs, pairs),
                              _mean_colour_fit(inputs, outputs, real, colour_fit, radius, eps))
        share = torch.where(exact, 0.0, share)  # an exact answer is the query's pixels
    picked = ((weight > 0) & (share < 1) & ~exact).nonzero().flatten()
    if len(picked):
        out[picked] = follow_plan(out[picked], reconstruct(picked), query[picked], radius,
                                  eps, weight[picked], contrast[picked])
    unshared = ((share == 0) & ~exact).nonzero().flatten()
    filled = torch.zeros(len(out), dtype=torch.bool, device=out.device)
    if regions and len(unshared):
        filled[unshared] = _all_pairs(fill_explains, inputs[unshared], outputs[unshared],
                                      real[unshared])
        if bool(filled.any()):
            out[filled] = fill_enclosed(query[filled])
        unshared = unshared[~filled[unshared]]
    maps: dict[int, ColourMaps] = {}
    if colour_maps and len(unshared):
        fitted = fit_colour_maps(inputs[unshared], outputs[unshared], real[unshared])
        explained = fitted.explains().nonzero().flatten()
        if len(explained):
            rows = unshared[explained]
            kept = fitted.select(explained)
            out[rows] = apply_colour_maps(kept, query[rows], out[rows])
            maps = {int(row): kept.select(torch.tensor([i])) for i, row in enumerate(rows)}
    fitted: dict[int, FittedBox] = {}
    if boxes and len(unshared):
        fitted = _fit_boxes(out, outputs, real, [r for r in unshared.tolist() if r not in maps])
        unshared = unshared[torch.tensor([r not in fitted for r in unshared.tolist()],
                                         dtype=torch.bool, device=unshared.device)]
    snapped = torch.zeros_like(filled)
    if regions and len(unshared):
        regional = unshared[_all_pairs(regions_explain, inputs[unshared], outputs[unshared],
                                       real[unshared])]
        if len(regional):
            out[regional] = snap_to_regions(query[regional], out[regional])
            snapped[regional] = True
    if bool((found != NONE).any()):
        out = apply_symmetries(found, query, out)
    for row, fitted_map in lines.items():
        out[row] = fitted_map.apply(query[row][None])[0]
    unfiltered = out
    taken = (share > 0).nonzero().flatten()
    if linear is not None and len(taken):
        part = share[taken].view(-1, 1, 1, 1)
        filtered = apply_linear_filter(linear.select(taken), query[taken]).clamp(0, 1)
        out = out.clone()
        out[taken] = (1 - part) * out[taken] + part * filtered
    return Refinement(out, unfiltered, linear, share, filled, snapped, maps, found, fitted,
                      lines)


def _fit_channel_maps(answers: torch.Tensor, inputs: torch.Tensor, outputs: torch.Tensor,
                      real: torch.Tensor, query: torch.Tensor, candidates: torch.Tensor
                      ) -> dict[int, ChannelMaps]:
    """Of the ``candidates`` (B,) bool rows, those whose example pairs are all one
    channel map (``ChannelMaps.explains``) and whose model ``answers`` agree with it
    (``channel_map.agrees``), with that map."""
    rows = candidates.nonzero().flatten()
    if not len(rows):
        return {}
    fitted = fit_channel_maps(inputs[rows], outputs[rows], real[rows])
    passed = fitted.explains().nonzero().flatten()
    if not len(passed):
        return {}
    kept = fitted.select(passed)
    agreed = agrees(kept, query[rows[passed]], answers[rows[passed]]).tolist()
    return {int(rows[passed[i]]): kept.select(torch.tensor([i]))
            for i, ok in enumerate(agreed) if ok}


def _fit_boxes(out: torch.Tensor, outputs: torch.Tensor, real: torch.Tensor,
               rows: list[int]) -> dict[int, FittedBox]:
    """For the ``rows`` whose example ``outputs`` are all one filled rectangle
    (``boxes.find_boxes``), ``out`` (B, 3, h, w) replaced in place by the rectangle that
    best fits it (``boxes.fit_box``); those rows' rectangles."""
    if not rows:
        return {}
    chosen = torch.tensor(rows, device=outputs.device)
    plan = find_boxes(outputs[chosen], real[chosen])
    fitted = {}
    for i, row in enumerate(rows):
        if bool(plan.found[i]):
            box = fit_box(out[row], plan.inside[i], plan.ground[i])
            if box is not None:
                out[row] = box.draw(*out.shape[-2:]).to(out.device)
                fitted[row] = box
    return fitted


def _all_pairs(explains: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
               inputs: torch.Tensor, outputs: torch.Tensor, real: torch.Tensor
               ) -> torch.Tensor:
    """(B,) bool: ``explains`` (a gate: (N, 3, h, w) inputs and outputs -> (N,) bool)
    holds for every real pair of the prompt ((B, P, 3, h, w) each, ``real`` from
    ``stack_pairs``)."""
    b, p = inputs.shape[:2]
    explained = explains(inputs.flatten(0, 1), outputs.flatten(0, 1)).view(b, p)
    return (explained | (real.view(b, p) == 0)).all(1)


def _mean_colour_fit(inputs: torch.Tensor, outputs: torch.Tensor, real: torch.Tensor,
                     first_fit: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """(B,) the mean ``pointwise_fit`` of each prompt's real pairs ((B, P, 3, h, w) each,
    ``real`` (B, P, 1, 1, 1) from ``stack_pairs``), the first pair's ``first_fit`` known."""
    b, p = inputs.shape[:2]
    if p == 1:
        return first_fit
    rest = pointwise_fit(inputs[:, 1:].flatten(0, 1), outputs[:, 1:].flatten(0, 1), radius,
                         eps).view(b, p - 1)
    fits, counted = torch.cat([first_fit[:, None], rest], 1), real.view(b, p)
    return (fits * counted).sum(1) / counted.sum(1)


def follow_plan(answers: torch.Tensor, seen: torch.Tensor, query: torch.Tensor, radius: int,
                eps: float, weight: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """``answers`` (B, 3, h, w) with the detail carried in as ``transfer_plan`` says
    (``weight``, ``contrast``: (B,) each): colours in windows of ``radius`` / ``eps``,
    colours and contrast in ``CONTRAST_RADIUS`` / ``CONTRAST_EPS``; rows of weight 0
    unchanged. float32."""
    out = answers.float().clone()
    for lines in (False, True):
        rows = (weight > 0) & (contrast == lines)
        if bool(rows.any()):
            fit_radius, fit_eps = (CONTRAST_RADIUS, CONTRAST_EPS) if lines else (radius, eps)
            out[rows] = transfer_detail(answers[rows], seen[rows], query[rows], fit_radius,
                                        fit_eps, weight[rows], contrast=lines)
    return out
