"""Fixtures for the plugin tests: the fake ``krita`` module, documents, a real backend."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "krita_plugin"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
sys.path.insert(0, str(Path(__file__).parent))

import fake_krita  # noqa: E402

sys.modules["krita"] = fake_krita  # the plugin imports ``krita`` lazily; this is ours


def bgra_u8(r: int, g: int, b: int, a: int = 255) -> bytes:
    return bytes((b, g, r, a))


def native_pixel(doc: fake_krita.Document, r: int, g: int, b: int, a: int = 255) -> bytes:
    """One pixel in the fake document's native format (sRGB-curve profiles only)."""
    if doc.colorModel() == "GRAYA":
        y = (r + g + b) // 3
        chans = [y, a]
    else:
        chans = [b, g, r, a] if doc.colorDepth() in ("U8", "U16") else [r, g, b, a]
    depth = doc.colorDepth()
    if depth == "U8":
        return bytes(chans)
    if depth == "U16":
        return struct.pack(f"<{len(chans)}H", *(c * 257 for c in chans))
    code = "e" if depth == "F16" else "f"
    return struct.pack(f"<{len(chans)}{code}", *(c / 255 for c in chans))


def fill(node: fake_krita.Node, x: int, y: int, w: int, h: int, pixel: bytes) -> None:
    node.setPixelData(pixel * (w * h), x, y, w, h)


@pytest.fixture
def krita() -> Iterator[fake_krita.Krita]:
    fake_krita.Krita._instance = None
    yield fake_krita.Krita.instance()
    fake_krita.Krita._instance = None


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config"
    monkeypatch.setenv("VISPROMPT_CONFIG_DIR", str(path))
    return path


def make_document(
    krita: fake_krita.Krita, depth: str = "U8", model: str = "RGBA", w: int = 48, h: int = 32
) -> fake_krita.Document:
    """Example input (red square), example output (blue square), query (red square at
    another place), background; a selection over part of the query."""
    doc = krita.createDocument(w, h, "test", model, depth, "", 72.0)
    root = doc.rootNode()
    layers = {}
    for name in ("background", "example in", "example out", "query"):
        node = doc.createNode(name, "paintlayer")
        root.addChildNode(node, root.childNodes()[-1] if root.childNodes() else None)
        layers[name] = node
    fill(layers["background"], 0, 0, w, h, native_pixel(doc, 255, 255, 255))
    fill(layers["example in"], 2, 2, 12, 12, native_pixel(doc, 200, 30, 30))
    fill(layers["example out"], 2, 2, 12, 12, native_pixel(doc, 30, 30, 200))
    fill(layers["query"], 20, 4, 20, 20, native_pixel(doc, 200, 30, 30))
    doc.undo_stack.clear()
    doc.non_undoable_writes = 0
    doc.setActiveNode(layers["query"])
    krita.setActiveDocument(doc)
    return doc


def select(doc: fake_krita.Document, x: int, y: int, w: int, h: int, value: int = 255) -> None:
    doc.setSelection(fake_krita.Selection(x, y, w, h, bytes([value]) * (w * h)))


BACKEND_AVAILABLE = (ROOT / "backend_server" / "__main__.py").is_file()


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real backend process on a free port (default model, CPU)."""
    if not BACKEND_AVAILABLE:
        pytest.skip("backend_server is not in this checkout")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        pytest.skip("the server extras (fastapi, uvicorn) are not installed")
    tmp = tmp_path_factory.mktemp("backend")
    token_file = tmp / "token"
    env = dict(os.environ, VISPROMPT_CONFIG_DIR=str(tmp / "config"), PYTHONUNBUFFERED="1")
    command = [
        sys.executable, "-m", "backend_server", "--port", "0", "--device", "cpu",
        "--token-file", str(token_file),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = ""
    lines: list[str] = []
    deadline = time.monotonic() + 180
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("VISPROMPT_READY "):
            import json

            url = json.loads(line.split(" ", 1)[1])["url"]
            break
    if not url:
        process.kill()
        pytest.fail("backend did not start:\n" + "".join(lines[-20:]))
    # keep draining output so the server never blocks on a full pipe
    import threading

    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        yield {
            "url": url,
            "token": token_file.read_text().strip(),
            "token_file": str(token_file),
            "command": " ".join(command),
        }
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
