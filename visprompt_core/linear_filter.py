"""The example pair as a linear filter: where one explains it, apply it to the query.

Some tasks an artist shows are linear, shift-invariant filters of the image: a blur, a
softening, a sharpening, an inversion or a change of brightness and contrast. The model
answers those in tokens, which cannot be sharper than its tokenizer (a blur's answer then
loses to the query itself), yet the example pair states the filter exactly. So a
``(2r+1)^2`` kernel, the same for the three channels, plus an offset per channel, is fitted
to the example pair by least squares (``fit_linear_filter``: the normal equations built
from the pair's auto- and cross-correlations, computed by FFT, with a ridge that favours
compact kernels; with several example pairs, one filter for all of them: their
correlations add up, and each pair constrains what another leaves open). Where
it explains the example output almost entirely (``filter_fit``, an R^2), and better than
the local colour maps of ``visprompt_core.detail`` do, the answer is that filter applied to
the query (``filter_weight``). Elsewhere (masks, colour swaps, flips, line art) it fits
poorly and the answer is untouched.
Measured in docs/quality.md (section 0, "Linear filters").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# The kernel's radius: 23x23 taps hold a Gaussian blur up to sigma ~3.5 px at the 111-px
# answer cell (the synthetic `blur` family's range, docs/model_card.md).
FILTER_RADIUS = 11
# The ridge on each tap, relative to the example input's energy: RIDGE everywhere (keeps
# the solve stable on flat inputs) plus SPREAD times the tap's squared distance from the
# centre. One example pair leaves some directions and frequencies undetermined (a striped
# cell shows nothing across its stripes); there the most compact kernel wins, whose
# response is smooth: a blur blurs every way, an inversion stays exact (measured in
# docs/quality.md: a flat ridge either shrinks an inversion's fine detail or leaves the
# undetermined response arbitrary).
FILTER_RIDGE, FILTER_SPREAD = 1e-6, 0.03
# How much of the answer the filter takes: none below GATE_LOW of ``filter_fit``, all from
# GATE_HIGH (measured in docs/quality.md: blur fits 0.99-1, denoise 0.82-0.97, no other
# family above 0.96, and those only where colour maps fit better still).
FILTER_GATE_LOW, FILTER_GATE_HIGH = 0.85, 0.95
# An example output with less variance than this shows no filter (a flat colour).
FLAT_VARIANCE = 1e-6
# Full-size planes are padded on to FFT lengths with no prime factor above 5: a 4k query's
# padded 3682x4908 (factors 263 and 409) took 1.6x as long as 3750x5000 (docs/performance.md).
FFT_PRIMES = (2, 3, 5)


@dataclass(frozen=True)
class LinearFilter:
    """Per prompt: ``kernel`` (B, k, k) applied to every channel as a cross-correlation
    (``F.conv2d``'s convention) of the input minus ``in_mean`` (B, 3, 1, 1), plus
    ``out_mean`` (B, 3, 1, 1)."""

    kernel: torch.Tensor
    in_mean: torch.Tensor
    out_mean: torch.Tensor

    @property
    def radius(self) -> int:
        return self.kernel.shape[-1] // 2

    def select(self, rows: torch.Tensor) -> LinearFilter:
        return LinearFilter(self.kernel[rows], self.in_mean[rows], self.out_mean[rows])

    def to(self, device: torch.device | str) -> LinearFilter:
        return LinearFilter(self.kernel.to(device), self.in_mean.to(device),
                            self.out_mean.to(device))


def stack_pairs(example_in: torch.Tensor, example_out: torch.Tensor,
                pairs: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Example pairs as (B, P, C, H, W) inputs and outputs and a (B, P, 1, 1, 1) float
    mask of the pairs that count. ``example_in`` / ``example_out``: (B, C, H, W) (one pair
    per prompt) or (B, P, C, H, W); ``pairs`` (B,): how many of each prompt's P pairs are
    real, the rest padding (None: all)."""
    if example_in.shape != example_out.shape or example_in.dim() not in (4, 5):
        raise ValueError(f"example_in and example_out must be equal (B, C, H, W) or "
                         f"(B, P, C, H, W) tensors, got {tuple(example_in.shape)} and "
                         f"{tuple(example_out.shape)}")
    if example_in.dim() == 4:
        example_in, example_out = example_in[:, None], example_out[:, None]
    b, p = example_in.shape[:2]
    if pairs is None:
        pairs = torch.full((b,), p, device=example_in.device)
    if pairs.shape != (b,) or not bool(((pairs >= 1) & (pairs <= p)).all()):
        raise ValueError(f"pairs must be (B,) counts from 1 to {p}, got {pairs.tolist()}")
    index = torch.arange(p, device=example_in.device)
    real = (index[None] < pairs.to(example_in.device)[:, None]).float()
    return example_in.float(), example_out.float(), real.view(b, p, 1, 1, 1)


def fit_linear_filter(example_in: torch.Tensor, example_out: torch.Tensor,
                      pairs: torch.Tensor | None = None, radius: int = FILTER_RADIUS,
                      ridge: float = FILTER_RIDGE, spread: float = FILTER_SPREAD
                      ) -> LinearFilter:
    """The least-squares ``LinearFilter`` of ``radius`` that takes each prompt's example
    inputs to its example outputs: (B, C, H, W) for one pair per prompt, (B, P, C, H, W)
    for several, of which the first ``pairs`` (B,) count (``stack_pairs``). The normal
    equations hold the inputs' autocorrelation at every difference of two taps and the
    outputs' cross-correlation with the inputs at every tap, each summed over the
    channels, the pairs and the image (an FFT of the zero-padded cells, so no
    wrap-around); ``ridge`` plus ``spread`` times the tap's squared distance from the
    centre, times the inputs' energy, is added to their diagonal. One filter for all the
    prompt's pairs: its offsets are their mean colours."""
    if radius < 0 or ridge <= 0 or spread < 0:
        raise ValueError(f"need radius >= 0, ridge > 0 and spread >= 0, got {radius}, "
                         f"{ridge} and {spread}")
    inputs, outputs, real = stack_pairs(example_in, example_out, pairs)
    b, _, _, h, w = inputs.shape

    def pooled_mean(x: torch.Tensor) -> torch.Tensor:  # (B, C, 1, 1) over the real pairs
        return (x.mean((3, 4), keepdim=True) * real).sum(1) / real.sum(1)

    # Each pair is centred on its own means: the zero padding of the correlations then
    # continues every cell at its mean. The filter's offsets are the means over the pairs.
    x = ((inputs - inputs.mean((3, 4), keepdim=True)) * real).double()
    y = ((outputs - outputs.mean((3, 4), keepdim=True)) * real).double()
    size = (h + 2 * radius, w + 2 * radius)  # lags up to 2r apart stay unwrapped
    spectrum_x = torch.fft.rfft2(x, s=size)
    spectrum_y = torch.fft.rfft2(y, s=size)
    auto = torch.fft.irfft2((spectrum_x.conj() * spectrum_x).sum((1, 2)), s=size)
    cross = torch.fft.irfft2((spectrum_y.conj() * spectrum_x).sum((1, 2)), s=size)
    taps = torch.arange(-radius, radius + 1, device=x.device)
    dy, dx = (t.flatten() for t in torch.meshgrid(taps, taps, indexing="ij"))
    normal = auto[:, (dy[None] - dy[:, None]) % size[0], (dx[None] - dx[:, None]) % size[1]]
    rhs = cross[:, dy % size[0], dx % size[1]]
    energy = auto[:, 0, 0].clamp(min=1e-12).view(b, 1)
    distance = (dy * dy + dx * dx).to(normal.dtype)
    penalty = torch.diag_embed(energy * (ridge + spread * distance))
    # The ridged normal matrix is symmetric positive definite: a Cholesky solve. (A batched
    # LU solve of 529x529 matrices fails inside MKL on some CPUs once torch's thread count
    # has been set explicitly: torch 2.13, AVX2 without AVX-512.)
    factor = torch.linalg.cholesky(normal + penalty)
    kernel = torch.cholesky_solve(rhs[..., None], factor)[..., 0]
    k = 2 * radius + 1
    return LinearFilter(kernel.float().view(b, k, k), pooled_mean(inputs), pooled_mean(outputs))


def apply_linear_filter(linear: LinearFilter, images: torch.Tensor) -> torch.Tensor:
    """``images`` (B, C, H, W) through their prompt's filter (edges mirrored), float32,
    not clipped."""
    b, c, h, w = images.shape
    r = linear.radius
    if min(h, w) <= r:
        raise ValueError(f"images of {h}x{w} px are too small for a filter of radius {r}")
    centred = (images.float() - linear.in_mean).reshape(1, b * c, h, w)
    padded = F.pad(centred, (r, r, r, r), mode="reflect")
    weights = linear.kernel.repeat_interleave(c, 0)[:, None]
    out = F.conv2d(padded, weights, groups=b * c).view(b, c, h, w)
    return out + linear.out_mean


def apply_linear_filter_at_scale(linear: LinearFilter, images: torch.Tensor,
                                 cell: tuple[int, int]) -> torch.Tensor:
    """``images`` (B, C, H, W), the queries at their answer size, through the filter
    fitted on ``cell``-sized (h, w) cells, float32, not clipped. A cell pixel spans H/h by
    W/w image pixels, so the kernel's frequency response is read at the image's
    frequencies times that span; above the cell's Nyquist frequency, where the cells show
    nothing, the response at the Nyquist edge carries on (a blur keeps removing detail, an
    inversion keeps inverting it). Edges are mirrored, as in ``apply_linear_filter``, by
    the kernel's reach and on the far sides up to a fast FFT length
    (``fast_fft_length``)."""
    h, w = images.shape[-2:]
    span_y, span_x = h / cell[0], w / cell[1]
    pad_y = min(h - 1, math.ceil(linear.radius * span_y))
    pad_x = min(w - 1, math.ceil(linear.radius * span_x))
    # the far side's mirror is longer, up to a fast FFT length (never more than h - 1)
    size = (fast_fft_length(h + 2 * pad_y, h + pad_y + h - 1),
            fast_fft_length(w + 2 * pad_x, w + pad_x + w - 1))
    pads = (pad_x, size[1] - w - pad_x, pad_y, size[0] - h - pad_y)
    taps = torch.arange(-linear.radius, linear.radius + 1, device=images.device,
                        dtype=torch.float32)

    def response_axis(freqs: torch.Tensor, span: float) -> torch.Tensor:
        at_cell = (freqs * span).clamp(-0.5, 0.5)  # cycles per cell pixel
        return torch.exp(2j * math.pi * at_cell[:, None] * taps[None])  # (n, k)

    rows = response_axis(torch.fft.fftfreq(size[0], device=images.device), span_y)
    cols = response_axis(torch.fft.rfftfreq(size[1], device=images.device), span_x)
    out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
    for b in range(images.shape[0]):
        response = rows @ linear.kernel[b].to(rows.dtype) @ cols.T  # (H', W'//2+1)
        for c in range(images.shape[1]):  # one plane at a time: 4k images stay in memory
            plane = (images[b, c].float() - linear.in_mean[b, c])[None, None]
            padded = F.pad(plane, pads, mode="reflect")[0, 0]
            spectrum = torch.fft.rfft2(padded)
            filtered = torch.fft.irfft2(spectrum.mul_(response), s=size)
            torch.add(filtered[pad_y:pad_y + h, pad_x:pad_x + w], linear.out_mean[b, c],
                      out=out[b, c])
    return out


def fast_fft_length(n: int, most: int) -> int:
    """The smallest length from ``n`` to ``most`` with no prime factor above 5 (FFT_PRIMES),
    or ``n`` where there is none."""
    for length in range(n, most + 1):
        rest = length
        for prime in FFT_PRIMES:
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return length
    return n


def filter_fit(linear: LinearFilter, example_in: torch.Tensor, example_out: torch.Tensor,
               pairs: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) how much of the example outputs' variance the filter explains (an R^2, 0..1;
    each output's variance about its own mean, summed over the prompt's real pairs, shapes
    as in ``fit_linear_filter``); 0 where the outputs are flat (they show no filter)."""
    inputs, outputs, real = stack_pairs(example_in, example_out, pairs)
    b, p = inputs.shape[:2]
    per_pair = linear.select(torch.arange(b, device=inputs.device).repeat_interleave(p))
    predicted = apply_linear_filter(per_pair, inputs.flatten(0, 1)).view(inputs.shape)
    error = (((predicted - outputs) ** 2) * real).sum((1, 2, 3, 4))
    spread = (((outputs - outputs.mean((3, 4), keepdim=True)) ** 2) * real).sum((1, 2, 3, 4))
    fit = (1 - error / spread.clamp(min=1e-12)).clamp(0, 1)
    flat = spread / (real.sum((1, 2, 3, 4)) * outputs[0, 0].numel()) < FLAT_VARIANCE
    return torch.where(flat, torch.zeros_like(fit), fit)


def filter_weight(fit: torch.Tensor, colour_fit: torch.Tensor) -> torch.Tensor:
    """(B,) how much of the answer the filter takes: ``filter_fit`` ramped from
    FILTER_GATE_LOW (0) to FILTER_GATE_HIGH (1), and 0 where the local colour maps
    (``detail.pointwise_fit``, ``colour_fit``) explain the pair at least as well."""
    ramp = ((fit - FILTER_GATE_LOW) / (FILTER_GATE_HIGH - FILTER_GATE_LOW)).clamp(0, 1)
    return torch.where(fit > colour_fit, ramp, torch.zeros_like(ramp))
