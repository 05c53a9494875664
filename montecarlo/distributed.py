"""Distributed runs on Dask: ``--workers K`` (a local cluster) or ``--scheduler ADDRESS``.

Each missing chunk of :func:`montecarlo.runner.estimate` becomes one Dask task
(:func:`montecarlo.chunks.compute_chunk`); the client receives the chunks as they complete
(``as_completed``), writes each to the results store at once and combines them in network
order, so the result is bit-identical to a single-process run with the same seed.

A worker that dies mid-chunk loses nothing: the scheduler reschedules its task on another
worker (up to ``distributed.scheduler.allowed-failures`` deaths per task, default 3) and the
chunk is recomputed from ``(seed, i)`` — the same bytes.  Chunks already written stay written.

Task keys are derived from the run key and the range (``mc-chunk-<digest>-<start>-<stop>``),
so two clients asking for the same chunk share one computation.  Workers must run the same
code: every task carries the client's engine version and a worker with another refuses it.
Workers of a remote scheduler need this project importable (``pip install -e .`` on each).

``dask[distributed]`` is optional (``pip install '.[distributed]'``); it is imported only here.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator

from theory.specs import SpecError

from .chunks import ChunkOutput, ChunkTask, compute_chunk
from .store import RunKey


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise SpecError("--workers/--scheduler", "dask", "available after pip install "
                        "'dask[distributed]' (the project's 'distributed' extra)") from None
    return distributed


def task_key(task: ChunkTask) -> str:
    digest = RunKey.of(task.experiment, task.seed, task.backend, task.code_version).digest()
    return f"mc-chunk-{digest}-{task.start}-{task.stop}"


class DaskExecutor:
    """Runs chunk tasks on a ``distributed.Client`` and yields them as they complete."""

    def __init__(self, client, compute: Callable[[ChunkTask], ChunkOutput] = compute_chunk):
        self.client = client
        self.compute = compute

    def run(self, tasks: list[ChunkTask]) -> Iterator[tuple[ChunkTask, ChunkOutput]]:
        distributed = _import_distributed()
        if not tasks:
            return
        futures = {}
        for task in tasks:
            fut = self.client.submit(self.compute, task, key=task_key(task), pure=False)
            futures[fut] = task
        try:
            for fut in distributed.as_completed(list(futures)):
                yield futures[fut], fut.result()
                fut.release()
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                self.client.cancel(pending)


@contextmanager
def dask_executor(*, workers: int | None = None, scheduler: str | None = None,
                  threads_per_worker: int = 1, processes: bool = True,
                  compute: Callable[[ChunkTask], ChunkOutput] = compute_chunk) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on a new local cluster of ``workers`` processes, or on ``scheduler``.

    The local cluster (no dashboard, quiet logs) is shut down on exit; a remote scheduler is
    only disconnected from.
    """
    if (workers is None) == (scheduler is None):
        raise SpecError("--workers/--scheduler", (workers, scheduler), "exactly one of the two")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SpecError("--workers", workers, "an integer >= 1 (local worker processes)")
    distributed = _import_distributed()
    cluster = None
    try:
        if scheduler is not None:
            try:
                client = distributed.Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as err:
                raise SpecError("--scheduler", scheduler, f"the address of a running Dask scheduler "
                                f"(connecting failed: {err})") from None
        else:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                                               processes=processes, dashboard_address=None,
                                               silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        try:
            yield DaskExecutor(client, compute)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
