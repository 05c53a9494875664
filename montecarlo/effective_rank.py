"""Effective rank of a matrix of gradients, and its value for white noise (§4, Fig. 5c).

For a matrix ``Δ`` whose rows (or columns) are the gradients of a batch of inputs,
``r(Δ) = tr(ΔᵀΔ) / ‖Δ‖₂² = Σ σ_i² / σ_max²`` (Vershynin 2012): 1 when every gradient is the same
direction, up to ``rank Δ`` when they are orthogonal and of equal size.  It is compared with
``r(Y)`` for ``Y`` of the same shape with i.i.d. N(0, 1) entries — white-noise gradients, the
shattered limit — averaged over :data:`WHITE_DRAWS` seeded draws: ``r(Δ)/r(Y)`` is ≈ 1 for white
gradients and ``1/r(Y)`` for rank one.  For large shapes ``r(Y) ≈ ab/(√a + √b)²`` (Bai–Yin).

Used by the convnet probe (:mod:`montecarlo.convnets.probe`, Fig. 5c) and by the typical-pairs
experiment of fully connected nets (:class:`montecarlo.observables.PairsExperiment` with
``effective_rank=True``: the ``2P × N`` matrix of one network's gradients at each depth).
"""
from __future__ import annotations

import functools

import numpy as np

WHITE_DRAWS = 4
WHITE_SEED = 20170806  # fixed: r(Y) is a property of the shape, not of the experiment's seed


def effective_rank(matrix: np.ndarray) -> float:
    """``r(Δ) = tr(ΔᵀΔ) / ‖Δ‖₂² = Σ σ_i² / σ_max²`` (1 ≤ r ≤ rank); NaN for a zero matrix."""
    a = np.asarray(matrix, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"matrix has shape {a.shape}: a 2-D matrix is needed")
    return float(effective_ranks(a[None])[0])


def effective_ranks(stack: np.ndarray) -> np.ndarray:
    """:func:`effective_rank` of each matrix of a stack ``(K, a, b)``, from the smaller Gram matrix."""
    a = np.asarray(stack, dtype=np.float64)
    gram = np.matmul(a.transpose(0, 2, 1), a) if a.shape[1] >= a.shape[2] else np.matmul(a, a.transpose(0, 2, 1))
    top = np.linalg.eigvalsh(gram)[:, -1]
    frob = np.trace(gram, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(top > 0, frob / top, np.nan)


@functools.lru_cache(maxsize=64)
def white_effective_rank(rows: int, cols: int, draws: int = WHITE_DRAWS, seed: int = WHITE_SEED) -> float:
    """Mean ``r(Y)`` over ``draws`` seeded ``rows × cols`` i.i.d. N(0, 1) matrices (symmetric in
    the shape: ``r(Yᵀ) = r(Y)``)."""
    rng = np.random.default_rng(seed)
    return float(np.mean([effective_rank(rng.standard_normal((rows, cols))) for _ in range(draws)]))
