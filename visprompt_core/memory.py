"""Process-wide allocator setting for an entry point (CLI, server): keep freed memory.

A prompt with a full-size answer allocates and frees many buffers of a few MiB (the
query, the guided filter's planes). glibc's malloc hands blocks of that size back to the
operating system when they are freed (mmap, or trimming the heap's top), so the next
prompt touches fresh pages again: 3,900-12,000 page faults and 13-50 ms of system time
per 1024x768 prompt on a 2-core CPU (medians 5,553 and 20.3 ms; docs/performance.md).
``keep_freed_memory`` raises the two limits so such blocks come from and return to the
heap: the process keeps up to ``TRIM_THRESHOLD`` of freed memory for reuse. Answers are
unchanged; only where memory comes from changes.

Only glibc (Linux) has these settings; elsewhere, or when the user set glibc's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, nothing changes. Never applied at
import: the library leaves its host process's allocator alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap (glibc's largest allowed value on 64-bit).
MMAP_THRESHOLD = 32 * 1024 * 1024
# Freed memory at the heap's top is returned to the system only above this.
TRIM_THRESHOLD = 256 * 1024 * 1024
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (``MMAP_THRESHOLD``, ``TRIM_THRESHOLD``).
    True when both were set; False where glibc is absent or the user chose their own."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = [name for name in USER_SETTINGS if name in os.environ]
    if chosen:
        log.info("allocator left as set by %s", ", ".join(chosen))
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    log.info("allocator keeps freed memory: %s", done)
    return done
