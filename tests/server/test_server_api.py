"""Every endpoint of API v1 against a real server process."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
from PIL import Image
from server_helpers import (
    ServerProcess,
    b64,
    decode_answer,
    png_bytes,
    prompt_body,
    random_image,
)


def test_ready_line_printed_once(server: ServerProcess) -> None:
    ready = [line for line in server.stdout_lines if line.startswith("VISPROMPT_READY ")]
    assert len(ready) == 1
    assert server.port > 0


def test_health_needs_no_token(server: ServerProcess) -> None:
    answer = server.request("GET", "/v1/health", token=False)
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}


def test_info(server: ServerProcess) -> None:
    answer = server.request("GET", "/v1/info")
    assert answer.status == 200
    info = answer.json()
    assert info["loaded_model"] == "default"
    assert info["device"] in ("cpu", "cuda") or info["device"].startswith("cuda:")
    assert info["max_pairs"] == 8
    assert info["max_pool"] == 64
    assert info["queue_depth"] == 0
    assert info["memory"]["process_rss"] > 0
    assert any(m["name"] == "default" and m["loaded"] for m in info["models"])
    assert info["model_info"]["parameters"] > 0


def test_models(server: ServerProcess) -> None:
    answer = server.request("GET", "/v1/models")
    assert answer.status == 200
    models = {m["name"]: m for m in answer.json()["models"]}
    assert models["default"] == {
        "name": "default",
        "loaded": True,
        "available": True,
        "description": models["default"]["description"],
    }
    assert all(set(m) == {"name", "loaded", "available", "description"} for m in models.values())


def test_load_model(server: ServerProcess) -> None:
    answer = server.request("POST", "/v1/models/load", {"name": "default"})
    assert answer.status == 200
    assert answer.json() == {"loaded_model": "default"}


def test_load_unknown_model(server: ServerProcess) -> None:
    answer = server.request("POST", "/v1/models/load", {"name": "no-such-model"})
    assert answer.status == 404
    assert answer.code == "unknown_model"


def test_load_model_not_downloaded(server: ServerProcess) -> None:
    models = server.request("GET", "/v1/models").json()["models"]
    missing = [m["name"] for m in models if not m["available"]]
    assert missing, "the catalogue lists published models that are not downloaded here"
    answer = server.request("POST", "/v1/models/load", {"name": missing[0]})
    assert answer.status == 409
    assert answer.code == "model_not_downloaded"
    assert "download" in answer.json()["error"]["message"]


def test_load_model_refuses_paths(server: ServerProcess) -> None:
    answer = server.request("POST", "/v1/models/load", {"name": "/etc/passwd"})
    assert answer.status == 404
    assert answer.code == "unknown_model"


def test_prompt(server: ServerProcess) -> None:
    answer = server.request("POST", "/v1/prompt", prompt_body(seed=1))
    assert answer.status == 200, answer.body
    data = answer.json()
    assert (data["width"], data["height"]) == (80, 60)
    assert data["model"] == "default"
    assert set(data["timings"]) >= {"decode_ms", "queue_ms", "model_ms", "encode_ms", "total_ms"}
    assert data["timings"]["total_ms"] >= data["timings"]["model_ms"] > 0
    image = Image.open(io.BytesIO(base64.b64decode(data["image"])))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (80, 60)


def test_prompt_matches_core_pipeline(server: ServerProcess) -> None:
    """The server's answer equals calling the library directly on the same images."""
    import visprompt_core

    body = prompt_body(seed=2)
    answer = server.request("POST", "/v1/prompt", body)
    assert answer.status == 200
    device = server.request("GET", "/v1/info").json()["device"]
    model = visprompt_core.load_model("default", device=device)

    def image(text: str) -> Image.Image:
        return Image.open(io.BytesIO(base64.b64decode(text)))

    pair = body["examples"][0]
    direct = model.prompt([(image(pair["input"]), image(pair["output"]))], image(body["query"]))
    assert np.array_equal(decode_answer(answer.json()), np.asarray(direct))


def test_prompt_options_and_modes(server: ServerProcess) -> None:
    body = prompt_body(seed=3, pairs=2, ensemble=3, answer_size=[40, 30])
    # Odd modes arrive too: grey-scale example, RGBA query.
    body["examples"][0]["input"] = b64(png_bytes(random_image(64, 48, 5, "L")))
    body["query"] = b64(png_bytes(random_image(80, 60, 6, "RGBA")))
    answer = server.request("POST", "/v1/prompt", body)
    assert answer.status == 200, answer.body
    data = answer.json()
    assert (data["width"], data["height"]) == (40, 30)
    assert decode_answer(data).shape == (30, 40, 3)


def test_prompt_selects_from_a_pool(server: ServerProcess) -> None:
    """``select`` lets a request send a pool larger than max_pairs; the answer is the
    library's own answer with the same pool and ``select``."""
    import visprompt_core

    body = prompt_body(seed=4, pairs=12, size=(32, 32), query_size=(48, 40), select=2)
    answer = server.request("POST", "/v1/prompt", body)
    assert answer.status == 200, answer.body
    device = server.request("GET", "/v1/info").json()["device"]
    model = visprompt_core.load_model("default", device=device)

    def image(text: str) -> Image.Image:
        return Image.open(io.BytesIO(base64.b64decode(text)))

    pool = [(image(p["input"]), image(p["output"])) for p in body["examples"]]
    direct = model.prompt(pool, image(body["query"]), select=2)
    assert np.array_equal(decode_answer(answer.json()), np.asarray(direct))
    # Without select the same pool is too many pairs; with select, 65 is too many.
    del body["options"]["select"]
    refused = server.request("POST", "/v1/prompt", body)
    assert (refused.status, refused.code) == (400, "too_many_pairs")
    big = prompt_body(seed=5, pairs=65, size=(16, 16), query_size=(16, 16), select=1)
    refused = server.request("POST", "/v1/prompt", big)
    assert (refused.status, refused.code) == (400, "too_many_pairs")
    assert "64" in refused.json()["error"]["message"]
    for bad in (0, 9):
        refused = server.request("POST", "/v1/prompt", prompt_body(select=bad))
        assert (refused.status, refused.code) == (400, "bad_json"), bad


def test_prompt_upscale_modes(server: ServerProcess) -> None:
    answers = {}
    for mode in ("bicubic", "guided", "auto", None):
        body = prompt_body(seed=9, query_size=(300, 240), upscale=mode)
        answer = server.request("POST", "/v1/prompt", body)
        assert answer.status == 200, answer.body
        answers[mode] = decode_answer(answer.json())
        assert answers[mode].shape == (240, 300, 3)
    assert np.array_equal(answers["auto"], answers[None])
    bad = server.request("POST", "/v1/prompt", prompt_body(upscale="sharpest"))
    assert (bad.status, bad.code) == (400, "bad_json")


def test_prompt_detail_option(server: ServerProcess) -> None:
    """An inverting example pair (a colour task): by default the answer gets the query's
    detail (the default model's recipe), ``detail: false`` leaves it as decoded; both
    equal the library's answers."""
    from PIL import ImageOps

    import visprompt_core

    example = random_image(64, 48, 11)
    body = prompt_body(seed=11)
    body["examples"] = [{"input": b64(png_bytes(example)),
                         "output": b64(png_bytes(ImageOps.invert(example)))}]
    answers = {}
    for detail in (None, False, True):
        body["options"] = {} if detail is None else {"detail": detail}
        answer = server.request("POST", "/v1/prompt", body)
        assert answer.status == 200, answer.body
        answers[detail] = decode_answer(answer.json())
    assert np.array_equal(answers[None], answers[True])
    assert not np.array_equal(answers[None], answers[False])
    device = server.request("GET", "/v1/info").json()["device"]
    model = visprompt_core.load_model("default", device=device)
    query = Image.open(io.BytesIO(base64.b64decode(body["query"])))
    pair = (example, ImageOps.invert(example))
    assert np.array_equal(answers[False], np.asarray(model.prompt([pair], query, detail=False)))
    assert np.array_equal(answers[True], np.asarray(model.prompt([pair], query)))
    bad = server.request("POST", "/v1/prompt", prompt_body(detail="sharp"))
    assert (bad.status, bad.code) == (400, "bad_json")


def test_prompt_with_mask(server: ServerProcess) -> None:
    body = prompt_body(seed=4)
    mask = Image.new("L", (80, 60), 0)
    mask.paste(255, (0, 0, 40, 60))
    body["mask"] = b64(png_bytes(mask))
    answer = server.request("POST", "/v1/prompt", body)
    assert answer.status == 200, answer.body
    pixels = decode_answer(answer.json())
    assert pixels.shape == (60, 80, 4)
    assert (pixels[:, :40, 3] == 255).all() and (pixels[:, 40:, 3] == 0).all()


def test_job_lifecycle(server: ServerProcess) -> None:
    body = prompt_body(seed=1)
    created = server.request("POST", "/v1/jobs", body)
    assert created.status == 202
    job = created.json()
    assert job["state"] in ("queued", "running", "done")
    deadline = time.monotonic() + 60
    while True:
        status = server.request("GET", f"/v1/jobs/{job['id']}").json()
        assert 0.0 <= status["progress"] <= 1.0
        if status["state"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status["state"] == "done"
    assert status["progress"] == 1.0
    assert "error" not in status
    sync = server.request("POST", "/v1/prompt", body).json()
    assert np.array_equal(decode_answer(status["result"]), decode_answer(sync))
    # Cancelling a finished job keeps its state.
    again = server.request("DELETE", f"/v1/jobs/{job['id']}")
    assert again.status == 200 and again.json()["state"] == "done"


def test_unknown_job(server: ServerProcess) -> None:
    for method in ("GET", "DELETE"):
        answer = server.request(method, "/v1/jobs/nope")
        assert answer.status == 404
        assert answer.code == "not_found"


def test_unknown_route_and_method(server: ServerProcess) -> None:
    answer = server.request("GET", "/v1/nothing-here")
    assert answer.status == 404 and answer.code == "not_found"
    answer = server.request("PUT", "/v1/prompt", {})
    assert answer.status == 405 and answer.code == "method_not_allowed"


def test_openapi_document(server: ServerProcess) -> None:
    answer = server.request("GET", "/openapi.json")
    assert answer.status == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.")
    expected = {
        "/v1/health",
        "/v1/info",
        "/v1/models",
        "/v1/models/load",
        "/v1/prompt",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
    }
    assert expected <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
    assert "PromptRequest" in doc["components"]["schemas"]
    # No interactive docs pages (they would load scripts from a CDN).
    assert server.request("GET", "/docs").status == 404


def test_broken_model_file_keeps_previous_model(server: ServerProcess) -> None:
    folder = server.config_dir / "data" / "models"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.safetensors").write_bytes(b"this is not a safetensors file")
    try:
        models = server.request("GET", "/v1/models").json()["models"]
        assert any(m["name"] == "broken" and m["available"] for m in models)
        answer = server.request("POST", "/v1/models/load", {"name": "broken"})
        assert (answer.status, answer.code) == (409, "bad_checkpoint"), answer.body
        body = prompt_body(seed=8, model="broken")
        answer = server.request("POST", "/v1/prompt", body)
        assert (answer.status, answer.code) == (409, "bad_checkpoint"), answer.body
        assert server.request("GET", "/v1/info").json()["loaded_model"] == "default"
        assert server.request("POST", "/v1/prompt", prompt_body(seed=8)).status == 200
    finally:
        (folder / "broken.safetensors").unlink()
