"""Stored, resumable and distributed Monte Carlo runs: :func:`estimate`.

A run of ``nets`` networks is cut into chunks ``[start, stop)``.  Each chunk's summary rows are
a pure function of (experiment, seed, range, backend) (:mod:`montecarlo.observables`), so chunks
may be computed in any order, by any process, at any time; they are combined strictly in network
order, which makes the result bit-identical to one uninterrupted in-process run
(:func:`montecarlo.observables.typical_pairs` / :func:`~montecarlo.observables.grid`).

With a results store (:mod:`montecarlo.store`):

1. the chunks already stored under the run's key are found, and a tiling of ``[0, nets)`` is
   chosen that reuses as many stored networks as possible (a run with more networks, or another
   chunk size, reuses what overlaps); missing gaps are cut into chunks of ``chunk`` networks
   aligned to multiples of ``chunk``;
2. every stored chunk that will be used is checked (SHA-256, shape) *before* anything is written,
   so a corrupt store is reported with its bytes untouched;
3. missing chunks are computed (in process, or on an executor such as a Dask cluster,
   :mod:`montecarlo.distributed`) and each is written in its own transaction as soon as it
   completes — a run killed at any moment loses at most the chunks in flight;
4. rows are accumulated in network order; the finished result's JSON document is stored too.

A second run of the same command therefore computes nothing, and a killed run started again
computes only what is missing and ends with exactly the uninterrupted numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kernels import BACKENDS
from theory.specs import NetworkSpec, SpecError

from .chunks import ChunkTask, FuturesExecutor, SerialExecutor, make_experiment, plan_chunks
from .store import RunKey, Store, engine_version, open_store


def as_executor(executor):
    """None → :class:`SerialExecutor`; a Dask ``Client`` → :class:`~montecarlo.distributed.DaskExecutor`;
    a ``concurrent.futures`` executor → :class:`FuturesExecutor`; anything with ``run(tasks)`` as is."""
    if executor is None:
        return SerialExecutor()
    if hasattr(executor, "run") and not hasattr(executor, "submit"):
        return executor
    if type(executor).__module__.split(".")[0] == "distributed":  # a dask Client
        from .distributed import DaskExecutor
        return DaskExecutor(executor)
    if hasattr(executor, "submit"):
        return FuturesExecutor(executor)
    raise TypeError(f"executor={executor!r} is not allowed: None, a dask.distributed Client, a "
                    "concurrent.futures executor, or an object with run(tasks)")


@dataclass
class ChunkProgress:
    """What :func:`estimate` reports to ``progress`` after every chunk (computed or reused)."""

    total: int          # chunks in the run
    reused: int = 0     # read from the store
    computed: int = 0   # computed now (and written, with a store)
    networks: int = 0   # networks accumulated so far, in order
    nets: int = 0       # networks in the run

    @property
    def done(self) -> int:
        return self.reused + self.computed


def _check_int(name: str, value, low: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SpecError(name, value, f"an integer >= {low} ({what})")


def estimate(spec: NetworkSpec, experiment: str = "pairs", *, model: str = "real", nets: int = 64,
             seed: int = 0, chunk: int = 8, backend: str = "numba", store=None, executor=None,
             progress: Callable[[ChunkProgress], None] | None = None, **options):
    """Estimate ``experiment`` (``pairs`` or ``grid``) on ``nets`` networks; see the module doc.

    ``options``: the experiment's own (pairs: ``pairs``, ``bn_backward``; grid: ``points``,
    ``max_lag``, ``bias_std``, ``bn_backward``, ``level_bins``).  ``chunk``: networks per
    chunk (the unit of storage, of resumption and of distribution; results do not depend on it).
    ``store``: None (nothing stored), a :class:`~montecarlo.store.Store` or a path.
    ``executor``: None (this process), a Dask ``Client`` or a ``concurrent.futures`` executor.
    ``progress(ChunkProgress)`` is called once the chunks are planned, then after every chunk.  Returns the same
    :class:`~montecarlo.observables.PairsResult` / :class:`~montecarlo.observables.GridResult`
    as the in-process functions, bit for bit.
    """
    _check_int("nets", nets, 2, "networks are the independent units of the standard errors")
    _check_int("chunk", chunk, 1, "networks per chunk")
    _check_int("seed", seed, 0, "the root seed")
    if backend not in BACKENDS:
        raise SpecError("backend", backend, "one of " + ", ".join(BACKENDS))
    exp = make_experiment(spec, experiment, model, options)
    st, owned = open_store(store)
    try:
        return _estimate(exp, nets, seed, chunk, backend, st, as_executor(executor), progress)
    finally:
        if owned:
            st.close()


def _estimate(exp, nets, seed, chunk, backend, store: Store | None, executor, progress):
    version = engine_version()
    key = RunKey.of(exp, seed, backend, version) if store is not None else None
    width = exp.width()
    plan = plan_chunks(nets, chunk, store.chunk_ranges(key) if store is not None else ())
    if store is not None:  # a corrupt chunk is reported before anything is written
        store.verify_chunks(key, [(s.start, s.stop) for s in plan if s.stored], width)
    state = ChunkProgress(total=len(plan), nets=nets)
    acc = exp.accumulator()
    ready: dict[int, np.ndarray] = {}
    position = 0

    def drain() -> None:
        nonlocal position
        while position < len(plan):
            seg = plan[position]
            if seg.stored:
                rows = store.load_chunk(key, seg.start, seg.stop, width)
                state.reused += 1
            elif seg.start in ready:
                rows = ready.pop(seg.start)
            else:
                return
            acc.add(rows)
            state.networks = seg.stop
            position += 1
            if progress is not None and seg.stored:
                progress(state)

    if progress is not None:
        progress(state)
    drain()
    tasks = [ChunkTask(exp, seed, s.start, s.stop, backend, version) for s in plan if not s.stored]
    for task, out in executor.run(tasks):
        rows = np.asarray(out.rows, dtype=np.float64)
        if rows.shape != (task.stop - task.start, width):
            raise RuntimeError(f"chunk [{task.start}, {task.stop}) came back with shape {rows.shape}")
        if store is not None:
            store.put_chunk(key, task.start, task.stop, rows, seconds=out.seconds, worker=out.worker)
        state.computed += 1
        ready[task.start] = rows
        drain()
        if progress is not None:
            progress(state)
    drain()
    if position != len(plan):  # an executor that dropped a chunk
        raise RuntimeError(f"chunk [{plan[position].start}, {plan[position].stop}) was never computed")
    result = acc.result(seed)
    if store is not None:
        document = result.to_dict()
        document["backend"] = backend
        store.put_result(key, nets, document)
    return result
