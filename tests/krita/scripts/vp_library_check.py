"""Runs inside real Krita via ``kritarunner -s vp_library_check -- <config.json>``.

Builds a document with an example library in a group layer (three pair groups: one by
"in"/"out" names, one by "input"/"output" names, one by position; a notes layer beside
them), runs the plugin's prompt path with "Use closest = 1" and no example rows against
the backend named in the config, and checks the new layer; then breaks a pair group and
deletes the library, and checks that nothing is inserted and the message says why.
kritarunner exits 0 whatever happens, so the verdict goes to a JSON file:
``{"ok": bool, "checks": {...}, "failures": [...], "error": "traceback"?}``.
"""

from __future__ import annotations

import sys
from typing import Any

from vp_prompt_check import (
    KRITA_OWN,
    Verdict,
    decode_pixel,
    encode_fill,
    run_script,
    wait_until_idle,
)

W, H = 64, 48
SELECTION = (30, 12, 20, 16)
# (group, [(layer, rect, colour)] bottom first); the library lists them bottom first too
PAIR_GROUPS = [
    ("by position", [
        ("lower", (2, 2, 12, 12), (0, 200, 0, 255)),
        ("upper", (2, 2, 12, 12), (0, 90, 0, 255)),
    ]),
    ("full names", [
        ("output", (2, 2, 12, 12), (250, 250, 0, 255)),
        ("input", (2, 2, 12, 12), (0, 0, 250, 255)),
    ]),
    ("short names", [
        ("Photo In", (2, 2, 12, 12), (200, 30, 30, 255)),
        ("photo_out", (2, 2, 12, 12), (30, 30, 200, 255)),
    ]),
]  # fmt: skip


def run(config: dict[str, Any], verdict: Verdict) -> None:
    sys.path.insert(0, config["plugin_dir"])
    from krita import Krita, Selection
    from visual_prompt import controller as controller_module
    from visual_prompt.app import PluginApp
    from visual_prompt.controller import Choices
    from visual_prompt.krita_api import KritaDocument, node_id
    from visual_prompt.library import library_pairs
    from visual_prompt.settings import Settings

    krita = Krita.instance()
    doc = krita.createDocument(W, H, "vp-library", "RGBA", "U8", "", 72.0)
    root = doc.rootNode()
    paint: dict[str, Any] = {}

    def add(
        parent: Any, name: str, kind: str = "paintlayer", rect: Any = None, colour: Any = None
    ) -> Any:
        node = doc.createNode(name, kind)
        if rect is not None:
            x, y, lw, lh = rect
            node.setPixelData(encode_fill("RGBA", "U8", False, colour, lw * lh), x, y, lw, lh)
            paint[name] = node
        children = [c for c in parent.childNodes() if c.name() not in KRITA_OWN]
        parent.addChildNode(node, children[-1] if children else None)
        return node

    add(root, "background", rect=(0, 0, W, H), colour=(255, 255, 255, 255))
    query = add(root, "query", rect=(24, 8, 32, 32), colour=(200, 30, 30, 255))
    library = add(root, "examples", "grouplayer")
    add(library, "notes", rect=(0, 30, 4, 4), colour=(9, 9, 9, 255))
    for group_name, layers in PAIR_GROUPS:
        group = add(library, group_name, "grouplayer")
        for name, rect, colour in layers:
            add(group, name, rect=rect, colour=colour)
    add(root, "on top", rect=(0, 40, 8, 8), colour=(0, 255, 0, 255))
    doc.setActiveNode(query)
    doc.refreshProjection()
    selection = Selection()
    selection.select(*SELECTION, 255)
    doc.setSelection(selection)

    def structure(node: Any) -> list[Any]:
        return [
            (c.name(), c.type(), structure(c))
            for c in node.childNodes()
            if c.name() not in KRITA_OWN
        ]

    # the real adapter lists groups with their children; the convention finds the pairs
    port = KritaDocument(doc)
    infos = port.layers()
    names = {info.id: info.name for info in infos}
    by_name = {info.name: info for info in infos}
    library_id = node_id(library)
    verdict.check(
        "library listed as a group",
        by_name["examples"].kind == "grouplayer" and by_name["examples"].parent == "",
        by_name["examples"],
    )
    verdict.check(
        "pair groups are children of the library",
        all(by_name[g].parent == library_id for g, _l in PAIR_GROUPS),
        [by_name[g] for g, _l in PAIR_GROUPS],
    )
    found = [(names[a], names[b]) for a, b in library_pairs(infos, library_id)]
    verdict.check(
        "pairs found, top group first",
        found == [("Photo In", "photo_out"), ("input", "output"), ("lower", "upper")],
        found,
    )

    before = {name: bytes(n.pixelData(0, 0, W, H)) for name, n in paint.items()}
    tree_before = structure(root)
    settings = Settings(
        server_mode="remote", remote_url=config["url"], remote_token=config["token"]
    )
    app = PluginApp(settings, lambda: port)
    messages: list[tuple[str, str]] = []
    app.controller.message.connect(lambda text, level: messages.append((level, text)))
    sent: list[Any] = []  # what encode() gave the controller to send
    encode = controller_module.encode

    def recording_encode(*args: Any) -> Any:
        result = encode(*args)
        sent.append(result)
        return result

    controller_module.encode = recording_encode

    def wait_idle(seconds: float) -> None:
        wait_until_idle(app, seconds)

    choices = Choices(
        pairs=[("", "")], query=node_id(query), mask="selection", select=1, library=library_id
    )
    app.run(port, choices)
    wait_idle(150)
    verdict.check("messages", any("Added layer" in t for _l, t in messages), list(messages))
    request = sent[0][0] if sent else None
    verdict.check(
        "three library pairs sent with select 1",
        request is not None
        and len(request.examples) == 3
        and request.options.to_json().get("select") == 1,
        None if request is None else (len(request.examples), request.options.to_json()),
    )

    name = "Visual Prompt 1 (3 pairs)"
    top = [c.name() for c in root.childNodes() if c.name() not in KRITA_OWN]
    verdict.check("layer order", top == ["background", "query", name, "examples", "on top"], top)
    new = doc.nodeByName(name)
    verdict.check("new layer exists", new is not None, top)
    if new is None:
        return
    bounds = new.bounds()
    rect = (bounds.x(), bounds.y(), bounds.width(), bounds.height())
    verdict.check("new layer covers the selection", rect == SELECTION, rect)
    data = bytes(new.pixelData(0, 0, W, H))
    inside_bad: list[Any] = []
    outside_bad: list[Any] = []
    sx, sy, sw, sh = SELECTION
    for y in range(H):
        for x in range(W):
            alpha = decode_pixel(data[(y * W + x) * 4 : (y * W + x + 1) * 4], "U8", False)[3]
            if sx <= x < sx + sw and sy <= y < sy + sh:
                if alpha != 255:
                    inside_bad.append((x, y, alpha))
            elif alpha != 0:
                outside_bad.append((x, y, alpha))
    verdict.check("inside the selection: opaque", not inside_bad, inside_bad[:5])
    verdict.check("outside the selection: transparent", not outside_bad, outside_bad[:5])
    tree_after = [item for item in structure(root) if item[0] != name]
    verdict.check("library untouched", tree_after == tree_before, tree_after)
    changed = [n for n, node in paint.items() if bytes(node.pixelData(0, 0, W, H)) != before[n]]
    verdict.check("other layers unchanged", not changed, changed)
    stored = port.load_choices() or {}
    verdict.check("library stored with the choices", stored.get("library") == library_id, stored)

    def check_refused(case: str, expected: str) -> None:
        """Run again: the message contains ``expected`` and the layer tree is unchanged."""
        messages.clear()
        tree_before = structure(root)
        app.run(port, choices)
        wait_idle(30)
        verdict.check(f"{case}: explained", any(expected in t for _l, t in messages),
                      list(messages))
        verdict.check(f"{case}: nothing changed", structure(root) == tree_before,
                      structure(root))

    # a pair group that fits no rule: named in the message, nothing inserted
    broken = add(library, "broken pair", "grouplayer")
    add(broken, "lonely", rect=(2, 2, 4, 4), colour=(1, 2, 3, 255))
    check_refused("broken pair group", "not an example pair: 'broken pair'")

    # the library group is deleted: the message says so, nothing inserted
    library.remove()
    check_refused("deleted library", "library group no longer exists")
    verdict.check("one prompt sent in all", len(sent) == 1, len(sent))
    doc.close()


def __main__(args: Any) -> None:
    run_script(args, run)
