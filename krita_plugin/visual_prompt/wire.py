"""The HTTP API's request and answer bodies as small stdlib dataclasses.

They mirror the server's schema (docs/contract.md, version 1); tests check them
against the real server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ServerError

API = "/v1"

# Plain words for the server's stable error codes; ``{message}`` is the server's text.
ERROR_TEXT = {
    "unauthorized": "The server refused the access token. For the local server, restart "
    "Krita or the server; for a remote server, check the token in the connection settings.",
    "forbidden_host": "The server refused this address (Host check): {message}",
    "forbidden_origin": "The server refused this client (Origin check): {message}",
    "bad_json": "The server could not read the request: {message}",
    "bad_image": "The server could not read one of the images: {message}",
    "image_too_large": "The image is too large for the server: {message} "
    "Select a smaller region or scale the image down.",
    "size_mismatch": "Image sizes do not match: {message}",
    "too_many_pairs": "Too many example pairs: {message}",
    "unknown_model": "The server does not know this model: {message}",
    "model_not_downloaded": "The model is not downloaded yet: {message} "
    "Download it with the Visual Prompt installer first.",
    "queue_full": "The server is busy with other prompts. Try again in a moment.",
    "timeout": "The server gave up on the prompt because it took too long.",
    "cancelled": "Cancelled.",
    "out_of_memory": "The server ran out of memory. Try a smaller region, fewer example "
    "pairs or no ensembling.",
    "body_too_large": "The request is too large for the server: {message} "
    "Select a smaller region or use fewer example pairs.",
    "not_found": "The server does not offer this function (is it an older version?): {message}",
    "internal": "The server failed: {message}",
}


def error_from_body(body: Any, status: int) -> ServerError:
    """A ServerError from an error body ``{"error": {"code", "message"}}``."""
    code, message = "internal", ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or code)
        message = str(body["error"].get("message") or "")
    elif status:
        message = f"HTTP status {status}"
    template = ERROR_TEXT.get(code, "The server reported an error ({code}): {message}")
    text = template.format(code=code, message=message).strip()
    return ServerError(code, text, status)


@dataclass(frozen=True)
class ExamplePair:
    input: str  # base64 PNG
    output: str


@dataclass(frozen=True)
class PromptOptions:
    model: str = "default"
    ensemble: int | None = None
    answer_size: tuple[int, int] | None = None
    select: int | None = None  # the pairs are a library: use the ``select`` closest
    detail: bool = True  # False: the answer exactly as decoded (no query detail transfer)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "ensemble": self.ensemble,
            "answer_size": list(self.answer_size) if self.answer_size else None,
        }
        # Only when asked: older servers refuse unknown fields.
        if self.select:
            data["select"] = self.select
        if not self.detail:
            data["detail"] = False
        return data


@dataclass(frozen=True)
class PromptRequest:
    examples: list[ExamplePair]
    query: str
    mask: str | None = None
    options: PromptOptions = field(default_factory=PromptOptions)

    def to_json(self) -> dict[str, Any]:
        return {
            "examples": [{"input": p.input, "output": p.output} for p in self.examples],
            "query": self.query,
            "mask": self.mask,
            "options": self.options.to_json(),
        }


def _bad_answer(what: str) -> ServerError:
    return ServerError("bad_answer", f"The server's answer is not understood ({what}).")


@dataclass(frozen=True)
class PromptResponse:
    image: str
    width: int
    height: int
    model: str
    timings: dict[str, float]

    @classmethod
    def from_json(cls, data: Any) -> PromptResponse:
        if not isinstance(data, dict) or not isinstance(data.get("image"), str):
            raise _bad_answer("no image")
        try:
            return cls(
                image=data["image"],
                width=int(data.get("width", 0)),
                height=int(data.get("height", 0)),
                model=str(data.get("model", "")),
                timings={str(k): float(v) for k, v in (data.get("timings") or {}).items()},
            )
        except (TypeError, ValueError) as exc:
            raise _bad_answer(str(exc)) from exc


@dataclass(frozen=True)
class JobStatus:
    id: str
    state: str  # queued | running | done | failed | cancelled
    progress: float = 0.0
    result: PromptResponse | None = None
    error: ServerError | None = None

    @classmethod
    def from_json(cls, data: Any) -> JobStatus:
        if not isinstance(data, dict) or "id" not in data or "state" not in data:
            raise _bad_answer("no job id or state")
        result = data.get("result")
        error = data.get("error")
        return cls(
            id=str(data["id"]),
            state=str(data["state"]),
            progress=float(data.get("progress") or 0.0),
            result=PromptResponse.from_json(result) if result else None,
            error=error_from_body({"error": error}, 0) if isinstance(error, dict) else None,
        )


@dataclass(frozen=True)
class ModelInfo:
    name: str
    loaded: bool = False
    available: bool = True
    description: str = ""

    @classmethod
    def from_json(cls, data: Any) -> ModelInfo:
        if not isinstance(data, dict) or "name" not in data:
            raise _bad_answer("model without a name")
        return cls(
            name=str(data["name"]),
            loaded=bool(data.get("loaded", False)),
            available=bool(data.get("available", True)),
            description=str(data.get("description") or ""),
        )


@dataclass(frozen=True)
class ServerInfo:
    version: str = ""
    device: str = ""
    loaded_model: str | None = None
    max_pairs: int = 8
    max_pool: int = 0  # 0 = the server cannot select from a library of pairs
    max_pixels: int = 0
    max_body_bytes: int = 0  # 0 = not said (an older server)
    ensemble: bool = False
    models: list[ModelInfo] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> ServerInfo:
        if not isinstance(data, dict):
            raise _bad_answer("info is not an object")
        models = [
            ModelInfo(name=item) if isinstance(item, str) else ModelInfo.from_json(item)
            for item in data.get("models") or []
        ]
        try:
            return cls(
                version=str(data.get("version", "")),
                device=str(data.get("device", "")),
                loaded_model=data.get("loaded_model"),
                max_pairs=int(data.get("max_pairs") or 8),
                max_pool=int(data.get("max_pool") or 0),
                max_pixels=int(data.get("max_pixels") or 0),
                max_body_bytes=int(data.get("max_body_bytes") or 0),
                ensemble=bool(data.get("ensemble", False)),
                models=models,
            )
        except (TypeError, ValueError) as exc:
            raise _bad_answer(str(exc)) from exc
