"""The path sum: brute-force enumeration, the product formula and the closed forms agree."""
import math

import mpmath
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory import derivations as D
from theory import symbols as S
from theory.pathsum import Block, enumerate_path_moment, forward_variance_step, layer_factor, path_moments
from theory.specs import FeedforwardSpec, HighwaySpec, ResnetSpec

from .strategies import any_deep_spec, he_specs

blocks = st.builds(
    Block,
    skip=st.sampled_from([0, 1, sp.Rational(1, 2), sp.Rational(3, 4)]),
    branch=st.sampled_from([1, sp.Rational(1, 2), sp.Rational(1, 10)]),
    norm=st.sampled_from(["none", "bn"]),
    unit=st.sampled_from(["relu", "crelu-mirrored"]),
)


@given(blocks, st.integers(1, 3), st.integers(1, 3), st.sampled_from([1, 2, sp.Rational(3, 2)]),
       st.sampled_from([sp.Rational(1, 2), sp.Rational(1, 4)]))
def test_enumerating_every_path_equals_the_product_over_layers(block, depth, width, c, gate):
    """Σ over all (1 + N)^L explicit paths = Π_l (s_l² + t_l): the factorization the theorems use."""
    brute = enumerate_path_moment(block, depth, width, c, gate)
    v, product = sp.Integer(1), sp.Integer(1)
    for _ in range(depth):
        product *= layer_factor(block, v, c, gate)
        v = forward_variance_step(block, v, c)
    assert sp.simplify(brute - product) == 0


@given(he_specs)
def test_correlation_lies_in_zero_one_and_never_increases_with_depth(spec):
    curves = path_moments(spec)["curves"]
    corr = [float(r) for r in curves["correlation"]]
    assert all(0.0 < r <= 1.0 for r in corr)
    assert all(b <= a * (1 + 1e-12) for a, b in zip(corr, corr[1:]))


@given(any_deep_spec)
def test_prefix_and_layer_curves_meet_at_full_depth(spec):
    res = path_moments(spec)
    for key in ("variance", "covariance", "correlation"):
        assert mpmath.almosteq(res["curves"][key][-1], res["layer_curves"][key][-1], rel_eps=mpmath.mpf(10) ** -25)
    if spec.norm == "none" if hasattr(spec, "norm") else True:
        for a, b in zip(res["curves"]["correlation"], res["layer_curves"]["correlation"]):
            assert mpmath.almosteq(a, b, rel_eps=mpmath.mpf(10) ** -25)


@given(st.integers(1, 200), st.floats(0.02, 3.0))
def test_gamma_form_of_thm3_equals_the_finite_product(depth, beta):
    """The Gamma-function ratio derived by SymPy equals the layer-by-layer product, for drawn (β, L)."""
    spec = ResnetSpec(depth=depth, beta=beta, norm="bn")
    numeric = path_moments(spec)
    derived = D.derive_resnet_bn().result
    at = {S.beta: sp.Float(beta, 30), S.L: depth}
    for key in ("variance", "covariance"):
        closed = sp.N(derived[key].subs(at), 25)
        assert mpmath.almosteq(mpmath.mpf(str(closed)), numeric[key], rel_eps=mpmath.mpf(10) ** -20)


@given(st.integers(1, 80), st.floats(0.3, 1.5), st.floats(0.0, 2.0), st.floats(0.25, 4.0))
def test_resnet_closed_form_matches_numeric_path_sum(depth, alpha, beta, gain):
    spec = ResnetSpec(depth=depth, alpha=alpha, beta=beta, weight_gain=gain)
    numeric = path_moments(spec)
    general = D.derive_resnet().result
    at = {S.alpha: alpha, S.beta: beta, S.c: gain, S.p: sp.Rational(1, 2), S.q: sp.Rational(1, 4), S.L: depth}
    for key in ("variance", "covariance"):
        closed = float(sp.N(general[f"{key}_general"].subs(at), 20))
        assert math.isclose(closed, float(numeric[key]), rel_tol=1e-12)


@pytest.mark.parametrize("spec, variance, correlation", [
    (FeedforwardSpec(depth=7), 1.0, 2.0 ** -7),
    (FeedforwardSpec(depth=7, norm="bn"), 1.0, 2.0 ** -7),
    (ResnetSpec(depth=9), 2.0 ** 9, 0.75 ** 9),
    (ResnetSpec(depth=9, alpha=2 ** -0.5), 1.0, 0.75 ** 9),
    (HighwaySpec(depth=12, gamma1=0.6), 1.0, (0.36 + 0.64 / 2) ** 12),
])
def test_theorem_values_at_one_depth(spec, variance, correlation):
    """Independent arithmetic (the theorems' own numbers) against the numeric path sum."""
    res = path_moments(spec)
    assert float(res["variance"]) == pytest.approx(variance, rel=1e-12)
    assert float(res["correlation"]) == pytest.approx(correlation, rel=1e-12)


def test_huge_depths_do_not_overflow():
    res = path_moments(ResnetSpec(depth=3000))
    assert mpmath.almosteq(mpmath.log(res["variance"], 2), 3000, rel_eps=mpmath.mpf(10) ** -20)
    assert res["correlation"] > 0
