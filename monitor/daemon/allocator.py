"""glibc's malloc gives each thread that contends for the heap an arena of its own (up to
eight per core) and returns little of them: over hours of sweeps on the scheduler's thread
pools the daemon's RSS crept up by about 1.2 MB every 10 minutes (issue 22's soak, 2,000
factories swept every minute), with no growth of the Python objects themselves. Two arenas
hold it flat; the operator's own MALLOC_ARENA_MAX, if set, wins."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for the threads started from now on; False where there is
    no glibc (or the environment already chose)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # musl and others: no mallopt, no arenas to cap
        return False
