"""Results rebuilt from stored chunks alone: nothing is sampled or recomputed.

:func:`load_result` gives the result object (:class:`~montecarlo.observables.PairsResult` /
:class:`~montecarlo.observables.GridResult`) of a stored run of the results store
(:mod:`montecarlo.store`), as :func:`montecarlo.runner.estimate` would have returned it: the
chunks are combined in network order, so the numbers are the same bits.  Kept out of the storage
class so that the store knows bytes and keys only, not experiments.
"""
from __future__ import annotations

from .chunks import experiment_of, plan_chunks
from .store import RunKey, Store, StoredRun


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


def load_result(store: Store, run: int | StoredRun, nets: int | None = None):
    """The result object of networks ``0..nets−1`` of a stored run (a run id or a :class:`StoredRun`).

    ``nets`` defaults to every contiguously stored network.  Raises ``KeyError`` when the run or
    any of its chunks is missing.
    """
    stored = run if isinstance(run, StoredRun) else next((r for r in store.runs() if r.id == run), None)
    if stored is None:
        raise KeyError(f"run #{run} is not in {store.path}")
    return combine_stored(store, stored.key, stored.contiguous if nets is None else nets)
