"""Keep OpenBLAS single-threaded inside a block (per calling thread), best effort.

The kernels multiply many small matrices (N ≈ 200): a multi-threaded GEMM gains nothing there,
and OpenBLAS's spinning worker threads collapse throughput when the cores are shared (measured
on this 2-core machine with another process busy: 29 s vs 5.6 s for the same run).  The numba
kernel therefore runs its products single-threaded and parallelizes over networks instead.

``openblas_set_num_threads_local`` (OpenBLAS >= 0.3.27) changes the thread count of the calling
thread only.  Libraries are found among the shared objects this process has loaded
(/proc/self/maps, Linux); elsewhere, or for another BLAS, this is a no-op.
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


@contextmanager
def single_threaded_blas():
    """Within the block, BLAS calls made by *this* thread use one thread."""
    import numpy  # noqa: F401  (make sure numpy's OpenBLAS is loaded before looking for it)
    previous = [(fn, fn(1)) for fn in _setters()]
    try:
        yield
    finally:
        for fn, n in previous:
            fn(max(int(n), 1))


def worker_count(networks: int) -> int:
    """Threads to spread ``networks`` over: the usable cores, at most one per network."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, networks))
