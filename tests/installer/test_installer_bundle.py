"""The PyInstaller bundle (slow: builds it): trimmed, starts, answers like the source tree."""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from build_bundle import check_bundle, tree_size
from installer_support import ROOT, RunningServer, user_env

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="Linux")]


def request_body() -> dict[str, object]:
    from PIL import Image, ImageDraw

    def png(img: Image.Image) -> str:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return base64.b64encode(buf.getvalue()).decode()

    def shapes(seed: int, size: tuple[int, int]) -> Image.Image:
        img = Image.new("RGB", size, (240, 235, 220))
        draw = ImageDraw.Draw(img)
        for i in range(6):
            x, y = (seed * 37 + i * 53) % size[0], (seed * 11 + i * 29) % size[1]
            draw.ellipse((x, y, x + 30, y + 24), fill=(40 * i % 255, 90, 200 - 30 * i))
        return img

    ex_in = shapes(1, (160, 120))
    ex_out = ex_in.convert("L").point(lambda v: 255 if v < 200 else 0).convert("RGB")
    return {
        "examples": [{"input": png(ex_in), "output": png(ex_out)}],
        "query": png(shapes(2, (200, 150))),
        "mask": None,
        "options": {"model": "default", "ensemble": None, "answer_size": None},
    }


def pixels(answer: dict[str, object]) -> list[int]:
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(str(answer["image"])))).convert("RGB")
    return list(img.tobytes())


def test_bundle_builds_starts_and_matches_the_source_tree(
    built_bundle: Path, tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    assert check_bundle(built_bundle) == []
    size, files = tree_size(built_bundle)
    internal = built_bundle / "_internal"
    assert (internal / "torch/bin/torch_shm_manager").is_file()
    assert not (internal / "torch/include").exists()
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home)

    frozen = start_server([str(built_bundle / "visprompt-server")], env)
    health = frozen.get("/v1/health")
    assert health["status"] == "ok"
    body = request_body()
    t0 = time.monotonic()
    frozen_answer = frozen.post("/v1/prompt", body)
    frozen_prompt_s = time.monotonic() - t0
    info = frozen.get("/v1/info")

    source = start_server(
        [sys.executable, "-m", "backend_server"], {**env, "PYTHONPATH": str(ROOT)}
    )
    source_answer = source.post("/v1/prompt", body)

    a, b = pixels(frozen_answer), pixels(source_answer)
    assert len(a) == len(b) == 200 * 150 * 3
    diff = [abs(x - y) for x, y in zip(a, b, strict=True)]
    report = {
        "bundle_mb": round(size / 1e6, 1),
        "files": files,
        "startup_s_frozen": round(frozen.startup_s, 2),
        "startup_s_source": round(source.startup_s, 2),
        "first_prompt_s_frozen": round(frozen_prompt_s, 2),
        "identical_pixels": diff.count(0) / len(diff),
        "max_diff": max(diff),
        "device": info.get("device"),
    }
    print("BUNDLE REPORT", json.dumps(report))
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bundle-report.json").write_text(json.dumps(report, indent=1))
    assert frozen_answer["model"] == source_answer["model"] == "default"
    assert max(diff) <= 8 and sum(diff) / len(diff) <= 0.5, report
