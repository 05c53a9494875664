"""Independent jobs of a convnet experiment in worker processes: every core, the same bits.

A Fig. 5 minibatch (its networks, one per architecture and depth) and a Fig. 6 training run
(one arch, depth and seed index) depend only on their own seeds (:mod:`.seeds`), never on which
other jobs run or where, so they can run in any order, in any process.  :func:`run_jobs` runs
them in ``workers`` processes (``spawn``: nothing of the parent's torch or OpenMP state is
inherited), each with ``threads`` torch threads and :func:`.memory.keep_freed_memory`; a job's
result is then bit for bit the one a single process with ``threads`` threads computes (the tests
compare whole documents).  Jobs are handed out in the order given (pass the longest first), and
results come back as they complete, tagged with the job's index.

``shared`` (e.g. the images) is sent to each worker once, at its start, not with every job.
Why processes and not torch's threads: a process per core keeps every operation on one core
(the small convolutions and the elementwise BN/ReLU passes of these nets scale poorly over
threads), and the numbers are those of a one-thread run whatever the number of cores.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from typing import Any, Callable, Iterator, Mapping, Sequence

_SHARED: dict[str, Any] = {}


def usable_cores() -> int:
    """The number of cores this process may run on (its CPU affinity, e.g. under ``taskset``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_workers(workers: Any) -> int:
    """``workers``: a positive integer (processes)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is not allowed: a positive integer (processes)")
    return workers


def _start(threads: int, shared: Mapping[str, Any]) -> None:
    import torch

    from .memory import keep_freed_memory
    keep_freed_memory()
    torch.set_num_threads(threads)
    _SHARED.clear()
    _SHARED.update(shared)


def _call(fn: Callable, args: tuple) -> Any:
    return fn(_SHARED, *args)


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int, threads: int,
             shared: Mapping[str, Any]) -> Iterator[tuple[int, Any]]:
    """``(i, fn(shared, *jobs[i]))`` for every job, as they complete.

    ``fn`` is a module-level function (workers import it by name).  ``workers == 1`` runs the
    jobs here, in order, with the caller's torch threads; otherwise in ``min(workers, len(jobs))``
    spawned processes with ``threads`` torch threads each.
    """
    check_workers(workers)
    if workers == 1 or len(jobs) <= 1:
        for i, args in enumerate(jobs):
            yield i, fn(shared, *args)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context,
                                                initializer=_start, initargs=(threads, dict(shared))) as pool:
        futures = {pool.submit(_call, fn, tuple(args)): i for i, args in enumerate(jobs)}
        try:
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()
