"""Plain numpy reference kernel (float64): slow, obviously correct, the oracle of the others.

Forward, for each network and each block ``l = 1..L`` (columns = the ``M`` inputs):

    u_{l}   = norm(x_{l−1})                        (batch statistics over the M columns)
    x_l     = s_l x_{l−1} + b_l Z_l φ(u_l)

Backward of ``f = Σ_m vᵀ x_L[:, m]`` (one readout ``v`` for every input), ``g_L = v``:

    h       = φ'(u_l) ⊙ (Z_lᵀ g_l)                 (ReLU gate; φ' = 1 for mirrored CReLU)
    h       = J_norm(x_{l−1})ᵀ h                   (constant stats: identity / 1/std;
                                                    through: h − mean h [− y·mean(h y)] / std)
    g_{l−1} = s_l g_l + b_l h

``g_{L−d}`` for every ``d = 1..L`` comes out of one backward pass.  The path model (Assumption 1)
replaces ``φ'(u_l)`` by independent Bernoulli(1/2) gates and has no forward pass.

Every input array is float32 (the sampled networks); this kernel casts it to float64, so it
computes on exactly the networks the fast kernels see.
"""
from __future__ import annotations

import numpy as np

from .plan import LayerPlan, NonFiniteError, check_plan_inputs, check_shapes, dense_weights

name = "numpy"
dtype = np.float64


def _normalize(x: np.ndarray, norm: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``u = norm(x)`` over the batch axis 1; returns ``(u, inv_std or None, y = standardized)``."""
    if norm == "none":
        return x, None, None
    centred = x - x.mean(axis=1, keepdims=True)
    if norm == "center":
        return centred, None, None
    inv_std = 1.0 / np.sqrt((centred ** 2).mean(axis=1, keepdims=True))
    y = centred * inv_std
    return y, inv_std, y


def _norm_backward(h: np.ndarray, norm: str, bn_backward: str, inv_std, y) -> np.ndarray:
    """``J_norm(x)ᵀ h`` for the chosen treatment of the batch statistics."""
    if norm == "none":
        return h
    if norm == "center":
        return h if bn_backward == "constant" else h - h.mean(axis=1, keepdims=True)
    if bn_backward == "constant":
        return h * inv_std
    return inv_std * (h - h.mean(axis=1, keepdims=True) - y * (h * y).mean(axis=1, keepdims=True))


def real_gradients(plan: LayerPlan, weights: np.ndarray, readout: np.ndarray, inputs: np.ndarray,
                   *, keep: str = "all", want_active: bool = False):
    """Gradients of ``f`` w.r.t. every layer of real networks.

    ``weights`` (S, L, N, N) standardized ``Z_l``; ``readout`` (S, N); ``inputs`` (S, N, M) = ``x_0``.
    Returns ``(grads, active)``: ``grads`` (S, K, N, M) float64 with ``grads[:, d−1]`` the
    gradient w.r.t. ``x_{L−d}`` (``keep='all'``, K = L) or only ``x_0`` (``keep='input'``);
    ``active`` (S, L, N, M) bool, ``[:, l−1]`` = ``u_l > 0`` (the gates of block ``l``), or None.
    """
    S, L, N, M = check_shapes(plan, weights, readout, inputs)
    grads = np.empty((S, L if keep == "all" else 1, N, M))
    active_out = np.empty((S, L, N, M), dtype=bool) if want_active else None
    for i in range(S):
        with np.errstate(all="ignore"):  # non-finite values are detected and reported below
            _real_one(plan, weights[i], readout[i], inputs[i], i, keep, grads[i],
                      active_out[i] if want_active else None)
    return grads, active_out


def _real_one(plan, weights, readout, inputs, i, keep, grads, active_out) -> None:
    """One network of :func:`real_gradients` (``i`` only names it in errors)."""
    L, M = plan.depth, inputs.shape[1]
    W = weights.astype(np.float64)
    x = inputs.astype(np.float64)
    cache = []
    for l in range(L):
        u, inv_std, y = _normalize(x, plan.norm_at(l))
        active = u > 0
        phi = np.where(active, u, 0.0) if plan.gated else u
        x = plan.skip[l] * x + plan.branch[l] * (W[l] @ phi)
        if not np.isfinite(x).all() or (inv_std is not None and not np.isfinite(inv_std).all()):
            raise NonFiniteError("forward pass into", l + 1, L - l - 1, i,
                                 f"overflow, or a batch standard deviation of 0 in x_{l}")
        cache.append((active, inv_std, y))
        if active_out is not None:
            active_out[l] = active
    g = np.repeat(readout.astype(np.float64)[:, None], M, axis=1)
    for l in range(L - 1, -1, -1):
        active, inv_std, y = cache[l]
        h = W[l].T @ g
        if plan.gated:
            h = h * active
        h = _norm_backward(h, plan.norm_at(l), plan.bn_backward, inv_std, y)
        g = plan.skip[l] * g + plan.branch[l] * h
        if not np.isfinite(g).all():
            raise NonFiniteError("gradient at", l, L - l, i, "overflow in the backward pass")
        if keep == "all":
            grads[L - 1 - l] = g
    if keep != "all":
        grads[0] = g


def input_derivative(plan: LayerPlan, weights, readout: np.ndarray, inputs: np.ndarray,
                     tangent: np.ndarray, *, want_active: bool = False):
    """Forward mode (a Jacobian–vector product): ``D[m] = Σ_n v_n (dx_L)[n, m]`` with ``dx_0 = tangent``.

    Each block: ``du = J_norm(x) dx`` with the batch statistics constant (identity; ``1/std``
    under BN), ``dx ← s dx + b Z (φ'(u) ⊙ du)``.  With constant statistics the M columns do not
    interact, so ``D[m] = ∂f_m/∂t`` when column m depends on a scalar ``t`` through
    ``dx_0[:, m] = tangent[:, m]``: on the 1-D grid (``x_0 = t·1 − b``, tangent all ones) this is
    ``df/dx`` at every grid point from one forward pass, equal to the row sums of
    :func:`real_gradients`' ``∂f/∂x_0`` (tested).  Differentiating through the statistics couples the
    columns (M JVPs would be needed), so it is refused here.

    ``weights``: (S, L, N, N) or a lazy source (drawn here).  Returns ``(D (S, M) float64, active)``.
    """
    weights = dense_weights(weights)
    S, L, N, M = check_plan_inputs(plan, weights, readout, inputs, tangent)
    out = np.empty((S, M))
    active_out = np.empty((S, L, N, M), dtype=bool) if want_active else None
    for i in range(S):
        W = weights[i].astype(np.float64)
        x, dx = inputs[i].astype(np.float64), tangent[i].astype(np.float64)
        with np.errstate(all="ignore"):
            for l in range(L):
                u, inv_std, _ = _normalize(x, plan.norm_at(l))
                active = u > 0
                du = dx if inv_std is None else dx * inv_std
                phi, dphi = (np.where(active, u, 0.0), np.where(active, du, 0.0)) if plan.gated else (u, du)
                x = plan.skip[l] * x + plan.branch[l] * (W[l] @ phi)
                dx = plan.skip[l] * dx + plan.branch[l] * (W[l] @ dphi)
                if not (np.isfinite(x).all() and np.isfinite(dx).all()) or \
                        (inv_std is not None and not np.isfinite(inv_std).all()):
                    raise NonFiniteError("forward pass into", l + 1, L - l - 1, i,
                                         f"overflow, or a batch standard deviation of 0 in x_{l}")
                if active_out is not None:
                    active_out[i, l] = active
        out[i] = readout[i].astype(np.float64) @ dx
    return out, active_out


def path_gradients(plan: LayerPlan, weights: np.ndarray, readout: np.ndarray,
                   gates: np.ndarray | None, *, n_inputs: int | None = None, keep: str = "all"):
    """Path-model gradients (Assumption 1): the backward pass with random gates, no forward.

    ``gates`` (S, L, N, M) bool, ``[:, l−1]`` the gates of block ``l`` (independent Bernoulli(1/2)
    per neuron and input); ``None`` for mirrored CReLU (its hop has gate moment 1), then give
    ``n_inputs = M``.  ``plan.norm`` is ignored: under BN the caller folds ``1/sqrt(v_{l−1})``
    into ``branch``; centering with constant statistics does not change a derivative.
    """
    columns = gates if gates is not None else np.empty((weights.shape[0], weights.shape[2], n_inputs))
    S, L, N, M = check_shapes(plan, weights, readout, columns)
    grads = np.empty((S, L if keep == "all" else 1, N, M))
    for i in range(S):
        W = weights[i].astype(np.float64)
        g = np.repeat(readout[i].astype(np.float64)[:, None], M, axis=1)
        for l in range(L - 1, -1, -1):
            h = W[l].T @ g
            if plan.gated:
                h = h * gates[i, l]
            g = plan.skip[l] * g + plan.branch[l] * h
            if not np.isfinite(g).all():
                raise NonFiniteError("gradient at", l, L - l, i, "overflow in the backward pass")
            if keep == "all":
                grads[i, L - 1 - l] = g
        if keep != "all":
            grads[i, 0] = g
    return grads
