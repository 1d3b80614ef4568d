"""The request/answer dataclasses, error wording, settings and token files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from visual_prompt import settings as settings_mod
from visual_prompt.wire import (
    ExamplePair,
    JobStatus,
    PromptOptions,
    PromptRequest,
    PromptResponse,
    ServerInfo,
    error_from_body,
)


def test_request_json_matches_the_contract() -> None:
    request = PromptRequest(
        [ExamplePair("a", "b")], "q", None, PromptOptions("default", 4, (448, 224))
    )
    assert request.to_json() == {
        "examples": [{"input": "a", "output": "b"}],
        "query": "q",
        "mask": None,
        "options": {"model": "default", "ensemble": 4, "answer_size": [448, 224]},
    }
    json.dumps(request.to_json())
    plain = PromptOptions("default", None, None, select=2, detail=False).to_json()
    assert plain == {"model": "default", "ensemble": None, "answer_size": None, "select": 2,
                     "detail": False}


def test_answers_parse() -> None:
    body = {"image": "x", "width": 3, "height": 2, "model": "default", "timings": {"total_ms": 5}}
    response = PromptResponse.from_json(body)
    assert (response.width, response.height, response.timings["total_ms"]) == (3, 2, 5.0)
    job = JobStatus.from_json({"id": "j1", "state": "done", "progress": 1, "result": body})
    assert job.result == response
    failed = JobStatus.from_json(
        {"id": "j1", "state": "failed", "error": {"code": "out_of_memory", "message": "x"}}
    )
    assert failed.error is not None and "ran out of memory" in str(failed.error)
    info = ServerInfo.from_json({"models": ["default"], "ensemble": True, "max_pairs": 3})
    assert info.models[0].name == "default" and info.max_pairs == 3


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("unauthorized", "token"),
        ("image_too_large", "too large"),
        ("model_not_downloaded", "not downloaded"),
        ("queue_full", "busy"),
        ("something_new", "something_new"),
    ],
)
def test_error_words(code: str, words: str) -> None:
    error = error_from_body({"error": {"code": code, "message": "details"}}, 400)
    assert error.code == code and words in str(error) and error.status == 400


def test_error_without_json_body() -> None:
    error = error_from_body(None, 502)
    assert error.code == "internal" and "502" in str(error)


def test_config_dir_follows_the_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VISPROMPT_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and settings_mod.sys.platform != "darwin":
        assert settings_mod.config_dir() == tmp_path / "xdg" / "visprompt"
    monkeypatch.setenv("VISPROMPT_CONFIG_DIR", str(tmp_path / "own"))
    assert settings_mod.token_file() == tmp_path / "own" / "token"
    assert settings_mod.settings_path() == tmp_path / "own" / "krita_plugin.json"


def test_settings_round_trip(config_dir: Path) -> None:
    assert settings_mod.load_settings() == settings_mod.Settings()
    s = settings_mod.Settings(server_mode="remote", remote_url="http://h:1", remote_token="t")
    settings_mod.save_settings(s)
    assert settings_mod.load_settings() == s
    if os.name == "posix":
        assert (config_dir / "krita_plugin.json").stat().st_mode & 0o077 == 0


def test_bad_settings_files_fall_back_to_defaults(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "krita_plugin.json"
    for text in ("{not json", "[1, 2]", '{"server_mode": "moon", "unknown": 1}'):
        path.write_text(text)
        assert settings_mod.load_settings().server_mode == "local"


def test_token_file(config_dir: Path) -> None:
    assert settings_mod.read_token() == ""
    config_dir.mkdir(parents=True)
    (config_dir / "token").write_text("secret\n")
    assert settings_mod.read_token() == "secret"
