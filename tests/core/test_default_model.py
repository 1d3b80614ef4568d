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
    # The model transfers the shown transformation on the families it has learnt.
    for task in ("fg_mask", "bbox", "invert", "hue_shift", "hflip", "remove_background"):
        assert report.beats_baselines(task), (task, report.per_task[task])


def test_demo_sheet(tmp_path: Path) -> None:
    from PIL import Image

    from visprompt_core.demo import COLUMNS, SAMPLE_TASKS, run_demo

    out = run_demo(tmp_path / "demo.png", device="cpu")
    with Image.open(out) as sheet:
        assert sheet.size == (160 * len(COLUMNS), 18 + 160 * len(SAMPLE_TASKS))
