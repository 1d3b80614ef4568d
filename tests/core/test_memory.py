"""The allocator setting of the entry points (``visprompt_core.memory``), in fresh
processes: a freed buffer of a prompt's size is reused without touching new pages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from visprompt_core.memory import keep_freed_memory


def has_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):  # not a glibc system
        return False


GLIBC = sys.platform.startswith("linux") and has_glibc()

# Allocate, fill and free a 20 MiB tensor (a 1024x768 float answer is 9 MiB), then a
# 16 MiB one, and print the page faults of the second. (It is the smaller so it fits the
# freed block wherever that lies: something allocated meanwhile may sit above it.)
SCRIPT = """
import resource, sys, torch
from visprompt_core.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
x = torch.empty(5 * 2**20).fill_(1.0)
del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
y = torch.empty(4 * 2**20).fill_(2.0)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def second_round(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_a_freed_buffer_is_reused_without_new_pages():
    kept, faults = second_round("keep")
    assert kept == "True"
    assert faults < 100  # its 4,096 pages come back from the heap, already touched
    _, default_faults = second_round("plain")
    assert default_faults > 2000  # by default glibc gave the block back to the system


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_the_users_own_malloc_settings_win():
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"}
    kept, _ = second_round("keep", env)
    assert kept == "False"


@pytest.mark.skipif(GLIBC, reason="elsewhere than glibc")
def test_no_change_without_glibc():
    assert keep_freed_memory() is False
