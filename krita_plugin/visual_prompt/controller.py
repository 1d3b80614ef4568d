"""The docker's state and actions, in plain Python plus Qt signals (no ``krita``).

``read`` copies what the artist's choices name out of the document (Krita's work, on
the GUI thread); ``encode`` turns that into a request and an insertion plan (plain
Python on bytes: converting, scaling and writing PNG files, on a worker thread);
``prepare`` does both at once. ``PromptController`` encodes on a Python thread, sends the
request without blocking and, when the answer arrives, checks that the document still
fits the plan before inserting the new layer.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import pixels, png
from .client import Client, PromptCall
from .document import DocumentPort, LayerInfo, LayerPixels, Mask, Rect, RgbaImage
from .errors import DocumentChangedError, InputError, PluginError, ServerError
from .library import library_pairs
from .qt import QObject, pyqtSignal, pyqtSlot
from .wire import ExamplePair, PromptOptions, PromptRequest, PromptResponse, ServerInfo

log = logging.getLogger(__name__)

MASK_SOURCES = ("selection", "layer", "none")
LAYER_PREFIX = "Visual Prompt"
_NAME_RE = re.compile(rf"^{LAYER_PREFIX} (\d+)\b")
# Example layers are sent at most this many pixels on their longer side. The server
# reads example pairs at no larger size: as 111-px canvas cells, and at up to 1,024 px
# where it checks whether they fill the areas their lines close
# (visprompt_core.flatting.GATE_SIZE). A 4k pair then costs a sixteenth of the encoding
# and of the request, which stays under the server's body limit.
EXAMPLE_SIDE = 1024


@dataclass
class Choices:
    """What the artist picked in the docker; stored per document."""

    pairs: list[tuple[str, str]] = field(default_factory=lambda: [("", "")])
    query: str = ""  # layer id; "" = the active layer
    mask: str = "selection"  # one of MASK_SOURCES
    mask_layer: str = ""
    model: str = "default"
    answer_size: int = 0  # 0 = the query's size, else the answer's longest side
    ensemble: int = 0  # 0 = the server's default
    select: int = 0  # 0 = use every pair; else the pairs are a library, use the N closest
    library: str = ""  # a group layer id whose pair groups are more pairs ("" = none)
    detail: bool = True  # keep the query's fine detail (the server's detail transfer)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pairs"] = [list(p) for p in self.pairs]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Choices:
        choices = cls()
        if not isinstance(data, dict):
            return choices
        pairs = data.get("pairs")
        if isinstance(pairs, list):
            clean = [
                (str(p[0]), str(p[1]))
                for p in pairs
                if isinstance(p, (list, tuple)) and len(p) == 2
            ]
            choices.pairs = clean or [("", "")]
        for name in ("query", "mask_layer", "model", "library"):
            if isinstance(data.get(name), str):
                setattr(choices, name, data[name])
        if data.get("mask") in MASK_SOURCES:
            choices.mask = data["mask"]
        for name in ("answer_size", "ensemble", "select"):
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(choices, name, value)
        if isinstance(data.get("detail"), bool):
            choices.detail = data["detail"]
        return choices


@dataclass(frozen=True)
class Plan:
    """Where and how the answer goes, decided when the prompt was sent."""

    document_key: str
    document_bounds: Rect
    query_id: str
    region: Rect
    mask: Mask | None
    layer_name: str
    pairs: int
    select: int = 0
    library: str = ""  # the library group's name ("" = none)
    library_pairs: int = 0  # how many of ``pairs`` came from it


@dataclass(frozen=True)
class Reading:
    """What ``read`` copied out of the document; ``encode`` needs nothing else."""

    examples: list[tuple[LayerPixels, LayerPixels]]
    query: LayerPixels
    selection: Mask | None  # the selection, cropped to the image
    mask_layer: LayerPixels | None  # or the layer whose brightness is the mask
    options: PromptOptions
    plan: Plan  # its mask is filled in by ``encode``


def next_layer_name(doc: DocumentPort, pairs: int) -> str:
    numbers = [int(m.group(1)) for layer in doc.layers() if (m := _NAME_RE.match(layer.name))]
    number = max(numbers, default=0) + 1
    return f"{LAYER_PREFIX} {number} ({pairs} pair{'s' if pairs != 1 else ''})"


def answer_size_for(region: Rect, longest: int) -> tuple[int, int] | None:
    if longest <= 0:
        return None
    w, h = region.width, region.height
    if w >= h:
        return longest, max(1, round(h * longest / w))
    return max(1, round(w * longest / h)), longest


def example_size(region: Rect) -> tuple[int, int]:
    """The size an example layer of ``region`` is sent at: its own, or scaled down to
    ``EXAMPLE_SIDE`` on the longer side."""
    if max(region.width, region.height) <= EXAMPLE_SIDE:
        return region.width, region.height
    size = answer_size_for(region, EXAMPLE_SIDE)
    assert size is not None
    return size


def _layer_name(doc: DocumentPort, layer_id: str) -> str:
    for layer in doc.layers():
        if layer.id == layer_id:
            return layer.name
    return "?"


def _example_name(layers: list[LayerInfo], layer_id: str) -> str:
    """'name', or 'name' in 'group' for a layer inside a group (library pairs)."""
    by_id = {layer.id: layer for layer in layers}
    layer = by_id.get(layer_id)
    if layer is None:
        return "'?'"
    group = by_id.get(layer.parent)
    return f"'{layer.name}' in '{group.name}'" if group is not None else f"'{layer.name}'"


def _png_of(image: RgbaImage) -> str:
    return png.b64encode(png.encode_rgba(image.rgba, image.rect.width, image.rect.height))


def _example_png_of(image: RgbaImage) -> str:
    """An example layer's pixels as base64 PNG at ``example_size``."""
    w, h = image.rect.width, image.rect.height
    size = example_size(image.rect)
    if size == (w, h):
        return _png_of(image)
    return png.b64encode(png.encode_rgba(png.scale_rgba(image.rgba, w, h, *size), *size))


def prepare(doc: DocumentPort, choices: Choices) -> tuple[PromptRequest, Plan]:
    """``read`` and ``encode`` in one go; raise InputError if the choices are unusable."""
    return encode(read(doc, choices))


def read(doc: DocumentPort, choices: Choices) -> Reading:
    """Copy the layers and selection that ``choices`` name (GUI thread); raise InputError
    if they are unusable."""
    bounds = doc.bounds()
    layers = doc.layers()
    # the same pair chosen twice (two rows, or a row and the library) is sent once
    rows = list(dict.fromkeys((a, b) for a, b in choices.pairs if a or b))
    library = library_pairs(layers, choices.library) if choices.library else []
    library = [pair for pair in library if pair not in rows]
    if not rows and not library:
        raise InputError(
            "Choose at least one example pair (input layer and output layer) or a library."
        )
    for a, b in rows:
        if not a or not b:
            raise InputError("Every example pair needs both an input and an output layer.")
        for layer_id in (a, b):
            if not doc.layer_exists(layer_id):
                raise InputError("An example layer no longer exists; choose it again.")
    pairs = rows + library
    query_id = choices.query or doc.active_layer_id() or ""
    if not query_id or not doc.layer_exists(query_id):
        raise InputError("Choose the query layer (the image to transform).")
    if any(query_id in pair for pair in pairs):
        raise InputError("The query layer is also an example layer; choose another one.")

    selection: Mask | None = None
    mask_layer: LayerPixels | None = None
    if choices.mask == "selection":
        chosen = doc.selection()
        if chosen is None:
            raise InputError(
                "Nothing is selected. Select the region to transform, or set Mask to None."
            )
        selection = _crop_mask(chosen, bounds)
        region = selection.rect
    elif choices.mask == "layer":
        if not choices.mask_layer or not doc.layer_exists(choices.mask_layer):
            raise InputError("Choose the mask layer, or set Mask to None.")
        region = doc.layer_bounds(choices.mask_layer).intersected(bounds)
        if region.empty:
            raise InputError("The mask layer is empty.")
        mask_layer = doc.read_pixels(choices.mask_layer, region)
    else:
        region = doc.layer_bounds(query_id).intersected(bounds)
    if region.empty:
        raise InputError(f"The query layer '{_layer_name(doc, query_id)}' is empty.")
    if selection is not None:
        _check_mask(selection)

    examples = []
    for a, b in pairs:
        rect = doc.layer_bounds(a).united(doc.layer_bounds(b)).intersected(bounds)
        if rect.empty:
            raise InputError(f"The example layers {_example_name(layers, a)} are empty.")
        examples.append((doc.read_pixels(a, rect), doc.read_pixels(b, rect)))
    options = PromptOptions(
        model=choices.model or "default",
        ensemble=choices.ensemble or None,
        answer_size=answer_size_for(region, choices.answer_size),
        select=choices.select or None,
        detail=choices.detail,
    )
    plan = Plan(
        document_key=doc.key(),
        document_bounds=bounds,
        query_id=query_id,
        region=region,
        mask=None,
        layer_name=next_layer_name(doc, len(pairs)),
        pairs=len(pairs),
        select=choices.select,
        library=_layer_name(doc, choices.library) if library else "",
        library_pairs=len(library),
    )
    return Reading(examples, doc.read_pixels(query_id, region), selection, mask_layer,
                   options, plan)


def encode(reading: Reading) -> tuple[PromptRequest, Plan]:
    """The request and the insertion plan for what ``read`` copied (plain Python and
    QImage, so any thread); raise InputError if the mask is empty."""
    mask = reading.selection
    if reading.mask_layer is not None:
        layer = reading.mask_layer
        mask = Mask(layer.rect, pixels.mask_from_rgba(layer.rgba().rgba))
        _check_mask(mask)
    region = reading.plan.region
    mask_png = None
    if mask is not None:
        mask_png = png.b64encode(png.encode_grey(mask.data, region.width, region.height))
    examples = [ExamplePair(_example_png_of(a.rgba()), _example_png_of(b.rgba()))
                for a, b in reading.examples]
    request = PromptRequest(examples, _png_of(reading.query.rgba()), mask_png,
                            reading.options)
    return request, replace(reading.plan, mask=mask)


def _check_mask(mask: Mask) -> None:
    if mask.data.count(0) == len(mask.data):
        raise InputError("The mask is empty: nothing would change.")


def _crop_mask(selection: Mask, bounds: Rect) -> Mask:
    rect = selection.rect.intersected(bounds)
    if rect.empty:
        raise InputError("The selection is outside the image.")
    stride = selection.rect.width
    ox, oy = rect.x - selection.rect.x, rect.y - selection.rect.y
    rows = (
        selection.data[(oy + j) * stride + ox : (oy + j) * stride + ox + rect.width]
        for j in range(rect.height)
    )
    return Mask(rect, b"".join(rows))


def check_limits(plan: Plan, limits: ServerInfo | None) -> None:
    """Refuse before sending what the server would refuse anyway."""
    if limits is None:
        return
    if plan.select and not limits.max_pool:
        raise InputError(
            "This server cannot pick the closest pairs from a library; set 'Use closest' "
            "to 'all pairs' or update the backend."
        )
    chosen = ""
    if plan.library_pairs:
        chosen = (
            f"{plan.pairs} example pairs are chosen ({plan.library_pairs} from the library "
            f"'{plan.library}'). "
        )
    if plan.select:
        if plan.pairs > limits.max_pool:
            raise InputError(
                f"{chosen}The server accepts a library of at most {limits.max_pool} example pairs."
            )
    elif limits.max_pairs and plan.pairs > limits.max_pairs:
        if limits.max_pool:
            hint = (
                f" Set 'Use closest' to let it pick the closest ones from up to "
                f"{limits.max_pool} pairs."
            )
        elif plan.library_pairs:
            hint = (
                " This server cannot pick the closest pairs from a library; use fewer "
                "pairs or update the backend."
            )
        else:
            hint = ""
        raise InputError(
            f"{chosen}The server accepts at most {limits.max_pairs} example pairs.{hint}"
        )
    region = plan.region
    if limits.max_pixels and region.width * region.height > limits.max_pixels:
        raise InputError(
            f"The query region is {region.width} x {region.height} pixels; the server accepts "
            f"at most {limits.max_pixels:,} pixels per image. Select a smaller region."
        )


def check_body(request: PromptRequest, limits: ServerInfo | None) -> None:
    """Refuse before sending a request whose images alone are more than the server
    accepts in one body."""
    if limits is None or not limits.max_body_bytes:
        return
    images = [request.query, request.mask or ""]
    images += [text for pair in request.examples for text in (pair.input, pair.output)]
    size = sum(len(text) for text in images)
    if size > limits.max_body_bytes:
        raise InputError(
            f"The images of this prompt come to {size / 2**20:.0f} MB encoded; the server "
            f"accepts at most {limits.max_body_bytes / 2**20:.0f} MB per request. Select a "
            "smaller region or use fewer example pairs (or start the server with a larger "
            "--max-body-mb)."
        )


def answer_image(plan: Plan, response: PromptResponse) -> RgbaImage:
    """The answer as pixels for the plan's region, masked by the plan's mask."""
    rgba, width, height = png.decode_rgba(png.b64decode(response.image))
    region = plan.region
    if (width, height) != (region.width, region.height):
        rgba = png.scale_rgba(rgba, width, height, region.width, region.height)
    if plan.mask is not None:
        rgba = pixels.with_alpha(rgba, plan.mask.data)
    return RgbaImage(region, rgba)


def finish(doc: DocumentPort, plan: Plan, response: PromptResponse) -> str:
    """Insert the answer as a new layer above the query; return the layer's name."""
    if not doc.is_open() or doc.key() != plan.document_key:
        raise DocumentChangedError("The document was closed; the answer was not inserted.")
    if doc.bounds() != plan.document_bounds:
        raise DocumentChangedError(
            "The image changed size while the prompt was running; the answer was not "
            "inserted. Run it again."
        )
    if not doc.layer_exists(plan.query_id):
        raise DocumentChangedError(
            "The query layer was deleted while the prompt was running; the answer was not inserted."
        )
    image = answer_image(plan, response)
    doc.insert_layer(plan.query_id, plan.layer_name, image)
    return plan.layer_name


class EncodeJob(QObject):
    """``encode`` on a Python thread, so that converting and writing 4k layers does not
    freeze Krita. ``done(job, (request, plan))`` or ``failed(job, exception)`` arrive
    on the GUI thread (queued: the receivers live there)."""

    done = pyqtSignal(object, object)
    failed = pyqtSignal(object, object)

    def __init__(self, reading: Reading) -> None:
        super().__init__()
        self._thread = threading.Thread(target=self._work, args=(reading,),
                                        name="visual-prompt-encode", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    def _work(self, reading: Reading) -> None:
        try:
            result = encode(reading)
        except Exception as exc:  # reported on the GUI thread
            if not isinstance(exc, PluginError):
                log.exception("encoding the prompt failed")
            self.failed.emit(self, exc)
        else:
            self.done.emit(self, result)


class PromptController(QObject):
    """Runs one prompt at a time for the docker and the action."""

    busy_changed = pyqtSignal(bool)
    progress = pyqtSignal(float)
    message = pyqtSignal(str, str)  # text, level: "info" | "error"
    inserted = pyqtSignal(str)  # layer name

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client: Client | None = None
        self.limits: ServerInfo | None = None  # the server's max_pairs / max_pixels
        self.call: PromptCall | None = None
        self.job: EncodeJob | None = None  # encoding the layers, before ``call``
        self._doc: DocumentPort | None = None
        self._plan: Plan | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None or self.call is not None

    def set_client(self, client: Client | None) -> None:
        self.client = client

    def run(self, doc: DocumentPort | None, choices: Choices) -> bool:
        """Start a prompt; False (with a message) if it cannot start."""
        if self.busy:
            self.message.emit("A prompt is already running.", "error")
            return False
        if doc is None:
            self.message.emit("Open an image first.", "error")
            return False
        if self.client is None:
            self.message.emit("Not connected to a Visual Prompt server. Press Connect.", "error")
            return False
        try:
            reading = read(doc, choices)
            check_limits(reading.plan, self.limits)
            doc.save_choices(choices.to_dict())
        except PluginError as exc:
            self.message.emit(str(exc), "error")
            return False
        except Exception as exc:  # a Krita or Qt surprise must not vanish into a log
            log.exception("reading the layers failed")
            self.message.emit(f"Could not read the layers: {exc}", "error")
            return False
        self._doc = doc
        job = self.job = EncodeJob(reading)
        job.done.connect(self._on_encoded)
        job.failed.connect(self._on_encode_failed)
        job.start()
        self.busy_changed.emit(True)
        self.message.emit("Preparing the layers...", "info")
        return True

    def cancel(self) -> None:
        if self.job is not None:  # still encoding: its result will be dropped
            self._end()
            self.message.emit("Cancelled.", "info")
        elif self.call is not None:
            self.call.cancel()

    def _end(self) -> None:
        self.job = self.call = None
        self._doc = self._plan = None
        self.busy_changed.emit(False)

    @pyqtSlot(object, object)  # a Qt slot: called on this object's (the GUI) thread
    def _on_encoded(self, job: EncodeJob, result: tuple[PromptRequest, Plan]) -> None:
        if job is not self.job:  # cancelled in the meantime
            return
        self.job = None
        request, plan = result
        try:
            check_body(request, self.limits)
            if self.client is None:
                raise InputError("Not connected to a Visual Prompt server. Press Connect.")
        except PluginError as exc:
            self._end()
            self.message.emit(str(exc), "error")
            return
        self._plan = plan
        call = self.client.prompt(request)
        self.call = call
        call.progress.connect(self.progress)
        call.then(self._on_answer, self._on_error)
        self.message.emit(f"Prompting with {plan.pairs} example pair(s)...", "info")

    @pyqtSlot(object, object)
    def _on_encode_failed(self, job: EncodeJob, error: Exception) -> None:
        if job is not self.job:
            return
        self._end()
        if isinstance(error, PluginError):
            self.message.emit(str(error), "error")
        else:
            self.message.emit(f"Could not read the layers: {error}", "error")

    def _on_answer(self, response: PromptResponse) -> None:
        doc, plan = self._doc, self._plan
        if doc is None or plan is None:  # cancelled in the meantime
            return
        try:
            name = finish(doc, plan, response)
        except PluginError as exc:
            self._end()
            self.message.emit(str(exc), "error")
            return
        except Exception as exc:  # keep the docker usable whatever happened
            log.exception("inserting the answer failed")
            self._end()
            self.message.emit(f"Could not insert the answer: {exc}", "error")
            return
        seconds = response.timings.get("total_ms", 0.0) / 1000.0
        self._end()
        self.message.emit(f"Added layer '{name}' ({seconds:.1f} s on the server).", "info")
        self.inserted.emit(name)

    def _on_error(self, error: ServerError) -> None:
        self._end()
        level = "info" if error.code == "cancelled" else "error"
        self.message.emit(str(error), level)
