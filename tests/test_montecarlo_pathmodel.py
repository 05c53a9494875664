"""Path-model Monte Carlo (gate model of Assumption 1) against the exact path sums of theory.

Under Assumption 1 the moments are exact at every width (theory.pathsum.path_moments,
``layer_curves``: the gradient w.r.t. ``x_{L−d}``, ``d = 1..L``).  Each comparison is a
two-sided z-test with threshold 4.4, a false-alarm rate of 1.1e-5 per comparison; a test
below makes at most a few hundred comparisons, so its family-wise false-alarm rate is under
1% — and with fixed seeds (and hypothesis's derandomized ``ci`` profile) every run is the same.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from montecarlo.observables import typical_pairs
from theory.pathsum import path_moments
from theory.specs import CReLULLSpec, FeedforwardSpec, HighwaySpec, ResnetSpec, make_spec

Z_MAX = 4.4  # two-sided false-alarm rate 2·(1 − Φ(4.4)) = 1.1e-5 per comparison


def _assert_matches_exact(result, spec):
    exact = path_moments(spec)["layer_curves"]
    for key in ("variance", "covariance", "correlation"):
        for d, est in zip(result.depth, getattr(result, key)):
            truth = float(exact[key][d - 1])
            z = est.z(truth)
            assert abs(z) < Z_MAX, f"{spec.describe()} {key} at d={d}: {est} vs exact {truth} (z={z:.2f})"


@pytest.mark.parametrize("spec", [
    FeedforwardSpec(depth=6, width=16),
    FeedforwardSpec(depth=4, width=64, norm="bn"),
    ResnetSpec(depth=6, width=16),
    ResnetSpec(depth=6, width=16, alpha=2 ** -0.5),
    ResnetSpec(depth=8, width=16, beta=0.1, norm="bn"),
    ResnetSpec(depth=8, width=16, beta=1.0, norm="bn"),
    HighwaySpec(depth=8, width=16),
    CReLULLSpec(depth=5, width=16),
], ids=lambda s: s.describe())
def test_path_model_matches_exact_moments(spec):
    result = typical_pairs(spec, model="path", nets=300, seed=11, batch=50, pairs=4)
    _assert_matches_exact(result, spec)


small_specs = st.one_of(
    st.builds(FeedforwardSpec, depth=st.integers(1, 5), width=st.integers(4, 24),
              weight_gain=st.floats(0.5, 3.0), norm=st.sampled_from(["none", "center", "bn"])),
    st.builds(ResnetSpec, depth=st.integers(1, 5), width=st.integers(4, 24),
              alpha=st.floats(0.5, 1.2), beta=st.floats(0.0, 1.5), norm=st.sampled_from(["none", "bn"])),
    st.builds(HighwaySpec, depth=st.integers(1, 5), width=st.integers(4, 24),
              gamma1=st.one_of(st.none(), st.floats(0.0, 1.0))),
)


@given(spec=small_specs, seed=st.integers(0, 2 ** 32 - 1))
def test_path_model_matches_exact_for_drawn_specs(spec, seed):
    """Property: for every small spec the gate-model estimates agree with the exact path sums."""
    result = typical_pairs(spec, model="path", nets=300, seed=seed, batch=100, pairs=2)
    _assert_matches_exact(result, spec)
    assert all(-1.0 - 1e-9 <= e.mean <= 1.0 + 1e-9 for e in result.correlation)


def test_variance_growing_like_2_to_the_L_does_not_overflow():
    """Resnet (α = β = 1): E[∇²] = 2^L; at L = 160 that is 1.5e48, beyond float32's range.

    (Width 64 keeps the per-network summaries' spread moderate: at small width a product of
    hundreds of random layer factors is so heavy-tailed that 200 networks cannot estimate it.)
    """
    spec = ResnetSpec(depth=160, width=64)
    result = typical_pairs(spec, model="path", nets=100, seed=5, batch=50, pairs=2)
    for d in (1, 80, 160):
        est = result.variance[d - 1]
        assert math.isfinite(est.mean) and abs(est.z(2.0 ** d)) < Z_MAX, (d, est)
    assert result.variance[-1].mean > 1e45


def test_variance_beyond_float64_is_an_error_naming_the_depth():
    with pytest.raises(FloatingPointError, match=r"depth d=102[45] is e\^7[01][0-9].*beyond float64"):
        typical_pairs(ResnetSpec(depth=1100, width=2), model="path", nets=2, seed=0, pairs=1)


def test_gate_proportions_are_bernoulli_half():
    result = typical_pairs(make_spec("ff", depth=3, width=32), model="path", nets=50, seed=2, pairs=8)
    for act, co in zip(result.active, result.coactive):
        assert abs(act.z(0.5)) < Z_MAX and abs(co.z(0.25)) < Z_MAX


def test_decay_rate_of_feedforward_correlation_is_log_2():
    """Thm 1(b) as a rate: the slope of log(correlation) against depth is −log 2."""
    result = typical_pairs(FeedforwardSpec(depth=5, width=64), model="path", nets=200, seed=3, pairs=8)
    d = np.array(result.depth, dtype=float)
    r = np.array([e.mean for e in result.correlation])
    slope = np.polyfit(d, np.log(r), 1)[0]
    assert abs(slope + math.log(2)) < 0.1
