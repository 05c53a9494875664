"""Per-network summaries of typical pairs in compiled code (float64 sums of float32 gradients).

:func:`pair_moments` is :func:`montecarlo.observables.pair_summary`'s arithmetic: per layer, the means
over neurons and pairs of ``(g(x)² + g(x')²)/2`` and ``g(x) g(x')``, columns ``2p, 2p + 1`` of a
``(L, N, 2P)`` gradient being the two inputs of pair ``p``; :func:`gate_moments` the share of active
units and of units active at both inputs of a pair.  One pass over the gradient instead of numpy's
five temporaries per network (1 ms of a 3.3 ms path-model network at L = 99, N = 64, measured
2026-12-01); the sums run in a fixed order (so the same bits wherever a chunk is computed) and
differ from numpy's pairwise ones by float64 rounding (tested).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import numba_cache

numba_cache.configure()   # before the first @njit(cache=True): see kernels.numba_cache


@njit(cache=True, nogil=True)
def layer_pair_moments(g, out, l):
    """``out[l] = (A, C)`` (float64) from one layer's gradient ``g`` (N, 2P): the arithmetic of
    :func:`pair_moments`, called by the numba kernel right after it computes the layer (no
    ``(L, N, 2P)`` gradient is stored), so that both give the same bits."""
    N, M = g.shape
    P = M // 2
    a = 0.0
    c = 0.0
    for n in range(N):
        for p in range(P):
            x = np.float64(g[n, 2 * p])
            y = np.float64(g[n, 2 * p + 1])
            a += x * x + y * y
            c += x * y
    out[l, 0] = 0.5 * a / (N * P)
    out[l, 1] = c / (N * P)


@njit(cache=True, nogil=True)
def layer_gate_moments(active, out, l):
    """``out[l] = (active share, co-active share within pairs)`` from one layer's gates (N, 2P)."""
    N, M = active.shape
    P = M // 2
    on = 0
    both = 0
    for n in range(N):
        for p in range(P):
            x = active[n, 2 * p]
            y = active[n, 2 * p + 1]
            on += x + y
            both += x & y
    out[l, 0] = on / (N * M)
    out[l, 1] = both / (N * P)


@njit(cache=True, nogil=True)
def pair_moments(grads, out):
    """``out[l] = (A_l, C_l)`` (float64) from one network's ``grads`` (L, N, 2P)."""
    for l in range(grads.shape[0]):
        layer_pair_moments(grads[l], out, l)


@njit(cache=True, nogil=True)
def gate_moments(active, out):
    """``out[l] = (active share, co-active share within pairs)`` from one network's gates (L, N, 2P)."""
    for l in range(active.shape[0]):
        layer_gate_moments(active[l], out, l)


@njit(cache=True, nogil=True)
def streaming_add(mean, comoment, n, rows):
    """Welford's update of ``mean`` (P, k) and ``comoment`` (P, k, k) by ``rows`` (R, P, k), one row
    after the other from ``n`` rows already added; returns the new count.  Per row the arithmetic of
    :meth:`montecarlo.estimators.StreamingMoments.add` element by element — ``δ = x − m``,
    ``m ← m + δ/n``, ``C ← C + δ_i (x_j − m_j)`` — so the same bits (tested), without the Python
    call per row (the caller checks that the rows are finite)."""
    R, P, k = rows.shape
    delta = np.empty(k)
    for r in range(R):
        n += 1
        for p in range(P):
            for i in range(k):
                delta[i] = rows[r, p, i] - mean[p, i]
                mean[p, i] += delta[i] / n
            for i in range(k):
                for j in range(k):
                    comoment[p, i, j] += delta[i] * (rows[r, p, j] - mean[p, j])
    return n


@njit(cache=True, nogil=True)
def running_mean_outer(cov, z, zz, n):
    """``cov ← cov + (z zᵀ / zz_r − cov) / (n + r + 1)`` for each row ``r`` of ``z`` (R, M) in turn:
    the running mean of the normalized outer products, element by element as numpy computes
    ``cov += (np.outer(z, z) / zz - cov) / n`` (the same bits, tested)."""
    R, M = z.shape
    for r in range(R):
        count = n + r + 1
        for i in range(M):
            zi = z[r, i]
            for j in range(M):
                cov[i, j] += (zi * z[r, j] / zz[r] - cov[i, j]) / count
