"""Batched procedural scenes: textured backgrounds, flat-coloured shapes and thick strokes.

Everything is generated with tensor ops on any device and is deterministic given a
``torch.Generator`` on that device. A scene is rendered in two steps so that tasks can
adjust the random parameters (e.g. force a colour to appear) before pixels exist:

    params = sample_scene_params(n, generator, palette)   # SceneParams, tensors (N, ...)
    scene = render_scene(params)                          # Scene, images (N, 3, H, W)

Slots ``0..N_SHAPES-1`` hold filled shapes, the last ``N_STROKES`` slots hold strokes; slots
are painted in order, so a later slot covers an earlier one. Present shape slots always
form a prefix (slot 0 is always present). Shape colours are indices into a small per-scene
palette (episodes share one palette across their scenes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F

CELL = 111  # the 2x2 layout's cell size; 3x2 cells (74 px) are resized from it
N_SHAPES = 4
N_STROKES = 2
N_SLOTS = N_SHAPES + N_STROKES
MAX_PALETTE = 4

# shape kinds
CIRCLE, ELLIPSE, RECT, ROT_RECT, TRIANGLE, POLYGON, STAR, RING = range(8)
SHAPE_KINDS = ("circle", "ellipse", "rectangle", "rotated_rectangle", "triangle",
               "polygon", "star", "ring")
# background kinds
BG_KINDS = ("flat", "linear", "radial", "noise_coarse", "noise_mid", "noise_fine",
            "stripes", "checker")


# ---------------------------------------------------------------------------- helpers


def rand(gen: torch.Generator, *shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    """Uniform floats in [lo, hi) on the generator's device."""
    return torch.rand(shape, generator=gen, device=gen.device) * (hi - lo) + lo


def randint(gen: torch.Generator, lo: int, hi: int, *shape: int) -> torch.Tensor:
    """Uniform int64 in [lo, hi) on the generator's device."""
    return torch.randint(lo, hi, shape, generator=gen, device=gen.device)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV (each (...), h in turns) -> RGB (..., 3) in [0, 1]."""
    k = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    k = (k + h.unsqueeze(-1) * 6.0) % 6.0
    f = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return v.unsqueeze(-1) - v.unsqueeze(-1) * s.unsqueeze(-1) * f


def sample_palette(gen: torch.Generator, n: int, size: int = MAX_PALETTE) -> torch.Tensor:
    """(n, size, 3) saturated colours with evenly spread hues (clearly distinct)."""
    offset = rand(gen, n, 1)
    jitter = rand(gen, n, size, lo=-0.06, hi=0.06)
    order = torch.argsort(rand(gen, n, size), dim=1).float()
    hue = (offset + order / size + jitter) % 1.0
    sat = rand(gen, n, size, lo=0.55, hi=1.0)
    val = rand(gen, n, size, lo=0.55, hi=1.0)
    return hsv_to_rgb(hue, sat, val)


def grid(size: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates: ys (1, H, 1), xs (1, 1, W), in pixels."""
    r = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    return r.view(1, size, 1), r.view(1, 1, size)


# ------------------------------------------------------------------------- parameters


@dataclass
class SceneParams:
    """Random parameters of N scenes (all tensors have leading dim N).

    shape slots (N, N_SHAPES): kind (long), cx, cy, sx, sy, phi, sides, inner, hole
    strokes (N, N_STROKES, 3, 2): control points (x, y) of a quadratic curve; width (N, N_STROKES)
    present (N, N_SLOTS) bool; color_idx (N, N_SLOTS) long into palette (N, MAX_PALETTE, 3)
    palette_size (N,) long; bg_kind (N,) long; bg_a/bg_b (N, 3); bg_dir (N, 2); bg_freq (N,)
    bg_noise (N, 1, 16, 16) raw noise grid.
    """

    kind: torch.Tensor
    cx: torch.Tensor
    cy: torch.Tensor
    sx: torch.Tensor
    sy: torch.Tensor
    phi: torch.Tensor
    sides: torch.Tensor
    inner: torch.Tensor
    hole: torch.Tensor
    stroke_pts: torch.Tensor
    stroke_width: torch.Tensor
    present: torch.Tensor
    color_idx: torch.Tensor
    palette: torch.Tensor
    palette_size: torch.Tensor
    bg_kind: torch.Tensor
    bg_a: torch.Tensor
    bg_b: torch.Tensor
    bg_dir: torch.Tensor
    bg_freq: torch.Tensor
    bg_noise: torch.Tensor
    size: int = CELL

    def select(self, idx: torch.Tensor) -> SceneParams:
        """The scenes at ``idx`` (long (M,))."""
        return replace(self, **{f.name: getattr(self, f.name)[idx] for f in fields(self)
                                if f.name != "size"})


def top_slots(present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) bool -> (top, second): the topmost present slot and the one below it (-1: none)."""
    k = torch.arange(present.shape[1], device=present.device)
    ranked = torch.where(present, k, -1)
    top = ranked.max(dim=1).values
    second = torch.where(k == top[:, None], -1, ranked).max(dim=1).values
    return top, second


def sample_scene_params(
    gen: torch.Generator,
    n: int,
    palette: torch.Tensor | None = None,
    palette_size: torch.Tensor | None = None,
    size: int = CELL,
) -> SceneParams:
    """Random parameters for ``n`` scenes of ``size`` px. ``palette`` (n, P, 3) optional."""
    dev = gen.device
    s = size / CELL
    if palette is None:
        palette = sample_palette(gen, n)
    if palette_size is None:
        palette_size = randint(gen, 2, palette.shape[1] + 1, n)
    ks = N_SHAPES
    kind = randint(gen, 0, len(SHAPE_KINDS), n, ks)
    cx = rand(gen, n, ks, lo=14 * s, hi=size - 14 * s)
    cy = rand(gen, n, ks, lo=14 * s, hi=size - 14 * s)
    sx = rand(gen, n, ks, lo=11 * s, hi=30 * s)
    sy = rand(gen, n, ks, lo=11 * s, hi=30 * s)
    phi = rand(gen, n, ks, hi=2 * math.pi)
    iso = (kind == CIRCLE) | (kind == POLYGON) | (kind == STAR) | (kind == TRIANGLE)
    iso = iso | ((kind == RING) & (rand(gen, n, ks) < 0.6))
    sy = torch.where(iso, sx, sy)
    phi = torch.where(kind == RECT, torch.zeros_like(phi), phi)
    sides = torch.where(kind == TRIANGLE, 3, randint(gen, 5, 9, n, ks)).float()
    sides = torch.where((kind == RECT) | (kind == ROT_RECT), 4.0, sides)
    sides = torch.where(kind == STAR, randint(gen, 4, 8, n, ks).float(), sides)
    inner = torch.cos(math.pi / sides)
    inner = torch.where(kind == STAR, rand(gen, n, ks, lo=0.38, hi=0.55), inner)
    hole = torch.where(kind == RING, rand(gen, n, ks, lo=0.45, hi=0.7), torch.zeros_like(sx))
    n_shapes = randint(gen, 1, ks + 1, n)
    shape_present = torch.arange(ks, device=dev) < n_shapes[:, None]
    u = rand(gen, n)
    n_strokes = (u > 0.5).long() + (u > 0.85).long()
    stroke_present = torch.arange(N_STROKES, device=dev) < n_strokes[:, None]
    stroke_pts = rand(gen, n, N_STROKES, 3, 2, lo=4 * s, hi=size - 4 * s)
    stroke_width = rand(gen, n, N_STROKES, lo=2.2 * s, hi=4.0 * s)  # half-width
    present = torch.cat([shape_present, stroke_present], dim=1)
    color_idx = (rand(gen, n, N_SLOTS) * palette_size[:, None]).long()
    bg_kind = randint(gen, 0, len(BG_KINDS), n)
    hue = rand(gen, n)
    bg_a = hsv_to_rgb(hue, rand(gen, n, hi=0.35), rand(gen, n, lo=0.25, hi=1.0))
    delta = rand(gen, n, 3, lo=-0.3, hi=0.3)
    bg_b = (bg_a + delta).clamp(0, 1)
    ang = rand(gen, n, hi=2 * math.pi)
    bg_dir = torch.stack([torch.cos(ang), torch.sin(ang)], dim=1)
    bg_freq = rand(gen, n, lo=6 * s, hi=16 * s)  # stripe / checker period in px
    bg_noise = rand(gen, n, 1, 16, 16)
    return SceneParams(kind, cx, cy, sx, sy, phi, sides, inner, hole, stroke_pts, stroke_width,
                       present, color_idx, palette, palette_size, bg_kind, bg_a, bg_b, bg_dir,
                       bg_freq, bg_noise, size)


# --------------------------------------------------------------------------- rendering


@dataclass
class Scene:
    """Rendered scenes.

    image (N, 3, H, W) float in [0, 1]; background (N, 3, H, W) the background layer alone;
    fg (N, 1, H, W) bool union of visible shapes and strokes; shape_masks (N, K, H, W) bool
    full (unoccluded) slot masks, empty for absent slots; shape_colors (N, K, 3);
    label (N, H, W) long topmost slot per pixel, -1 on background; color_idx (N, K) long;
    palette (N, P, 3).
    """

    image: torch.Tensor
    background: torch.Tensor
    fg: torch.Tensor
    shape_masks: torch.Tensor
    shape_colors: torch.Tensor
    label: torch.Tensor
    color_idx: torch.Tensor
    palette: torch.Tensor

    def select(self, idx: torch.Tensor, with_masks: bool = True) -> Scene:
        """The scenes at ``idx`` (long (M,)); ``with_masks=False`` skips copying
        ``shape_masks`` (left as an empty (M, K, 0, 0) tensor) for speed."""
        out = {f.name: getattr(self, f.name)[idx] for f in fields(self)
               if with_masks or f.name != "shape_masks"}
        if not with_masks:
            out["shape_masks"] = self.shape_masks.new_zeros(len(idx), self.shape_masks.shape[1],
                                                            0, 0)
        return Scene(**out)


def compose(
    background: torch.Tensor,
    shape_masks: torch.Tensor,
    color_idx: torch.Tensor,
    palette: torch.Tensor,
) -> Scene:
    """Paint slot masks (N, K, H, W) bool in order over ``background`` (N, 3, H, W)."""
    colors = palette.gather(1, color_idx.clamp(min=0)[..., None].expand(-1, -1, 3))
    n, k, h, w = shape_masks.shape
    label = torch.full((n, h, w), -1, dtype=torch.long, device=background.device)
    for i in range(k):
        label = torch.where(shape_masks[:, i], i, label)
    image = recolor_by_label(background, label, colors)
    return Scene(image, background, (label >= 0).unsqueeze(1), shape_masks, colors, label,
                 color_idx, palette)


def recolor_by_label(base: torch.Tensor, label: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
    """Pixels with label >= 0 take ``colors[label]`` (colors (N, K, 3)); others keep ``base``."""
    n, h, w = label.shape
    idx = label.clamp(min=0).view(n, h * w, 1).expand(-1, -1, 3)
    painted = colors.gather(1, idx).transpose(1, 2).reshape(n, 3, h, w)
    return torch.where((label >= 0).unsqueeze(1), painted, base)


def render_background(p: SceneParams) -> torch.Tensor:
    """(N, 3, H, W) background layer: a blend field t in [0, 1] between bg_a and bg_b."""
    n, size, dev = p.bg_kind.shape[0], p.size, p.bg_kind.device
    ys, xs = grid(size, dev)
    t = torch.zeros(n, size, size, device=dev)
    for kind in range(1, len(BG_KINDS)):
        idx = torch.nonzero(p.bg_kind == kind).flatten()
        if idx.numel() == 0:
            continue
        d = p.bg_dir[idx]
        proj = (xs - size / 2) * d[:, 0, None, None] + (ys - size / 2) * d[:, 1, None, None]
        name = BG_KINDS[kind]
        if name == "linear":
            f = proj / size + 0.5
        elif name == "radial":
            c = size / 2 + d * size * 0.3
            r = torch.sqrt((xs - c[:, 0, None, None]) ** 2 + (ys - c[:, 1, None, None]) ** 2)
            f = r / (size * 0.8)
        elif name.startswith("noise"):
            g = {"noise_coarse": 3, "noise_mid": 6, "noise_fine": 14}[name]
            f = F.interpolate(p.bg_noise[idx, :, :g, :g], size=(size, size), mode="bicubic",
                              align_corners=False)[:, 0]
        elif name == "stripes":
            f = (torch.sin(proj * (2 * math.pi) / p.bg_freq[idx, None, None]) > 0).float()
        else:  # checker
            per = p.bg_freq[idx, None, None]
            f = ((torch.floor(xs / per) + torch.floor(ys / per)) % 2).float()
        t[idx] = f.clamp(0, 1)
    a = p.bg_a[:, :, None, None]
    return a + (p.bg_b[:, :, None, None] - a) * t.unsqueeze(1)


def _shape_mask(p: SceneParams, idx: torch.Tensor, k: int) -> torch.Tensor:
    """(M, H, W) bool masks of shape slot ``k`` for scenes ``idx``."""
    ys, xs = grid(p.size, p.kind.device)

    def g(t: torch.Tensor) -> torch.Tensor:
        return t[idx, k, None, None]

    dx, dy = xs - g(p.cx), ys - g(p.cy)
    c, s = torch.cos(g(p.phi)), torch.sin(g(p.phi))
    u = (c * dx + s * dy) / g(p.sx)
    v = (c * dy - s * dx) / g(p.sy)
    kind = g(p.kind)
    # rectangles: the square |u|, |v| <= 1 is a 4-gon of circumradius sqrt 2 turned by 45 deg
    is_rect = (kind == RECT) | (kind == ROT_RECT)
    scale = torch.where(is_rect, math.sqrt(2.0), 1.0)
    r = torch.sqrt(u * u + v * v) / scale
    theta = torch.atan2(v, u) - torch.where(is_rect, math.pi / 4, -math.pi / 2)
    alpha = math.pi / g(p.sides)
    t = torch.remainder(theta, 2 * alpha)
    t = torch.minimum(t, 2 * alpha - t)
    q = g(p.inner)
    qs = q * torch.sin(alpha)
    rho = qs / (qs * torch.cos(t) - (q * torch.cos(alpha) - 1.0) * torch.sin(t))
    round_ = (kind == CIRCLE) | (kind == ELLIPSE) | (kind == RING)
    rho = torch.where(round_, 1.0, rho)
    return (r <= rho) & (r >= g(p.hole) * rho)


def _stroke_mask(p: SceneParams, idx: torch.Tensor, k: int, segments: int = 4) -> torch.Tensor:
    """(M, H, W) bool: a thick quadratic curve, as a polyline of ``segments`` pieces."""
    ys, xs = grid(p.size, p.kind.device)
    pts = p.stroke_pts[idx, k]  # (M, 3, 2)
    ts = torch.linspace(0, 1, segments + 1, device=pts.device).view(1, -1, 1)
    curve = ((1 - ts) ** 2 * pts[:, :1] + 2 * (1 - ts) * ts * pts[:, 1:2] + ts**2 * pts[:, 2:])
    best = None
    for i in range(segments):
        ax, ay = curve[:, i, 0, None, None], curve[:, i, 1, None, None]
        ex = curve[:, i + 1, 0, None, None] - ax
        ey = curve[:, i + 1, 1, None, None] - ay
        dx, dy = xs - ax, ys - ay
        tt = ((dx * ex + dy * ey) / (ex * ex + ey * ey + 1e-6)).clamp(0, 1)
        d2 = (dx - tt * ex) ** 2 + (dy - tt * ey) ** 2
        best = d2 if best is None else torch.minimum(best, d2)
    w = p.stroke_width[idx, k, None, None]
    return best <= w * w


def render_masks(p: SceneParams) -> torch.Tensor:
    """(N, N_SLOTS, H, W) bool full masks of every present slot."""
    n, size = p.present.shape[0], p.size
    masks = torch.zeros(n, N_SLOTS, size, size, dtype=torch.bool, device=p.present.device)
    for k in range(N_SLOTS):
        idx = torch.nonzero(p.present[:, k]).flatten()
        if idx.numel() == 0:
            continue
        if k < N_SHAPES:
            masks[idx, k] = _shape_mask(p, idx, k)
        else:
            masks[idx, k] = _stroke_mask(p, idx, k - N_SHAPES)
    return masks


def render_scene(p: SceneParams) -> Scene:
    """Render every scene of ``p``."""
    return compose(render_background(p), render_masks(p), p.color_idx, p.palette)


def random_scenes(gen: torch.Generator, n: int, size: int = CELL) -> Scene:
    """``n`` independent random scenes (each with its own palette)."""
    return render_scene(sample_scene_params(gen, n, size=size))
