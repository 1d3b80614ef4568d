"""Query detail transfer: the box filter, the colour gains, the recipe in the pipeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from visprompt_core import canvas as cv
from visprompt_core.boxfilter import box_mean
from visprompt_core.colour_map import apply_colour_maps, fit_colour_maps
from visprompt_core.data import ops
from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import iou, psnr
from visprompt_core.detail import (
    CONTRAST_EPS,
    CONTRAST_RADIUS,
    CONTRAST_WINDOW,
    GATE_HIGH,
    GATE_LOW,
    local_contrast,
    pointwise_fit,
    refine_answers,
    transfer_detail,
    transfer_plan,
    transfer_weight,
)
from visprompt_core.errors import InputError
from visprompt_core.evaluation import predict_answers
from visprompt_core.linear_filter import (
    apply_linear_filter,
    filter_fit,
    filter_weight,
    fit_linear_filter,
    stack_pairs,
)
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import PromptRequest, VisualPrompter


def texture(seed: int, size: int = 64) -> torch.Tensor:
    """(1, 3, size, size) in [0, 1]: smooth colour regions with fine noise on top."""
    gen = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(1, 3, 4, 4, generator=gen), size=(size, size),
                           mode="bilinear", align_corners=False)
    fine = 0.15 * (torch.rand(1, 3, size, size, generator=gen) - 0.5)
    return (coarse * 0.7 + 0.15 + fine).clamp(0, 1)


def blurred(x: torch.Tensor) -> torch.Tensor:
    """What a lossy tokenizer might make of ``x``: the fine detail gone."""
    return box_mean(x, 2)


@pytest.mark.parametrize("task", ["identity", "invert", "greyscale", "swap red and blue"])
def test_colour_tasks_get_the_query_detail_back(task: str) -> None:
    """The answer is the task applied to the detail-less query: the transfer brings the
    answer to the task applied to the query itself, far closer than before."""
    def apply(x: torch.Tensor) -> torch.Tensor:
        if task == "invert":
            return 1 - x
        if task == "greyscale":
            return x.mean(1, keepdim=True).expand_as(x)
        if task == "swap red and blue":
            return x.flip(1)
        return x

    query = texture(1)
    seen = blurred(query)
    answer = apply(seen)
    truth = apply(query)
    refined = transfer_detail(answer, seen, query, radius=8, eps=1e-4)
    before, after = float(psnr(answer, truth)), float(psnr(refined, truth))
    assert after > before + 8.0, (before, after)
    assert after > 38.0, after


def test_the_example_pair_decides_how_much_detail(tiny_model: MAEVQGAN) -> None:
    """An example pair that recolours in place fits a local colour map (transfer at full
    weight); one that moves the picture does not (no transfer: the answers stay as
    decoded; a mirror is answered by ``symmetry``, so the move here is a shift)."""
    images = generate_batch(8, episode_seed("eval", 9)).query
    inverted = pointwise_fit(images, 1 - images, 12, 3e-4)
    shifted = images.roll(37, -1)
    moved = pointwise_fit(images, shifted, 12, 3e-4)
    assert bool((inverted > GATE_HIGH).all()), inverted
    assert bool((moved < GATE_LOW).all()), moved
    assert torch.equal(transfer_weight(inverted), torch.ones(8))
    assert torch.equal(transfer_weight(moved), torch.zeros(8))
    assert torch.allclose(transfer_weight(torch.tensor([GATE_LOW, 0.6, GATE_HIGH])),
                          torch.tensor([0.0, 0.5, 1.0]))
    query, answers = images.roll(1, 0), torch.rand(8, 3, 111, 111)
    layout = cv.LAYOUT_2X2
    with torch.inference_mode():
        tiny_model.model_config = replace(tiny_model.model_config, detail_radius=12)
        try:
            shift = cv.place_cells([images, shifted, query], layout)
            assert torch.equal(refine_answers(tiny_model, shift, answers, layout), answers)
            invert = cv.place_cells([images, 1 - images, query], layout)
            changed = refine_answers(tiny_model, invert, answers, layout)
        finally:
            tiny_model.model_config = replace(tiny_model.model_config, detail_radius=None)
    assert bool(((changed - answers).abs().flatten(1).mean(1) > 1e-3).all())


def test_mask_edges_follow_the_query() -> None:
    """A soft mask of a disc (as a lossy tokenizer draws it) becomes crisp along the
    disc's outline in the query."""
    size = 64
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - 30.5) ** 2 + (xx - 33.5) ** 2 < 18.0 ** 2).float()
    query = torch.stack([0.2 + 0.6 * disc, 0.5 - 0.3 * disc, 0.4 + 0 * disc])[None]
    seen = blurred(blurred(query))
    answer = blurred(blurred(disc.expand(1, 3, size, size)))  # the mask, as soft
    truth = disc.expand(1, 3, size, size)
    refined = transfer_detail(answer, seen, query, radius=8, eps=3e-4)
    before, after = float(psnr(answer, truth)), float(psnr(refined, truth))
    assert after > before + 10.0, (before, after)


def test_local_contrast_is_a_band_along_colour_changes() -> None:
    x = torch.full((1, 3, 12, 16), 0.25)
    assert torch.equal(local_contrast(x), torch.zeros(1, 1, 12, 16))  # flat: none
    x[:, 1, :, 7:] = 0.75  # a step between columns 6 and 7, in green only
    contrast = local_contrast(x)[0, 0]
    band = (contrast > 0).any(0).nonzero().flatten().tolist()
    assert len(band) == CONTRAST_WINDOW - 1 and band[0] <= 6 < 7 <= band[-1], band
    assert torch.allclose(contrast[:, band], torch.full((12, len(band)), 0.5))


def shapes_scene(seed: int, size: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 3, size, size) discs of random colours on a textured ground, and their line
    art: 3-px black boundaries on white (as the synthetic ``edges`` family draws them)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    label = torch.full((size, size), -1)
    image = texture(seed, size)[0].clone()
    for index in range(4):
        cy, cx = (torch.rand(2, generator=gen) * (size - 30) + 15).tolist()
        radius = float(torch.rand(1, generator=gen)) * 10 + 8
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < radius ** 2
        label[inside] = index
        image[:, inside] = torch.rand(3, 1, generator=gen)
    lines = ops.mask_to_image(ops.boundary_lines(label[None]), dark=True)
    return image[None], lines.float()


def test_line_art_comes_back_through_the_contrast_channel() -> None:
    """Faint, soft line art (as a lossy tokenizer draws it) of a detail-less query:
    carried through colours and contrast, its lines come out dark on the query's
    boundaries; colours alone cannot draw them."""
    for seed in range(3):
        query, truth = shapes_scene(seed)
        seen = blurred(query)
        answer = 1 - 0.6 * (1 - blurred(truth))  # the lines mostly lighter than mid-grey
        lines = transfer_detail(answer, seen, query, radius=12, eps=3e-4, contrast=True)
        colours = transfer_detail(answer, seen, query, radius=12, eps=3e-4)
        scores = [float(iou(x, truth, dark_fg=True)) for x in (answer, lines, colours)]
        assert scores[0] < 0.3 and scores[1] > 0.9 and scores[2] < 0.3, scores


def test_the_plan_sends_line_art_through_the_contrast_channel() -> None:
    scenes = [shapes_scene(seed) for seed in range(4)]
    images = torch.cat([image for image, _ in scenes])
    lines = torch.cat([art for _, art in scenes])
    weight, contrast = transfer_plan(images, lines, 12, 3e-4)
    assert torch.equal(weight, torch.ones(4)) and bool(contrast.all()), (weight, contrast)
    weight, contrast = transfer_plan(images, 1 - images, 12, 3e-4)  # colours fit
    assert torch.equal(weight, torch.ones(4)) and not bool(contrast.any())
    weight, contrast = transfer_plan(images, images.flip(-1), 12, 3e-4)  # neither does
    assert torch.equal(weight, torch.zeros(4)) and not bool(contrast.any())
    assert bool((pointwise_fit(images, lines, 12, 3e-4, contrast=True) >
                 pointwise_fit(images, lines, 12, 3e-4) + 0.3).all())


def test_transfer_checks_its_input() -> None:
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="equal"):
        transfer_detail(x, x[..., :7], x, 2, 1e-3)
    with pytest.raises(ValueError, match="eps"):
        transfer_detail(x, x, x, 2, 0.0)


def test_reconstruct_region_tokenizes_the_covering_patches_alone(tiny_model: MAEVQGAN
                                                                 ) -> None:
    canvas = torch.rand(2, 3, 224, 224)
    rows, cols = cv.LAYOUT_2X2.query.slices()  # rows 113..223, cols 0..110
    with torch.inference_mode():
        seen = tiny_model.reconstruct_region(canvas, rows, cols)
        block = canvas[:, :, 112:224, 0:112]
        ids = tiny_model.tokenize(block).view(2, 7, 7)
        whole = (tiny_model.vae.decode_tokens(ids).clamp(-1, 1) + 1) / 2
    assert seen.shape == (2, 3, 111, 111)
    torch.testing.assert_close(seen, whole[:, :, 1:112, 0:111])


def with_detail(model: MAEVQGAN, radius: int | None) -> MAEVQGAN:
    model.model_config = replace(model.model_config, detail_radius=radius)
    return model


def test_the_recipe_decides_and_the_pipeline_follows(tiny_model: MAEVQGAN) -> None:
    episodes = generate_batch(4, episode_seed("eval", 7), tasks=["invert", "greyscale",
                                                                 "hflip", "edges"])
    try:
        with torch.inference_mode():
            raw = predict_answers(with_detail(tiny_model, None), episodes)
            assert torch.equal(predict_answers(tiny_model, episodes), raw)  # recipe: off
            refined = predict_answers(with_detail(tiny_model, 6), episodes)
            assert torch.equal(predict_answers(tiny_model, episodes, detail_transfer=False),
                               raw)
            seen = tiny_model.reconstruct_region(episodes.canvas,
                                                 *cv.LAYOUT_2X2.query.slices())
            eps = tiny_model.model_config.detail_eps
            example_in, example_out = episodes.examples_in[:, 0], episodes.examples_out[:, 0]
            weight, contrast = transfer_plan(example_in, example_out, 6, eps)
            linear = fit_linear_filter(example_in, example_out)
            takeover = filter_weight(filter_fit(linear, example_in, example_out),
                                     pointwise_fit(example_in, example_out, 6, eps))
            # 1 - x is a linear filter: the inversion's answer is the filtered query.
            assert takeover.tolist() == [float(name == "invert") for name in episodes.names]
            task = {name: i for i, name in enumerate(episodes.names)}
            assert weight[task["invert"]] == weight[task["greyscale"]] == 1.0
            assert weight[task["hflip"]] < 1  # less, if any
            assert contrast.tolist() == [name == "edges" for name in episodes.names]
            expected = transfer_detail(raw, seen, episodes.query, 6, eps, weight)
            lines = slice(task["edges"], task["edges"] + 1)
            expected[lines] = transfer_detail(raw[lines], seen[lines], episodes.query[lines],
                                              CONTRAST_RADIUS, CONTRAST_EPS, weight[lines],
                                              contrast=True)
            inverted = slice(task["invert"], task["invert"] + 1)
            expected[inverted] = apply_linear_filter(linear.select(inverted),
                                                     episodes.query[inverted]).clamp(0, 1)
            # Greyscale is a pointwise colour map (an inversion too, but its filter wins).
            maps = fit_colour_maps(*stack_pairs(example_in, example_out))
            assert maps.explains().tolist() == [name in ("invert", "greyscale")
                                                for name in episodes.names]
            grey = torch.tensor([task["greyscale"]])
            expected[grey] = apply_colour_maps(maps.select(grey), episodes.query[grey],
                                               expected[grey])
            # The mirror is a symmetry (``symmetry``): its answer is the query mirrored.
            expected[task["hflip"]] = episodes.query[task["hflip"]].flip(-1)
            torch.testing.assert_close(refined, expected)
            assert float(psnr(refined[inverted], 1 - episodes.query[inverted])) > 40
            assert torch.equal(refine_answers(tiny_model, episodes.canvas, raw,
                                              cv.LAYOUT_2X2), refined)
        prompter = VisualPrompter(tiny_model, device="cpu")
        assert prompter.info()["detail_transfer"] is True
        pil = cv.tensor_to_pil
        i = task["invert"]
        pair = (pil(episodes.examples_in[i, 0]), pil(episodes.examples_out[i, 0]))
        request = PromptRequest([pair], pil(episodes.query[i]), answer_size=(111, 111),
                                upscale="bicubic")
        on = cv.pil_to_tensor(prompter.prompt_batch([request])[0])
        assert float((on - refined[i]).abs().mean()) < 0.01  # 8-bit images in the pipeline
        prompter.detail_transfer = False
        assert prompter.info()["detail_transfer"] is False
        off = cv.pil_to_tensor(prompter.prompt_batch([request])[0])
        assert float((off - raw[i]).abs().mean()) < 0.01
        assert float((on - off).abs().mean()) > 0.01
        # A request's own choice wins over the prompter's, either way; tiles keep it.
        asked = cv.pil_to_tensor(prompter.prompt_batch([replace(request, detail=True)])[0])
        assert torch.equal(asked, on)
        prompter.detail_transfer = True
        refused = cv.pil_to_tensor(prompter.prompt_batch([replace(request, detail=False)])[0])
        assert torch.equal(refused, off)
        tiled = replace(request, answer_size=(300, 200), upscale="tiled", tile=128)
        tiles_off = prompter.prompt_batch([replace(tiled, detail=False)])[0]
        assert tiles_off != prompter.prompt_batch([tiled])[0]
        with pytest.raises(InputError, match="detail"):
            prompter.prompt_batch([replace(request, detail="yes")])
    finally:
        with_detail(tiny_model, None)


def test_cli_no_detail(tmp_path: Path) -> None:
    """``visprompt run`` on a bundled colour sample: the default answer carries the
    query's detail, ``--no-detail`` gives it as decoded; ``eval`` records the choice."""
    import json

    from visprompt_core import cli
    from visprompt_core.demo import SAMPLES

    files = [str(SAMPLES / f"greyscale_{part}.png")
             for part in ("example_in", "example_out", "query")]
    answers = {}
    for flag in ([], ["--no-detail"]):
        out = tmp_path / f"answer{len(flag)}.png"
        code = cli.main(["run", "--example", *files[:2], "--query", files[2], "-o", str(out),
                         "--device", "cpu", *flag])
        assert code == 0
        answers[bool(flag)] = np.asarray(Image.open(out), dtype=np.float32)
    assert np.abs(answers[False] - answers[True]).mean() > 1.0
    report = tmp_path / "eval.json"
    code = cli.main(["eval", "--episodes", "1", "--no-detail", "--device", "cpu",
                     "--json", str(report)])
    assert code == 0 and json.loads(report.read_text())["detail_transfer"] is False
