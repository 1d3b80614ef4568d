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
flips, rotations, line art and boxes fit poorly and their answers stay as decoded.
Measured in docs/quality.md (section 0, "Query detail transfer").
"""

from __future__ import annotations

import torch

from visprompt_core.canvas import Box, Layout
from visprompt_core.model import MAEVQGAN

# How much detail an answer gets follows how well its example pair is a local colour map
# (``pointwise_fit``): none below GATE_LOW, all above GATE_HIGH (measured in
# docs/quality.md: flips, rotations, edges and boxes fit 0.1-0.3, colour tasks 0.9-1).
GATE_LOW, GATE_HIGH = 0.5, 0.7


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, C, H, W) -> the mean over each pixel's (2r+1)^2 window, clipped at the borders
    (an integral image: the cost does not grow with ``radius``)."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    h, w = x.shape[-2:]
    acc = torch.nn.functional.pad(x.double(), (1, 0, 1, 0)).cumsum(-1).cumsum(-2)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    top, bottom = (rows - radius).clamp(min=0), (rows + radius + 1).clamp(max=h)
    left, right = (cols - radius).clamp(min=0), (cols + radius + 1).clamp(max=w)
    lower, upper = acc[..., bottom, :], acc[..., top, :]
    total = (lower[..., right] - lower[..., left]) - (upper[..., right] - upper[..., left])
    count = (bottom - top)[:, None] * (right - left)[None, :]
    return (total / count).to(x.dtype)


def _window_fits(x: torch.Tensor, y: torch.Tensor, radius: int, eps: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Around every pixel, the ridge-regularised affine colour map from ``x`` to ``y``
    (B, 3, H, W) in the window of ``radius``: (gains (B, H, W, 3 in, 3 out), the in-out
    covariances of the same shape, ``y``'s variance summed over channels (B, H, W))."""
    b, c, h, w = x.shape
    x, y = x.float(), y.float()
    mean_x, mean_y = box_mean(x, radius), box_mean(y, radius)

    def covariance(u: torch.Tensor, mean_u: torch.Tensor, v: torch.Tensor,
                   mean_v: torch.Tensor) -> torch.Tensor:
        outer = box_mean((u[:, :, None] * v[:, None]).flatten(1, 2), radius)
        return (outer.view(b, c, c, h, w) - mean_u[:, :, None] * mean_v[:, None]
                ).permute(0, 3, 4, 1, 2)

    var = covariance(x, mean_x, x, mean_x)
    cross = covariance(x, mean_x, y, mean_y)
    ridge = eps * torch.eye(c, dtype=var.dtype, device=var.device)
    gains = torch.linalg.solve(var + ridge, cross)
    spread = (box_mean(y * y, radius) - mean_y * mean_y).sum(1)
    return gains, cross, spread


def colour_gains(seen: torch.Tensor, answer: torch.Tensor, radius: int, eps: float
                 ) -> torch.Tensor:
    """(B, 3, 3, H, W): around every pixel, the ridge-regularised 3x3 gains of the affine
    map that best takes ``seen``'s colours (B, 3, H, W) to ``answer``'s in a window of
    ``radius``, averaged over the windows that cover the pixel. Index [b, i, j]: how much
    input channel i moves output channel j."""
    b, c, h, w = seen.shape
    gains = _window_fits(seen, answer, radius, eps)[0]
    gains = box_mean(gains.permute(0, 3, 4, 1, 2).reshape(b, c * c, h, w), radius)
    return gains.view(b, c, c, h, w)


def pointwise_fit(example_in: torch.Tensor, example_out: torch.Tensor, radius: int,
                  eps: float) -> torch.Tensor:
    """(B,) how much of the example output's local variance an affine colour map of the
    example input explains in windows of ``radius`` (an R^2, 0..1): near 1 where the
    task acts on colours in place, low where it moves pixels (flips, rotations) or
    draws what the colours do not show (edges, boxes)."""
    gains, cross, spread = _window_fits(example_in, example_out, radius, eps)
    explained = (gains * cross).sum((-2, -1))
    return (explained.sum((1, 2)) / spread.sum((1, 2)).clamp(min=1e-8)).clamp(0, 1)


def transfer_weight(fit: torch.Tensor) -> torch.Tensor:
    """``pointwise_fit`` -> how much detail to transfer: 0 up to GATE_LOW, 1 from
    GATE_HIGH, linear between."""
    return ((fit - GATE_LOW) / (GATE_HIGH - GATE_LOW)).clamp(0, 1)


def transfer_detail(answer: torch.Tensor, seen: torch.Tensor, query: torch.Tensor,
                    radius: int, eps: float, weight: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """The answer cells (B, 3, H, W) in [0, 1] with the query's detail carried in: the
    query (B, 3, H, W), what the tokenizer made of it (``seen``), module doc; ``weight``
    (B,) scales the transferred detail (None: 1)."""
    if not answer.shape == seen.shape == query.shape or answer.dim() != 4:
        raise ValueError(f"answer, seen and query must be equal (B, 3, H, W) tensors, got "
                         f"{tuple(answer.shape)}, {tuple(seen.shape)}, {tuple(query.shape)}")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    gains = colour_gains(seen, answer, radius, eps)
    residual = query.float() - seen.float()
    moved = (gains * residual[:, :, None]).sum(1)
    if weight is not None:
        moved = moved * weight.to(moved).view(-1, 1, 1, 1)
    return (answer.float() + moved).clamp(0, 1).to(answer.dtype)


def refine_answers(model: MAEVQGAN, canvases: torch.Tensor, answers: torch.Tensor,
                   layout: Layout) -> torch.Tensor:
    """``answers`` (B, 3, h, w) to the prompts on ``canvases`` (B, 3, S, S, in ``layout``)
    with their query's detail carried in by the model's recipe
    (``ModelConfig.detail_radius`` / ``detail_eps``), as much as the canvas's first
    example pair is a local colour map (``pointwise_fit``, ``transfer_weight``);
    unchanged where the radius is None. float32."""
    config = model.model_config
    answers = answers.float()
    if config.detail_radius is None:
        return answers
    radius, eps = config.detail_radius, config.detail_eps
    box_in, box_out = layout.pairs[0]
    fit = pointwise_fit(_cell(canvases, box_in), _cell(canvases, box_out), radius, eps)
    weight = transfer_weight(fit)
    some = weight > 0
    if not bool(some.any()):
        return answers
    picked = canvases[some]
    seen = model.reconstruct_region(picked, *layout.query.slices())
    out = answers.clone()
    out[some] = transfer_detail(answers[some], seen, _cell(picked, layout.query), radius, eps,
                                weight[some])
    return out


def _cell(canvases: torch.Tensor, box: Box) -> torch.Tensor:
    rows, cols = box.slices()
    return canvases[:, :, rows, cols].float()
