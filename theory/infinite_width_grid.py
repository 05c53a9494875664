"""Infinite-width predictions on the 1-D grid of §1.1 (Fig. 1–2): ``df/dx`` as a Gaussian process.

**The 1-D grid** (§1.1): ``x_0 = t·1 − b``, ``b ~ N(0, σ_b²)``: the first-layer kernel is
``K_0(t, t') = t t' + σ_b²`` (no weight-variance factor).  ``df/dx = Σ_i ∂f/∂x_{0,i}`` is the
derivative of the function ``t ↦ f(t)``, a Gaussian process at infinite width with kernel
``N·K_L(t, t')``; its covariance is therefore ``N ∂_t ∂_{t'} K_L(t, t')``, which is *not* the
per-neuron gradient covariance ``N·G_0(t, t')``: the direction ``1`` along which the input moves
is the direction in which every input of the grid differs, and the cross-neuron terms that
vanish for typical pairs contribute at leading order (see :func:`grid_gradient_covariance`).

The kernel recursions of the layers are :mod:`theory.infinite_width`'s (one topology, one
per-layer map); this module adds the grid's first layer, the non-central bivariate ReLU moments it
needs, the covariance of ``df/dx`` and its expected normalized ACF.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate

from .infinite_width import relu_unit_kernel
from .pathsum import block_of
from .specs import NetworkSpec, SpecError


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _Phi(x):
    from scipy.special import ndtr
    return ndtr(x)


def upper_orthant(a, b, r):
    """``P(X > a, Y > b)`` for standard bivariate normal ``X, Y`` with correlation ``r`` (|r| < 1).

    Owen's T form of the bivariate normal CDF ``Φ2(h, k; r)`` with ``h = −a``, ``k = −b``.
    """
    from scipy.special import owens_t
    h = np.where(a == 0, 1e-150, -a)  # Owen's formula is continuous from h, k > 0
    k = np.where(b == 0, 1e-150, -b)
    s = np.sqrt(1 - r * r)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ah = (k - r * h) / (h * s)
        ak = (h - r * k) / (k * s)
    delta = np.where(h * k > 0, 0.0, 0.5)
    return 0.5 * _Phi(h) + 0.5 * _Phi(k) - owens_t(h, ah) - owens_t(k, ak) - delta


def relu_kernel_noncentral(m1, m2, s1, s2, r):
    """``E[ρ(u) ρ(v)]`` for bivariate normal ``u, v`` with means ``m``, sds ``s``, correlation ``|r| < 1``.

    With ``u = m1 + s1 X``, ``v = m2 + s2 Y``, ``a = −m1/s1``, ``b = −m2/s2``, ``w = √(1 − r²)``,
    ``Q_a = Φ((r a − b)/w)``, ``Q_b = Φ((r b − a)/w)``, ``P = P(X > a, Y > b)`` (Rosenbaum 1961):

        E[X; ·] = φ(a) Q_a + r φ(b) Q_b,     E[Y; ·] = φ(b) Q_b + r φ(a) Q_a,
        E[XY; ·] = r P + r a φ(a) Q_a + r b φ(b) Q_b + w φ(a) φ((b − r a)/w),

    ``E[ρ(u)ρ(v)] = m1 m2 P + s1 m2 E[X; ·] + m1 s2 E[Y; ·] + s1 s2 E[XY; ·]``.
    """
    a, b = -m1 / s1, -m2 / s2
    w = np.sqrt(1 - r * r)
    Qa, Qb = _Phi((r * a - b) / w), _Phi((r * b - a) / w)
    P = upper_orthant(a, b, r)
    EX = _phi(a) * Qa + r * _phi(b) * Qb
    EY = _phi(b) * Qb + r * _phi(a) * Qa
    EXY = r * P + r * a * _phi(a) * Qa + r * b * _phi(b) * Qb + w * _phi(a) * _phi((b - r * a) / w)
    return m1 * m2 * P + s1 * m2 * EX + m1 * s2 * EY + s1 * s2 * EXY


def relu_square_noncentral(m, s):
    """``E[ρ(u)²] = (m² + s²) Φ(m/s) + m s φ(m/s)`` for ``u ~ N(m, s²)``."""
    z = m / s
    return (m * m + s * s) * _Phi(z) + m * s * _phi(z)


def first_layer_relu_kernel(t, t_prime, bias_std):
    """``E[ρ(t − b) ρ(t' − b)]``, ``b ~ N(0, σ_b²)``: with ``z = min(t, t')/σ_b``,
    ``t t' Φ(z) + (t + t') σ_b φ(z) + σ_b² (Φ(z) − z φ(z))``."""
    z = np.minimum(t, t_prime) / bias_std
    return t * t_prime * _Phi(z) + (t + t_prime) * bias_std * _phi(z) + bias_std ** 2 * (_Phi(z) - z * _phi(z))


def _grid_relu_moment(mean: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``E[ρ(u_i) ρ(u_j)]`` for ``u ~ N(mean, C)`` on every pair of grid points (diagonal exact)."""
    sd = np.sqrt(np.clip(np.diag(C), 0, None))
    if not np.any(mean):
        outer = np.outer(sd, sd)
        return outer * relu_unit_kernel(C / outer)
    m1, m2 = np.meshgrid(mean, mean, indexing="ij")
    s1, s2 = np.meshgrid(sd, sd, indexing="ij")
    r = np.clip(C / (s1 * s2), -1 + 1e-15, 1 - 1e-15)
    out = relu_kernel_noncentral(m1, m2, s1, s2, r)
    out[np.diag_indices_from(out)] = relu_square_noncentral(mean, sd)
    return out


def grid_output_kernel(spec: NetworkSpec, points: np.ndarray, bias_std: float = 1.0) -> np.ndarray:
    """``K_L(t, t') = E[x_{L,i}(t) x_{L,i}(t')]`` at infinite width on the given points (norm none).

    First layer ``x_0(t) = t·1 − b``: per neuron Gaussian with *mean* ``t`` and covariance
    ``σ_b²`` (all of it from the shared bias, correlation 1 between points).  A block keeps the
    mean along the skip path, ``μ_l = s μ_{l−1}``, and adds a zero-mean Gaussian branch:

        C_l = s² C_{l−1} + b² c E[ρ(u) ρ(u')],   u ~ N(μ_{l−1}, C_{l−1}),

    with the first layer's moment in closed form (:func:`first_layer_relu_kernel`) and the
    non-central bivariate one later (:func:`relu_kernel_noncentral`; the arc-cosine kernel
    when ``μ = 0``, e.g. a feedforward net after its first layer).  ``K_L = C_L + μ_L μ_Lᵀ``.
    Batch statistics over the grid (center / bn) are not modelled (raises).
    """
    block = block_of(spec)
    if block.norm != "none":
        raise SpecError("norm", block.norm, "none for the 1-D grid (batch statistics over the grid are "
                        "not modelled at infinite width)")
    t = np.asarray(points, dtype=np.float64)
    s, b2c = float(block.skip), float(block.branch) ** 2 * float(spec.weight_gain)
    mean = t.copy()
    C = np.full((t.size, t.size), float(bias_std) ** 2)
    for layer in range(spec.depth):
        if block.unit != "relu":
            F = C + np.outer(mean, mean)
        elif layer == 0:
            F = first_layer_relu_kernel(t[:, None], t[None, :], float(bias_std))
        else:
            F = _grid_relu_moment(mean, C)
        C = s * s * C + b2c * F
        mean = s * mean
    return C + np.outer(mean, mean)


def grid_gradient_covariance(spec: NetworkSpec, t: np.ndarray | None = None, bias_std: float = 1.0,
                             step: float = 1e-4) -> np.ndarray:
    """``E[f'(t) f'(t')] = N ∂_t ∂_{t'} K_L(t, t')`` on the grid (default: 256 points in [−2, 2]).

    ``f = vᵀ x_L`` is a Gaussian process in ``t`` at infinite width with kernel ``N K_L``, so its
    derivative has covariance ``N ∂∂K_L``.  Mixed central difference with step ``h``: error
    O(h) on the diagonal (``K_L`` has a ``|t − t'|³`` kink there), O(h²) elsewhere.
    """
    if t is None:
        t = np.linspace(-2.0, 2.0, 256)
    t = np.asarray(t, dtype=np.float64)
    M = t.size

    def mixed(h):
        K = grid_output_kernel(spec, np.concatenate([t + h, t - h]), bias_std)
        return (K[:M, :M] - K[:M, M:] - K[M:, :M] + K[M:, M:]) / (4 * h * h)

    # Richardson: the diagonal's O(h) error is linear in h; elsewhere the error stays O(h^2)
    return spec.width * (2 * mixed(step / 2) - mixed(step))


def expected_normalized_covariance(cov: np.ndarray) -> np.ndarray:
    """``E[z zᵀ / (|z|²/M)]`` for ``z = P y``, ``y ~ N(0, cov)`` (what ``montecarlo.observables.grid`` averages).

    In the eigenbasis of ``Σ = P cov P``: ``E[z_i²/|z|²] = ∫_0^∞ λ_i/(1 + 2sλ_i) Π_j (1 + 2sλ_j)^{−1/2} ds``.
    """
    M = cov.shape[0]
    P = np.eye(M) - 1.0 / M
    lam, V = np.linalg.eigh(P @ cov @ P)
    lam = np.clip(lam, 0, None)
    scale = lam.max()
    lam = lam / scale

    def weights(s):
        base = np.exp(-0.5 * np.log1p(2 * s * lam).sum())
        return lam / (1 + 2 * s * lam) * base

    # s = e^y; integrate each component on a common log grid (smooth integrand)
    y = np.linspace(-30, 30, 4001)
    vals = np.array([weights(math.exp(v)) * math.exp(v) for v in y])
    w = integrate.simpson(vals, x=y, axis=0)
    return M * (V * w) @ V.T


def grid_acf(normalized_cov: np.ndarray, max_lag: int = 64) -> np.ndarray:
    """Expected sample ACF along the grid: ``E[acf_k] = Σ_m E[z_m z_{m+k}/|z|²]`` (as ``sample_acf``)."""
    M = normalized_cov.shape[0]
    E = normalized_cov / M
    return np.array([np.trace(E, offset=k) for k in range(max_lag + 1)])


def grid_predictions(spec: NetworkSpec, points: int = 256, bias_std: float = 1.0,
                     max_lag: int = 64) -> dict[str, Any]:
    """Infinite-width grid predictions: covariance, normalized covariance, ACF, mean square gradient."""
    t = np.linspace(-2.0, 2.0, points)
    cov = grid_gradient_covariance(spec, t, bias_std)
    ncov = expected_normalized_covariance(cov)
    return {"grid": t, "covariance": cov, "normalized_covariance": ncov,
            "acf": grid_acf(ncov, max_lag), "mean_square_gradient": float(np.mean(np.diag(cov)))}
