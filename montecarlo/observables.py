"""Observables of the paper measured on sampled networks, each with a standard error.

**Typical pairs** (§3, Assumption 1; Thm 1–3, Cor. 1).  Each network gets ``P`` pairs of
inputs ``x, x' ~ N(0, I_N)`` (its batch has ``M = 2P`` inputs — the batch whose statistics
BN and centering use).  One backward pass gives ``g = ∂f/∂x_{L−d}`` for every ``d = 1..L``.
For each depth, the network's summaries are

    A = mean over neurons i and pairs of (g_i(x)² + g_i(x')²)/2        (variance  E[∇_i²])
    C = mean over neurons i and pairs of  g_i(x) g_i(x')               (covariance E[∇_i ∇'_i])

i.e. the gradient w.r.t. one neuron, with the N neurons of the layer (exchangeable) averaged as
extra samples within the network.  Estimates and standard errors are over networks
(:mod:`montecarlo.estimators`); the correlation is the ratio ``C̄/Ā`` with a delta-method
standard error.  The headline numbers are ``d = L``: the gradient w.r.t. the input ``x_0``.

Also per block ``l``: the proportion of active gates ``p_l`` and of co-active gates for the
two inputs of a pair ``q_l`` (Assumption 1 says 1/2 and 1/4; Fig. 3).

**1-D grid** (§1.1, Fig. 1–4).  ``f: R → R``, first layer ``x_0 = t·1 − b`` (``b ~
N(0, bias_std²)``), ``M`` grid points in [−2, 2]; ``df/dx = Σ_i ∂f/∂x_{0,i}``.  Per network:
the sample ACF of ``df/dx`` along the grid, the normalized covariance matrix
``(g − ḡ)(g − ḡ)ᵀ/σ_g²`` of Fig. 1, and per block the activation proportion, the co-activation
proportion over distinct pairs of grid points (``k(k−1)/(M(M−1))`` for a neuron active on ``k``
points, Fig. 3), the histogram of per-neuron activation levels ``k/M`` and of contiguity run
lengths (runs of equal activation along the grid, Fig. 4).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kernels import get_kernel
from theory.specs import NetworkSpec, ShallowSpec, SpecError

from . import networks, sampling
from .estimators import Estimate, StreamingMoments

Progress = Callable[[int], None]


def _check_run(nets: int, batch: int, seed: int) -> None:
    if isinstance(nets, bool) or not isinstance(nets, (int, np.integer)) or nets < 2:
        raise SpecError("nets", nets, "an integer >= 2 (networks are the independent units of the "
                        "standard errors)")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise SpecError("batch", batch, "an integer >= 1 (networks per chunk)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecError("seed", seed, "an integer >= 0")


def _chunks(nets: int, batch: int):
    for start in range(0, nets, batch):
        yield range(start, min(nets, start + batch))


# ----------------------------------------------------------------------------- typical pairs
def pair_summary(grads: np.ndarray) -> np.ndarray:
    """One network's (A, C) per depth from ``grads`` (L, N, 2P): shape (L, 2), float64."""
    g = grads.astype(np.float64)
    ga, gb = g[:, :, 0::2], g[:, :, 1::2]
    A = 0.5 * (ga * ga + gb * gb).mean(axis=(1, 2))
    C = (ga * gb).mean(axis=(1, 2))
    return np.stack([A, C], axis=1)


def gate_summary(active: np.ndarray) -> np.ndarray:
    """One network's (active, co-active within pairs) proportions per block: (L, 2)."""
    a, b = active[:, :, 0::2], active[:, :, 1::2]
    return np.stack([active.mean(axis=(1, 2)), (a & b).mean(axis=(1, 2))], axis=1)


@dataclass
class PairsResult:
    """Per-depth estimates for typical pairs; index ``d − 1`` is depth ``d`` (gradient w.r.t. x_{L−d})."""

    spec: NetworkSpec
    model: str
    stats_backward: str | None
    seed: int
    pairs: int
    depth: list[int]
    variance: list[Estimate]
    covariance: list[Estimate]
    correlation: list[Estimate]
    active: list[Estimate]
    coactive: list[Estimate]

    def to_dict(self) -> dict:
        """The JSON document of ``python -m montecarlo --json`` (headline = depth L)."""
        return {
            "variance": self.variance[-1].to_dict(),
            "covariance": self.covariance[-1].to_dict(),
            "correlation": self.correlation[-1].to_dict(),
            "curves": {"depth": self.depth,
                       "variance": [e.to_dict() for e in self.variance],
                       "covariance": [e.to_dict() for e in self.covariance],
                       "correlation": [e.to_dict() for e in self.correlation]},
            "gates": {"layer": self.depth,
                      "active": [e.to_dict() for e in self.active],
                      "coactive": [e.to_dict() for e in self.coactive]},
            "spec": self.spec.to_dict(), "seed": self.seed, "model": self.model,
            "bn_backward": self.stats_backward, "pairs_per_net": self.pairs,
            "experiment": "pairs",
        }


def typical_pairs(spec: NetworkSpec, *, model: str = "real", nets: int = 64, seed: int = 0,
                  batch: int = 8, backend: str = "numba", pairs: int = 32,
                  stats_backward: str = "constant", progress: Progress | None = None) -> PairsResult:
    """Variance, covariance and correlation of gradients for typical pairs at every depth.

    ``model``: ``real`` (sampled ReLU networks, forward + backward) or ``path`` (Assumption 1's
    gate model; exact truth in :func:`theory.pathsum.path_moments` ``["layer_curves"]``).
    ``pairs``: pairs per network (batch of ``2·pairs`` inputs; BN statistics come from it).
    ``batch``: networks per chunk — results are bit-identical for every value.
    """
    _check_run(nets, batch, seed)
    if isinstance(pairs, bool) or not isinstance(pairs, (int, np.integer)) or pairs < 1:
        raise SpecError("pairs", pairs, "an integer >= 1 (pairs of inputs per network)")
    if spec.depth and getattr(spec, "norm", "none") == "bn" and model == "real" and pairs < 2:
        raise SpecError("pairs", pairs, "an integer >= 2 under batch-norm (a batch of 2 inputs "
                        "normalizes every neuron to ±1)")
    plan = networks.compile_spec(spec, model, stats_backward)
    kernel = get_kernel(backend)
    scale = plan.variance_scale()  # fails fast when 2^L-type growth leaves float64
    L = spec.depth
    grads_acc = StreamingMoments((L,), 2)
    gates_acc = StreamingMoments((L,), 2)
    for idx in _chunks(nets, batch):
        grads, active = networks.gradients(plan, kernel, seed, idx, "pairs", 2 * pairs,
                                           want_active=plan.layers.gated)
        for k in range(len(idx)):
            grads_acc.add(pair_summary(grads[k]))
            gates_acc.add(gate_summary(active[k]) if active is not None else np.ones((L, 2)))
        if progress is not None:
            progress(len(idx))
    return PairsResult(spec, model, plan.stats_backward, seed, pairs, list(range(1, L + 1)),
                       grads_acc.estimate(0, scale), grads_acc.estimate(1, scale),
                       grads_acc.ratio(1, 0), gates_acc.estimate(0), gates_acc.estimate(1))


# ----------------------------------------------------------------------------- 1-D grid
def sample_acf(y: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation ``Σ_m (y_m − ȳ)(y_{m+k} − ȳ) / Σ_m (y_m − ȳ)²``, ``k = 0..max_lag``."""
    z = y - y.mean()
    denom = float(z @ z)
    if denom == 0.0:
        raise FloatingPointError("the gradient is constant along the grid: its ACF is undefined")
    return np.array([float(z[: z.size - k] @ z[k:]) / denom for k in range(max_lag + 1)])


def run_lengths(active_row: np.ndarray) -> np.ndarray:
    """Lengths of the maximal runs of equal values in a boolean sequence (contiguity, Fig. 4)."""
    change = np.flatnonzero(active_row[1:] != active_row[:-1]) + 1
    edges = np.concatenate([[0], change, [active_row.size]])
    return np.diff(edges)


def layer_activation_summary(active: np.ndarray, level_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one network's gates (L, N, M): proportions (L, 2), level histograms (L, bins), run counts (L, M)."""
    L, N, M = active.shape
    k = active.sum(axis=2)
    props = np.stack([k.mean(axis=1) / M, (k * (k - 1)).mean(axis=1) / (M * (M - 1))], axis=1)
    levels = np.stack([np.histogram(k[l] / M, bins=level_bins, range=(0.0, 1.0))[0] for l in range(L)])
    runs = np.zeros((L, M), dtype=np.int64)
    for l in range(L):
        for n in range(N):
            np.add.at(runs[l], run_lengths(active[l, n]) - 1, 1)
    return props, levels, runs


@dataclass
class GridResult:
    """1-D grid observables: ACF by lag, normalized covariance matrix, activation statistics by block."""

    spec: NetworkSpec
    model: str
    seed: int
    grid: np.ndarray
    acf: list[Estimate]
    mean_square_gradient: Estimate
    covariance_matrix: np.ndarray
    active: list[Estimate]
    coactive: list[Estimate]
    activation_levels: np.ndarray = field(repr=False)
    run_length_counts: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        runs = self.run_length_counts
        lengths = np.arange(1, runs.shape[1] + 1)
        mean_run = (runs * lengths).sum(axis=1) / np.maximum(runs.sum(axis=1), 1)
        return {
            "experiment": "grid", "spec": self.spec.to_dict(), "seed": self.seed, "model": self.model,
            "grid": {"points": int(self.grid.size), "low": float(self.grid[0]), "high": float(self.grid[-1])},
            "acf": {"lag": list(range(len(self.acf))), "values": [e.to_dict() for e in self.acf]},
            "mean_square_gradient": self.mean_square_gradient.to_dict(),
            "gates": {"layer": list(range(1, len(self.active) + 1)),
                      "active": [e.to_dict() for e in self.active],
                      "coactive": [e.to_dict() for e in self.coactive],
                      "mean_run_length": [float(x) for x in mean_run]},
        }


def grid(spec: NetworkSpec, *, model: str = "real", nets: int = 20, seed: int = 0, batch: int = 4,
         backend: str = "numba", points: int = 256, max_lag: int = 64, bias_std: float | None = None,
         stats_backward: str = "constant", level_bins: int = 10,
         progress: Progress | None = None) -> GridResult:
    """The 1-D grid experiment of §1.1 (Fig. 1–4) on ``nets`` sampled networks.

    ``bias_std``: standard deviation of the first-layer biases ``b`` (default: the spec's own
    for the shallow net, else 1.0 — see :class:`theory.specs.ShallowSpec` for why not 1/√N).
    """
    _check_run(nets, batch, seed)
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 3:
        raise SpecError("points", points, "an integer >= 3 (grid points)")
    if not 0 <= max_lag < points:
        raise SpecError("max_lag", max_lag, f"an integer in [0, {points - 1}]")
    if bias_std is None:
        bias_std = spec.bias_std if isinstance(spec, ShallowSpec) else 1.0
    if not bias_std > 0:
        raise SpecError("bias_std", bias_std, "a positive real number")
    t = sampling.grid_points(points)
    shallow = isinstance(spec, ShallowSpec)
    L = 1 if shallow else spec.depth
    if not shallow:
        plan = networks.compile_spec(spec, model, stats_backward)
        kernel = get_kernel(backend)
    elif model != "real":
        raise SpecError("model", model, "real for the shallow net (it has no path model)")
    acf_acc = StreamingMoments((max_lag + 1,), 1)
    ms_acc = StreamingMoments((), 1)
    gate_acc = StreamingMoments((L,), 2)
    cov = np.zeros((points, points))
    levels = np.zeros((L, level_bins), dtype=np.int64)
    runs = np.zeros((L, points), dtype=np.int64)
    for idx in _chunks(nets, batch):
        if shallow:
            dfdx, active = _shallow_grid(spec, seed, idx, t, bias_std)
        else:
            grads, active = networks.gradients(plan, kernel, seed, idx, "grid", points, keep="input",
                                               want_active=True, bias_std=bias_std)
            dfdx = grads[:, 0].astype(np.float64).sum(axis=1)
        for k in range(len(idx)):
            y = dfdx[k]
            acf_acc.add(sample_acf(y, max_lag)[:, None])
            ms_acc.add(np.array([float(y @ y) / points]))
            z = y - y.mean()
            cov += (np.outer(z, z) / (z @ z / points) - cov) / (acf_acc.n)
            props, lv, rl = layer_activation_summary(active[k], level_bins)
            gate_acc.add(props)
            levels += lv
            runs += rl
        if progress is not None:
            progress(len(idx))
    scale = 1.0 if shallow else float(np.exp(plan.log_forward_variance[-1] - plan.log_forward_variance[0]))
    return GridResult(spec, model, seed, t, acf_acc.estimate(0), ms_acc.estimate(0, scale), cov,
                      gate_acc.estimate(0), gate_acc.estimate(1), levels, runs)


def _shallow_grid(spec: ShallowSpec, seed: int, idx: range, t: np.ndarray, bias_std: float):
    """``df/dx = Σ_i w_i 1[t > b_i]`` for ``f(x) = wᵀ ρ(x·1 − b)`` (§1.1); gates (S, 1, N, M)."""
    N = spec.width
    w = np.empty((len(idx), N), dtype=np.float32)
    b = np.empty(N, dtype=np.float32)
    active = np.empty((len(idx), 1, N, t.size), dtype=bool)
    for k, i in enumerate(idx):
        sampling.stream(seed, i, sampling.WEIGHTS).standard_normal(out=w[k], dtype=np.float32)
        sampling.stream(seed, i, sampling.INPUTS).standard_normal(out=b, dtype=np.float32)
        active[k, 0] = t[None, :] > bias_std * b.astype(np.float64)[:, None]
    sigma = np.sqrt(spec.weight_gain / N)
    dfdx = np.einsum("sn,snm->sm", sigma * w.astype(np.float64), active[:, 0].astype(np.float64))
    return dfdx, active
