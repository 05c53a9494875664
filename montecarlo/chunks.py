"""The unit of work of a Monte Carlo run: a chunk of networks, and how chunks are executed.

A *chunk* is networks ``[start, stop)`` of one experiment (:mod:`montecarlo.observables`) with
one seed on one backend; its summary rows are a pure function of those, so chunks may be computed
in any order, by any process (:func:`compute_chunk`).  An *executor* has ``run(tasks)`` and yields
``(task, output)`` pairs as they complete: :class:`SerialExecutor` (this process),
:class:`FuturesExecutor` (a ``concurrent.futures`` pool) or
:class:`montecarlo.distributed.DaskExecutor` (chosen by :func:`montecarlo.runner.as_executor`).
:func:`plan_chunks` tiles a run so that stored chunks are reused.  :func:`make_experiment` and
:func:`experiment_of` build the experiment object of a run, or of a stored run key.

Imports: observables and the store's key types; the runner (:mod:`montecarlo.runner`), the
Dask executor (:mod:`montecarlo.distributed`) and result loading (:mod:`montecarlo.results`) import
this module, never the other way round.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from theory.specs import NetworkSpec, SpecError, spec_from_dict

from .observables import EXPERIMENTS
from .store import RunKey, engine_version


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


def experiment_of(key: RunKey):
    """``(experiment, backend)`` of a stored run key (builds objects only; samples nothing).

    Raises ``KeyError`` when this code cannot rebuild exactly that key (other options).
    """
    options = json.loads(key.options)
    backend = options.pop("backend")
    model = options.pop("model")
    bn_backward = options.pop("bn_backward", None) or "constant"
    exp = make_experiment(spec_from_dict(json.loads(key.spec)), key.experiment, model,
                          dict(options, bn_backward=bn_backward))
    if RunKey.of(exp, key.seed, backend, key.code_version) != key:
        raise KeyError(f"run {key.digest()} cannot be rebuilt by this code (options {key.options})")
    return exp, backend
