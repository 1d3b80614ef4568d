"""The paper's benchmark harness on a tiny dataset in the VOC layout written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visprompt_core import cli
from visprompt_core.errors import InputError
from visprompt_core.pascal import (
    cell_mask,
    detection_entries,
    draw_pairs,
    fold_classes,
    largest_blob_box,
    mask_iou,
    run_colorization,
    run_mask_benchmark,
    segmentation_entries,
    snap,
)
from visprompt_core.pipeline import VisualPrompter

# (image id, class, box x0 y0 x1 y1 in 0-based pixels of an 80x60 image)
OBJECTS = [("2008_000001", 1, (10, 10, 30, 25)), ("2008_000002", 1, (40, 20, 60, 40)),
           ("2008_000003", 3, (5, 5, 20, 20)), ("2008_000004", 3, (50, 30, 75, 55)),
           ("2008_000005", 7, (20, 20, 60, 50)), ("2008_000006", 7, (0, 0, 30, 30))]


def voc_palette() -> list[int]:
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("VOCdevkit") / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", "Annotations"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for image_id, cls, (x0, y0, x1, y1) in OBJECTS:
        img = rng.integers(0, 80, (60, 80, 3), dtype=np.uint8)
        img[y0:y1 + 1, x0:x1 + 1] = (200, 40 * (cls % 5), 90)
        Image.fromarray(img).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
        labels = np.zeros((60, 80), np.uint8)
        labels[y0:y1 + 1, x0:x1 + 1] = 255  # void border
        labels[y0 + 1:y1, x0 + 1:x1] = cls
        seg = Image.fromarray(labels, "P")
        seg.putpalette(voc_palette())
        seg.save(root / "SegmentationClass" / f"{image_id}.png")
        name = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car"][cls - 1]
        (root / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><size><width>80</width><height>60</height><depth>3</depth></size>"
            f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x0 + 1}"
            f"</xmin><ymin>{y0 + 1}</ymin><xmax>{x1 + 1}</xmax><ymax>{y1 + 1}</ymax>"
            f"</bndbox></object></annotation>")
    ids = "\n".join(o[0] for o in OBJECTS) + "\n"
    (root / "ImageSets/Segmentation/val.txt").write_text(ids)
    return root


def test_folds_and_entries(voc: Path) -> None:
    assert fold_classes(0) == [1, 2, 3, 4, 5] and fold_classes(3) == [16, 17, 18, 19, 20]
    with pytest.raises(InputError):
        fold_classes(4)
    entries = segmentation_entries(voc, 0)
    assert sorted((e.image_id, e.cls) for e in entries) == [
        (o[0], o[1]) for o in OBJECTS if o[1] <= 5]
    mask = entries[0].load_mask()
    assert mask.shape == (60, 80) and mask.sum() == 19 * 14  # void border excluded
    assert [e.cls for e in segmentation_entries(voc, 1)] == [7, 7]
    # objects covering >= 20% of the 80x60 image are not single small objects
    det = detection_entries(voc)
    assert {e.image_id for e in det} == {"2008_000001", "2008_000002", "2008_000003",
                                         "2008_000004"}
    assert det[0].load_mask().sum() == 21 * 16


def test_episodes_are_seeded_and_same_class(voc: Path) -> None:
    entries = segmentation_entries(voc, 0)
    a = draw_pairs(entries, 20, "pascal5i:0", 0)
    assert a == draw_pairs(entries, 20, "pascal5i:0", 0)
    assert a != draw_pairs(entries, 20, "pascal5i:0", 1)
    for query, example in a:
        assert query.cls == example.cls and query.image_id != example.image_id


def test_scoring_helpers() -> None:
    cell = np.zeros((4, 4, 3), np.uint8)
    cell[:2] = 200
    cell[2, 0] = (120, 140, 130)
    assert snap(cell).tolist()[:3] == [[True] * 4, [True] * 4, [True, False, False, False]]
    assert mask_iou(np.ones((2, 2), bool), np.zeros((2, 2), bool)) == 0.0
    assert mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    blobs = np.zeros((10, 10), bool)
    blobs[1:3, 1:2] = True                      # 2 px
    blobs[5, 5:9] = True                        # 4 px, L-shaped with the next line
    blobs[6:9, 8] = True
    box = largest_blob_box(blobs)
    assert box.sum() == 4 * 4 and box[5:9, 5:9].all() and not box[1, 1]
    assert not largest_blob_box(np.zeros((3, 3), bool)).any()
    m = np.zeros((60, 80), bool)
    m[:, :40] = True
    assert cell_mask(m).shape == (111, 111) and 0.45 < cell_mask(m).mean() < 0.55


def test_mask_benchmarks_run(voc: Path, tiny_prompter: VisualPrompter) -> None:
    seg = run_mask_benchmark(tiny_prompter, voc.parent, "pascal5i", fold=0, episodes=5)
    assert seg.episodes == 5 and 0.0 <= seg.value <= 1.0 and seg.metric == "mIoU"
    assert set(seg.per_class) <= {"aeroplane", "bird"}
    again = run_mask_benchmark(tiny_prompter, voc, "pascal5i", fold=0, episodes=5)
    assert again.value == seg.value
    det = run_mask_benchmark(tiny_prompter, voc, "detection", episodes=3, ensemble=2)
    assert det.episodes == 3 and 0.0 <= det.value <= 1.0
    with pytest.raises(InputError):
        run_mask_benchmark(tiny_prompter, voc, "pascal5i", fold=3, episodes=2)


def test_colorization_runs(voc: Path, tiny_prompter: VisualPrompter) -> None:
    report = run_colorization(tiny_prompter, voc / "JPEGImages", episodes=3)
    assert report.episodes == 3 and report.value > 0


def test_cli(voc: Path, tiny_file: Path, tmp_path: Path,
             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fold0.json"
    code = cli.main(["eval", "pascal5i", "--root", str(voc.parent), "--fold", "0",
                     "--episodes", "4", "--model", str(tiny_file), "--device", "cpu",
                     "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["benchmark"] == "pascal5i" and data["fold"] == 0 and data["episodes"] == 4
    assert "mIoU" in capsys.readouterr().out
    assert cli.main(["eval", "detection", "--model", str(tiny_file)]) == 2
