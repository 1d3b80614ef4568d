"""Visual task families: each maps a scene to an (input, output) cell pair.

Every family draws its parameters once per *episode* (``TaskSpec.sample``), and the same
parameters are applied to every example input and to the query, so the task can only be
read from the example pair(s). Some families also adjust the scene parameters before
rendering (``TaskSpec.prepare``), e.g. to make sure the target colour is visible in the
example.

Kinds: ``"mask"`` outputs are binary (scored by IoU; ``dark_fg`` marks black-on-white ink),
``"image"`` outputs are scored by PSNR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from visprompt_core.data import ops
from visprompt_core.data.procedural import (
    Scene,
    SceneParams,
    hsv_to_rgb,
    rand,
    randint,
    recolor_by_label,
    top_slots,
)

Params = dict[str, torch.Tensor]
Pair = tuple[torch.Tensor, torch.Tensor]
PERMS = ((1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (1, 0, 2))  # non-identity RGB orders


def _no_params(gen: torch.Generator, n: int) -> Params:
    return {}


@dataclass(frozen=True)
class TaskSpec:
    """One task family.

    apply(scene, params, gen) -> (input, output), both (N, 3, H, W) in [0, 1], where
    ``params`` holds the episode parameters repeated per scene (leading dim N), plus
    ``episode`` (N,) long (episode index within the call) and ``scene`` (N,) long (position
    in the episode: examples first, the query last).
    sample(gen, n_episodes) -> episode parameters (leading dim n_episodes).
    prepare(scene_params, params) adjusts the (already selected) scene parameters in place
    and may add derived per-scene entries to ``params`` that ``apply`` reads.
    """

    name: str
    kind: str
    apply: Callable[[Scene, Params, torch.Generator], Pair]
    sample: Callable[[torch.Generator, int], Params] = _no_params
    prepare: Callable[[SceneParams, Params], None] | None = None
    dark_fg: bool = False
    description: str = ""


# ------------------------------------------------------------------------- mask tasks


def _fg_mask(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.mask_to_image(s.fg)


def _visible_color_idx(s: Scene) -> torch.Tensor:
    """(N, H, W) palette index of the visible slot per pixel, -1 on background."""
    n, h, w = s.label.shape
    c = s.color_idx.gather(1, s.label.clamp(min=0).view(n, -1)).view(n, h, w)
    return torch.where(s.label >= 0, c, -1)


def _sample_color_target(g: torch.Generator, n: int) -> Params:
    return {"u_target": rand(g, n), "u_other": rand(g, n)}


def _prepare_color_mask(sp: SceneParams, p: Params) -> None:
    """At least two shapes; the topmost has the target colour, the next one another."""
    sp.present[:, 1] = True
    size = sp.palette_size
    target = (p["u_target"] * size).long()
    p["target"] = target  # read by _color_mask
    other = (target + 1 + (p["u_other"] * (size - 1)).long()) % size
    top, second = top_slots(sp.present)
    rows = torch.arange(top.shape[0], device=top.device)
    sp.color_idx[rows, second] = other
    sp.color_idx[rows, top] = target


def _color_mask(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.mask_to_image(_visible_color_idx(s) == p["target"].view(-1, 1, 1))


def _edges(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.mask_to_image(ops.boundary_lines(s.label), dark=True)


def _bbox(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.mask_to_image(ops.bbox_mask(s.fg))


def _sample_threshold(g: torch.Generator, n: int) -> Params:
    return {"quantile": rand(g, n, lo=0.25, hi=0.75)}


def _threshold(s: Scene, p: Params, g: torch.Generator) -> Pair:
    """White where luma > threshold. Unless ``threshold`` (N,) is given, the episode's
    threshold lies between a random quantile of its first example's luma and the next
    distinct luma value there, so the example always shows both sides."""
    lum = ops.luminance(s.image)
    thr = p.get("threshold")
    if thr is None:
        first = p["scene"] == 0
        vals = lum[first].flatten(1).sort(dim=1).values
        pos = (p["quantile"][first] * (vals.shape[1] - 1)).long()
        at = vals.gather(1, pos[:, None])
        above = torch.where(vals > at, vals, torch.inf).amin(dim=1, keepdim=True)
        below = torch.where(vals < at, vals, -torch.inf).amax(dim=1, keepdim=True)
        thr = torch.where(above.isinf(), (at + below) / 2, (at + above) / 2)
        thr = torch.where(thr.isinf(), at, thr)[:, 0][p["episode"]]
    return s.image, ops.mask_to_image(lum > thr.view(-1, 1, 1, 1))


# ------------------------------------------------------------------------ image tasks


def _invert(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.invert(s.image)


def _greyscale(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.greyscale(s.image)


def _sample_perm(g: torch.Generator, n: int) -> Params:
    table = torch.tensor(PERMS, device=g.device)
    return {"perm": table[randint(g, 0, len(PERMS), n)]}


def _channel_permute(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.permute_channels(s.image, p["perm"])


def _sample_hue(g: torch.Generator, n: int) -> Params:
    return {"angle": rand(g, n, lo=math.pi / 3, hi=5 * math.pi / 3)}


def _hue_shift(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.apply_color_matrix(s.image, ops.hue_matrix(p["angle"]))


def _prepare_swap(sp: SceneParams, p: Params) -> None:
    """Two-colour palette; the two topmost shapes show both colours."""
    sp.palette_size[:] = 2
    sp.present[:, 1] = True
    sp.color_idx %= 2
    top, second = top_slots(sp.present)
    rows = torch.arange(top.shape[0], device=top.device)
    first = (p["u_first"] * 2).long()
    sp.color_idx[rows, second] = 1 - first
    sp.color_idx[rows, top] = first


def _swap_colors(s: Scene, p: Params, g: torch.Generator) -> Pair:
    swapped = s.palette.gather(1, (1 - s.color_idx.clamp(0, 1))[..., None].expand(-1, -1, 3))
    return s.image, recolor_by_label(s.image, s.label, swapped)


def _sample_color(g: torch.Generator, n: int) -> Params:
    rgb = hsv_to_rgb(rand(g, n), rand(g, n, lo=0.5, hi=1.0), rand(g, n, lo=0.5, hi=1.0))
    return {"color": rgb}


def _recolor(s: Scene, p: Params, g: torch.Generator) -> Pair:
    out = torch.where(s.fg, p["color"].view(-1, 3, 1, 1), s.image)
    return s.image, out


def _sample_levels(g: torch.Generator, n: int) -> Params:
    return {"levels": randint(g, 2, 5, n)}


def _posterize(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.posterize(s.image, p["levels"])


def _sample_sigma(g: torch.Generator, n: int) -> Params:
    return {"sigma": rand(g, n, lo=1.5, hi=3.5)}


def _blur(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.gaussian_blur(s.image, p["sigma"], radius=11)


def _sample_noise(g: torch.Generator, n: int) -> Params:
    return {"noise": rand(g, n, lo=0.08, hi=0.25)}


def _denoise(s: Scene, p: Params, g: torch.Generator) -> Pair:
    noise = torch.randn(s.image.shape, generator=g, device=g.device)
    noisy = (s.image + noise * p["noise"].view(-1, 1, 1, 1)).clamp(0, 1)
    return noisy, s.image


def _hflip(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, s.image.flip(-1)


def _vflip(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, s.image.flip(-2)


def _sample_rot(g: torch.Generator, n: int) -> Params:
    return {"k": 1 + 2 * randint(g, 0, 2, n)}  # 90 deg counter-clockwise or clockwise


def _rotate90(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, ops.rot90(s.image, p["k"])


def _outline_to_fill(s: Scene, p: Params, g: torch.Generator) -> Pair:
    outline = ops.inner_outline(s.label, width=3)
    lines = torch.where(outline, s.label, -1)
    return recolor_by_label(s.background, lines, s.shape_colors), s.image


def _remove_background(s: Scene, p: Params, g: torch.Generator) -> Pair:
    return s.image, torch.where(s.fg, s.image, torch.ones_like(s.image))


_SPECS = (
    TaskSpec("fg_mask", "mask", _fg_mask, description="white shapes on black"),
    TaskSpec("color_mask", "mask", _color_mask, _sample_color_target, _prepare_color_mask,
             description="white where the shapes have the episode's target colour"),
    TaskSpec("edges", "mask", _edges, dark_fg=True,
             description="line art: 3-px black shape boundaries on white"),
    TaskSpec("bbox", "mask", _bbox, description="filled white bounding box of all shapes"),
    TaskSpec("threshold", "mask", _threshold, _sample_threshold,
             description="white where luma exceeds the episode's threshold"),
    TaskSpec("invert", "image", _invert, description="colour inversion 1 - x"),
    TaskSpec("greyscale", "image", _greyscale, description="BT.601 luma"),
    TaskSpec("channel_permute", "image", _channel_permute, _sample_perm,
             description="RGB channels reordered by the episode's permutation"),
    TaskSpec("hue_shift", "image", _hue_shift, _sample_hue,
             description="hue rotation about the grey axis by 60..300 degrees"),
    TaskSpec("swap_colors", "image", _swap_colors, prepare=_prepare_swap,
             sample=lambda g, n: {"u_first": rand(g, n)},
             description="the two shape colours of the episode swapped"),
    TaskSpec("recolor", "image", _recolor, _sample_color,
             description="every shape filled with the episode's colour"),
    TaskSpec("posterize", "image", _posterize, _sample_levels,
             description="2..4 levels per channel"),
    TaskSpec("blur", "image", _blur, _sample_sigma, description="Gaussian blur, sigma 1.5..3.5"),
    TaskSpec("denoise", "image", _denoise, _sample_noise,
             description="input has Gaussian noise (sigma 0.08..0.25), output is clean"),
    TaskSpec("hflip", "image", _hflip, description="mirror left-right"),
    TaskSpec("vflip", "image", _vflip, description="mirror top-bottom"),
    TaskSpec("rotate90", "image", _rotate90, _sample_rot,
             description="rotate by 90 degrees, direction per episode"),
    TaskSpec("outline_to_fill", "image", _outline_to_fill,
             description="input shows 3-px coloured outlines, output the filled shapes"),
    TaskSpec("remove_background", "image", _remove_background,
             description="shapes kept, background replaced by white"),
)

TASKS: dict[str, TaskSpec] = {s.name: s for s in _SPECS}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
MASK_TASKS: tuple[str, ...] = tuple(n for n, s in TASKS.items() if s.kind == "mask")
IMAGE_TASKS: tuple[str, ...] = tuple(n for n, s in TASKS.items() if s.kind == "image")
