"""Infinite-width (mean-field) predictions for real ReLU networks at typical pairs: level 2 of DESIGN.md.

At width ``N → ∞`` the pre-activations of one neuron over a batch of inputs are jointly
Gaussian with a deterministic kernel, and the gradients w.r.t. one neuron have a deterministic
second-moment matrix (gradient independence: ``W_lᵀ`` in the backward pass acts as a fresh
Gaussian matrix).  Every architecture of the paper is the one topology of
:class:`theory.pathsum.Block`,

    x_l = s · x_{l−1} + b · W_l φ(norm(x_{l−1})),      W_l ~ N(0, c/N),

so, written once (:func:`propagate`), with a *per-layer map* that says what one block does
to a kernel (deepmind/dks style, STYLE.md):

    forward   K_l     = s² K_{l−1} + b² c · F(K_{l−1})          F = E[φ(u) φ(u)ᵀ], u = norm(x_{l−1})
    backward  G_{l−1} = s² G_l     + b² c · A(K_{l−1}) G_l       G_L = 1 1ᵀ (one readout, f = Σ_m vᵀ x_L)

Per-layer maps:

* :class:`MeanFieldMap` — real ReLU networks at infinite width.  For ReLU with pre-activation
  variances ``q, q'`` and correlation ``ϱ`` (the arc-cosine kernel, Cho & Saul 2009)

      E[ρ(u) ρ(v)]   = √(q q')/(2π) · (√(1 − ϱ²) + (π − arccos ϱ) ϱ),     E[ρ(u)²] = q/2,
      E[ρ'(u) ρ'(v)] = (π − arccos ϱ)/(2π)  (= P(u > 0, v > 0), the co-activation),  1/2 on the diagonal.

  The backward hop of a constant-statistics layer is the Hadamard product
  ``A G = R · Γ ⊙ G``: the gate moments ``Γ`` times the BN rescaling ``R``.
* :class:`PathModelMap` — the paper's Assumption 1 (gates ``p = 1/2``, co-active ``q = 1/4``,
  BN divides by the deterministic variance ``v_{l−1}``): the same topology then reproduces
  :func:`theory.pathsum.path_moments` (a test checks it), which is the sense in which the
  three levels of model share one topology.

**The batch.**  Centering and BN use statistics over a batch of ``M`` inputs (the Monte Carlo
batch: ``2·pairs`` inputs, default ``M = 64``; ``M = ∞`` allowed).  The batch is ``M/2``
typical pairs: within a pair the inputs have correlation ``c0``, across pairs they are
independent (``x ~ N(0, I)``).  Every kernel of such a batch has three distinct entries
— :class:`PairKernel` ``(diag, pair, other)`` — and every map below is exact on that
structure.  With ``c0 = 0`` (the default: independent ``N(0, I_N)`` inputs of a large width
are uncorrelated) the batch is exchangeable and ``pair = other``.

* **Centering** subtracts the per-neuron batch mean: ``K ↦ P K P``, ``P = I − 11ᵀ/M``; for an
  exchangeable batch the centred kernel is ``(q − k)(I − 11ᵀ/M)``: diagonal ``q − k̄``,
  off-diagonal ``k − k̄`` with ``k̄ = (q + (M − 1) k)/M``, so the pre-activation correlation is
  exactly ``−1/(M − 1)`` at every depth — the input correlation is forgotten.
* **BN** also divides each neuron by its batch standard deviation ``σ_i = |u_i|/√M``.  For an
  exchangeable batch the centred vector ``u_i ~ N(0, (q − k) P)`` is isotropic in the
  ``(M − 1)``-dimensional centred subspace, so its direction (which decides the gates and
  ``ρ(y)/|y|``) is independent of its radius.  Hence, exactly at infinite width:
  the forward kernel is the arc-cosine kernel of a unit-variance input of correlation
  ``−1/(M − 1)``, and the backward rescaling with statistics treated as constants is

      R = E[1/σ_i²] = M / ((M − 3)(q − k))      (σ_i² ~ (q − k) χ²_{M−1}/M; M = ∞: 1/(q − k)),

  not ``1/E[σ_i²] = M/((M − 1)(q − k))``.  ``q − k`` excludes the per-neuron batch mean, which
  for the ReLU outputs feeding a layer is not zero: for a BN feedforward net ``q = 1``,
  ``k = 1/π`` (``M = ∞``), so the gradient variance grows by ``1/(1 − 1/π) = 1.4669`` per
  layer where the path model says 1 (``M = 64``: 1.5214).  With ``c0 ≠ 0`` and finite ``M``
  the centred vector is not isotropic: ``R`` is then ``M·E[1/|u|²]`` computed from the
  eigenvalues of the centred kernel, and direction and radius are treated as independent
  (an approximation of relative order ``c0/M``; exact again at ``M = ∞``).

**BN backward through the statistics** (``bn_backward="through"``, autograd's training
mode): ``J_BNᵀ h = (P − ŷŷᵀ) h / σ`` projects onto the ``M − 2`` directions orthogonal to
``1`` and to the normalized input ``ŷ``; then ``1ᵀ g = 0`` for every neuron and the gradient
correlation of a feedforward net is exactly ``−1/(M − 1)`` at every depth.  Its trace is
derived in :func:`_bn_through_operator` from the moments of ``ŷ`` uniform on the centred
sphere (exact for exchangeable batches; with ``c0 ≠ 0`` and finite ``M`` it is not modelled
and raises).  Centering through the statistics is ``h ↦ P h``: ``A G = P (Γ ⊙ G) P``, exact.

**Two depth senses** (as :func:`theory.pathsum.path_moments`): ``curves`` — the gradient
w.r.t. ``x_0`` of the depth-``d`` network; ``layer_curves`` — w.r.t. ``x_{L−d}`` inside the
depth-``L`` network (what the Monte Carlo engine measures in one backward pass).

The 1-D grid of §1.1 (a Gaussian process in the input) is in :mod:`theory.infinite_width_grid`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
from scipy import integrate

from .options import BN_BACKWARDS
from .pathsum import Block, block_of
from .specs import NetworkSpec, ShallowSpec, SpecError

#: Default batch size: the Monte Carlo default of 32 pairs per network, 2·32 inputs.
DEFAULT_BATCH_SIZE = 64
INF = math.inf


# ----------------------------------------------------------------------------- ReLU moments
def _clip_corr(c):
    return np.clip(c, -1.0, 1.0)


def relu_gate_moment(c):
    """``E[ρ'(u) ρ'(v)] = P(u > 0, v > 0) = (π − arccos c)/(2π)`` for correlation ``c``."""
    return (np.pi - np.arccos(_clip_corr(c))) / (2 * np.pi)


def relu_unit_kernel(c):
    """``E[ρ(u) ρ(v)]`` for unit-variance jointly Gaussian ``u, v`` with correlation ``c``:
    ``(√(1 − c²) + (π − arccos c) c)/(2π)`` (1/2 at ``c = 1``, 1/(2π) at ``c = 0``)."""
    c = _clip_corr(c)
    return (np.sqrt(1.0 - c * c) + (np.pi - np.arccos(c)) * c) / (2 * np.pi)


def relu_kernel(q1, q2, c):
    """``E[ρ(u) ρ(v)] = √(q q')/(2π) (√(1 − c²) + (π − arccos c) c)`` (arc-cosine kernel)."""
    return np.sqrt(np.asarray(q1) * np.asarray(q2)) * relu_unit_kernel(c)


# ----------------------------------------------------------------------------- batch kernels
@dataclass(frozen=True)
class PairKernel:
    """A kernel of a batch of ``M`` inputs made of ``M/2`` pairs: three distinct entries.

    ``diag`` = E[x_a²], ``pair`` = E[x_a x_b] within a pair, ``other`` = across pairs.  ``M``
    is an integer ≥ 2 or ``math.inf``.  With ``pair == other`` the batch is exchangeable.
    """

    diag: float
    pair: float
    other: float
    M: float

    def vector(self) -> np.ndarray:
        return np.array([self.diag, self.pair, self.other])

    @classmethod
    def of(cls, v: Sequence[float], M: float) -> "PairKernel":
        return cls(float(v[0]), float(v[1]), float(v[2]), M)

    @property
    def exchangeable(self) -> bool:
        return abs(self.pair - self.other) <= 1e-12 * max(abs(self.diag), 1e-300)

    @property
    def pair_correlation(self) -> float:
        return self.pair / self.diag

    @property
    def other_correlation(self) -> float:
        return self.other / self.diag

    @property
    def mean_offdiag(self) -> float:
        """The average off-diagonal entry (``pair`` weighs 1 of the ``M − 1`` others)."""
        if self.M == INF or self.M <= 2:
            return self.other if self.M == INF else self.pair
        return (self.pair + (self.M - 2) * self.other) / (self.M - 1)


def center_vector(v: np.ndarray, M: float) -> np.ndarray:
    """``P X P`` for ``X = (d − p) I + (p − t) B + t 11ᵀ`` (``B``: the pairs' 2×2 blocks).

    Uses ``P B P = B − 2·11ᵀ/M``: diag ``(d − p)(1 − 1/M) + (p − t)(1 − 2/M)``, pair
    ``−(d − p)/M + (p − t)(1 − 2/M)``, other ``−(d − p)/M − 2(p − t)/M``.
    """
    d, p, t = v
    if M == INF:
        return np.array([d - t, p - t, 0.0])
    a, b = d - p, p - t
    return np.array([a * (1 - 1 / M) + b * (1 - 2 / M), -a / M + b * (1 - 2 / M), -a / M - 2 * b / M])


def centred_eigenvalues(K: PairKernel) -> tuple[tuple[float, int], ...]:
    """Eigenvalues (value, multiplicity) of the centred kernel on the centred subspace.

    Within-pair antisymmetric vectors: ``d − p`` (``M/2`` of them); pair-symmetric vectors
    orthogonal to ``1``: ``d + p − 2t`` (``M/2 − 1``).  For an exchangeable batch both are
    ``q − k`` (together ``M − 1``).
    """
    if K.exchangeable or K.M % 2:
        return ((K.diag - K.mean_offdiag, int(K.M) - 1),)
    P = int(K.M) // 2
    return ((K.diag - K.pair, P), (K.diag + K.pair - 2 * K.other, P - 1))


def inverse_batch_variance(K: PairKernel) -> float:
    """``R = E[1/σ_i²]``, ``σ_i² = |u_i|²/M`` the biased batch variance of a neuron, ``u_i ~ N(0, P K P)``.

    ``M = ∞``: ``1/(centred diagonal)``.  Exchangeable: ``M/((M − 3)(q − k))`` (inverse χ²; infinite for
    ``M ≤ 3``).  Otherwise ``M ∫_0^∞ Π_j (1 + 2sλ_j)^{−m_j/2} ds`` over the centred eigenvalues.
    """
    if K.M == INF:
        return 1.0 / center_vector(K.vector(), INF)[0]
    eig = [(lam, m) for lam, m in centred_eigenvalues(K) if m > 0]
    if sum(m for _, m in eig) <= 2:
        return INF
    if len(eig) == 1:
        lam, m = eig[0]
        return K.M / ((m - 2) * lam)
    lmax = max(lam for lam, _ in eig)

    def integrand(s):  # substitute s = e^y / lmax for accuracy over many decades
        return math.exp(sum(-0.5 * m * math.log1p(2 * s * lam) for lam, m in eig))

    val, _ = integrate.quad(lambda y: integrand(math.exp(y) / lmax) * math.exp(y) / lmax, -40, 40,
                            limit=200, epsabs=0, epsrel=1e-11)
    return K.M * val


# ----------------------------------------------------------------------------- per-layer maps
class LayerMap(Protocol):
    """What one block's branch does to kernels: ``F`` (forward) and the operator ``A`` (backward).

    ``forward(K)`` returns ``E[φ(u) φ(u)ᵀ]`` (per unit weight variance ``c``) as a kernel
    vector; ``backward(K)`` returns the 3×3 matrix ``A`` with ``G_{l−1} ∋ b² c · A G_l``;
    ``gates(K)`` the per-layer diagnostics (pre-activation correlation, activation, co-activation).
    """

    def forward(self, K: PairKernel) -> np.ndarray: ...

    def backward(self, K: PairKernel) -> np.ndarray: ...

    def gates(self, K: PairKernel) -> dict[str, float]: ...


@dataclass(frozen=True)
class PathModelMap:
    """Assumption 1 as a per-layer map: gates ``p``, co-active ``q``, BN rescale by ``v_{l−1}``.

    Forward tracks only the variance (as :func:`theory.pathsum.forward_variance_step`); the
    off-diagonal entries are carried along unchanged in the branch (they do not enter ``A``).
    """

    norm: str = "none"
    unit: str = "relu"
    p: float = 0.5
    q: float = 0.25

    def forward(self, K: PairKernel) -> np.ndarray:
        unit_input = 1.0 if self.norm == "bn" else K.diag
        second = unit_input * (0.5 if self.unit == "relu" else 1.0)
        return np.array([second, 0.0, 0.0])

    def backward(self, K: PairKernel) -> np.ndarray:
        rescale = K.diag if self.norm == "bn" else 1.0
        g = (1.0, 1.0, 1.0) if self.unit != "relu" else (self.p, self.q, self.q)
        return np.diag(g) / rescale

    def gates(self, K: PairKernel) -> dict[str, float]:
        return {"preactivation_correlation": float("nan"), "active": self.p, "coactive": self.q}


@dataclass(frozen=True)
class MeanFieldMap:
    """Real networks at infinite width: arc-cosine forward, gate moments backward, batch statistics.

    ``norm``: none | center | bn; ``unit``: relu | crelu-mirrored (linear at init: φ(u) = u,
    gate moment 1); ``bn_backward``: constant (default, the theorems' model) | through.
    """

    norm: str = "none"
    unit: str = "relu"
    bn_backward: str = "constant"

    def preactivation(self, K: PairKernel) -> tuple[np.ndarray, float]:
        """``(kernel of u = norm(x), R)``: BN returns the unit-diagonal kernel and ``R = E[1/σ²]``."""
        v = K.vector()
        if self.norm == "none":
            return v, 1.0
        centred = center_vector(v, K.M)
        if self.norm == "center":
            return centred, 1.0
        return centred / centred[0], inverse_batch_variance(K)

    def forward(self, K: PairKernel) -> np.ndarray:
        u, _ = self.preactivation(K)
        if self.unit != "relu":
            return u
        return np.array([u[0] / 2, relu_kernel(u[0], u[0], u[1] / u[0]),
                         relu_kernel(u[0], u[0], u[2] / u[0])])

    def gate_vector(self, K: PairKernel) -> np.ndarray:
        u, _ = self.preactivation(K)
        if self.unit != "relu":
            return np.ones(3)
        return np.array([0.5, relu_gate_moment(u[1] / u[0]), relu_gate_moment(u[2] / u[0])])

    def backward(self, K: PairKernel) -> np.ndarray:
        u, R = self.preactivation(K)
        gamma = self.gate_vector(K)
        if self.bn_backward == "constant" or self.norm == "none":
            return R * np.diag(gamma)
        if self.norm == "center":  # h ↦ P h: A G = P (Γ ⊙ G) P
            return np.column_stack([center_vector(gamma * e, K.M) for e in np.eye(3)])
        return _bn_through_operator(K, R)

    def gates(self, K: PairKernel) -> dict[str, float]:
        u, _ = self.preactivation(K)
        if self.unit != "relu":
            return {"preactivation_correlation": u[1] / u[0], "active": float("nan"), "coactive": float("nan")}
        return {"preactivation_correlation": u[1] / u[0], "active": 0.5,
                "coactive": float(relu_gate_moment(u[1] / u[0]))}


def _bn_through_operator(K: PairKernel, R: float) -> np.ndarray:
    """BN differentiated through its statistics: ``r = (P − ŷŷᵀ) D (Wᵀ g) / σ``, ``D = diag(ρ'(y))``.

    For ``G = α I + β 11ᵀ`` (exchangeable, ``α = g_d − g_o``, ``β = g_o``) and ``Q = P − ŷŷᵀ``
    (idempotent, ``Q 1 = 0``), ``E[r rᵀ] = c R E[Q D G D Q]`` with trace ``c R T``,

        T = α (E n (1 − 1/M) − E|ρ(ŷ)|²) + β (E n − E n²/M − E (1ᵀρ(ŷ))²),

    ``n = Σ_a ρ'(y_a)``: ``E n = M/2``, ``E n² = M/2 + M(M − 1) γ`` (γ = co-activation at
    ``−1/(M − 1)``), ``E|ρ(ŷ)|² = 1/2``, ``E(1ᵀρ(ŷ))² = 1/2 + (M − 1) κ`` (κ = unit arc-cosine
    kernel at ``−1/(M − 1)``; exact because ``ŷ`` is uniform on the centred sphere and
    ``ρ(y)`` is homogeneous).  ``1ᵀ r = 0`` and exchangeability give diagonal ``T/M`` and
    off-diagonal ``−T/(M(M − 1))``: gradient correlation ``−1/(M − 1)`` for ``s = 0``.
    """
    M = K.M
    if M == INF:
        a_coef, b_coef = 0.5, 0.25 - 1 / (2 * np.pi)
        diag = np.array([a_coef, 0.0, b_coef - a_coef])  # T/M in terms of (g_d, ·, g_o)
        return R * np.vstack([diag, np.zeros(3), np.zeros(3)])
    if not K.exchangeable:
        raise SpecError("c0", K.pair_correlation,
                        "0 with --bn-backward through at a finite batch size (BN differentiated through "
                        "its statistics is modelled only for exchangeable batches; use --batch-size inf)")
    c = -1.0 / (M - 1)
    gamma, kappa = float(relu_gate_moment(c)), float(relu_unit_kernel(c))
    En, En2 = M / 2, M / 2 + M * (M - 1) * gamma
    a_coef = En * (1 - 1 / M) - 0.5
    b_coef = En - En2 / M - (0.5 + (M - 1) * kappa)
    # g_o = (g_p + (M − 2) g_o')/(M − 1): the average off-diagonal entry
    w_p, w_t = 1 / (M - 1), (M - 2) / (M - 1)
    row_T = np.array([a_coef, (b_coef - a_coef) * w_p, (b_coef - a_coef) * w_t])
    return R * np.vstack([row_T / M, -row_T / (M * (M - 1)), -row_T / (M * (M - 1))])


# ----------------------------------------------------------------------------- the topology
@dataclass
class Propagation:
    """Kernels ``K_0..K_L``, backward operators ``B_1..B_L`` (``G_{l−1} = B_l G_l``), diagnostics."""

    kernels: list[PairKernel]
    operators: list[np.ndarray]
    gates: list[dict[str, float]]


def propagate(block: Block, depth: int, weight_gain: float, layer_map: LayerMap,
              K0: PairKernel) -> Propagation:
    """The one topology: ``K_l = s² K_{l−1} + b² c F(K_{l−1})``, ``B_l = s² I + b² c A(K_{l−1})``."""
    s2, b2c = float(block.skip) ** 2, float(block.branch) ** 2 * float(weight_gain)
    kernels, ops, gates = [K0], [], []
    for _ in range(depth):
        K = kernels[-1]
        ops.append(s2 * np.eye(3) + b2c * layer_map.backward(K))
        gates.append(layer_map.gates(K))
        kernels.append(PairKernel.of(s2 * K.vector() + b2c * layer_map.forward(K), K.M))
    return Propagation(kernels, ops, gates)


def gradient_curves(ops: Sequence[np.ndarray], M: float) -> dict[str, dict[str, list]]:
    """``curves`` (w.r.t. ``x_0`` of the depth-``d`` net) and ``layer_curves`` (w.r.t. ``x_{L−d}``).

    Headline moments are the diagonal (variance ``E[∇²]``) and the *pair* entry (covariance
    ``E[∇ ∇']`` of a typical pair).
    """
    start = np.ones(3)  # G_L = 1 1ᵀ: the same readout for every input

    def record(out, G):
        out["variance"].append(float(G[0]))
        out["covariance"].append(float(G[1]))
        out["correlation"].append(float(G[1] / G[0]))

    L = len(ops)
    prefix = {"depth": list(range(1, L + 1)), "variance": [], "covariance": [], "correlation": []}
    suffix = {"depth": list(range(1, L + 1)), "variance": [], "covariance": [], "correlation": []}
    acc = np.eye(3)
    for d in range(L):  # depth-d net: G_0 = B_1 B_2 … B_d 1
        acc = acc @ ops[d]
        record(prefix, acc @ start)
    G = start
    for d in range(L):  # inside the depth-L net: G_{L−d} = B_{L−d+1} … B_L 1
        G = ops[L - 1 - d] @ G
        record(suffix, G)
    return {"curves": prefix, "layer_curves": suffix}


# ----------------------------------------------------------------------------- public API
def _check_batch(batch_size: Any, norm: str, bn_backward: str, c0: float) -> float:
    allowed = "an integer >= 2 or inf (inputs per batch; the Monte Carlo default is 2 x 32 pairs = 64)"
    if isinstance(batch_size, bool):
        raise SpecError("batch_size", batch_size, allowed)
    if isinstance(batch_size, float) and math.isinf(batch_size) and batch_size > 0:
        return INF
    if isinstance(batch_size, float) and batch_size.is_integer():
        batch_size = int(batch_size)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
        raise SpecError("batch_size", batch_size, allowed)
    M = int(batch_size)
    if norm == "bn" and M < 4:
        raise SpecError("batch_size", batch_size, "an integer >= 4 or inf under batch-norm (E[1/sigma^2] "
                        "of the batch variance is infinite for M <= 3)")
    if c0 != 0 and M % 2:
        raise SpecError("batch_size", batch_size, "an even integer or inf when c0 != 0 (the batch is M/2 pairs)")
    return M


def _check_c0(c0: Any) -> float:
    import numbers
    if isinstance(c0, bool) or not isinstance(c0, numbers.Real) or not math.isfinite(float(c0)) \
            or not -1.0 <= float(c0) <= 1.0:
        raise SpecError("c0", c0, "a real number in [-1, 1] (the correlation of the two inputs of a pair)")
    return float(c0)


def mean_field_map(spec: NetworkSpec, bn_backward: str = "constant") -> tuple[Block, MeanFieldMap]:
    """The block and the infinite-width per-layer map of a deep spec."""
    if bn_backward not in BN_BACKWARDS:
        raise SpecError("bn_backward", bn_backward, "one of " + ", ".join(BN_BACKWARDS))
    block = block_of(spec)
    return block, MeanFieldMap(block.norm, block.unit, bn_backward)


def infinite_width_moments(spec: NetworkSpec, c0: float = 0.0, batch_size: Any = DEFAULT_BATCH_SIZE,
                           bn_backward: str = "constant", input_variance: float = 1.0) -> dict[str, Any]:
    """Gradient moments of typical pairs at infinite width (same keys as ``path_moments`` and more).

    ``c0``: the correlation of the two inputs of a pair; ``batch_size``: ``M`` (int ≥ 2 or
    ``math.inf``), the batch of ``M/2`` pairs whose statistics centering/BN use.
    Returns floats: ``variance``, ``covariance``, ``correlation`` (gradient w.r.t. ``x_0`` of
    the depth-``L`` network), ``curves``, ``layer_curves`` (see :func:`gradient_curves`), and
    ``forward``: per layer ``l = 0..L`` the second moment ``q_l``, the pair's cross moment
    ``k_l`` and correlation of ``x_l``; ``gates``: per block ``l = 1..L`` the pre-activation
    correlation of the pair, the activation (1/2) and co-activation probabilities.
    """
    if isinstance(spec, ShallowSpec):
        raise SpecError("arch", spec.arch, "a deep architecture; the shallow net's covariance is exact "
                        "at every width (theory.derivations.shallow_covariance)")
    c0 = _check_c0(c0)
    block, layer_map = mean_field_map(spec, bn_backward)
    M = _check_batch(batch_size, block.norm, bn_backward, c0)
    q0 = float(input_variance)
    prop = propagate(block, spec.depth, spec.weight_gain, layer_map, PairKernel(q0, c0 * q0, 0.0, M))
    out = gradient_curves(prop.operators, M)
    pre = out["curves"]
    doc: dict[str, Any] = {"variance": pre["variance"][-1], "covariance": pre["covariance"][-1],
                           "correlation": pre["correlation"][-1], **out}
    doc["forward"] = {"layer": list(range(spec.depth + 1)),
                      "second_moment": [K.diag for K in prop.kernels],
                      "cross_moment": [K.pair for K in prop.kernels],
                      "correlation": [K.pair_correlation for K in prop.kernels]}
    doc["gates"] = {"layer": list(range(1, spec.depth + 1)),
                    **{k: [g[k] for g in prop.gates] for k in ("preactivation_correlation", "active", "coactive")}}
    doc["batch_size"] = M
    doc["c0"] = c0
    doc["bn_backward"] = bn_backward if block.norm != "none" else None
    return doc


def path_model_moments(spec: NetworkSpec, p: float = 0.5, q: float = 0.25,
                       input_variance: float = 1.0) -> dict[str, Any]:
    """The path model through the shared topology (float64): must equal ``pathsum.path_moments``."""
    block = block_of(spec)
    prop = propagate(block, spec.depth, spec.weight_gain, PathModelMap(block.norm, block.unit, p, q),
                     PairKernel(float(input_variance), 0.0, 0.0, INF))
    out = gradient_curves(prop.operators, INF)
    pre = out["curves"]
    return {"variance": pre["variance"][-1], "covariance": pre["covariance"][-1],
            "correlation": pre["correlation"][-1], **out}
