"""The demo sheet: the default model on the sample episodes shipped with the package."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from visprompt_core.pipeline import load_model

SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE_TASKS = ("fg_mask", "bbox", "invert", "greyscale", "hue_shift", "vflip",
                "outline_to_fill")
COLUMNS = ("example input", "example output", "query", "answer", "expected")
CELL = 160
LABEL = 18


def sample_episode(task: str) -> dict[str, Image.Image]:
    """The four images of one shipped sample (example_in/out, query, expected)."""
    images = {}
    for part in ("example_in", "example_out", "query", "expected"):
        with Image.open(SAMPLES / f"{task}_{part}.png") as image:
            images[part] = image.convert("RGB")
    return images


def run_demo(output: str | Path, model_name: str = "default", device: str = "auto") -> Path:
    """Answer every sample with one batched call and write the labelled sheet."""
    from visprompt_core.pipeline import PromptRequest

    model = load_model(model_name, device=device)
    episodes = [sample_episode(task) for task in SAMPLE_TASKS]
    requests = [PromptRequest([(e["example_in"], e["example_out"])], e["query"])
                for e in episodes]
    answers = model.prompt_batch(requests)
    sheet = Image.new("RGB", (CELL * len(COLUMNS), LABEL + CELL * len(episodes)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(COLUMNS):
        draw.text((c * CELL + 4, 3), title, fill="black")
    for r, (task, episode, answer) in enumerate(zip(SAMPLE_TASKS, episodes, answers)):
        row = [episode["example_in"], episode["example_out"], episode["query"], answer,
               episode["expected"]]
        for c, image in enumerate(row):
            sheet.paste(image.resize((CELL, CELL)), (c * CELL, LABEL + r * CELL))
        draw.text((4, LABEL + r * CELL + 4), task, fill="white", stroke_width=2,
                  stroke_fill="black")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    sheet.save(tmp)
    tmp.replace(out)
    return out
