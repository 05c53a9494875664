"""Fig. 4's contiguity in compiled code: the lengths of the runs of equal gates along the grid.

``run_length_counts(active, runs)`` adds, for every layer ``l`` and unit ``n`` of one network's
gates ``active`` (L, N, M), one count per maximal run of equal values of ``active[l, n, :]`` to
``runs[l, length − 1]``.  The same integers as splitting each row at its changes in numpy (the
reference, :func:`montecarlo.observables.run_lengths`, tested), without the L·N small calls that
made a grid network's summary 7× as long as its forward pass (76 ms against 10 ms at L = 50,
N = 200, measured 2026-12-01).  :func:`layer_gate_counts` adds, in the same pass, the rest of a grid
network's gate summary (the active shares and the level histogram), so that its row is one compiled call.
"""
from __future__ import annotations

from numba import njit

from . import numba_cache

numba_cache.configure()   # before the first @njit(cache=True): see kernels.numba_cache


@njit(cache=True, nogil=True)
def _unit_runs(row, runs_row):
    """``runs_row[k − 1] += 1`` for every maximal run of length ``k`` in the gates ``row`` (M,); returns
    the row's active count."""
    M = row.size
    k = 0
    length = 1
    for m in range(M):
        k += row[m]
        if m > 0:
            if row[m] == row[m - 1]:
                length += 1
            else:
                runs_row[length - 1] += 1
                length = 1
    if M > 0:
        runs_row[length - 1] += 1
    return k


@njit(cache=True, nogil=True)
def run_length_counts(active, runs):
    """``runs[l, k − 1] += 1`` for every maximal run of length ``k`` in every row ``active[l, n]``."""
    L, N, M = active.shape
    for l in range(L):
        for n in range(N):
            _unit_runs(active[l, n], runs[l])


@njit(cache=True, nogil=True)
def layer_gate_counts(active, edges, props, levels, runs):
    """One network's whole gate summary in one pass over its gates ``active`` (L, N, M): per layer
    ``props[l] = (mean_n k_n / M, mean_n k_n (k_n − 1) / (M (M − 1)))`` with ``k_n`` the unit's active
    count, ``levels[l]`` the histogram of the levels ``k_n / M`` over the bins ``edges`` (equal bins of
    ``[0, 1]``, ``np.linspace(0, 1, bins + 1)``) and ``runs[l]`` as :func:`run_length_counts`.

    The same numbers as numpy's ``k.mean``, ``np.histogram(k / M, bins, range=(0, 1))`` and the run
    counts (:func:`montecarlo.observables.layer_activation_summary`, tested): the sums are of integers
    (exact in float64 in any order), and a level's bin is found by numpy's own rule for equal bins —
    ``⌊((v − first)/(last − first))·bins⌋``, the last edge in the last bin, then one step down or up where the computed
    index disagrees with the edges."""
    L, N, M = active.shape
    bins = levels.shape[1]
    denom = edges[bins] - edges[0]
    for l in range(L):
        total = 0
        pairs = 0
        for b in range(bins):
            levels[l, b] = 0
        for n in range(N):
            k = _unit_runs(active[l, n], runs[l])
            total += k
            pairs += k * (k - 1)
            v = k / M
            i = int(((v - edges[0]) / denom) * bins)
            if i == bins:
                i -= 1
            if v < edges[i]:
                i -= 1
            elif i != bins - 1 and v >= edges[i + 1]:
                i += 1
            levels[l, i] += 1
        props[l, 0] = total / N / M
        props[l, 1] = pairs / N / (M * (M - 1))
