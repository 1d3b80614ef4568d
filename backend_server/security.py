"""Request gatekeeping: Host, Origin, bearer token and body size, plus the token file.

``SecurityMiddleware`` is plain ASGI so that it runs before any routing or body parsing.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from backend_server.config import ServerConfig
from backend_server.errors import STATUS, ApiError, error_body

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/v1/health"})
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"


# -- token file ------------------------------------------------------------------------


def load_or_create_token(path: Path) -> str:
    """Read the token, or create the file (mode 0600) with a new one.

    A folder created for it gets mode 0700; an existing folder is left as it is. Two
    servers starting at once agree on one token: only one of them can create the file.
    """
    for _ in range(50):
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            token = ""
        if token:
            _warn_if_readable_by_others(path)
            return token
        if path.exists():  # empty: another process is writing it, or a broken file
            time.sleep(0.02)
            if not path.read_text(encoding="utf-8").strip():
                path.unlink(missing_ok=True)
            continue
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        token = secrets.token_urlsafe(32)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        os.chmod(path, 0o600)
        logger.info("created a new API token in %s", path)
        return token
    raise OSError(f"cannot read or create the token file {path}")


def _warn_if_readable_by_others(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        logger.warning("token file %s is readable by other users; run chmod 600 on it", path)


# -- middleware ------------------------------------------------------------------------


def _host_name(host: str) -> str:
    """'example:7480' -> 'example', '[::1]:7480' -> '[::1]'."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end >= 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` while the body streams in; an HTTPException so FastAPI's
    body reader passes it through to the error handlers (status 413 = body_too_large)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.hosts = config.allowed_host_names()
        self.any_host = "*" in config.allow_hosts
        self.origins = frozenset(o.rstrip("/").lower() for o in config.allow_origins)
        self.any_origin = "*" in config.allow_origins
        self.token = config.token.encode() if config.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            origin = self._check(scope, headers)
        except ApiError as err:
            await _send_error(send, err)
            return
        if origin is not None and scope["method"] == "OPTIONS":
            await _send_preflight(send, origin)
            return
        if origin is not None:
            send = _with_cors(send, origin)
        await self.app(scope, self._limit_body(receive), send)

    def _check(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """Raise for refused requests; return the allowed Origin, if any."""
        host = headers.get("host")
        if host is None or not (self.any_host or _host_name(host) in self.hosts):
            raise ApiError(
                "forbidden_host",
                f"Host {host!r} is not served here; "
                "start the server with --allow-host to permit it",
            )
        origin = headers.get("origin")
        if origin is not None:
            if not (self.any_origin or origin.rstrip("/").lower() in self.origins):
                raise ApiError(
                    "forbidden_origin",
                    "browser requests from other sites are refused; "
                    "start the server with --allow-origin to permit one",
                )
            if scope["method"] == "OPTIONS":
                return origin
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise ApiError("bad_json", "invalid Content-Length header")
            if int(length) > self.config.max_body_bytes:
                raise ApiError(
                    "body_too_large",
                    f"request body larger than {self.config.max_body_bytes} bytes",
                )
        public = scope["path"] in PUBLIC_PATHS and scope["method"] in ("GET", "HEAD")
        if self.token is not None and not public:
            self._check_token(headers.get("authorization"))
        return origin

    def _check_token(self, header: str | None) -> None:
        assert self.token is not None
        if header is None:
            raise ApiError("unauthorized", "missing 'Authorization: Bearer <token>' header")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode("latin-1"), self.token
        ):
            raise ApiError("unauthorized", "wrong token; it is in the server's token file")

    def _limit_body(self, receive: Receive) -> Receive:
        limit = self.config.max_body_bytes
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return limited


async def _send_error(send: Send, err: ApiError) -> None:
    headers = [(b"content-type", b"application/json")]
    if err.code == "unauthorized":
        headers.append((b"www-authenticate", b"Bearer"))
    body = error_body(err.code, err.message)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": STATUS[err.code], "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_preflight(send: Send, origin: str) -> None:
    headers = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-methods", CORS_METHODS.encode()),
        (b"access-control-allow-headers", CORS_HEADERS.encode()),
        (b"access-control-max-age", b"600"),
        (b"vary", b"Origin"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
            headers.append((b"vary", b"Origin"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
