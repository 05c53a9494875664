"""Keep OpenBLAS single-threaded while the kernels run, best effort.

The kernels multiply many small matrices (N ≈ 200): a multi-threaded GEMM gains nothing there,
and OpenBLAS's spinning worker threads collapse throughput when the cores are shared (measured
on this 2-core machine with another process busy: 29 s vs 5.6 s for the same run).  The numba
kernel therefore runs its products single-threaded and parallelizes over networks instead.

``openblas_set_num_threads_local`` is meant to change the calling thread's count only, but in
numpy's scipy-openblas build it changes the *process-wide* count (checked: another thread sees
the change).  Setting it and restoring it around each block raced between the kernel's threads
(one restored 2 while the other was still multiplying, so some products ran multi-threaded and
rounded differently: the first chunk of a fresh process differed in the last bits).  So the
count is pinned to 1 for the whole process the first time a kernel runs, and never restored:
results then never depend on timing.  Libraries are found among the shared objects this process
has loaded (/proc/self/maps, Linux); elsewhere, or for another BLAS, this is a no-op.
"""
from __future__ import annotations

import ctypes
import functools
import os
from contextlib import contextmanager


@functools.lru_cache(maxsize=1)
def _setters() -> tuple:
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return ()
    found = []
    for path in sorted(paths):
        try:
            fn = getattr(ctypes.CDLL(path), "openblas_set_num_threads_local")
        except (OSError, AttributeError):
            continue
        fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int]
        found.append(fn)
    return tuple(found)


def pin_single_thread() -> None:
    """Set OpenBLAS to one thread for this process (idempotent; see the module docstring)."""
    import numpy  # noqa: F401  (make sure numpy's OpenBLAS is loaded before looking for it)
    for set_threads in _setters():
        set_threads(1)


@contextmanager
def single_threaded_blas():
    """Within (and after) the block, BLAS calls use one thread: the count is pinned, not restored."""
    pin_single_thread()
    yield


def worker_count(networks: int) -> int:
    """Threads to spread ``networks`` over: the usable cores, at most one per network."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, networks))
