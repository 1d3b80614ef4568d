"""Every error the API reports, and the one place that turns exceptions into JSON.

The body is always ``{"error": {"code": "<stable code>", "message": "<text>"}}``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

logger = logging.getLogger(__name__)

# code -> HTTP status. The table in docs/server.md mirrors this.
STATUS: dict[str, int] = {
    "bad_json": 400,
    "bad_image": 400,
    "bad_input": 400,
    "size_mismatch": 400,
    "too_many_pairs": 400,
    "unauthorized": 401,
    "forbidden_host": 403,
    "forbidden_origin": 403,
    "not_found": 404,
    "unknown_model": 404,
    "method_not_allowed": 405,
    "model_not_downloaded": 409,
    "bad_checkpoint": 409,
    "cancelled": 409,
    "body_too_large": 413,
    "image_too_large": 413,
    "queue_full": 429,
    "internal": 500,
    "out_of_memory": 503,
    "shutting_down": 503,
    "timeout": 504,
}


class ApiError(Exception):
    """An error with a stable code; raise it anywhere in the server."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 500)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    headers = dict(headers or {})
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if error.code == "unauthorized":
        headers["WWW-Authenticate"] = "Bearer"
    return Response(
        error_body(error.code, error.message),
        status_code=error.status,
        headers=headers,
        media_type="application/json",
    )


def from_exception(exc: BaseException) -> ApiError:
    """Map any exception (core, torch, ours) to an ``ApiError``."""
    if isinstance(exc, ApiError):
        return exc
    from visprompt_core.errors import VisPromptError

    if isinstance(exc, VisPromptError):
        code = getattr(exc, "code", "internal")
        if code == "model_not_found":
            return ApiError("unknown_model", str(exc) or "unknown model")
        if code in ("bad_input", "bad_checkpoint"):
            return ApiError(code, str(exc) or code)
        if code == "download_failed":
            return ApiError("model_not_downloaded", str(exc) or "model not downloaded")
        return ApiError("internal", str(exc) or code)
    if is_out_of_memory(exc):
        return ApiError(
            "out_of_memory",
            "the device ran out of memory; try a smaller image, fewer pairs or less ensembling",
            retry_after=1,
        )
    logger.error("unexpected error", exc_info=exc)
    return ApiError("internal", f"internal error ({type(exc).__name__})")


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(
        torch.cuda, "OutOfMemoryError", None
    )
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


def _validation_message(errors: Any) -> str:
    parts = []
    for err in list(errors)[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts) if parts else "invalid request body"


def _allowed_methods(request: Request) -> str:
    """Methods of every route on this path (Starlette lists only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        # A path match with another method is Match.PARTIAL; a wrong path is Match.NONE.
        if route_methods and route.matches(request.scope)[0] != Match.NONE:
            methods.update(route_methods)
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception type to the JSON error body."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        return error_response(from_exception(exc))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(ApiError("bad_json", _validation_message(exc.errors())))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            err = ApiError("not_found", f"no such resource: {request.url.path}")
        elif exc.status_code == 405:
            err = ApiError("method_not_allowed", f"{request.method} is not allowed here")
            return error_response(err, {"Allow": _allowed_methods(request)})
        elif exc.status_code == 400:
            err = ApiError("bad_json", str(exc.detail))
        elif exc.status_code == 413:
            err = ApiError("body_too_large", str(exc.detail))
        else:
            err = ApiError("internal", str(exc.detail))
            return JSONResponse({"error": err.to_dict()}, status_code=exc.status_code)
        return error_response(err)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return error_response(from_exception(exc))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
