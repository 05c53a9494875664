"""Independent jobs of a convnet experiment in worker processes: every core, the same bits.

A Fig. 5 minibatch (its networks, one per architecture and depth) and a Fig. 6 training run
(one arch, depth and seed index) depend only on their own seeds (:mod:`.seeds`), never on which
other jobs run or where, so they can run in any order, in any process.  :func:`run_jobs` runs
them in ``workers`` processes (``spawn``: nothing of the parent's torch or OpenMP state is
inherited), each with ``threads`` torch threads and :func:`.memory.keep_freed_memory`; a job's
result is then bit for bit the one a single process with ``threads`` threads computes (the tests
compare whole documents).  Jobs are handed out in the order given (pass the longest first), and
results come back as they complete, tagged with the job's index.

Why processes and not torch's threads: a process per core keeps every operation on one core
(the small convolutions and the elementwise BN/ReLU passes of these nets scale poorly over
threads), and the numbers are those of a one-thread run whatever the number of cores.

``shared`` (e.g. the training images) travels as one pickled file in a temporary folder, named with
every job, not pickled into every job: a worker reads it at its first job of a call and keeps it for
the rest, so one set of processes can serve calls with different ``shared``.  Inside :func:`kept_workers` (``python -m reports.produce`` runs both
Fig. 5 settings and the Fig. 6 training in one), :func:`run_jobs` keeps its processes for the next
call with the same ``workers`` and ``threads``.  That saves more than the start of the processes:
a fresh process backs its heap with new pages at its first depth-50 probe (3.3 GB then, 2.3 GB
since the Fig. 5 blocks leave no holes in it: :class:`.models.Block`), and on this project's VM
that made the first minibatch of each worker take 26 s instead of 10.5 (the first depth-50
feedforward probe 12.3 s instead of 2.2; measured, both workers faulting at once).  A kept
process keeps its heap (:func:`.memory.keep_freed_memory`).  A job's numbers do not depend on what
the process ran before (each job seeds its own generators; tested).
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

_SHARED: dict[str, Any] = {}
_SHARED_FILE: str | None = None   # the file _SHARED was read from, in a worker
#: the processes kept by :func:`kept_workers`, by (workers, threads); None outside that scope
_KEPT: dict[tuple[int, int], concurrent.futures.ProcessPoolExecutor] | None = None


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


def _start(threads: int) -> None:
    import torch

    from .memory import keep_freed_memory
    keep_freed_memory()
    torch.set_num_threads(threads)


def _call(fn: Callable, args: tuple, shared_file: str) -> Any:
    global _SHARED_FILE
    if _SHARED_FILE != shared_file:
        _SHARED.clear()
        with open(shared_file, "rb") as f:
            _SHARED.update(pickle.load(f))
        _SHARED_FILE = shared_file
    return fn(_SHARED, *args)


@contextlib.contextmanager
def kept_workers() -> Iterator[None]:
    """Inside this scope :func:`run_jobs` keeps its worker processes (and their heaps) for the next
    call with the same ``workers`` and ``threads``; they are shut down when the scope ends.  Nested
    scopes share the outermost one."""
    global _KEPT
    if _KEPT is not None:
        yield
        return
    _KEPT = {}
    try:
        yield
    finally:
        kept, _KEPT = _KEPT, None
        for pool in kept.values():
            pool.shutdown(wait=True, cancel_futures=True)


def _pool(workers: int, threads: int) -> tuple[concurrent.futures.ProcessPoolExecutor, bool]:
    """A process pool of ``workers`` processes with ``threads`` torch threads each, and whether it is kept."""
    if _KEPT is not None and (workers, threads) in _KEPT:
        return _KEPT[(workers, threads)], True
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_start, initargs=(threads,))
    if _KEPT is not None:
        _KEPT[(workers, threads)] = pool
    return pool, _KEPT is not None


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int, threads: int,
             shared: Mapping[str, Any]) -> Iterator[tuple[int, Any]]:
    """``(i, fn(shared, *jobs[i]))`` for every job, as they complete.

    ``fn`` is a module-level function (workers import it by name).  ``workers == 1`` runs the
    jobs here, in order, with the caller's torch threads; otherwise in ``workers`` spawned processes
    with ``threads`` torch threads each (``min(workers, len(jobs))`` outside :func:`kept_workers`).
    """
    check_workers(workers)
    if workers == 1 or len(jobs) <= 1:
        for i, args in enumerate(jobs):
            yield i, fn(shared, *args)
        return
    if _KEPT is None:
        workers = min(workers, len(jobs))
    folder = Path(tempfile.mkdtemp(prefix="shattered-gradients-jobs-"))
    try:
        shared_file = str(folder / "shared.pickle")
        with open(shared_file, "wb") as f:
            pickle.dump(dict(shared), f, protocol=pickle.HIGHEST_PROTOCOL)
        pool, kept = _pool(workers, threads)
        try:
            futures = {pool.submit(_call, fn, tuple(args), shared_file): i for i, args in enumerate(jobs)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()
        except concurrent.futures.process.BrokenProcessPool:
            if kept:
                _KEPT.pop((workers, threads), None)  # the next call starts fresh processes
            raise
        finally:
            if not kept:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
