"""Gradients as sums over paths: the one topology every path-model result is computed from.

Under Assumption 1 (paper §3) the derivative of ``f = vᵀ x_L`` with respect to a neuron of
``x_0`` is a sum of *path-weights*: a path crosses each of the ``L`` layers either along the
skip connection (coefficient ``s``, no weight, no gate) or through the weight branch
(coefficient ``b``, one weight of ``W_l``, one ReLU gate, and BN's ``1/sqrt(v_{l−1})``).
Distinct paths carry distinct sets of independent zero-mean weights, so path-weights are
orthogonal and

    E[∇_i ∇_j] = Σ_{S ⊆ {1..L}} Π_{l∈S} t_l · Π_{l∉S} s_l² = Π_{l=1}^{L} (s_l² + t_l),

    t_l = b_l² · N · σ² · G / r_l,

where ``S`` is the set of layers the path crosses through its branch (``N`` neurons to route
through, each weight of variance ``σ² = c/N``), ``G`` is the gate moment — ``p`` for a
variance (one input), ``q`` for a covariance (two inputs co-active) — and ``r_l`` is the
rescaling of the branch input: ``v_{l−1}`` (the variance of ``x_{l−1}``) under batch
normalization with statistics treated as constants, 1 otherwise.  Mean-centering with
constant statistics does not change a derivative, so it counts as no normalization here.

This module writes that topology once (:func:`layer_factor`, :func:`forward_variance_step`)
and uses it three ways: numerically for any spec (:func:`path_moments`), symbolically
(:func:`symbolic_moment`, in :mod:`theory.derivations`), and by brute-force enumeration of
every path for small ``N, L`` (:func:`enumerate_path_moment`, the tests' oracle).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from . import symbols as S
from .specs import (CReLULLSpec, FeedforwardSpec, HighwaySpec, NetworkSpec, ResnetSpec,
                    ShallowSpec, SpecError)

#: The paper's Thm 3 writes the variance as β²(L−1)+1: its L counts one more than our number
#: of blocks.  L_paper = L_blocks + PAPER_THM3_OFFSET.
PAPER_THM3_OFFSET = 1

UNITS = ("relu", "crelu-mirrored")

#: :func:`product_of_factors` multiplies at most this many layers one by one (BN resnets with
#: α ≠ 1); beyond it the factors vary slowly enough for the Euler–Maclaurin formula.
LOOP_LAYERS = 1000


@dataclass(frozen=True)
class Block:
    """One layer ``x_l = skip·x_{l−1} + branch·W_l φ(norm(x_{l−1}))`` of the path model.

    ``skip``/``branch`` are SymPy expressions or numbers; ``norm`` is none | center | bn;
    ``unit`` is ``relu`` (φ = ρ) or ``crelu-mirrored`` (φ = CReLU with weights (W, −W)).
    """

    skip: Any
    branch: Any
    norm: str = "none"
    unit: str = "relu"

    @property
    def batchnorm(self) -> bool:
        return self.norm == "bn"


def block_of(spec: NetworkSpec) -> Block:
    """The numeric :class:`Block` of a spec (every layer of these architectures is the same)."""
    if isinstance(spec, FeedforwardSpec):
        return Block(0.0, 1.0, spec.norm)
    if isinstance(spec, ResnetSpec):
        return Block(spec.alpha, spec.alpha * spec.beta, spec.norm)
    if isinstance(spec, HighwaySpec):
        return Block(math.sqrt(spec.gamma1_sq), math.sqrt(spec.gamma2_sq), "none")
    if isinstance(spec, CReLULLSpec):
        return Block(0.0, 1.0, "none", "crelu-mirrored")
    raise SpecError("arch", spec.arch, "ff, resnet, highway or crelu-ll (the shallow net has "
                    "its own exact covariance, theory.derivations.shallow_covariance)")


def hop_gate(unit: str, h: Any) -> Any:
    """The factor a branch hop multiplies ``W`` by, as a function of the ReLU gate ``h = ρ'(u)``.

    ``relu``: ``h``.  ``crelu-mirrored``: the pair ``(W, −W)`` applied to ``(ρ(u); ρ(−u))`` is
    differentiated half by half: ``W ρ'(u) = W h`` and ``−W · d ρ(−u)/du = −W · (−(1 − h))``, so
    the hop is ``W (h + (1 − h))``.
    """
    if unit == "relu":
        return h
    if unit == "crelu-mirrored":
        return h + (1 - h)
    raise ValueError(f"unit={unit!r} is not allowed: one of {', '.join(UNITS)}")


def gate_moment(unit: str, same_input: bool, p: Any = S.p, q: Any = S.q) -> Any:
    """``E[g(h_i) g(h_j)]`` for the hop factor ``g`` of :func:`hop_gate`, computed over the joint law
    of the gates: one input (``h_i = h_j``, active with probability ``p``) or a typical pair (both
    active ``q``, one active ``p − q`` each way, neither ``1 − 2p + q``).  ReLU gives ``p`` and
    ``q``; the mirrored CReLU gives 1 for both (it is linear at initialization) — computed here from
    its hop, not asserted (:func:`theory.derivations.derive_crelu_ll` prints the steps).
    """
    g1, g0 = hop_gate(unit, 1), hop_gate(unit, 0)
    if same_input:
        return p * g1 * g1 + (1 - p) * g0 * g0
    return q * g1 * g1 + 2 * (p - q) * g1 * g0 + (1 - 2 * p + q) * g0 * g0


def forward_variance_step(block: Block, v_prev: Any, c: Any) -> Any:
    """``v_l`` from ``v_{l−1}``: the variance of ``x_l`` over weights (and the batch).

    ``E[φ(u)²]`` is ``v/2`` for a symmetric ReLU input of variance ``v`` (1/2 after BN) and
    ``v`` for the mirrored CReLU, which is linear at initialization.
    """
    half = sp.S.Half if isinstance(v_prev, sp.Basic) else mpmath.mpf(0.5)
    unit_input = 1 if block.batchnorm else v_prev
    second_moment = unit_input * half if block.unit == "relu" else unit_input
    return block.skip ** 2 * v_prev + block.branch ** 2 * c * second_moment


def layer_factor(block: Block, v_prev: Any, c: Any, gate: Any) -> Any:
    """``s² + t``: the skip hop plus the branch hop ``b² · N σ² · G / r`` with ``N σ² = c``."""
    rescale = v_prev if block.batchnorm else 1
    return block.skip ** 2 + block.branch ** 2 * c * gate / rescale


def _as_mpf(value: Any) -> mpmath.mpf:
    return mpmath.mpf(value)


def product_of_factors(block: Block, depth: int, c: Any, gate: Any, input_variance: Any) -> Any:
    """``Π_{l=1}^{L} layer_factor(block, v_{l−1}, c, gate)`` without a loop over all ``L`` layers.

    The numbers are those of the layer-by-layer product in :func:`path_moments` (mpmath numbers
    at the working precision; equal to it within rounding), found in time independent of ``L``:

    * no BN: the factor ``s² + b² c G`` does not depend on ``v``: the product is its ``L``-th power;
    * BN: ``v_l = a v_{l−1} + d`` with ``a = s²``, ``d = b² c E[ρ(u)²]`` for a unit-variance ``u``,
      and the factor is ``a + e / v_{l−1}`` with ``e = b² c G``.

      - ``e = 0`` (``β = 0``): ``a^L``;
      - ``a = 1`` (``α = 1``, Thm 3): ``v_{l−1} = v_0 + (l − 1) d``, so the factor is
        ``(k + x′)/(k + x)`` with ``k = l − 1``, ``x = v_0/d``, ``x′ = (v_0 + e)/d``, and the
        product is the ratio of rising factorials ``(x′)_L / (x)_L = Γ(x′ + L) Γ(x) / (Γ(x′) Γ(x + L))``;
      - ``a ≠ 1``: ``v_l = a^l v_0 + d (1 − a^l)/(1 − a)`` tends geometrically (ratio ``a`` or
        ``1/a``) to ``v* = d/(1 − a)`` (``a < 1``) or to infinity (``a > 1``), so the factor
        tends to ``f∞ = a + e/v*`` or ``a``.  The first :data:`LOOP_LAYERS` layers are multiplied
        one by one, as :func:`path_moments` does, stopping as soon as the factor is within a
        relative ``tol`` of ``f∞`` (the remaining ``m`` layers then give ``f∞^m``, with a relative
        error below ``tol/(1 − ratio)``: a geometric tail).  When ``α`` is so close to 1 that
        the factor still varies after them, the rest is ``f∞^m · exp(Σ_k h(k))`` with
        ``h(k) = log(factor_k / f∞)``, a smooth function of ``k`` whose derivatives there are
        small (they shrink like powers of ``1/k`` and of ``ln a``), summed by the Euler–Maclaurin
        formula (``mpmath.sumem``).  Either way at most :data:`LOOP_LAYERS` layers are visited.
    """
    v0 = _as_mpf(input_variance)
    if not block.batchnorm:
        return layer_factor(block, v0, c, gate) ** depth
    a = block.skip ** 2
    e = block.branch ** 2 * c * gate
    d = forward_variance_step(block, mpmath.mpf(0), c)  # under BN the step is affine: v ↦ a v + d
    if e == 0:
        return a ** depth
    if a == 1:
        return mpmath.rf((v0 + e) / d, depth) / mpmath.rf(v0 / d, depth)
    limit = a + e * (1 - a) / d if a < 1 else a
    ratio = a if a < 1 else 1 / a
    # the iterate v stalls within about eps/(1 − ratio) of its limit: ask no more than that
    tol = max(mpmath.eps * 2 ** 10, 16 * mpmath.eps / (1 - ratio))
    product, v = mpmath.mpf(1), v0
    for layer in range(min(depth, LOOP_LAYERS)):
        factor = layer_factor(block, v, c, gate)
        if abs(factor - limit) <= tol * limit:
            return product * limit ** (depth - layer)
        product *= factor
        v = forward_variance_step(block, v, c)
    if depth <= LOOP_LAYERS:
        return product
    log_a = mpmath.log(a)

    def variance(k):  # v_k in closed form, without the cancellation of v* + (v_0 − v*) a^k
        return v0 * a ** k - d * mpmath.expm1(k * log_a) / (1 - a)

    def log_ratio(k):  # h(k) = log(factor_k / f∞), its argument written so that nothing cancels
        if a < 1:
            return mpmath.log1p(e * a ** k * (d - (1 - a) * v0) / (d * variance(k) * limit))
        return mpmath.log1p(e / (a * variance(k)))

    remaining = depth - LOOP_LAYERS
    with mpmath.extraprec(depth.bit_length() + 10):  # the exponent below grows like L
        tail = mpmath.exp(remaining * mpmath.log(limit) + mpmath.sumem(log_ratio, [LOOP_LAYERS, depth - 1]))
    return product * tail


def path_moments(spec: NetworkSpec, p: float = 0.5, q: float = 0.25,
                 input_variance: float = 1.0, curves: bool = True) -> dict[str, Any]:
    """Variance, covariance and correlation of the gradient for typical pairs (path model).

    Evaluates ``Π_l (s_l² + t_l)`` layer by layer in multiple precision (30 digits), so
    ``2^L`` is exact at any depth.  Returns mpmath numbers for the gradient with respect to
    ``x_0`` of the depth-``L`` network under ``variance``/``covariance``/``correlation``, and
    two depth curves, ``d = 1..L``:

    * ``curves``: the gradient w.r.t. ``x_0`` of the depth-``d`` network (prefix products);
    * ``layer_curves``: the gradient w.r.t. ``x_{L−d}`` inside the depth-``L`` network, i.e. a
      neuron ``d`` layers below the output (suffix products) — what one backward pass through
      one deep network measures at every layer at once.

    They coincide when every layer has the same factor (no BN); with BN the factor of layer
    ``l`` depends on ``v_{l−1}`` and they differ.  Both agree at ``d = L``.

    ``curves=False`` returns the three numbers only, from :func:`product_of_factors` (no loop
    over the ``L`` layers, so any depth is quick); they equal the last entries of the curves to
    within rounding at the working precision.
    """
    if isinstance(spec, ShallowSpec):
        raise SpecError("arch", spec.arch, "a deep architecture; the shallow net's covariance "
                        "depends on the inputs x, x' (theory.derivations.shallow_covariance)")
    block = block_of(spec)
    mpmath.mp.dps = 30
    c = _as_mpf(spec.weight_gain)
    g_var = gate_moment(block.unit, True, _as_mpf(p), _as_mpf(q))
    g_cov = gate_moment(block.unit, False, _as_mpf(p), _as_mpf(q))
    blk = Block(_as_mpf(block.skip), _as_mpf(block.branch), block.norm, block.unit)
    if not curves:
        var = product_of_factors(blk, spec.depth, c, g_var, input_variance)
        cov = product_of_factors(blk, spec.depth, c, g_cov, input_variance)
        return {"variance": var, "covariance": cov, "correlation": cov / var}
    v = _as_mpf(input_variance)
    f_var, f_cov = [], []
    for _ in range(spec.depth):
        f_var.append(layer_factor(blk, v, c, g_var))
        f_cov.append(layer_factor(blk, v, c, g_cov))
        v = forward_variance_step(blk, v, c)

    def curves_of(order: list[int]) -> dict[str, list]:
        var = cov = mpmath.mpf(1)
        out: dict[str, list] = {"depth": [], "variance": [], "covariance": [], "correlation": []}
        for depth, layer in enumerate(order, 1):
            var *= f_var[layer]
            cov *= f_cov[layer]
            out["depth"].append(depth)
            out["variance"].append(var)
            out["covariance"].append(cov)
            out["correlation"].append(cov / var)
        return out

    prefix = curves_of(list(range(spec.depth)))
    suffix = curves_of(list(range(spec.depth - 1, -1, -1)))
    return {"variance": prefix["variance"][-1], "covariance": prefix["covariance"][-1],
            "correlation": prefix["correlation"][-1], "curves": prefix, "layer_curves": suffix}


def enumerate_path_moment(block: Block, depth: int, width: int, c: Any, gate: Any,
                          input_variance: Any = 1) -> Any:
    """Brute force: add up ``E[path-weight²] · P(path co-active)`` over every single path.

    A path is a choice, for each layer, of *skip* (stay on the same neuron) or *branch*
    (move to one of ``width`` neurons through one weight of variance ``c/width`` and one
    gate).  No factorization is used: this is the oracle the product formula is tested
    against (``(1 + width)^depth`` paths for a resnet, ``width^depth`` for a feedforward net).
    """
    sigma2 = sp.sympify(c) / width
    v = sp.sympify(input_variance)
    rescales, variances = [], []
    for _ in range(depth):
        variances.append(v)
        rescales.append(v if block.batchnorm else 1)
        v = forward_variance_step(block, v, c)
    hops = [("skip", None)] + [("branch", n) for n in range(width)]
    total = 0
    for path in itertools.product(hops, repeat=depth):
        weight = 1
        for layer, (kind, _neuron) in enumerate(path):
            if kind == "skip":
                weight *= block.skip ** 2
            else:
                weight *= block.branch ** 2 * sigma2 * gate / rescales[layer]
        total += weight
    return total
