"""Numba CPU kernel: float32 storage, BLAS sgemm (numpy's ``matmul`` on the chunk's stack of
matrices) for ``Z_l φ`` and ``Z_lᵀ g``, and fused @njit loops for the elementwise work: the
normalization, ReLU and gate mask in one sweep forward; the gate, the normalization's backward
and the skip addition ``g ← s g + b h`` in one sweep backward.

Why the backward pass's products are not called inside @njit: numba's ``np.dot`` goes through
SciPy's own OpenBLAS, whose thread pool fought numpy's OpenBLAS pool for the same cores (measured
here: a 200×200×16 sgemm took 7 ms instead of 0.1 ms) and which is ~25 % slower than numpy's.
One BLAS call from Python per layer for the whole chunk costs a few microseconds per layer.

Parallelism: the chunk's networks are split over one thread per core; each thread runs
single-threaded BLAS (:mod:`kernels.blas_threads`) and the @njit loops release the GIL.
Networks never interact, so the split does not change any result.

Forward mode (:func:`input_derivative`, the 1-D grid's ``df/dx``): each network runs through all
its blocks in one compiled GIL-free call (:func:`_network_jvp`), networks handed to the threads
one at a time.  Per block the two products ``Z_l φ`` and ``Z_l dφ`` are one ``N × K × 2M`` GEMM
— MKL's or numpy's OpenBLAS sgemm called by address from compiled code (:mod:`kernels.sgemm`
says which and why) — where
``K ≤ N`` counts the units active at some grid point: a ReLU unit off on the whole grid
contributes rows of zeros, so its column of ``Z_l`` is neither drawn nor multiplied (~37 % of
the units of a deep feedforward net).  The columns are drawn from the counter-based weights
stream right before their product (a run of consecutive columns in one call); the update of
``[x | dx]`` is the GEMM's own ``beta``; nothing of size ``L·N²`` or ``L·N·M`` is stored.

Precision: arrays and matrix products are float32 (single-precision GEMM is the machine's fast
path); batch means/variances and the per-element arithmetic are accumulated in float64 and
rounded to float32 on store.  Agreement with :mod:`kernels.reference` is to float32 rounding
(see tests/test_kernels_agree.py).  Each network's matrices are multiplied by their own GEMM
call, so a network's result does not depend on how many networks share its chunk.
"""
from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from . import numba_cache, rng, sgemm
from .borrow import borrow
from .summaries import gate_moments, layer_gate_moments, layer_pair_moments
from .blas_threads import single_threaded_blas, worker_count
from .plan import LayerPlan, check_plan_inputs, check_shapes, raise_if_nonfinite
from .sgemm import gemm_ab, gemm_at_b

numba_cache.configure()   # before the first @njit(cache=True): see kernels.numba_cache

name = "numba"
dtype = np.float32
#: :func:`real_gradients` and :func:`path_gradients` take a lazy weights source and draw each
#: network's matrices themselves
lazy_weights = True
#: :func:`input_derivative` takes lazy inputs (``fill_network(k, out)``) and computes each network's in its workers
lazy_inputs = True

_NORM_CODE = {"none": 0, "center": 1, "bn": 2}


@njit(cache=True, nogil=True, error_model="numpy")
def _forward_unit(x, norm, gated, u, active, inv_std, phi, ok):
    """Per network s and neuron n: u = norm(x) over the M columns, active = u > 0, phi = φ(u).

    ok[s] = False when a batch standard deviation of network s is 0 (or not finite).
    The batch sums run in float64 (:func:`_row_means`).
    """
    S, N, M = x.shape
    mean = np.zeros(N)
    inv = np.ones(N)
    for s in range(S):
        ok[s] = True
        if norm != 0:
            _row_means(x[s], M, mean, inv, norm == 2)
        for n in range(N):
            if norm == 2 and not np.isfinite(inv[n]):
                ok[s] = False
            inv_std[s, n] = inv[n]
            if norm == 0:  # (x − 0.0)·1.0 == x exactly: the same bits, without the arithmetic
                for m in range(M):
                    val = x[s, n, m]
                    u[s, n, m] = val
                    a = val > 0.0
                    active[s, n, m] = a
                    phi[s, n, m] = val if (a or not gated) else 0.0
            else:
                mu = mean[n]
                iv = inv[n]
                for m in range(M):
                    val = (x[s, n, m] - mu) * iv
                    u[s, n, m] = val
                    a = val > 0.0
                    active[s, n, m] = a
                    phi[s, n, m] = val if (a or not gated) else 0.0


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _row_means(x, M, mean, inv, scaled):
    """mean[n] = Σ_m x[n, m] / M and, when ``scaled``, inv[n] = 1/sqrt(Σ_m (x − mean)² / M), over the
    first ``M`` columns of ``x``.

    The sums run in float64.  The one fast-math flag ``reassoc`` lets LLVM reorder them into
    vector lanes (4× faster here than a sum in column order, whose additions wait on each other);
    no other IEEE rule is relaxed (NaN and inf still propagate, and are checked by the callers).
    The order is fixed by the compiled code, so a row gives the same bits wherever it is
    computed on a given machine: forward and backward mode, any chunk, any thread.
    """
    N = x.shape[0]
    for n in range(N):
        acc = 0.0
        for m in range(M):
            acc += np.float64(x[n, m])
        mu = acc / M
        mean[n] = mu
        if scaled:
            acc = 0.0
            for m in range(M):
                d = np.float64(x[n, m]) - mu
                acc += d * d
            inv[n] = 1.0 / np.sqrt(acc / M)


@njit(cache=True, nogil=True, error_model="numpy")
def _backward_step(g, h, gate, gated, norm, through, inv_std, y, s_coef, b_coef):
    """g ← s g + b J_normᵀ(gate ⊙ h), fused; statistics constant or differentiated through.

    ``h`` is scratch (gated in place when the statistics are differentiated through).
    """
    S, N, M = g.shape
    for s in range(S):
        for n in range(N):
            mh = 0.0
            mhy = 0.0
            if through and norm != 0:
                if gated:
                    for m in range(M):
                        if not gate[s, n, m]:
                            h[s, n, m] = 0.0
                for m in range(M):
                    mh += h[s, n, m]
                    if norm == 2:
                        mhy += h[s, n, m] * y[s, n, m]
                mh /= M
                mhy /= M
            scale = inv_std[s, n] if norm == 2 else 1.0
            coef = b_coef * scale
            for m in range(M):
                hm = h[s, n, m]
                if gated and not gate[s, n, m]:
                    hm = 0.0
                hv = hm - mh
                if norm == 2:
                    hv -= mhy * y[s, n, m]
                g[s, n, m] = s_coef * g[s, n, m] + coef * hv


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _f32_weights(a: np.ndarray) -> np.ndarray:
    """Weights as float32 without a copy when they are: each ``Z_l`` may be stored either way round
    (:func:`montecarlo.sampling.sample_weights` hands out a transposed view of the column-major draws),
    and BLAS multiplies either without reordering it."""
    return np.asarray(a, dtype=np.float32)


def _split(S: int) -> list[slice]:
    parts = worker_count(S)
    edges = np.linspace(0, S, parts + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _in_threads(work, S: int) -> list:
    def run(part):
        with single_threaded_blas(), sgemm.one_mkl_thread():
            return work(part)
    parts = _split(S)
    if len(parts) == 1:
        return [run(parts[0])]
    with ThreadPoolExecutor(len(parts)) as pool:
        return list(pool.map(run, parts))


def _network_weights(weights, W, lazy: bool, k: int, no_weights: np.ndarray):
    """Network ``k``'s weights for a compiled per-network pass: ``(Wk, draw, k0, k1)``.

    Lazy Gaussian weights are drawn inside the pass from the stream ``(k0, k1)`` (``draw``, ``Wk`` a
    placeholder); orthogonal ones are drawn whole here (orthogonalized per matrix) and, like an
    array's, passed dense.
    """
    if not lazy:
        return W[k], False, np.uint64(0), np.uint64(0)
    k0, k1 = weights.keys[k]
    if not weights.orthogonal:
        return no_weights, True, k0, k1
    L, N = weights.depth, weights.width
    Wk = np.empty((L, N, N), dtype=np.float32)
    for l in range(L):
        weights.fill_layer(k, l, Wk[l])
    return Wk, False, k0, k1


def real_gradients(plan: LayerPlan, weights, readout: np.ndarray, inputs: np.ndarray,
                   *, keep: str = "all", want_active: bool = False):
    """Same contract as :func:`kernels.reference.real_gradients`; grads are float32.

    Each network runs forward and back in one compiled, GIL-free call (:func:`_network_vjp`),
    networks handed to the threads one at a time: its ``L`` matrices drawn (``weights`` lazy:
    :class:`montecarlo.sampling.LazyWeights`) or copied into a per-thread buffer that stays in cache,
    ``Z_l φ`` and ``Z_lᵀ g`` by the sgemm of :mod:`kernels.sgemm` (the forward update is the GEMM's
    ``beta``), the elementwise work by the same fused loops as before.  Until 2026-12-01 the chunk's
    ``S·L·N²`` weights were drawn into one array and multiplied by numpy's stacked ``matmul``
    (measured 2026-12-01, one core, a typical-pairs chunk: 2.8 → 2.3 ms per network of L = 10, N = 200,
    16.7 → 11.5 at L = 50; the products round in another order, so the last bits differ).
    """
    return _real(plan, weights, readout, inputs, keep, want_active)


def real_pair_moments(plan: LayerPlan, weights, readout: np.ndarray, inputs: np.ndarray,
                      *, want_active: bool = False):
    """``(moments, gate_moments)``: :func:`kernels.summaries.pair_moments` and
    :func:`~kernels.summaries.gate_moments` of every network's :func:`real_gradients` (``keep='all'``),
    (S, L, 2) float64 each (``gate_moments`` None unless ``want_active``), the same bits.

    Each layer's moments are taken in the compiled pass right after its gradient is computed, while
    it is in cache: neither the (S, L, N, M) gradients nor the gates are stored (at L = 100, N = 200,
    64 inputs that is 5 MB of float32 written and read again per network, and a serial summary pass).
    """
    return _real(plan, weights, readout, inputs, "moments", want_active)


_KEEP_CODE = {"input": 0, "all": 1, "moments": 2}


def _real(plan: LayerPlan, weights, readout: np.ndarray, inputs: np.ndarray, keep: str, want_active: bool):
    S, L, N, M = check_shapes(plan, weights, readout, inputs)
    x0, v = _f32(inputs), _f32(readout)
    lazy = hasattr(weights, "fill_layer")
    W = weights if lazy else _f32_weights(weights)
    norms = np.array([_NORM_CODE[plan.norm_at(l)] for l in range(L)], dtype=np.int64)
    through = plan.bn_backward == "through"
    mode = _KEEP_CODE[keep]
    moments = mode == 2
    grads = np.empty((S, 1, 1, 1) if moments else (S, L if keep == "all" else 1, N, M), dtype=np.float32)
    pair = np.zeros((S, L if moments else 1, 2))
    gate = np.zeros((S, L, 2)) if (moments and want_active) else None
    active = np.empty((S, L, N, M), dtype=np.bool_) if (want_active and not moments) else None
    forward_ok = np.ones((S, L), dtype=np.bool_)
    addr, fortran = sgemm.routine()
    queue = itertools.count()

    def worker(_) -> None:
        ZT = np.empty((L, N, N), dtype=np.float32)
        u = np.empty((L, 1, N, M), dtype=np.float32)
        act = np.empty((L, 1, N, M), dtype=np.bool_)
        inv_std = np.empty((L, 1, N), dtype=np.float32)
        ok = np.empty((L, 1), dtype=np.bool_)
        x = np.empty((1, N, M), dtype=np.float32)
        phi, h, g = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        words, z = rng.scratch()
        no_weights = np.empty((1, 1, 1), dtype=np.float32)
        while (k := next(queue)) < S:
            x[0] = x0[k]
            Wk, draw, k0, k1 = _network_weights(weights, W, lazy, k, no_weights)
            _network_vjp(x, Wk, draw, k0, k1, v[k], plan.skip, plan.branch, norms,
                         plan.gated, through, mode, u, act, inv_std, ok, phi, h, g, grads[k, :, None], pair[k],
                         ZT, words, z, addr, fortran)
            forward_ok[k] = ok[:, 0]
            if active is not None:
                active[k] = act[:, 0]
            if gate is not None:
                for l in range(L):
                    layer_gate_moments(act[l, 0], gate[k], l)

    _in_threads(worker, S)
    if moments:
        raise_if_nonfinite(pair[:, :, None, :], forward_ok, "all")
        return pair, gate
    raise_if_nonfinite(grads, forward_ok, keep)
    return grads, active


@njit(cache=True, nogil=True)
def _layer_columns(draw, k0, k1, Wk, l, out, words, z):
    """``out`` (N, N) ← the columns of ``Z_{l+1}`` as rows (row ``j`` = column ``j``): drawn from the weights
    stream ``(k0, k1)`` (its own column order) when ``draw``, else copied from ``Wk[l]``."""
    N = out.shape[0]
    if draw:
        rng.fill_normals_with(k0, k1, rng.weight_column_start(N, l, 0), out.reshape(N * N), words, z)
    else:
        for j in range(N):
            for i in range(N):
                out[j, i] = Wk[l, i, j]


@njit(cache=True, nogil=True, error_model="numpy")
def _network_vjp(x, Wk, lazy, k0, k1, v, skip, branch, norms, gated, through, mode, u, act, inv_std, ok,
                 phi, h, g, grads, moments, ZT, words, z, addr, fortran):
    """One network forward and back: the gradient of ``f = vᵀ x_L`` w.r.t. every ``x_l`` (or ``x_0``).

    ``x`` (1, N, M): the inputs, overwritten by the forward pass; ``u``, ``act`` (L, 1, N, M),
    ``inv_std`` (L, 1, N), ``ok`` (L, 1): what the forward pass keeps for the backward one (as the
    chunk kernel's :func:`_forward_unit`); ``ZT`` (L, N, N): row ``j`` of ``ZT[l]`` is column ``j`` of
    ``Z_{l+1}`` — drawn from the weights stream ``(k0, k1)`` (``lazy``, the stream's own column
    order) or copied from ``Wk`` (L, N, N).  Forward: ``x ← b Z φ + s x`` (one GEMM,
    ``ZTᵀ φ`` with ``beta = s``), ``ok[l]`` False when a statistic or a value is not finite;
    backward from ``g = v``: ``h = Zᵀ g = ZT g``, then :func:`_backward_step`; ``mode`` 1: ``grads``
    (L, 1, N, M) gets ``g`` after each block; 0: ``grads`` (1, 1, N, M) the gradient at the input; 2:
    ``moments[d − 1]`` (L, 2) gets :func:`~kernels.summaries.layer_pair_moments` of ``g`` at depth ``d``.
    """
    L = skip.size
    N = x.shape[1]
    for l in range(L):
        _forward_unit(x, norms[l], gated, u[l], act[l], inv_std[l], phi, ok[l])
        _layer_columns(lazy, k0, k1, Wk, l, ZT[l], words, z)
        gemm_at_b(addr, ZT[l], N, phi[0], x[0], branch[l], skip[l], fortran)
        if ok[l, 0] and not _all_finite(x[0]):
            ok[l, 0] = False
    M = x.shape[2]
    for n in range(N):
        for m in range(M):
            g[0, n, m] = v[n]
    for l in range(L - 1, -1, -1):
        gemm_ab(addr, ZT[l], g[0], h[0], 1.0, 0.0, fortran)
        _backward_step(g, h, act[l], gated, norms[l], through, inv_std[l], u[l], skip[l], branch[l])
        if mode == 1:
            grads[L - 1 - l] = g
        elif mode == 2:
            layer_pair_moments(g[0], moments, L - 1 - l)
    if mode == 0:
        grads[0] = g


def path_gradients(plan: LayerPlan, weights, readout: np.ndarray,
                   gates: np.ndarray | None, *, n_inputs: int | None = None, keep: str = "all"):
    """Same contract as :func:`kernels.reference.path_gradients`; grads are float32.

    One compiled call per network (:func:`_network_path`), networks handed to the threads one at a
    time; the path model has no forward pass, so each ``Z_l`` is drawn (lazy weights) or copied into
    one ``N × N`` buffer right before its product ``Z_lᵀ g``.
    """
    return _path(plan, weights, readout, gates, n_inputs, keep)


def path_pair_moments(plan: LayerPlan, weights, readout: np.ndarray, gates: np.ndarray | None,
                      *, n_inputs: int | None = None, want_active: bool = False):
    """``(moments, gate_moments)`` of every network's :func:`path_gradients` (``keep='all'``) and of its
    gates, as :func:`real_pair_moments` gives them (``gate_moments`` None unless ``want_active`` and the
    model is gated); each layer's moments taken as it is computed, no gradient stored."""
    moments = _path(plan, weights, readout, gates, n_inputs, "moments")
    if not want_active or gates is None:
        return moments, None
    shares = np.empty_like(moments)
    for k in range(moments.shape[0]):
        gate_moments(gates[k], shares[k])
    return moments, shares


def _path(plan: LayerPlan, weights, readout: np.ndarray, gates: np.ndarray | None, n_inputs: int | None,
          keep: str) -> np.ndarray:
    S, L, N = weights.shape[0], weights.shape[1], weights.shape[2]
    M = gates.shape[-1] if gates is not None else int(n_inputs)
    if gates is not None:
        check_shapes(plan, weights, readout, gates)
        gates = np.ascontiguousarray(gates, dtype=np.bool_)
    lazy = hasattr(weights, "fill_layer")
    W = weights if lazy else _f32_weights(weights)
    v = _f32(readout)
    mode = _KEEP_CODE[keep]
    moments = mode == 2
    grads = np.empty((S, 1, 1, 1) if moments else (S, L if keep == "all" else 1, N, M), dtype=np.float32)
    pair = np.zeros((S, L if moments else 1, 2))
    addr, fortran = sgemm.routine()
    queue = itertools.count()

    def worker(_) -> None:
        ZT = np.empty((1, N, N), dtype=np.float32)
        g = np.empty((1, N, M), dtype=np.float32)
        h = np.empty_like(g)
        ones = np.ones((1, N), dtype=np.float32)
        none_gate = np.empty((L, 1, N, M), dtype=np.bool_)
        words, z = rng.scratch()
        no_weights = np.empty((1, 1, 1), dtype=np.float32)
        while (k := next(queue)) < S:
            Wk, draw, k0, k1 = _network_weights(weights, W, lazy, k, no_weights)
            gk = gates[k][:, None] if plan.gated else none_gate
            _network_path(Wk, draw, k0, k1, v[k], plan.skip, plan.branch, plan.gated, gk, none_gate[0], ones,
                          mode, g, h, grads[k, :, None], pair[k], ZT, words, z, addr, fortran)

    _in_threads(worker, S)
    if moments:
        raise_if_nonfinite(pair[:, :, None, :], None, "all")
        return pair
    raise_if_nonfinite(grads, None, keep)
    return grads


@njit(cache=True, nogil=True, error_model="numpy")
def _network_path(Wk, draw, k0, k1, v, skip, branch, gated, gates, none_gate, ones, mode, g, h, grads, moments,
                  ZT, words, z, addr, fortran):
    """The path model's backward pass of one network: from ``g = v``, ``h = Z_lᵀ g`` (``ZT[0]`` row
    ``j`` = column ``j`` of ``Z_l``, drawn or copied), then ``g ← s g + b (gate ⊙ h)``
    (:func:`_backward_step`, no normalization); ``gates`` (L, 1, N, M); ``mode`` as
    :func:`_network_vjp`'s."""
    L = skip.size
    N = g.shape[1]
    M = g.shape[2]
    for n in range(N):
        for m in range(M):
            g[0, n, m] = v[n]
    for l in range(L - 1, -1, -1):
        _layer_columns(draw, k0, k1, Wk, l, ZT[0], words, z)
        gemm_ab(addr, ZT[0], g[0], h[0], 1.0, 0.0, fortran)
        _backward_step(g, h, gates[l], gated, 0, False, ones, none_gate, skip[l], branch[l])
        if mode == 1:
            grads[L - 1 - l] = g
        elif mode == 2:
            layer_pair_moments(g[0], moments, L - 1 - l)
    if mode == 0:
        grads[0] = g


# ----------------------------------------------------------------------------- forward mode
@njit(cache=True, nogil=True, error_model="numpy")
def _unit_rows(xd, M, n0, n1, norm, gated, both, idx, count, active, mean, inv):
    """Rows ``n0 … n1−1`` (at most 4) of one block's elementwise work in forward mode.

    ``xd`` is (N, 2M): ``x`` in columns ``0 … M−1``, its tangent ``dx`` in ``M … 2M−1``.
    ``u = norm(x)`` over the M columns (batch statistics), ``du = J_norm dx`` with the statistics
    constant (identity, or ``1/std`` under BN); the row ``[φ(u) | φ'(u) ⊙ du]`` is appended to
    ``both`` (row ``count``, its neuron in ``idx[count]``) unless the unit is gated and inactive at
    every column: that row is all zeros and its column of ``Z`` is neither drawn nor multiplied.
    ``active[n]`` gets ``u > 0``.  Returns ``(count, stats_ok, values_ok)``: False when a batch
    standard deviation is 0 or not finite, and when a value of ``x`` or ``dx`` is not finite.
    """
    stats_ok = True
    values_ok = True
    if norm != 0:
        _row_means(xd[n0:n1], M, mean, inv, norm == 2)
    for n in range(n0, n1):
        mu = mean[n - n0] if norm != 0 else 0.0
        iv = inv[n - n0] if norm == 2 else 1.0
        if norm == 2 and not np.isfinite(iv):
            stats_ok = False
        on = 0
        finite = 0
        for m in range(M):   # written so that LLVM vectorizes it (integer counts, not bool `or`s)
            xv = xd[n, m]
            dv = xd[n, M + m]
            finite += (abs(xv) < np.inf) & (abs(dv) < np.inf)
            val = xv if norm == 0 else (xv - mu) * iv
            a = val > 0.0
            active[n, m] = a
            on += a
            d = dv if norm != 2 else dv * iv
            if gated and not a:
                both[count, m] = 0.0
                both[count, M + m] = 0.0
            else:
                both[count, m] = val
                both[count, M + m] = d
        if finite != M:
            values_ok = False
        if on > 0 or not gated:
            idx[count] = n
            count += 1
    return count, stats_ok, values_ok


@njit(cache=True, nogil=True, error_model="numpy")
def _all_finite(xd):
    bad = 0
    for n in range(xd.shape[0]):
        for m in range(xd.shape[1]):
            bad += not (abs(xd[n, m]) < np.inf)
    return bad == 0


@njit(cache=True, nogil=True, error_model="numpy")
def _network_jvp(xd, Wk, lazy, k0, k1, skip, branch, norms, gated, want_active, active, layer_ok,
                 ZT, both, idx, words, z, addr, fortran):
    """One network through all its blocks in forward mode; ``xd = [x | dx]`` (N, 2M) is updated in
    place.

    Per block ``l``: the columns ``idx[:K]`` of ``Z_l`` (the neurons of ``x_{l−1}`` active somewhere
    on the grid; all N without gates) are drawn (``lazy``: from the weights stream ``(k0, k1)``, a
    run of consecutive columns in one call) or copied (``Wk`` (L, N, N)) into the rows of ``ZT``;
    then one ``N × K × 2M`` GEMM does the whole update, ``[x | dx] ← s [x | dx] + b ZT[:K]ᵀ
    both[:K]`` (BLAS ``alpha = b``, ``beta = s``; the skipped columns would multiply rows of zeros,
    so this is the full product up to float32 rounding order), and row by row the next block's
    :func:`_unit_rows`.  Returns False at the first block whose statistics or values are not
    finite (``layer_ok[l] = False``).
    """
    xd, active, ZT, both, idx, words, z = (borrow(xd), borrow(active), borrow(ZT), borrow(both), borrow(idx),
                                           borrow(words), borrow(z))   # no reference counting in the loop
    L = skip.size
    N = xd.shape[0]
    M = xd.shape[1] // 2
    mean = np.zeros(4)
    inv = np.ones(4)
    stats_ok = True
    values_ok = True
    count = 0
    for n0 in range(0, N, 4):
        count, g, f = _unit_rows(xd, M, n0, min(n0 + 4, N), norms[0], gated, both, idx, count,
                                 active[0], mean, inv)
        stats_ok &= g
        values_ok &= f
    flat = ZT.reshape(-1)
    for l in range(L):
        if not values_ok:                # x_l, made by block l (index l − 1; the inputs when l = 0)
            layer_ok[max(l - 1, 0)] = False
            return False
        if not stats_ok:                 # block l + 1's batch statistics
            layer_ok[l] = False
            return False
        r = 0
        while r < count:                 # runs of consecutive columns are consecutive draws: one call each
            e = r + 1
            while e < count and idx[e] == idx[e - 1] + 1:
                e += 1
            if lazy:
                rng.fill_normals_with(k0, k1, rng.weight_column_start(N, l, idx[r]), flat[r * N:e * N], words, z)
            else:
                for q in range(r, e):
                    for i in range(N):
                        ZT[q, i] = Wk[l, i, idx[q]]
            r = e
        gemm_at_b(addr, ZT, count, both, xd, branch[l], skip[l], fortran)
        if l + 1 < L:
            count = 0
            for n0 in range(0, N, 4):
                count, g, f = _unit_rows(xd, M, n0, min(n0 + 4, N), norms[l + 1], gated, both, idx, count,
                                         active[l + 1 if want_active else 0], mean, inv)
                stats_ok &= g
                values_ok &= f
        elif not _all_finite(xd):
            layer_ok[l] = False
            return False
    return True


@njit(cache=True, nogil=True)
def _readout_columns(v, xd, out):
    """``out[m] = Σ_n v_n dx[n, m]`` accumulated in float64, rows in order; ``xd = [x | dx]``."""
    N = xd.shape[0]
    M = out.size
    for m in range(M):
        out[m] = 0.0
    for n in range(N):
        vn = np.float64(v[n])
        for m in range(M):
            out[m] += vn * xd[n, M + m]


def input_derivative(plan: LayerPlan, weights, readout: np.ndarray, inputs: np.ndarray,
                     tangent: np.ndarray, *, want_active: bool = False):
    """Forward mode: ``D[m] = Σ_n v_n (dx_L)[n, m]`` with ``dx_0 = tangent`` (the JVP of ``f``).

    Same contract as :func:`kernels.reference.input_derivative`.  Each network runs through all
    its blocks in one compiled, GIL-free call (:func:`_network_jvp`): per block one GEMM
    ``N × K × 2M`` for ``Z_l φ(u)`` and ``Z_l (φ'(u) ⊙ du)`` together, where ``K ≤ N`` counts the
    neurons active at some grid point (a ReLU unit off on the whole grid contributes a row of
    zeros: its column of ``Z_l`` is neither drawn nor multiplied); the update
    ``[x | dx] ← s [x | dx] + b Z_l [φ | dφ]`` is that GEMM's own ``beta``/``alpha``, and the next
    block's normalization and gates are one pass row by row; nothing is kept for a backward pass.  ``weights`` may be an (S, L, N, N)
    array or a lazy source (:class:`montecarlo.sampling.LazyWeights`: ``keys``, ``orthogonal``,
    ``fill_layer``): then the columns are drawn from the weights stream right before their product
    (:func:`kernels.rng.weight_column_start`) and a chunk's ``L·N²`` weights are never stored.
    ``inputs`` may be an (S, N, M) array or lazy (:class:`montecarlo.sampling.LazyGridInputs`:
    ``fill_network``): then each network's are computed by the worker that runs it, beside the
    other workers' passes; ``tangent`` may be a broadcast view (of ones), which is never copied whole.
    """
    S, L, N, M = check_plan_inputs(plan, weights, readout, inputs, tangent)
    lazy_inputs = hasattr(inputs, "fill_network")
    x0 = inputs if lazy_inputs else _f32(inputs)
    t0, v = np.asarray(tangent, dtype=np.float32), _f32(readout)     # a broadcast tangent stays a view
    lazy = hasattr(weights, "fill_layer")
    W = weights if lazy else _f32_weights(weights)
    norms = np.array([_NORM_CODE[plan.norm_at(l)] for l in range(L)], dtype=np.int64)
    out = np.empty((S, M))
    active = np.zeros((S, L, N, M), dtype=np.bool_) if want_active else None
    forward_ok = np.ones((S, L), dtype=np.bool_)
    addr, fortran = sgemm.routine()

    queue = itertools.count()      # networks are handed out one at a time: no thread idles while
                                   # another still has several (their costs differ with K_l)

    def worker(_) -> None:
        both = np.empty((N, 2 * M), dtype=np.float32)
        ZT = np.empty((N, N), dtype=np.float32)
        idx = np.empty(N, dtype=np.int64)
        words, z = rng.scratch()
        no_active = np.empty((1, N, M), dtype=np.bool_)     # scratch: the gates are not wanted
        no_weights = np.empty((1, 1, 1), dtype=np.float32)
        while (k := next(queue)) < S:
            xd = np.empty((N, 2 * M), dtype=np.float32)     # [x | dx]: one GEMM updates both
            if lazy_inputs:
                x0.fill_network(k, xd[:, :M])
            else:
                xd[:, :M] = x0[k]
            xd[:, M:] = t0[k]
            Wk, draw, k0, k1 = _network_weights(weights, W, lazy, k, no_weights)
            ok = _network_jvp(xd, Wk, draw, k0, k1, plan.skip, plan.branch,
                              norms, plan.gated, want_active, active[k] if want_active else no_active,
                              forward_ok[k], ZT, both, idx, words, z, addr, fortran)
            if ok:
                _readout_columns(v[k], xd, out[k])

    _in_threads(worker, S)
    raise_if_nonfinite(out[:, None, None, :], forward_ok, "input")  # forward failures are reported first
    return out, active
