"""The paper's benchmarks: Pascal-5i foreground segmentation, VOC single-object detection
and ImageNet colorization, with the published canvas and scoring.

Canvas: 2x2, 111-px cells resized bicubic, white background, one example pair; the
model's answer cell (111x111) is scored.

* ``pascal5i``: VOC2012 ``ImageSets/Segmentation/val.txt`` images, fold ``f`` holds the
  classes 5f+1..5f+5 (VOC order). An entry is an (image, class) with that class in the
  image's ``SegmentationClass`` mask; the example is another image of the same class
  (same fold). Input: the image; output: white where the class is, black elsewhere (the
  void label 255 counts as background). The answer is snapped per pixel to the nearer of
  white/black; per-episode foreground IoU against the true mask at 111 px; mean.
* ``detection``: VOC ``Annotations/*.xml`` of the images in the split list, keeping images
  with exactly one (non-difficult) object whose box covers less than 20% of the image; the
  output is the filled box. The snapped answer's largest white blob (4-connected) is
  replaced by its filled bounding box; IoU as above.
* ``colorization``: any folder of images (e.g. ImageNet val); input greyscale, output the
  colour image; the example is another image of the folder. MSE between the answer cell
  and the true cell, both in ImageNet-normalised space.

Episodes are seeded: episode ``i`` of a run draws its query and example from
``random.Random(f"{benchmark}:{fold}:{seed}:{i}")``.
"""

from __future__ import annotations

import logging
import random
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visprompt_core.errors import InputError
from visprompt_core.pipeline import PromptRequest, VisualPrompter

log = logging.getLogger(__name__)

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
CELL = 111
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
BENCHMARKS = ("pascal5i", "detection", "colorization")


def fold_classes(fold: int) -> list[int]:
    """VOC class indices (1..20) of Pascal-5i fold 0..3."""
    if fold not in (0, 1, 2, 3):
        raise InputError(f"Pascal-5i fold must be 0..3, got {fold}")
    return list(range(5 * fold + 1, 5 * fold + 6))


@dataclass(frozen=True)
class Entry:
    """One usable image: its id, class and ground-truth mask (H, W) bool at full size."""

    image_id: str
    cls: int
    load_mask: Callable[[], np.ndarray] = field(compare=False, repr=False)


@dataclass
class BenchmarkReport:
    benchmark: str
    metric: str
    value: float
    episodes: int
    fold: int | None = None
    per_class: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "metric": self.metric, "value": self.value,
                "episodes": self.episodes, "fold": self.fold, "per_class": self.per_class}

    def table(self) -> str:
        where = f" fold {self.fold}" if self.fold is not None else ""
        lines = [f"{self.benchmark}{where}: {self.metric} {self.value:.4f} over "
                 f"{self.episodes} episodes"]
        lines += [f"  {name:<12} {v:.4f}" for name, v in self.per_class.items()]
        return "\n".join(lines)


# ------------------------------------------------------------------------- datasets


def voc_root(root: str | Path) -> Path:
    """The VOC2012 folder: ``root`` itself or ``root/VOC2012`` (a VOCdevkit folder)."""
    root = Path(root)
    if not (root / "JPEGImages").is_dir() and (root / "VOC2012" / "JPEGImages").is_dir():
        return root / "VOC2012"
    return root


def _split_ids(root: Path, split_file: str) -> list[str]:
    path = root / split_file
    if not path.is_file():
        raise InputError(f"{path}: no such split list (is --root the VOC2012 folder?)")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError(f"{path}: missing")
    with Image.open(path) as image:
        image.load()
        return image.copy()


def segmentation_entries(root: Path, fold: int, split_file: str = "ImageSets/Segmentation/"
                         "val.txt") -> list[Entry]:
    """(image, class) entries of ``fold`` whose class appears in the image's mask."""
    classes = set(fold_classes(fold))
    entries = []
    for image_id in _split_ids(root, split_file):
        path = root / "SegmentationClass" / f"{image_id}.png"
        labels = np.asarray(_open(path))  # palette indices = class ids, 255 = void
        for cls in sorted(classes & set(np.unique(labels).tolist())):
            entries.append(Entry(image_id, cls, _seg_loader(path, cls)))
    return entries


def _seg_loader(path: Path, cls: int) -> Callable[[], np.ndarray]:
    return lambda: np.asarray(_open(path)) == cls


def detection_entries(root: Path, split_file: str = "ImageSets/Segmentation/val.txt",
                      max_fraction: float = 0.2) -> list[Entry]:
    """Images with exactly one non-difficult object whose box covers < ``max_fraction``."""
    entries = []
    for image_id in _split_ids(root, split_file):
        tree = ET.parse(root / "Annotations" / f"{image_id}.xml")
        size = tree.find("size")
        if size is None:
            continue
        w, h = int(size.findtext("width", "0")), int(size.findtext("height", "0"))
        objects = [o for o in tree.findall("object") if o.findtext("difficult", "0") != "1"]
        if len(objects) != 1 or w * h == 0:
            continue
        obj = objects[0]
        name = obj.findtext("name", "")
        if name not in VOC_CLASSES:
            continue
        bb = obj.find("bndbox")
        x0, y0, x1, y1 = (int(float(bb.findtext(k, "0"))) for k in
                          ("xmin", "ymin", "xmax", "ymax"))
        if (x1 - x0 + 1) * (y1 - y0 + 1) >= max_fraction * w * h:
            continue
        entries.append(Entry(image_id, VOC_CLASSES.index(name) + 1,
                             _box_loader(w, h, (x0, y0, x1, y1))))
    return entries


def _box_loader(w: int, h: int, box: tuple[int, int, int, int]) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        mask = np.zeros((h, w), dtype=bool)
        x0, y0, x1, y1 = box
        mask[max(y0 - 1, 0):y1, max(x0 - 1, 0):x1] = True  # VOC boxes are 1-based
        return mask
    return load


# -------------------------------------------------------------------------- scoring


def snap(cell: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 answer -> (H, W) bool: each pixel to the nearer of white/black."""
    c = cell.astype(np.float32)
    return ((c - 255.0) ** 2).sum(-1) < (c ** 2).sum(-1)


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else 1.0


def largest_blob_box(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected True region replaced by its filled bounding box."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    best: tuple[int, int, int, int, int] | None = None
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        seen[y, x] = True
        queue, size = deque([(y, x)]), 0
        y0 = y1 = y
        x0 = x1 = x
        while queue:
            cy, cx = queue.popleft()
            size += 1
            y0, y1, x0, x1 = min(y0, cy), max(y1, cy), min(x0, cx), max(x1, cx)
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        if best is None or size > best[0]:
            best = (size, y0, y1, x0, x1)
    out = np.zeros_like(mask, dtype=bool)
    if best is not None:
        _, y0, y1, x0, x1 = best
        out[y0:y1 + 1, x0:x1 + 1] = True
    return out


def mask_image(mask: np.ndarray) -> Image.Image:
    return Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").convert("RGB")


def cell_mask(mask: np.ndarray) -> np.ndarray:
    """Full-size bool mask -> 111x111 bool (bicubic, like the canvas cells, then snapped)."""
    small = mask_image(mask).resize((CELL, CELL), Image.Resampling.BICUBIC)
    return snap(np.asarray(small))


def normalised(cell: np.ndarray) -> np.ndarray:
    return (cell.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


# ---------------------------------------------------------------------- the harness


def draw_pairs(entries: Sequence[Entry], episodes: int, tag: str, seed: int
               ) -> list[tuple[Entry, Entry]]:
    """(query, example) per episode: the example has the query's class, another image
    when the class has one."""
    by_class: dict[int, list[Entry]] = {}
    for e in entries:
        by_class.setdefault(e.cls, []).append(e)
    out = []
    for i in range(episodes):
        rng = random.Random(f"{tag}:{seed}:{i}")
        query = entries[rng.randrange(len(entries))]
        same = [e for e in by_class[query.cls] if e.image_id != query.image_id]
        out.append((query, rng.choice(same) if same else query))
    return out


def _answers(prompter: VisualPrompter, prompts: list[tuple[tuple[Image.Image, Image.Image],
             Image.Image]], ensemble: int | None) -> list[np.ndarray]:
    requests = [PromptRequest([pair], query, ensemble=ensemble, answer_size=(CELL, CELL),
                              upscale="bicubic") for pair, query in prompts]
    return [np.asarray(a.convert("RGB")) for a in prompter.prompt_batch(requests)]


def run_mask_benchmark(prompter: VisualPrompter, root: str | Path, benchmark: str,
                       fold: int = 0, episodes: int = 1000, seed: int = 0,
                       ensemble: int | None = None, batch: int = 16) -> BenchmarkReport:
    """Pascal-5i segmentation (``benchmark="pascal5i"``) or single-object detection."""
    root = voc_root(root)
    if benchmark == "pascal5i":
        entries = segmentation_entries(root, fold)
    elif benchmark == "detection":
        entries = detection_entries(root)
    else:
        raise InputError(f"unknown mask benchmark {benchmark!r}")
    if not entries:
        raise InputError(f"{root}: no usable images for {benchmark}")
    tag = f"{benchmark}:{fold if benchmark == 'pascal5i' else '-'}"
    pairs = draw_pairs(entries, episodes, tag, seed)
    scores: list[tuple[int, float]] = []
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        prompts = [((_image(root, ex), mask_image(ex.load_mask())), _image(root, q))
                   for q, ex in chunk]
        for (q, _), cell in zip(chunk, _answers(prompter, prompts, ensemble)):
            pred = snap(cell)
            if benchmark == "detection":
                pred = largest_blob_box(pred)
            scores.append((q.cls, mask_iou(pred, cell_mask(q.load_mask()))))
        log.info("%s: %d/%d episodes", benchmark, len(scores), len(pairs))
    per_class: dict[str, list[float]] = {}
    for cls, value in scores:
        per_class.setdefault(VOC_CLASSES[cls - 1], []).append(value)
    return BenchmarkReport(benchmark, "mIoU", float(np.mean([v for _, v in scores])),
                           len(scores), fold if benchmark == "pascal5i" else None,
                           {k: float(np.mean(v)) for k, v in sorted(per_class.items())})


def _image(root: Path, entry: Entry) -> Image.Image:
    return _open(root / "JPEGImages" / f"{entry.image_id}.jpg").convert("RGB")


def run_colorization(prompter: VisualPrompter, root: str | Path, episodes: int = 1000,
                     seed: int = 0, ensemble: int | None = None, batch: int = 16
                     ) -> BenchmarkReport:
    """Greyscale -> colour on a folder of images; MSE in ImageNet-normalised space."""
    root = Path(root)
    suffixes = {".jpg", ".jpeg", ".png", ".JPEG", ".JPG", ".PNG"}
    files = sorted(p for p in root.rglob("*") if p.suffix in suffixes and p.is_file())
    if len(files) < 2:
        raise InputError(f"{root}: colorization needs at least two images")
    draws = []
    for i in range(episodes):
        rng = random.Random(f"colorization:{seed}:{i}")
        q = rng.randrange(len(files))
        ex = rng.choice([j for j in range(len(files)) if j != q] or [q])
        draws.append((files[q], files[ex]))
    errors: list[float] = []
    for start in range(0, len(draws), batch):
        chunk = draws[start:start + batch]
        prompts, truths = [], []
        for qf, ef in chunk:
            ex = _open(ef).convert("RGB")
            query = _open(qf).convert("RGB")
            prompts.append(((ex.convert("L").convert("RGB"), ex),
                            query.convert("L").convert("RGB")))
            truths.append(np.asarray(query.resize((CELL, CELL), Image.Resampling.BICUBIC)))
        for cell, truth in zip(_answers(prompter, prompts, ensemble), truths):
            errors.append(float(((normalised(cell) - normalised(truth)) ** 2).mean()))
        log.info("colorization: %d/%d episodes", len(errors), len(draws))
    return BenchmarkReport("colorization", "MSE", float(np.mean(errors)), len(errors))
