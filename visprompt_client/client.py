"""A small client for the VisPrompt server's HTTP API v1 (standard library only).

    from visprompt_client import Client
    client = Client()                       # http://127.0.0.1:7480, token from the token file
    result = client.prompt([("in.png", "out.png")], "query.png")
    result.save("answer.png")

Images may be given as file paths, raw PNG/JPEG bytes, or PIL images (when Pillow is
installed). Every failure raises ``ServerError`` with a stable ``code``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

DEFAULT_URL = "http://127.0.0.1:7480"

ImageLike = Union[str, "os.PathLike[str]", bytes, bytearray, Any]
"""A file path, encoded image bytes, or an object with ``save(fp, format)`` (PIL)."""


class ServerError(Exception):
    """An error answered by the server (or met on the way to it).

    ``status`` is the HTTP status, or 0 when no answer came (``code`` is then
    ``connection_failed`` or ``timeout``). ``retry_after`` is set on ``queue_full``.
    """

    def __init__(
        self, code: str, message: str, status: int, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


@dataclass
class PromptResult:
    png: bytes
    width: int
    height: int
    model: str
    timings: dict[str, float] = field(default_factory=dict)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_bytes(self.png)

    def image(self) -> Any:
        """The answer as a PIL image (needs Pillow)."""
        from PIL import Image

        image = Image.open(io.BytesIO(self.png))
        image.load()
        return image

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromptResult:
        return cls(
            png=base64.b64decode(data["image"]),
            width=int(data["width"]),
            height=int(data["height"]),
            model=str(data.get("model", "")),
            timings=dict(data.get("timings", {})),
        )


def default_token_file() -> Path:
    """Where the local server keeps its token (same rules as the server)."""
    if env := os.environ.get("VISPROMPT_CONFIG_DIR"):
        return Path(env) / "token"
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "visprompt" / "token"


def read_token(path: str | os.PathLike[str] | None = None) -> str | None:
    """The token in ``path`` (default: the user's token file), or None if unreadable."""
    try:
        return Path(path or default_token_file()).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def encode_image(image: ImageLike) -> str:
    """Base64 text of an image given as path, bytes or PIL image."""
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, (str, os.PathLike)):
        data = Path(image).read_bytes()
    elif hasattr(image, "save"):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise TypeError(f"cannot send {type(image).__name__} as an image")
    return base64.b64encode(data).decode("ascii")


class Client:
    """Talks to one server. Thread-safe: each call opens its own connection."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        token_file: str | os.PathLike[str] | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.url = (url or os.environ.get("VISPROMPT_URL") or DEFAULT_URL).rstrip("/")
        if token is None:
            token = os.environ.get("VISPROMPT_TOKEN") or read_token(token_file)
        self.token = token
        self.timeout = timeout

    # -- endpoints ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/v1/health")

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/v1/info")

    def models(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/models")["models"])

    def load_model(self, name: str) -> str:
        return str(self._call("POST", "/v1/models/load", {"name": name})["loaded_model"])

    def prompt(
        self,
        examples: Sequence[tuple[ImageLike, ImageLike]],
        query: ImageLike,
        mask: ImageLike | None = None,
        *,
        model: str | None = None,
        ensemble: int | None = None,
        answer_size: tuple[int, int] | None = None,
        upscale: str | None = None,
        select: int | None = None,
        detail: bool | None = None,
        timeout: float | None = None,
    ) -> PromptResult:
        """Send a prompt and wait for the answer. ``select``: ``examples`` is a pool (up to
        the server's ``max_pool``) and the server answers with its ``select`` pairs most
        similar to the query. ``detail=False``: the answer exactly as decoded, without the
        query's detail carried in."""
        body = build_request(examples, query, mask, model, ensemble, answer_size, upscale,
                             select, detail)
        return PromptResult.from_json(self._call("POST", "/v1/prompt", body, timeout))

    def submit_job(
        self,
        examples: Sequence[tuple[ImageLike, ImageLike]],
        query: ImageLike,
        mask: ImageLike | None = None,
        *,
        model: str | None = None,
        ensemble: int | None = None,
        answer_size: tuple[int, int] | None = None,
        upscale: str | None = None,
        select: int | None = None,
        detail: bool | None = None,
    ) -> str:
        """Queue a prompt; returns the job id."""
        body = build_request(examples, query, mask, model, ensemble, answer_size, upscale,
                             select, detail)
        return str(self._call("POST", "/v1/jobs", body)["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's state, progress, and result or error (raw JSON)."""
        return self._call("GET", f"/v1/jobs/{_quote(job_id)}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/jobs/{_quote(job_id)}")

    def wait_job(
        self,
        job_id: str,
        poll_s: float = 0.2,
        on_progress: Callable[[float, str], None] | None = None,
        timeout: float | None = None,
    ) -> PromptResult:
        """Poll a job until it ends; its error is raised as ``ServerError``."""
        end = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            status = self.job(job_id)
            if on_progress is not None:
                on_progress(float(status.get("progress", 0.0)), str(status["state"]))
            if status["state"] == "done":
                return PromptResult.from_json(status["result"])
            if status["state"] in ("failed", "cancelled"):
                error = status.get("error") or {"code": status["state"], "message": ""}
                raise ServerError(error["code"], error["message"], 200)
            if time.monotonic() > end:
                raise ServerError("timeout", f"job {job_id} did not finish in time", 0)
            time.sleep(poll_s)

    # -- transport ---------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as answer:
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from None
        except TimeoutError:
            raise ServerError("timeout", f"no answer from {self.url} in time", 0) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ServerError("timeout", f"no answer from {self.url} in time", 0) from None
            raise ServerError(
                "connection_failed", f"cannot reach {self.url}: {exc.reason}", 0
            ) from None


def build_request(
    examples: Sequence[tuple[ImageLike, ImageLike]],
    query: ImageLike,
    mask: ImageLike | None = None,
    model: str | None = None,
    ensemble: int | None = None,
    answer_size: tuple[int, int] | None = None,
    upscale: str | None = None,
    select: int | None = None,
    detail: bool | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/prompt`` and ``POST /v1/jobs``."""
    options: dict[str, Any] = {
        "model": model,
        "ensemble": ensemble,
        "answer_size": list(answer_size) if answer_size is not None else None,
    }
    # Left out when unset: older servers refuse unknown fields.
    if upscale is not None:
        options["upscale"] = upscale
    if select is not None:
        options["select"] = select
    if detail is not None:
        options["detail"] = detail
    return {
        "examples": [
            {"input": encode_image(src), "output": encode_image(dst)} for src, dst in examples
        ],
        "query": encode_image(query),
        "mask": None if mask is None else encode_image(mask),
        "options": options,
    }


def _http_error(exc: urllib.error.HTTPError) -> ServerError:
    raw = exc.read()
    try:
        error = json.loads(raw)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", raw.decode("utf-8", "replace")[:500] or str(exc)
    retry = exc.headers.get("Retry-After") if exc.headers else None
    try:
        retry_after = float(retry) if retry is not None else None
    except ValueError:
        retry_after = None
    return ServerError(code, message, exc.code, retry_after)


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")
