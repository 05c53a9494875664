"""From a spec to what the kernels compute: scaled per-layer coefficients and sampled chunks.

**Exact rescaling (no overflow at any depth).**  Let ``v_l`` be the deterministic forward
variance of :func:`theory.pathsum.forward_variance_step` (``v_0 = 1``) and ``a_l = sqrt(v_l)``.
The kernels run the network on ``x̃_l = x_l / a_l``.  Because ReLU and centering are positively
homogeneous and BN is scale-invariant (no epsilon), ``φ(norm(a x)) = a^h φ(norm(x))`` with
``h = 0`` under BN and ``h = 1`` otherwise, so the rescaled block is the same block with

    s̃_l = s · a_{l−1} / a_l,        b̃_l = b · σ · a_{l−1}^h / a_l      (σ = sqrt(c/N)),

and differentiating ``f̃ = vᵀ x̃_L = f / a_L`` gives ``g̃_l = (a_l / a_L) · g_l``.  Hence

    E[g_{L−d,i} g_{L−d,j}] = (v_L / v_{L−d}) · E[g̃_{L−d,i} g̃_{L−d,j}],

applied in float64 after the (O(1)) kernel values are averaged.  In the path model the same
coefficients are exact, with BN's ``1/sqrt(v_{l−1})`` of :mod:`theory.pathsum` absorbed into
``b̃``; there every layer's variance factor becomes exactly 1, so ``g̃`` has unit variance at
every depth (a resnet's ``2^L`` lives entirely in the float64 scale).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from kernels.plan import BN_BACKWARDS, LayerPlan
from theory.pathsum import Block, block_of, forward_variance_step
from theory.specs import CReLULLSpec, NetworkSpec, ShallowSpec, SpecError

from . import sampling

MODELS = ("real", "path")


@dataclass(frozen=True, eq=False)
class EnginePlan:
    """A spec compiled for the kernels: ``layers`` (the LayerPlan) and the float64 rescaling.

    ``log_forward_variance[l] = log v_l`` for ``l = 0..L``.
    """

    spec: NetworkSpec
    model: str
    bn_backward: str | None
    layers: LayerPlan
    log_forward_variance: np.ndarray

    @property
    def orthogonal(self) -> bool:
        return isinstance(self.spec, CReLULLSpec) and self.spec.init == "orthogonal"

    def variance_scale(self) -> np.ndarray:
        """``v_L / v_{L−d}`` for ``d = 1..L``: multiplies second moments of ``g̃_{L−d}``.

        Raises :class:`FloatingPointError` naming the depth where it leaves float64's range.
        """
        lv = self.log_forward_variance
        L = lv.size - 1
        logs = np.array([lv[L] - lv[L - d] for d in range(1, L + 1)])
        with np.errstate(over="ignore"):
            scale = np.exp(logs)
        if not np.isfinite(scale).all():
            d = int(np.argmin(np.isfinite(scale))) + 1
            raise FloatingPointError(f"variance scale at depth d={d} is e^{logs[d - 1]:.1f}, beyond "
                                     "float64 (max ~e^709): use a smaller depth")
        return scale


def compile_spec(spec: NetworkSpec, model: str = "real", bn_backward: str = "constant") -> EnginePlan:
    """Build the :class:`EnginePlan` of a deep spec (ff, resnet, highway, crelu-ll)."""
    if model not in MODELS:
        raise SpecError("model", model, "one of " + ", ".join(MODELS))
    if bn_backward not in BN_BACKWARDS:
        raise SpecError("bn_backward", bn_backward, "one of " + ", ".join(BN_BACKWARDS))
    if isinstance(spec, ShallowSpec):
        raise SpecError("arch", spec.arch, "a deep architecture here (ff, resnet, highway, crelu-ll); "
                        "the shallow net is sampled by montecarlo.shallow")
    block = block_of(spec)
    c = mpmath.mpf(spec.weight_gain)
    L = spec.depth
    mp_block = Block(mpmath.mpf(block.skip), mpmath.mpf(block.branch), block.norm, block.unit)
    v = [mpmath.mpf(1)]  # multiple precision: v_L may exceed float64 (2^L for a resnet)
    for _ in range(L):
        v.append(forward_variance_step(mp_block, v[-1], c))
    if min(v) <= 0:
        raise SpecError("depth", L, "a depth at which the forward variance stays positive")
    sigma = math.sqrt(spec.weight_gain) if (isinstance(spec, CReLULLSpec) and spec.init == "orthogonal") \
        else math.sqrt(spec.weight_gain / spec.width)
    h = 0 if block.norm == "bn" else 1
    skip = np.array([float(block.skip * mpmath.sqrt(v[l - 1] / v[l])) for l in range(1, L + 1)])
    branch = np.array([float(block.branch * sigma * mpmath.sqrt(v[l - 1] ** h / v[l]))
                       for l in range(1, L + 1)])
    layers = LayerPlan(skip, branch, block.norm, bn_backward if model == "real" else "constant",
                       block.unit)
    log_v = np.array([float(mpmath.log(x)) for x in v])
    return EnginePlan(spec, model, bn_backward if model == "real" else None, layers, log_v)


def _sampled(plan: EnginePlan, kernel, seed: int, networks: range, inputs: str, n_inputs: int, bias_std: float):
    """``(weights, readout, gates, x0)`` of networks ``networks`` for ``kernel``: the weights lazy where the
    kernel draws each network's matrices itself; the path model's gates (None when it has none or for
    real networks), the real networks' inputs (None for the path model)."""
    spec = plan.spec
    if getattr(kernel, "lazy_weights", False):   # each network's matrices drawn by the kernel, as it needs them
        weights = sampling.LazyWeights(seed, networks, spec.depth, spec.width, plan.orthogonal)
        readout = weights.readout
    else:
        weights, readout = sampling.sample_weights(seed, networks, spec.depth, spec.width, plan.orthogonal)
    if plan.model == "path":
        gated = plan.layers.gated
        return weights, readout, (sampling.sample_gates(seed, networks, spec.depth, spec.width, n_inputs)
                                  if gated else None), None
    if inputs == "pairs":
        x0 = sampling.sample_pair_inputs(seed, networks, spec.width, n_inputs)
    elif inputs == "grid":
        x0 = sampling.sample_grid_inputs(seed, networks, spec.width, sampling.grid_points(n_inputs), bias_std)
    else:
        raise ValueError(f"inputs={inputs!r} is not allowed: pairs or grid")
    return weights, readout, None, x0


def gradients(plan: EnginePlan, kernel, seed: int, networks: range, inputs: str, n_inputs: int,
              *, keep: str = "all", want_active: bool = False, bias_std: float = 1.0):
    """Sample networks ``networks`` of seed ``seed`` and return ``(grads, active)`` from ``kernel``.

    ``inputs``: ``pairs`` (``n_inputs`` i.i.d. N(0, I) inputs; consecutive columns pair up) or
    ``grid`` (``n_inputs`` grid points in [−2, 2], first layer ``t − b``).  Path model: ``active``
    is the sampled gates when ``want_active``.  ``grads`` are the rescaled ``g̃`` (see module doc).
    """
    weights, readout, gates, x0 = _sampled(plan, kernel, seed, networks, inputs, n_inputs, bias_std)
    if plan.model == "path":
        grads = kernel.path_gradients(plan.layers, weights, readout, gates, n_inputs=n_inputs, keep=keep)
        return grads, (gates if want_active else None)
    return kernel.real_gradients(plan.layers, weights, readout, x0, keep=keep, want_active=want_active)


def pair_moments(plan: EnginePlan, kernel, seed: int, networks: range, n_inputs: int, *, want_active: bool = False):
    """The typical pairs' per-layer moments of :func:`gradients` (``pairs`` inputs, ``keep='all'``):
    ``(moments (S, L, 2), gate_moments (S, L, 2) or None)`` as :func:`kernels.summaries.pair_moments` and
    :func:`~kernels.summaries.gate_moments` give them, from a kernel that takes them as it computes each
    layer (``real_pair_moments`` / ``path_pair_moments``), the same bits; None when the kernel has none."""
    fused = getattr(kernel, "path_pair_moments" if plan.model == "path" else "real_pair_moments", None)
    if fused is None:
        return None
    weights, readout, gates, x0 = _sampled(plan, kernel, seed, networks, "pairs", n_inputs, 1.0)
    if plan.model == "path":
        return fused(plan.layers, weights, readout, gates, n_inputs=n_inputs, want_active=want_active)
    return fused(plan.layers, weights, readout, x0, want_active=want_active)


def grid_derivative(plan: EnginePlan, kernel, seed: int, networks: range, n_inputs: int, *,
                    want_active: bool = False, bias_std: float = 1.0):
    """``df/dx`` of real networks on the 1-D grid: ``(D (S, M) float64, active)``, rescaled like ``g̃``.

    With the batch statistics constant (the theorems' model, and every norm-free net) the grid's
    columns do not interact, so one forward-mode pass with tangent ``dx_0/dt = 1`` gives ``D``
    (``kernel.input_derivative``; the numba kernel draws each ``Z_l`` right before its product,
    :class:`sampling.LazyWeights`).  Otherwise — statistics differentiated through, or a kernel
    without forward mode — ``D`` is the row sum of ``∂f/∂x_0`` from one backward pass.  Both are
    the same derivative (tested); their float32 roundings differ.
    """
    spec = plan.spec
    forward = hasattr(kernel, "input_derivative") and plan.layers.columns_independent
    if plan.model != "real" or not forward:
        grads, active = gradients(plan, kernel, seed, networks, "grid", n_inputs, keep="input",
                                  want_active=want_active, bias_std=bias_std)
        return grads[:, 0].astype(np.float64).sum(axis=1), active
    weights = sampling.LazyWeights(seed, networks, spec.depth, spec.width, plan.orthogonal)
    grid = sampling.grid_points(n_inputs)
    if getattr(kernel, "lazy_inputs", False):   # each network's inputs computed by the kernel's workers
        x0 = sampling.LazyGridInputs(seed, networks, spec.width, grid, bias_std)
        tangent = np.broadcast_to(np.float32(1.0), x0.shape)
    else:
        x0 = sampling.sample_grid_inputs(seed, networks, spec.width, grid, bias_std)
        tangent = np.ones_like(x0)
    return kernel.input_derivative(plan.layers, weights, weights.readout, x0, tangent, want_active=want_active)
