"""What a kernel is asked to compute: the per-layer coefficients of one architecture.

Every architecture of the paper is a stack of ``L`` blocks (see :func:`theory.pathsum.block_of`)

    x_l = s_l · x_{l−1} + b_l · W_l φ(norm(x_{l−1})),      l = 1..L,

with ``f = vᵀ x_L``.  A kernel receives the weights as *standardized* matrices ``Z_l`` (i.i.d.
N(0, 1), or orthogonal) and the scalars ``s_l``, ``b_l`` of a :class:`LayerPlan`, in which the
weight scale ``σ = sqrt(c/N)`` is already folded into ``b_l``.  The caller
(:mod:`montecarlo.networks`) also folds in a deterministic per-layer rescaling that keeps every
value O(1) at any depth (no overflow where variances grow like 2^L); kernels need not know.

Kernels are spec-agnostic: they see numbers, never a spec.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORMS = ("none", "center", "bn")
#: how the batch statistics of ``center``/``bn`` are differentiated (the one declaration of these
#: names: theory.options, the CLIs and the convnets use it): held constant, or differentiated through
BN_BACKWARDS = ("constant", "through")
UNITS = ("relu", "crelu-mirrored")


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """Per-layer scalars and the layer type shared by every network of a run.

    ``skip[l-1]``, ``branch[l-1]``: ``s_l`` and ``b_l`` of block ``l`` (float64 arrays of length L).
    ``norm``: ``none`` | ``center`` (subtract the batch mean of each neuron) | ``bn`` (centre and
    divide by the batch standard deviation, biased, no epsilon).  The batch is the ``M`` inputs
    (columns) of one network: statistics are computed from the batch being differentiated.
    ``bn_backward``: ``constant`` (batch statistics treated as constants when differentiating:
    centering's Jacobian is the identity, BN's is ``1/std`` — the theorems' model) or
    ``through`` (differentiate through the mean and variance, as autograd does in training mode).
    ``unit``: ``relu`` (φ = ρ) or ``crelu-mirrored`` (CReLU with weights (W, −W): φ(u) = u).
    ``first_norm``: block 1's normalization when it differs from ``norm`` (None: the same).  The
    1-D grid sets it to ``none``: its input layer ``x·v − b`` is not normalized, because centering
    it over the grid would subtract each neuron's bias — its only parameter — and make every
    first-layer unit the same function ``ρ(t − t̄)``.
    """

    skip: np.ndarray
    branch: np.ndarray
    norm: str = "none"
    bn_backward: str = "constant"
    unit: str = "relu"
    first_norm: str | None = None  # block 1's normalization when it differs (the 1-D grid's input layer)

    def __post_init__(self) -> None:
        skip = np.ascontiguousarray(self.skip, dtype=np.float64)
        branch = np.ascontiguousarray(self.branch, dtype=np.float64)
        if skip.ndim != 1 or skip.shape != branch.shape or skip.size == 0:
            raise ValueError(f"skip/branch shapes {skip.shape}/{branch.shape} are not allowed: "
                             "two 1-D arrays of the same length L >= 1")
        if self.norm not in NORMS:
            raise ValueError(f"norm={self.norm!r} is not allowed: one of {', '.join(NORMS)}")
        if self.bn_backward not in BN_BACKWARDS:
            raise ValueError(f"bn_backward={self.bn_backward!r} is not allowed: one of "
                             + ", ".join(BN_BACKWARDS))
        if self.first_norm is not None and self.first_norm not in NORMS:
            raise ValueError(f"first_norm={self.first_norm!r} is not allowed: None or one of {', '.join(NORMS)}")
        if self.unit not in UNITS:
            raise ValueError(f"unit={self.unit!r} is not allowed: one of {', '.join(UNITS)}")
        object.__setattr__(self, "skip", skip)
        object.__setattr__(self, "branch", branch)

    def norm_at(self, index: int) -> str:
        """The normalization of block ``index + 1`` (0-based index, as the kernels loop)."""
        return self.first_norm if (index == 0 and self.first_norm is not None) else self.norm

    @property
    def depth(self) -> int:
        return int(self.skip.size)

    @property
    def columns_independent(self) -> bool:
        """True when the M columns do not interact in the derivative: batch statistics treated as
        constants, or no normalization anywhere (forward mode then gives every column's JVP at once)."""
        return self.bn_backward == "constant" or all(self.norm_at(l) == "none" for l in range(self.depth))

    @property
    def gated(self) -> bool:
        """True when the backward pass multiplies by ReLU gates (ρ' ∈ {0, 1})."""
        return self.unit == "relu"


def check_shapes(plan: LayerPlan, weights: np.ndarray, readout: np.ndarray,
                 columns: np.ndarray) -> tuple[int, int, int, int]:
    """Validate ``weights (S, L, N, N)``, ``readout (S, N)``, ``columns (S, ·, N, M) or (S, N, M)``.

    Returns ``(S, L, N, M)``.
    """
    if len(weights.shape) != 4 or weights.shape[2] != weights.shape[3]:
        raise ValueError(f"weights shape {weights.shape} is not allowed: (nets, L, N, N)")
    S, L, N, _ = weights.shape
    if L != plan.depth:
        raise ValueError(f"weights depth {L} is not allowed: the plan has L={plan.depth} layers")
    if readout.shape != (S, N):
        raise ValueError(f"readout shape {readout.shape} is not allowed: ({S}, {N})")
    if columns.shape[0] != S or columns.shape[-2] != N:
        raise ValueError(f"inputs/gates shape {columns.shape} is not allowed: ({S}, ..., {N}, M)")
    return S, L, N, int(columns.shape[-1])


def check_plan_inputs(plan: LayerPlan, weights, readout: np.ndarray, inputs: np.ndarray,
                      tangent: np.ndarray) -> tuple[int, int, int, int]:
    """:func:`check_shapes` for forward mode; ``tangent`` must have the shape of ``inputs``, and the
    batch statistics must be constant (differentiated through, they couple the M columns).

    ``weights`` is an array or a lazy source with ``.shape`` (S, L, N, N) and ``fill_layer``.
    """
    S, L, N, M = check_shapes(plan, weights, readout, inputs)
    if inputs.ndim != 3 or tangent.shape != inputs.shape:
        raise ValueError(f"tangent shape {tangent.shape} is not allowed: the inputs' shape ({S}, {N}, {M})")
    if not plan.columns_independent:
        raise ValueError("bn_backward='through' is not allowed in forward mode: the batch statistics "
                         "couple the columns; use real_gradients")
    return S, L, N, M


def dense_weights(weights) -> np.ndarray:
    """The (S, L, N, N) array of ``weights`` (drawn now when it is a lazy source)."""
    return weights.materialize() if hasattr(weights, "fill_layer") else weights


class NonFiniteError(FloatingPointError):
    """A forward activation or a gradient became inf/NaN; names the layer and the network.

    ``layer`` is ``l`` of ``x_l`` (0 = the input layer), ``depth`` is ``d = L − l`` (layers
    between that neuron and the output), ``network`` the index within the chunk.
    """

    def __init__(self, where: str, layer: int, depth: int, network: int, reason: str):
        self.where, self.layer, self.depth, self.network = where, layer, depth, network
        super().__init__(f"non-finite {where} x_{layer} (depth d={depth}) of network #{network} "
                         f"in this chunk: {reason}")


def raise_if_nonfinite(grads: np.ndarray, forward_finite: np.ndarray | None, keep: str) -> None:
    """Raise :class:`NonFiniteError` for the first bad forward layer, else the first bad gradient.

    ``grads``: (S, K, N, M) with ``grads[:, d−1]`` the gradient w.r.t. ``x_{L−d}`` (``keep='all'``,
    K = L) or only ``d = L`` (``keep='input'``, K = 1).  ``forward_finite``: (S, L) booleans,
    ``[:, l−1]`` True when ``x_l`` is finite.  Forward failures are reported first because a
    forward overflow is the usual cause of a backward NaN.
    """
    L = forward_finite.shape[1] if forward_finite is not None else grads.shape[1]
    if forward_finite is not None and not forward_finite.all():
        bad = np.argwhere(~forward_finite)
        net, layer = int(bad[0, 0]), int(bad[:, 1][bad[:, 0] == bad[0, 0]].min()) + 1
        raise NonFiniteError("forward pass into", layer, L - layer, net,
                             f"overflow, or a batch standard deviation of 0 in x_{layer - 1}")
    finite = np.isfinite(grads).reshape(grads.shape[0], grads.shape[1], -1).all(axis=2)
    if not finite.all():
        bad = np.argwhere(~finite)
        net = int(bad[0, 0])
        k = int(bad[:, 1][bad[:, 0] == net].min())
        depth = k + 1 if keep == "all" else L
        raise NonFiniteError("gradient at", L - depth, depth, net,
                             "overflow in the backward pass, or a batch standard deviation of 0")
