"""Runs inside real Krita via ``kritarunner -s vp_prompt_check -- <config.json>``.

Creates a document with example, query and other layers and a selection with a hole,
runs the plugin's prompt path against the backend named in the config, and checks the
new layer. kritarunner exits 0 whatever happens, so the verdict goes to a JSON file:
``{"ok": bool, "checks": {...}, "failures": [...], "error": "traceback"?}``.

Pixel expectations are computed here independently of the plugin's conversion code.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any

DEPTH_BYTES = {"U8": 1, "U16": 2, "F16": 2, "F32": 4}
KRITA_OWN = ("Background", "Selection Mask")
LUMA = (0.2126, 0.7152, 0.0722)


class Verdict:
    def __init__(self) -> None:
        self.checks: dict[str, Any] = {}
        self.failures: list[str] = []

    def check(self, name: str, ok: bool, detail: Any = None) -> None:
        self.checks[name] = {"ok": bool(ok), "detail": detail}
        if not ok:
            self.failures.append(f"{name}: {detail}")


def decode_pixel(data: bytes, depth: str, linear: bool) -> tuple[int, int, int, int]:
    """One native pixel to 8-bit sRGB R, G, B, A (independent of the plugin)."""
    if len(data) == 2:  # GRAYA U8
        return data[0], data[0], data[0], data[1]
    if depth == "U8":
        b, g, r, a = data
        values = [r / 255, g / 255, b / 255, a / 255]
    elif depth == "U16":
        b, g, r, a = struct.unpack("<4H", data)
        values = [r / 65535, g / 65535, b / 65535, a / 65535]
    else:
        values = list(struct.unpack("<4e" if depth == "F16" else "<4f", data))
    if linear:
        values[:3] = [
            12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055 for v in values[:3]
        ]
    clamp = [min(255, max(0, round(v * 255))) for v in values]
    return clamp[0], clamp[1], clamp[2], clamp[3]


def encode_fill(
    model: str, depth: str, linear: bool, rgba: tuple[int, int, int, int], n: int
) -> bytes:
    if model == "GRAYA":  # 8-bit grey documents only
        return bytes([round(sum(rgba[:3]) / 3), rgba[3]]) * n
    r, g, b, a = (c / 255 for c in rgba)
    if linear:
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b))
    if depth == "U8":
        pixel = bytes(round(c * 255) for c in (b, g, r, a))
    elif depth == "U16":
        pixel = struct.pack("<4H", *(round(c * 65535) for c in (b, g, r, a)))
    else:
        pixel = struct.pack("<4e" if depth == "F16" else "<4f", r, g, b, a)
    return pixel * n


def wait_until_idle(app: Any, seconds: float, each_tick: Callable[[], None] | None = None
                    ) -> None:
    """Spin Qt's loop until the plugin's controller is idle again (connected, not busy) or
    in error, or ``seconds`` pass; ``each_tick`` runs every 20 ms meanwhile."""
    from PyQt5.QtCore import QEventLoop, QTimer

    loop = QEventLoop()

    def poll() -> None:
        if each_tick is not None:
            each_tick()
        idle = app.state == "on" and app.info is not None and not app.controller.busy
        if app.state == "error" or idle:
            loop.quit()

    ticker = QTimer()
    ticker.timeout.connect(poll)
    ticker.start(20)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()
    ticker.stop()


def run(config: dict[str, Any], verdict: Verdict) -> None:
    sys.path.insert(0, config["plugin_dir"])
    from krita import Krita, Selection
    from visual_prompt import png
    from visual_prompt.app import PluginApp
    from visual_prompt.controller import Choices
    from visual_prompt.krita_api import KritaDocument, node_id
    from visual_prompt.settings import Settings

    depth = config["depth"]
    model = config.get("model", "RGBA")
    krita = Krita.instance()
    w, h = 64, 48
    doc = krita.createDocument(w, h, f"vp-{depth}", model, depth, "", 72.0)
    profile = doc.colorProfile()
    linear = "g10" in profile.lower() or "linear" in profile.lower()
    verdict.checks["profile"] = {"ok": True, "detail": profile}
    root = doc.rootNode()
    layers: dict[str, Any] = {}
    spec = [
        ("background", (0, 0, w, h), (255, 255, 255, 255)),
        ("example in", (2, 2, 16, 16), (200, 30, 30, 255)),
        ("example out", (2, 2, 16, 16), (30, 30, 200, 255)),
        ("query", (24, 8, 32, 32), (200, 30, 30, 255)),
        ("on top", (0, 40, 8, 8), (0, 255, 0, 255)),
    ]
    below = None
    for name, (x, y, lw, lh), colour in spec:
        node = doc.createNode(name, "paintlayer")
        node.setPixelData(encode_fill(model, depth, linear, colour, lw * lh), x, y, lw, lh)
        root.addChildNode(node, below)
        below = node
        layers[name] = node
    doc.setActiveNode(layers["query"])
    doc.refreshProjection()

    # a 20 x 16 selection at (30, 12) with a 6 x 4 hole at (36, 18)
    selection = Selection()
    selection.select(30, 12, 20, 16, 255)
    hole = Selection()
    hole.select(36, 18, 6, 4, 255)
    selection.subtract(hole)
    doc.setSelection(selection)
    sel_rect = (30, 12, 20, 16)

    before = {name: bytes(n.pixelData(0, 0, w, h)) for name, n in layers.items()}
    port = KritaDocument(doc)
    settings = Settings(
        server_mode="remote", remote_url=config["url"], remote_token=config["token"]
    )
    app = PluginApp(settings, lambda: port)
    messages: list[tuple[str, str]] = []
    app.controller.message.connect(lambda text, level: messages.append((level, text)))
    responses: list[Any] = []

    def record_response() -> None:
        if app.controller.call is not None and not responses:
            app.controller.call.finished.connect(responses.append)

    def wait_idle(seconds: float) -> None:
        wait_until_idle(app, seconds, record_response)

    ids = {name: node_id(n) for name, n in layers.items()}
    choices = Choices(
        pairs=[(ids["example in"], ids["example out"])], query=ids["query"], mask="selection"
    )
    app.run(port, choices)
    wait_idle(150)
    verdict.check("messages", any("Added layer" in t for _l, t in messages), messages)

    def children_names() -> list[str]:
        # Krita adds its own "Background" layer and a global "Selection Mask" node
        return [c.name() for c in root.childNodes() if c.name() not in KRITA_OWN]

    children = children_names()
    name = "Visual Prompt 1 (1 pair)"
    verdict.check("layer order", children == [
        "background", "example in", "example out", "query", name, "on top"
    ], children)  # fmt: skip
    new = doc.nodeByName(name)
    verdict.check("new layer exists", new is not None, children)
    if new is None:
        return
    verdict.check("new layer is a paint layer", new.type() == "paintlayer", new.type())
    bounds = new.bounds()
    rect = (bounds.x(), bounds.y(), bounds.width(), bounds.height())
    verdict.check("new layer covers the selection", rect == sel_rect, rect)
    verdict.check("new layer depth", new.colorDepth() == depth, new.colorDepth())

    size = (2 if model == "GRAYA" else 4) * DEPTH_BYTES[depth]
    data = bytes(new.pixelData(0, 0, w, h))
    answer = None
    if responses:
        rgba, aw, ah = png.decode_rgba(png.b64decode(responses[0].image))
        answer = (rgba, aw, ah)
    verdict.check("answer has the region's size", answer is not None and answer[1:] == (20, 16),
                  answer[1:] if answer else None)  # fmt: skip
    inside_bad: list[Any] = []
    outside_bad: list[Any] = []
    for y in range(h):
        for x in range(w):
            pixel = decode_pixel(data[(y * w + x) * size : (y * w + x + 1) * size], depth, linear)
            in_rect = 30 <= x < 50 and 12 <= y < 28
            in_hole = 36 <= x < 42 and 18 <= y < 22
            if in_rect and not in_hole:
                expected = None
                if answer is not None:
                    i = ((y - 12) * 20 + (x - 30)) * 4
                    expected = tuple(answer[0][i : i + 3])
                    if model == "GRAYA":
                        luma = round(sum(c * k for c, k in zip(expected, LUMA, strict=True)))
                        expected = (luma, luma, luma)
                colour_ok = expected is None or all(
                    abs(a - b) <= 2 for a, b in zip(pixel[:3], expected, strict=True)
                )
                if pixel[3] != 255 or not colour_ok:
                    inside_bad.append((x, y, pixel, expected))
            elif pixel[3] != 0:
                outside_bad.append((x, y, pixel))
    verdict.check("inside the selection: the answer, opaque", not inside_bad, inside_bad[:5])
    verdict.check("outside the selection: transparent", not outside_bad, outside_bad[:5])
    changed = [n for n, node in layers.items() if bytes(node.pixelData(0, 0, w, h)) != before[n]]
    verdict.check("other layers unchanged", not changed, changed)

    # the choices travel with the saved document (annotation), layer ids included
    saved = os.path.join(os.path.dirname(config["out"]), f"saved-{depth}.kra")
    doc.setBatchmode(True)
    verdict.check("saved as .kra", doc.saveAs(saved), saved)
    reopened = krita.openDocument(saved)
    stored = KritaDocument(reopened).load_choices() if reopened is not None else None
    verdict.check("choices stored in the .kra", stored == choices.to_dict(), stored)
    reopened_ids = {n.name(): node_id(n) for n in reopened.rootNode().childNodes()}
    verdict.check(
        "layer ids survive saving", reopened_ids.get("query") == ids["query"], reopened_ids
    )  # fmt: skip
    reopened.close()

    # the image changes size while the prompt runs: nothing is inserted
    messages.clear()
    app.run(port, choices)
    doc.resizeImage(0, 0, w + 8, h)
    doc.waitForDone()
    wait_idle(150)
    children = children_names()
    verdict.check("resized: nothing inserted", len(children) == 6, children)
    verdict.check(
        "resized: explained", any("changed size" in t for _l, t in messages), messages
    )  # fmt: skip

    # the query layer disappears while the prompt runs: nothing is inserted
    messages.clear()
    responses.clear()
    app.run(port, choices)
    layers["query"].remove()
    wait_idle(150)
    children = children_names()
    verdict.check(
        "deleted query: nothing inserted", len(children) == 5 and children[-1] == "on top",
        children,
    )  # fmt: skip
    verdict.check(
        "deleted query: explained", any("deleted" in t for _l, t in messages), messages
    )  # fmt: skip
    doc.close()


def run_script(args: Any, check: Callable[[dict[str, Any], Verdict], None]) -> None:
    """kritarunner's entry: read the config, run ``check``, write the verdict, exit."""
    config_path = next(iter(args))
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    verdict = Verdict()
    result: dict[str, Any] = {}
    try:
        check(config, verdict)
    except Exception:
        result["error"] = traceback.format_exc()
    result.update(
        ok=not verdict.failures and "error" not in result,
        checks=verdict.checks,
        failures=verdict.failures,
    )
    with open(config["out"], "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=str)
    sys.stdout.flush()
    os._exit(0)


def __main__(args: Any) -> None:
    run_script(args, run)
