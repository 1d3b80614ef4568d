"""Server configuration: one frozen dataclass handed to ``create_app``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7480
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    """Everything the app needs; the CLI builds one from its flags.

    ``token`` is the secret every request but ``GET /v1/health`` must present; ``None``
    disables authentication (only allowed on loopback addresses, see ``validate``).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    model: str = "default"
    device: str = "auto"
    token: str | None = None
    allow_hosts: tuple[str, ...] = ()
    allow_origins: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_request_pixels: int = 4 * 4096 * 4096
    max_pairs: int = 8
    max_pool: int = 64  # pairs a request may send when it asks the server to select
    queue_size: int = 64
    max_batch: int = 8
    batch_wait_ms: float = 0.0
    request_timeout_s: float = 300.0
    job_ttl_s: float = 600.0
    max_jobs: int = 256
    token_file: Path | None = field(default=None, compare=False)

    def validate(self) -> None:
        """Raise ``ValueError`` for settings the server must refuse to run with."""
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"refusing to bind {self.host!r} without a token: a non-loopback address "
                "is reachable from other machines"
            )
        if self.device not in ("auto", "cuda", "cpu") and not self.device.startswith("cuda:"):
            raise ValueError(f"unknown device {self.device!r} (auto, cuda, cuda:N or cpu)")
        for name in (
            "max_body_bytes",
            "max_pixels",
            "max_request_pixels",
            "max_pairs",
            "max_pool",
            "queue_size",
            "max_batch",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.request_timeout_s <= 0:
            raise ValueError("request_timeout_s must be positive")

    def allowed_host_names(self) -> frozenset[str]:
        """Host header names (without port) this server answers to."""
        names = {"localhost", "127.0.0.1", "[::1]", "::1", self.host.lower()}
        if ":" in self.host and not self.host.startswith("["):
            names.add(f"[{self.host.lower()}]")
        names.update(h.lower() for h in self.allow_hosts)
        return frozenset(names)
