"""CPU thread settings for inference, applied only when asked (never at import).

On a CPU shared with other busy processes, fewer intra-op threads can be much faster:
every parallel region waits for all of its threads, and a descheduled thread stalls the
rest (measured in docs/performance.md). ``cpu_threads`` scopes a setting to one block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch

log = logging.getLogger(__name__)


@contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (None: unchanged), then restore."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def configure_threads(threads: int | None = None, interop: int | None = None) -> None:
    """Process-wide settings for an entry point (CLI, server) before any model work.

    ``interop`` can only be set once per process, before inter-op parallelism starts;
    a later attempt is logged and ignored.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    if interop is not None:
        try:
            torch.set_interop_threads(interop)
        except RuntimeError as exc:
            log.warning("inter-op threads not changed: %s", exc)
    log.info("torch threads: intra-op %d, inter-op %d", torch.get_num_threads(),
             torch.get_num_interop_threads())
