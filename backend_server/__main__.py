"""Entry point: ``visprompt-server`` / ``python -m backend_server``.

Prints ``VISPROMPT_READY {json}`` on stdout exactly once, when the server answers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from backend_server.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, is_loopback
from visprompt_core.memory import keep_freed_memory

logger = logging.getLogger("backend_server")

READY_PREFIX = "VISPROMPT_READY "


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="visprompt-server",
        description="VisPrompt local inference server (HTTP API v1, see docs/server.md)",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default %(default)s)")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s; 0 = any free)"
    )
    p.add_argument("--model", default="default", help="model name or checkpoint path to load")
    p.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    p.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="token file (created with mode 0600 if missing; default: the user config dir)",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without a token (refused unless the address is loopback)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept this Host header name (repeatable; '*' = any)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept browser requests from this origin, e.g. http://localhost:3000 (repeatable)",
    )
    p.add_argument("--queue-size", type=int, default=64, help="waiting requests before 429")
    p.add_argument("--max-batch", type=int, default=8, help="prompts per forward pass")
    p.add_argument("--timeout", type=float, default=300.0, help="per-request timeout, seconds")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=4096 * 4096,
        help="pixels per image (a request may hold 4x this in all)",
    )
    p.add_argument("--max-body-mb", type=float, default=64.0, help="request body limit, MiB")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p


def make_config(args: argparse.Namespace) -> ServerConfig:
    token: str | None = None
    token_file: Path | None = None
    if not args.no_auth:
        from backend_server.security import load_or_create_token

        if args.token_file is not None:
            token_file = args.token_file
        else:
            from visprompt_core import paths

            token_file = paths.token_file()
        token = load_or_create_token(token_file)
    return ServerConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        device=args.device,
        token=token,
        token_file=token_file,
        allow_hosts=tuple(args.allow_host),
        allow_origins=tuple(args.allow_origin),
        queue_size=args.queue_size,
        max_batch=args.max_batch,
        request_timeout_s=args.timeout,
        max_pixels=args.max_pixels,
        max_request_pixels=4 * args.max_pixels,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
    )


def bind_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    if sys.platform != "win32":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def ready_line(config: ServerConfig, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = config.host if ":" not in config.host else f"[{config.host.strip('[]')}]"
    info: dict[str, Any] = {
        "host": config.host,
        "port": port,
        "url": f"http://{shown}:{port}",
        "token_file": str(config.token_file) if config.token_file else None,
    }
    return READY_PREFIX + json.dumps(info)


def serve(config: ServerConfig, sock: socket.socket, log_level: str, access_log: bool) -> int:
    import uvicorn

    from backend_server.app import create_app

    app = create_app(config)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                sys.stdout.write(ready_line(config, sock) + "\n")
                sys.stdout.flush()

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # uvicorn re-raises the signal after shutting down; we exit 0 instead.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            signals = [signal.SIGINT, signal.SIGTERM]
            if sys.platform == "win32":
                signals.append(signal.SIGBREAK)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    uv_config = uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = Server(uv_config)
    server.run(sockets=[sock])
    if not server.started:
        logger.error("the server did not start")
        return 1
    logger.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    keep_freed_memory()
    if args.no_auth and not is_loopback(args.host):
        logger.error("--no-auth is only allowed on a loopback address, not %r", args.host)
        return 2
    try:
        config = make_config(args)
        config.validate()
    except (OSError, ValueError) as exc:
        logger.error("%s", exc)
        return 2
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        return 1
    try:
        return serve(config, sock, args.log_level, args.access_log)
    except SystemExit:  # uvicorn exits (code 3) when the app's startup fails
        logger.error("the server did not start")
        return 1
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
