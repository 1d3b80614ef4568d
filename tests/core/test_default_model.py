"""The shipped default model: loads by name without network, answers, beats baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from visprompt_core import VisualPrompter, list_models, load_model
from visprompt_core.evaluation import evaluate_model
from visprompt_core.registry import default_weights_path

MAX_BYTES = 25_000_000


@pytest.fixture(scope="module")
def default_model() -> VisualPrompter:
    return load_model("default", device="cpu")


def test_default_weights_are_small_fp16_and_listed() -> None:
    path = default_weights_path()
    assert path.stat().st_size <= MAX_BYTES
    from visprompt_core.checkpoints import describe

    assert describe(path)["dtypes"] == ["float16"]
    assert list_models()[0]["name"] == "default" and list_models()[0]["available"]


def test_default_model_beats_copy_baselines_on_held_out_episodes(
    default_model: VisualPrompter,
) -> None:
    report = evaluate_model(default_model.model, episodes_per_task=6, batch=64)
    summary = report.summary()
    # Mask-like families: mean IoU above both copy baselines, by a clear margin.
    assert summary["mean_iou_model"] > summary["mean_iou_copy_query"] + 0.05
    assert summary["mean_iou_model"] > summary["mean_iou_copy_example_output"] + 0.05
    # Image-like families: mean PSNR above both copy baselines.
    assert summary["mean_psnr_model"] > summary["mean_psnr_copy_example_output"] + 2.0
    assert summary["mean_psnr_model"] > summary["mean_psnr_copy_query"]
    # Every family beats both baselines (#3's target; on these 6 episodes per family the
    # thinnest margins measured were 0.22 dB, posterize, and an IoU 0.33 higher, bbox).
    assert len(report.per_task) == 19
    for task, figures in report.per_task.items():
        assert report.beats_baselines(task), (task, figures)
    # A blur shown once is a linear filter of the query (visprompt_core.linear_filter):
    # far above copying the query, which no token answer of a blur reaches.
    blur = report.per_task["blur"]
    assert blur["model"] > blur["copy_query"] + 5.0, blur


def test_default_detail_transfer_helps_colour_tasks_and_flips_are_exact(
    default_model: VisualPrompter,
) -> None:
    """The shipped recipe's query detail transfer: clearly better masks, line art and
    colour changes than the answers as decoded; flipped answers are the query flipped
    (their example pairs are a symmetry, ``visprompt_core.symmetry``), exactly, where the
    model's own answers are soft."""
    import torch

    from visprompt_core.data.episodes import episode_seed, generate_batch
    from visprompt_core.data.metrics import iou, psnr
    from visprompt_core.evaluation import predict_answers

    model = default_model.model
    assert model.model_config.detail_radius == 12
    with torch.inference_mode():
        masks = generate_batch(16, episode_seed("eval", 620), tasks=["fg_mask", "color_mask"])
        images = generate_batch(16, episode_seed("eval", 621),
                                tasks=["invert", "greyscale", "remove_background"])
        flips = generate_batch(8, episode_seed("eval", 622), tasks=["hflip", "vflip"])
        lines = generate_batch(16, episode_seed("eval", 623), tasks=["edges"])
        scores = {}
        for detail in (False, True):
            answer = predict_answers(model, lines, detail_transfer=detail)
            scores[("lines", detail)] = float(iou(answer, lines.answer, dark_fg=True).mean())
            answer = predict_answers(model, masks, detail_transfer=detail)
            scores[("iou", detail)] = float(iou(answer, masks.answer).mean())
            answer = predict_answers(model, images, detail_transfer=detail)
            scores[("psnr", detail)] = float(psnr(answer, images.answer).mean())
        flipped = predict_answers(model, flips)
        as_decoded = predict_answers(model, flips, detail_transfer=False)
    assert scores[("iou", True)] > scores[("iou", False)] + 0.08, scores
    assert scores[("lines", True)] > scores[("lines", False)] + 0.1, scores
    assert scores[("psnr", True)] > scores[("psnr", False)] + 1.5, scores
    assert torch.equal(flipped, flips.answer)
    assert float(psnr(as_decoded, flips.answer).mean()) < 25.0


def test_default_tokenizer_keeps_colour(default_model: VisualPrompter) -> None:
    """Held-out canvases encoded and decoded by the shipped tokenizer keep their colour
    (an all-grey reconstruction scores about 17 dB chroma PSNR and saturation 0)."""
    from visprompt_core.train.tokenizer import reconstruction_figures

    figures = reconstruction_figures(default_model.model.vae.float(), episodes=32)
    assert figures["chroma_psnr"] > 19.0, figures
    assert figures["saturation_ratio"] > 0.5, figures


def test_default_answers_carry_the_right_colour(default_model: VisualPrompter) -> None:
    """On colour-changing families the answers' colour part is closer to the truth than a
    grey answer's: the model paints colour, and the right one."""
    import torch

    from visprompt_core.data.episodes import episode_seed, generate_batch
    from visprompt_core.data.metrics import colour_figures
    from visprompt_core.evaluation import predict_answers

    tasks = ["channel_permute", "hue_shift", "swap_colors", "recolor", "invert"]
    episodes = generate_batch(8 * len(tasks), episode_seed("eval", 610), tasks=tasks)
    truth = episodes.answer.float()
    grey = truth.mean(-3, keepdim=True).expand_as(truth)
    with torch.inference_mode():
        answers = predict_answers(default_model.model, episodes).float()
    model = colour_figures(answers, truth)
    baseline = colour_figures(grey, truth)
    assert model["chroma_psnr"] > baseline["chroma_psnr"] + 1.0, (model, baseline)
    assert model["saturation_ratio"] > 0.4, model


def test_demo_sheet(tmp_path: Path) -> None:
    from PIL import Image

    from visprompt_core.demo import COLUMNS, SAMPLE_TASKS, run_demo

    out = run_demo(tmp_path / "demo.png", device="cpu")
    with Image.open(out) as sheet:
        assert sheet.size == (160 * len(COLUMNS), 18 + 160 * len(SAMPLE_TASKS))


def test_default_region_snapping_sharpens_repainted_regions(
    default_model: VisualPrompter,
) -> None:
    """Swapped colours and filled outlines: the shipped recipe's answers snapped to the
    query's regions (visprompt_core.regions) or filled along its lines
    (visprompt_core.flatting) beat the same recipe without either, and filled outlines
    beat copying the query (measured: 21.2 -> 30.6 dB; 19.3 -> 31.2 dB, median 17.9 ->
    20.9, copying the query 20.7, median 18.8, on these 8 + 8 episodes)."""
    import torch

    from visprompt_core import canvas as cv
    from visprompt_core.data.episodes import episode_seed, generate_batch
    from visprompt_core.data.metrics import psnr
    from visprompt_core.detail import refine_cells
    from visprompt_core.evaluation import predict_answers

    model = default_model.model
    config = model.model_config
    with torch.inference_mode():
        episodes = generate_batch(16, episode_seed("eval", 624),
                                  tasks=["swap_colors", "outline_to_fill"])
        raw = predict_answers(model, episodes, detail_transfer=False)
        seen = model.reconstruct_region(episodes.canvas, *cv.LAYOUT_2X2.query.slices())
        scores = {}
        for regions in (False, True):
            answers = refine_cells(raw, episodes.examples_in[:, 0], episodes.examples_out[:, 0],
                                   episodes.query, seen.__getitem__, config.detail_radius,
                                   config.detail_eps, regions=regions).answers
            for task in ("swap_colors", "outline_to_fill"):
                rows = [i for i, name in enumerate(episodes.names) if name == task]
                scores[(task, regions)] = psnr(answers[rows], episodes.answer[rows])
        rows = [i for i, name in enumerate(episodes.names) if name == "outline_to_fill"]
        copied = psnr(episodes.query[rows], episodes.answer[rows])
    means = {key: float(value.mean()) for key, value in scores.items()}
    assert means[("swap_colors", True)] > means[("swap_colors", False)] + 2.0, means
    assert means[("outline_to_fill", True)] > means[("outline_to_fill", False)] + 5.0, means
    assert means[("outline_to_fill", True)] > float(copied.mean()) + 5.0, means
    assert float(scores[("outline_to_fill", True)].median()) > float(copied.median()) + 1.0


def test_default_flatting_fills_drawn_line_art_at_full_size(
    default_model: VisualPrompter,
) -> None:
    """Outlines drawn at full size, an example pair that fills them: the answer is the
    query's outlines filled in their own colours, exact at the query's size (the query is
    filled at its own size; the model's answer alone is far off)."""
    import numpy as np
    from PIL import Image, ImageDraw

    def draw(size: tuple[int, int], shapes: list[tuple[str, tuple[int, int, int, int],
                                                      tuple[int, int, int]]],
             filled: bool) -> Image.Image:
        image = Image.new("RGB", size, (245, 240, 225))
        pen = ImageDraw.Draw(image)
        for kind, box, colour in shapes:
            style = {"fill": colour} if filled else {"outline": colour, "width": max(size) // 40}
            (pen.ellipse if kind == "ellipse" else pen.rectangle)(box, **style)
        return image

    shown = [("ellipse", (60, 60, 300, 300), (200, 30, 40)),
             ("box", (320, 250, 470, 450), (30, 60, 200))]
    asked = [("box", (100, 100, 500, 400), (40, 150, 60)),
             ("ellipse", (560, 300, 900, 700), (220, 160, 20))]
    pair = draw((512, 512), shown, False), draw((512, 512), shown, True)
    query, truth = draw((1024, 768), asked, False), draw((1024, 768), asked, True)
    answer = default_model.prompt([pair], query)
    assert answer.size == (1024, 768)
    assert np.array_equal(np.asarray(answer), np.asarray(truth))
    as_decoded = default_model.prompt([pair], query, detail=False)
    error = np.abs(np.asarray(as_decoded, dtype=float) - np.asarray(truth, dtype=float))
    assert error.mean() > 10  # measured 34.8 (copying the query: 27.7)


def test_default_flatting_reads_thin_antialiased_line_art(default_model: VisualPrompter
                                                          ) -> None:
    """Line art as a drawing program makes it: 5-px antialiased outlines at 640 px, about
    1 px in the 111-px cell, where no closed area survives. The example pair is checked at
    its own size, and the answer is the query filled at its own."""
    import numpy as np
    from PIL import Image

    from visprompt_core import canvas as cv
    from visprompt_core.data.line_art import draw_line_art
    from visprompt_core.data.metrics import psnr

    def on_640(box: tuple[int, int, int, int]) -> tuple[float, ...]:
        return tuple(v / 640 for v in box)

    shown = [("ellipse", on_640((40, 60, 330, 300)), (190, 40, 40)),
             ("ellipse", on_640((300, 330, 600, 600)), (40, 70, 180))]
    asked = [("ellipse", on_640((80, 40, 560, 260)), (30, 130, 70)),
             ("ellipse", on_640((120, 300, 420, 610)), (130, 50, 150))]
    pair = (draw_line_art(shown, (640, 640), 5, False),
            draw_line_art(shown, (640, 640), 5, True))
    query = draw_line_art(asked, (640, 640), 5, False)
    truth = draw_line_art(asked, (640, 640), 5, True)
    tensor = cv.pil_to_tensor
    for size in ((640, 640), (200, 200)):  # guided and bicubic answer sizes
        answer = default_model.prompt([pair], query, answer_size=size)
        wanted = tensor(truth.resize(size, Image.Resampling.BICUBIC))[None]
        asked_at = tensor(query.resize(size, Image.Resampling.BICUBIC))[None]
        assert float(psnr(tensor(answer)[None], wanted)) > 35, size
        assert float(psnr(asked_at, wanted)) < 15
    as_decoded = default_model.prompt([pair], query, detail=False)
    assert np.abs(np.asarray(as_decoded, float) - np.asarray(truth, float)).mean() > 10
