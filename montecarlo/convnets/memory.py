"""Keep freed memory in the process: the convnets' large activations reuse pages instead of faulting in new ones.

A CIFAR-10 minibatch of 256 images at width 16 has 16 MiB activations, and a probe or a training
step allocates and frees hundreds of them.  glibc's ``malloc`` serves blocks above
``M_MMAP_THRESHOLD`` (128 KiB at start, raised dynamically up to 32 MiB) with ``mmap`` and returns
them with ``munmap``, and it gives the top of the heap back to the kernel above
``M_TRIM_THRESHOLD``: either way the next tensor of that size touches fresh pages, each a page fault
and 4 KiB zeroed by the kernel.  Measured on this project's machine (one core, the Fig. 5 runs of
``make report``): a third of the wall time was system time, the page faults.

:func:`keep_freed_memory` sets both thresholds once (``mallopt``): blocks up to
:data:`MMAP_THRESHOLD` come from the heap, and freed heap memory is never trimmed, so the process
keeps the pages of its high-water mark and reuses them.  Numbers do not change (no arithmetic is
touched; the tests compare a probe bit for bit); the resident size stays at the run's peak instead
of falling between networks.  Elsewhere than glibc (macOS, musl) it does nothing and says so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``mallopt`` parameters (glibc ``malloc.h``)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: the largest ``M_MMAP_THRESHOLD`` glibc accepts on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``, 32 MiB)
MMAP_THRESHOLD = 32 * 1024 * 1024

_applied: bool | None = None


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def keep_freed_memory() -> bool:
    """Serve blocks up to :data:`MMAP_THRESHOLD` from the heap and never trim it (glibc ``mallopt``).

    Returns True when both settings took effect (glibc), False where there is no glibc or
    ``mallopt`` refused.  Idempotent: the first call decides, later calls return its answer.
    """
    global _applied
    if _applied is None:
        libc = _libc()
        _applied = bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                        and libc.mallopt(M_TRIM_THRESHOLD, -1) == 1)
    return _applied
