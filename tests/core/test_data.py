"""Synthetic episode data: determinism, seed ranges, task ground truths, layouts, metrics."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from visprompt_core.canvas import LAYOUT_2X2, LAYOUT_3X2, crop_answer
from visprompt_core.data import ops
from visprompt_core.data.episodes import (
    EVAL_SEED_BASE,
    check_train_seed,
    episode_seed,
    generate_batch,
)
from visprompt_core.data.metrics import iou, per_task, psnr, score
from visprompt_core.data.procedural import CELL, N_SLOTS, compose, random_scenes
from visprompt_core.data.tasks import IMAGE_TASKS, MASK_TASKS, TASK_NAMES, TASKS
from visprompt_core.errors import InputError

H = 16


def _scene_with_rect(top=4, left=5, bottom=10, right=12, color=(1.0, 0.0, 0.0), bg=0.5):
    """One 16x16 scene: flat grey background, one rectangle of ``color`` in slot 0."""
    masks = torch.zeros(1, N_SLOTS, H, H, dtype=torch.bool)
    masks[0, 0, top:bottom, left:right] = True
    palette = torch.tensor([[color, (0.0, 0.0, 1.0)]])
    cidx = torch.zeros(1, N_SLOTS, dtype=torch.long)
    return compose(torch.full((1, 3, H, H), bg), masks, cidx, palette)


def _apply(name, scene, **params):
    return TASKS[name].apply(scene, params, torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------- determinism


def test_same_seed_same_batch_and_different_seeds_differ():
    a = generate_batch(8, 123)
    b = generate_batch(8, 123)
    c = generate_batch(8, 124)
    for field in ("canvas", "target", "task_ids", "examples_in", "answer"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.canvas, c.canvas)
    assert a.seed == 123


def test_generator_argument_is_used():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(generate_batch(4, g1).target, generate_batch(4, g2).target)


def test_seed_ranges_never_overlap():
    assert episode_seed("train", 0) == 0
    assert episode_seed("eval", 0) == EVAL_SEED_BASE
    assert episode_seed("eval", 7) > episode_seed("train", 10**9)
    with pytest.raises(InputError):
        check_train_seed(EVAL_SEED_BASE + 3)
    with pytest.raises(InputError):
        episode_seed("train", EVAL_SEED_BASE)
    with pytest.raises(InputError):
        generate_batch(2, episode_seed("eval", 1), split="train")
    with pytest.raises(InputError):
        episode_seed("test", 0)
    assert check_train_seed(42) == 42


def test_bad_arguments():
    with pytest.raises(InputError):
        generate_batch(0, 1)
    with pytest.raises(InputError):
        generate_batch(2, 1, tasks=["nope"])
    with pytest.raises(InputError):
        generate_batch(2, -1)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", [LAYOUT_2X2, LAYOUT_3X2])
def test_batch_shapes_ranges_and_layout(layout):
    n = len(TASK_NAMES)
    b = generate_batch(n, 7, layout=layout, background=1.0)
    c = layout.cell_size[0]
    assert b.canvas.shape == b.target.shape == (n, 3, 224, 224)
    assert b.canvas.dtype == torch.float32 and b.task_ids.dtype == torch.long
    assert b.examples_in.shape == b.examples_out.shape == (n, layout.n_pairs, 3, c, c)
    assert b.query.shape == b.answer.shape == (n, 3, c, c)
    for t in (b.canvas, b.target, b.examples_in, b.examples_out, b.query, b.answer):
        assert t.min() >= 0 and t.max() <= 1 and torch.isfinite(t).all()
    assert torch.all(crop_answer(b.canvas, layout) == 1.0)
    assert torch.equal(crop_answer(b.target, layout), b.answer)
    rows, cols = layout.query.slices()
    assert torch.equal(b.canvas[:, :, rows, cols], b.query)
    rows, cols = layout.pairs[-1][1].slices()
    assert torch.equal(b.target[:, :, rows, cols], b.examples_out[:, -1])
    # every family appears exactly once when n == number of families
    assert sorted(b.task_ids.tolist()) == list(range(n))
    assert len(b.names) == n and set(b.names) == set(TASK_NAMES)


def test_balanced_task_selection_and_mask_outputs_are_binary():
    b = generate_batch(10, 3, tasks=["fg_mask", "bbox"])
    counts = torch.bincount(b.task_ids, minlength=len(TASK_NAMES))
    assert counts[TASK_NAMES.index("fg_mask")] == 5 and counts[TASK_NAMES.index("bbox")] == 5
    assert b.is_mask.all()
    vals = torch.unique(b.answer)
    assert set(vals.tolist()) <= {0.0, 1.0}
    assert b.answer.flatten(1).amax(1).eq(1).all()  # some foreground in every answer


def test_registry():
    assert len(TASKS) >= 12
    assert set(MASK_TASKS) | set(IMAGE_TASKS) == set(TASK_NAMES)
    assert not set(MASK_TASKS) & set(IMAGE_TASKS)
    assert {TASKS[n].kind for n in TASK_NAMES} == {"mask", "image"}


# --------------------------------------------------------------- procedural scenes


def test_scenes_consistent():
    g = torch.Generator().manual_seed(0)
    s = random_scenes(g, 16)
    assert s.image.shape == (16, 3, CELL, CELL)
    assert torch.equal(s.fg[:, 0], s.shape_masks.any(dim=1))
    assert torch.equal(s.fg[:, 0], s.label >= 0)
    assert s.fg.flatten(1).any(1).all()  # at least one shape everywhere
    # visible shape pixels carry the slot's colour, background pixels the background layer
    lab = s.label[0]
    for k in lab.unique().tolist():
        px = s.image[0][:, lab == k]
        ref = s.background[0][:, lab == k] if k < 0 else s.shape_colors[0, k, :, None]
        assert torch.allclose(px, ref.expand_as(px))


# --------------------------------------------------------------- task ground truths


def test_geometric_and_colour_tasks_on_known_tensor():
    s = _scene_with_rect()
    x = s.image
    assert torch.equal(_apply("hflip", s)[1], x.flip(-1))
    assert torch.equal(_apply("vflip", s)[1], x.flip(-2))
    assert torch.equal(_apply("invert", s)[1], 1 - x)
    rot = _apply("rotate90", s, k=torch.tensor([1]))[1]
    assert torch.equal(rot[0, :, 0, :], x[0, :, :, -1])  # CCW: top row = old right column
    grey = _apply("greyscale", s)[1]
    assert torch.allclose(grey[0, :, 5, 6], torch.full((3,), 0.299))
    assert torch.allclose(grey[0, :, 0, 0], torch.full((3,), 0.5))
    perm = _apply("channel_permute", s, perm=torch.tensor([[2, 0, 1]]))[1]
    assert torch.allclose(perm[0, :, 5, 6], torch.tensor([0.0, 1.0, 0.0]))
    post = _apply("posterize", s, levels=torch.tensor([3]))[1]
    assert torch.equal(post[0, :, 0, 0], torch.full((3,), 0.5))
    thr = _apply("threshold", s, threshold=torch.tensor([0.4]))[1]
    assert thr[0, 0, 0, 0] == 1 and thr[0, 0, 5, 6] == 0  # grey 0.5 > 0.4 > red's 0.299


def test_hue_shift_by_a_third_turn_cycles_channels():
    s = _scene_with_rect()
    out = _apply("hue_shift", s, angle=torch.tensor([2 * math.pi / 3]))[1]
    assert torch.allclose(out[0, :, 5, 6], torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)
    assert torch.allclose(out[0, :, 0, 0], torch.full((3,), 0.5), atol=1e-5)


def test_mask_tasks_on_known_rectangle():
    s = _scene_with_rect(top=4, left=5, bottom=10, right=12)
    fg = _apply("fg_mask", s)[1]
    expect = torch.zeros(H, H)
    expect[4:10, 5:12] = 1
    assert torch.equal(fg[0, 0], expect) and torch.equal(fg[0, 1], expect)
    assert torch.equal(_apply("bbox", s)[1][0, 0], expect)
    cm = _apply("color_mask", s, target=torch.tensor([0]))[1]
    assert torch.equal(cm[0, 0], expect)
    assert _apply("color_mask", s, target=torch.tensor([1]))[1].sum() == 0
    edges = _apply("edges", s)[1][0, 0]  # black ink on white
    assert edges[0, 0] == 1 and edges[7, 8] == 1  # far outside, deep inside
    for r, c in [(3, 8), (4, 8), (5, 8), (9, 8), (10, 8), (11, 8), (7, 4), (7, 5), (7, 12)]:
        assert edges[r, c] == 0, (r, c)
    ink = (edges == 0).float()
    assert set(ink.sum(0)[7:11].tolist()) == {6.0}  # 3 px across top and bottom edges
    assert set(ink.sum(1)[6:9].tolist()) == {6.0}  # 3 px across left and right edges


def test_bbox_of_two_shapes_and_empty():
    fg = torch.zeros(2, H, H, dtype=torch.bool)
    fg[0, 2, 3] = True
    fg[0, 9:11, 12] = True
    box = ops.bbox_mask(fg)
    assert box[0].sum() == (10 - 2 + 1) * (12 - 3 + 1)
    assert box[0, 2:11, 3:13].all()
    assert not box[1].any()


def test_recolor_swap_remove_background_outline():
    s = _scene_with_rect(color=(1.0, 0.0, 0.0))
    new = _apply("recolor", s, color=torch.tensor([[0.0, 1.0, 0.0]]))[1]
    assert torch.equal(new[0, :, 5, 6], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(new[0, :, 0, 0], s.image[0, :, 0, 0])
    sw = _apply("swap_colors", s)[1]
    assert torch.equal(sw[0, :, 5, 6], torch.tensor([0.0, 0.0, 1.0]))  # palette[1]
    rb = _apply("remove_background", s)[1]
    assert torch.all(rb[0, :, 0, 0] == 1) and torch.equal(rb[0, :, 5, 6], s.image[0, :, 5, 6])
    s = _scene_with_rect(top=1, left=1, bottom=15, right=15)
    inp, out = _apply("outline_to_fill", s)
    assert torch.equal(out, s.image)
    assert torch.equal(inp[0, :, 1, 1], torch.tensor([1.0, 0.0, 0.0]))  # on the outline
    assert torch.equal(inp[0, :, 3, 8], torch.tensor([1.0, 0.0, 0.0]))  # 3rd px in
    assert torch.equal(inp[0, :, 4, 8], torch.full((3,), 0.5))  # interior shows background


def test_blur_and_denoise():
    flat = torch.full((2, 3, 20, 20), 0.3)
    assert torch.allclose(ops.gaussian_blur(flat, torch.tensor([1.5, 3.0])), flat, atol=1e-6)
    s = _scene_with_rect()
    out = _apply("blur", s, sigma=torch.tensor([2.0]))[1]
    assert out[0, 0, 7, 8] < 1 and out[0, 0, 0, 0] > 0.5  # edge smeared both ways
    assert torch.allclose(out.mean(), s.image.mean(), atol=0.02)
    inp, out = _apply("denoise", s, noise=torch.tensor([0.2]))
    assert torch.equal(out, s.image)
    assert 0.1 < (inp - s.image).std() < 0.3


# ------------------------------------------- example and query share episode parameters


def _pairs(name, layout=LAYOUT_2X2, n=4, seed=11):
    b = generate_batch(n, seed, layout=layout, tasks=[name])
    return b.examples_in[:, 0], b.examples_out[:, 0], b.query, b.answer


def test_channel_permute_shared_in_episode():
    ex_in, ex_out, q, a = _pairs("channel_permute")
    for i in range(len(q)):
        found = [p for p in itertools.permutations(range(3))
                 if torch.equal(ex_in[i, list(p)], ex_out[i])]
        assert found, "no permutation explains the example"
        assert any(torch.equal(q[i, list(p)], a[i]) for p in found)


def test_hue_shift_shared_in_episode():
    ex_in, ex_out, q, a = _pairs("hue_shift")
    for i in range(len(q)):
        x, y = ex_in[i].reshape(3, -1).T, ex_out[i].reshape(3, -1).T
        ok = ((y > 0.02) & (y < 0.98)).all(1)
        m = torch.linalg.lstsq(x[ok].double(), y[ok].double()).solution.float()  # y = x m
        pred = (q[i].reshape(3, -1).T @ m).clamp(0, 1)
        assert (pred - a[i].reshape(3, -1).T).abs().max() < 1e-3


def test_posterize_and_threshold_shared_in_episode():
    ex_in, ex_out, q, a = _pairs("posterize")
    for i in range(len(q)):
        shared = [lv for lv in (2, 3, 4)
                  if torch.allclose(ops.posterize(ex_in[i : i + 1], torch.tensor([lv]))[0],
                                    ex_out[i])
                  and torch.allclose(ops.posterize(q[i : i + 1], torch.tensor([lv]))[0], a[i])]
        assert shared
    ex_in, ex_out, q, a = _pairs("threshold")
    for i in range(len(q)):
        lum_e, lum_q = ops.luminance(ex_in[i : i + 1])[0, 0], ops.luminance(q[i : i + 1])[0, 0]
        lo = lum_e[ex_out[i, 0] == 0].max()
        hi = lum_e[ex_out[i, 0] == 1].min()
        assert lo < hi
        sure = (lum_q > hi) | (lum_q <= lo)
        assert torch.equal(a[i, 0][sure] == 1, (lum_q > hi)[sure])


def test_color_mask_target_visible_in_example_and_query():
    ex_in, ex_out, q, a = _pairs("color_mask", n=6)
    for i in range(len(q)):
        on_e, on_q = ex_out[i, 0] == 1, a[i, 0] == 1
        assert on_e.any() and on_q.any()
        assert (~on_e & (ex_in[i].sum(0) >= 0)).any()  # not everything is the target
        col_e = ex_in[i][:, on_e].unique(dim=1)
        col_q = q[i][:, on_q].unique(dim=1)
        assert col_e.shape[1] == 1 and torch.equal(col_e, col_q)


def test_swap_colors_consistent_in_episode():
    ex_in, ex_out, q, a = _pairs("swap_colors", n=4)
    for i in range(len(q)):
        changed = (ex_in[i] != ex_out[i]).any(0)
        before = ex_in[i][:, changed].unique(dim=1)
        after = ex_out[i][:, changed].unique(dim=1)
        assert before.shape[1] == 2 and after.shape[1] == 2
        q_changed = (q[i] != a[i]).any(0)
        assert torch.equal(q[i][:, q_changed].unique(dim=1), before)


def test_3x2_is_deterministic():
    a = generate_batch(6, 5, layout=LAYOUT_3X2)
    b = generate_batch(6, 5, layout=LAYOUT_3X2)
    assert torch.equal(a.target, b.target)
    assert a.examples_in.shape[1] == 2


# --------------------------------------------------------------------------- metrics


def test_metrics():
    x = torch.zeros(3, 3, 8, 8)
    x[0, :, :4] = 1
    y = x.clone()
    y[1, :, :4] = 1
    y[2, :, 4:] = 1
    x[2, :, :4] = 1
    v = iou(x, y)
    assert torch.allclose(v, torch.tensor([1.0, 0.0, 0.0]))  # sample 1: pred empty
    assert iou(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)).item() == 1.0
    ink = torch.ones(1, 3, 8, 8)
    ink[0, :, 2] = 0
    assert iou(ink, ink, dark_fg=True).item() == 1.0
    assert iou(ink, torch.ones(1, 3, 8, 8), dark_fg=torch.tensor([True])).item() == 0.0
    p = psnr(torch.full((1, 3, 4, 4), 0.1), torch.zeros(1, 3, 4, 4))
    assert torch.allclose(p, torch.tensor([20.0]))
    assert torch.all(psnr(x, x) == 100.0)
    b = generate_batch(len(TASK_NAMES), 1)
    s = score(b.answer, b.answer, b.task_ids)
    assert torch.all(s[b.is_mask] == 1) and torch.all(s[~b.is_mask] == 100)
    baseline = per_task(score(b.query, b.answer, b.task_ids), b.task_ids)
    assert set(baseline) == set(TASK_NAMES)
