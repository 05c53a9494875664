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

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from kernels import BACKENDS
from theory.specs import NetworkSpec, SpecError, spec_from_dict

from .observables import EXPERIMENTS
from .store import RunKey, Store, engine_version, open_store


@dataclass(frozen=True)
class ChunkTask:
    """Networks ``[start, stop)`` of ``experiment`` with ``seed`` on ``backend``.

    ``code_version``: the client's :func:`~montecarlo.store.engine_version`; a worker running
    other code refuses the task instead of returning numbers that would be stored under it.
    """

    experiment: object
    seed: int
    start: int
    stop: int
    backend: str
    code_version: str | None = None

    @property
    def networks(self) -> range:
        return range(self.start, self.stop)


@dataclass(frozen=True)
class ChunkOutput:
    rows: np.ndarray
    seconds: float
    worker: str


def compute_chunk(task: ChunkTask) -> ChunkOutput:
    """The summary rows of one chunk (runs wherever the executor puts it)."""
    if task.code_version is not None and task.code_version != engine_version():
        raise RuntimeError(f"this worker ({socket.gethostname()}:{os.getpid()}) runs engine version "
                           f"{engine_version()}, the client {task.code_version}: install the same "
                           "code on every worker")
    t0 = time.perf_counter()
    rows = task.experiment.summaries(task.seed, task.networks, task.backend)
    return ChunkOutput(rows, time.perf_counter() - t0, f"{socket.gethostname()}:{os.getpid()}")


class SerialExecutor:
    """Computes the chunks one after the other in this process, in the order given."""

    def run(self, tasks: list[ChunkTask]) -> Iterator[tuple[ChunkTask, ChunkOutput]]:
        for task in tasks:
            yield task, compute_chunk(task)


class FuturesExecutor:
    """Wraps a :class:`concurrent.futures.Executor` (threads or processes); yields as completed."""

    def __init__(self, pool, compute: Callable[[ChunkTask], ChunkOutput] = compute_chunk):
        self.pool, self.compute = pool, compute

    def run(self, tasks):
        from concurrent.futures import as_completed
        futures = {self.pool.submit(self.compute, t): t for t in tasks}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def as_executor(executor):
    """None → :class:`SerialExecutor`; a Dask ``Client`` → :class:`~montecarlo.distributed.DaskExecutor`;
    a ``concurrent.futures`` executor → :class:`FuturesExecutor`; anything with ``run(tasks)`` as is."""
    if executor is None:
        return SerialExecutor()
    if hasattr(executor, "run") and not hasattr(executor, "submit"):
        return executor
    if type(executor).__module__.split(".")[0] == "distributed":
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


@dataclass(frozen=True)
class Segment:
    start: int
    stop: int
    stored: bool


def plan_chunks(nets: int, chunk: int, stored: Iterable[tuple[int, int]] = ()) -> list[Segment]:
    """A tiling of ``[0, nets)``: stored chunks where they cover most networks, new chunks elsewhere.

    Minimizes the networks to compute (then the number of segments) by dynamic programming over
    the boundaries of the stored chunks; gaps are cut at multiples of ``chunk``.
    """
    by_start: dict[int, list[int]] = {}
    for a, b in stored:
        if 0 <= a < b <= nets:
            by_start.setdefault(a, []).append(b)
    points = sorted({0, nets, *by_start, *(b for bs in by_start.values() for b in bs)})
    best: dict[int, tuple[int, int, Segment | None]] = {nets: (0, 0, None)}  # p → (computed, segments, first)
    for i in range(len(points) - 2, -1, -1):
        p = points[i]
        q = points[i + 1]
        gap = best[q]
        pieces = (q - 1) // chunk - p // chunk + 1  # aligned chunks covering [p, q)
        choice = (gap[0] + (q - p), gap[1] + pieces, Segment(p, q, False))
        for b in by_start.get(p, ()):
            after = best[b]
            cand = (after[0], after[1] + 1, Segment(p, b, True))
            if cand[:2] < choice[:2]:
                choice = cand
        best[p] = choice
    out: list[Segment] = []
    p = 0
    while p < nets:
        seg = best[p][2]
        if seg.stored:
            out.append(seg)
        else:
            a = seg.start
            while a < seg.stop:
                b = min(seg.stop, (a // chunk + 1) * chunk)
                out.append(Segment(a, b, False))
                a = b
        p = seg.stop
    return out


def _check_int(name: str, value, low: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SpecError(name, value, f"an integer >= {low} ({what})")


def make_experiment(spec: NetworkSpec, experiment: str, model: str, options: dict):
    """The :mod:`montecarlo.observables` experiment object; unknown options raise SpecError."""
    if experiment not in EXPERIMENTS:
        raise SpecError("experiment", experiment, "one of " + ", ".join(EXPERIMENTS))
    cls = EXPERIMENTS[experiment]
    allowed = [f for f in cls.__dataclass_fields__ if f not in ("spec", "model")]
    for name, value in options.items():
        if name not in allowed:
            raise SpecError(name, value, f"not an option of experiment {experiment}; its options are "
                            + ", ".join(allowed))
    return cls(spec, model=model, **options)


def estimate(spec: NetworkSpec, experiment: str = "pairs", *, model: str = "real", nets: int = 64,
             seed: int = 0, chunk: int = 8, backend: str = "numba", store=None, executor=None,
             progress: Callable[[ChunkProgress], None] | None = None, **options):
    """Estimate ``experiment`` (``pairs`` or ``grid``) on ``nets`` networks; see the module doc.

    ``options``: the experiment's own (pairs: ``pairs``, ``stats_backward``; grid: ``points``,
    ``max_lag``, ``bias_std``, ``stats_backward``, ``level_bins``).  ``chunk``: networks per
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


def experiment_of(key: RunKey):
    """``(experiment, backend)`` of a stored run key (builds objects only; samples nothing).

    Raises ``KeyError`` when this code cannot rebuild exactly that key (other options).
    """
    options = json.loads(key.options)
    backend = options.pop("backend")
    model = options.pop("model")
    stats_backward = options.pop("bn_backward", None) or "constant"
    exp = make_experiment(spec_from_dict(json.loads(key.spec)), key.experiment, model,
                          dict(options, stats_backward=stats_backward))
    if RunKey.of(exp, key.seed, backend, key.code_version) != key:
        raise KeyError(f"run {key.digest()} cannot be rebuilt by this code (options {key.options})")
    return exp, backend


def combine_stored(store: Store, key: RunKey, nets: int):
    """The result of networks ``0..nets−1`` from stored chunks only (``KeyError`` if any is missing)."""
    exp, _ = experiment_of(key)
    plan = plan_chunks(nets, max(nets, 1), store.chunk_ranges(key))
    missing = [(s.start, s.stop) for s in plan if not s.stored]
    if missing:
        raise KeyError(f"networks {missing} of run {key.digest()} are not stored in {store.path}")
    acc = exp.accumulator()
    for s in plan:
        acc.add(store.load_chunk(key, s.start, s.stop, exp.width()))
    return acc.result(key.seed)
