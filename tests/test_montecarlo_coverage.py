"""Coverage of the intervals of the correlation (a ratio estimator: Fieller's interval, see
montecarlo.estimators; the symmetric delta-method interval undercovers at this sample size).

The path model's correlation is known exactly (theory.pathsum).  We run R = 200 independent
replications (seeds 0..199), each estimating the correlation at every depth from S networks,
and count how often the nominal 95% interval covers the truth.  If the true coverage is 0.95
the count is Binomial(200, 0.95); we accept counts inside its central 99.9% range, so this test
raises a false alarm with probability at most 0.1% (per depth checked), and fails when the
intervals are badly miscalibrated (e.g. a standard error that ignores the correlation of the
pairs within a network undercovers grossly).
"""
from __future__ import annotations

import pytest
from scipy import stats

from montecarlo.observables import typical_pairs
from theory.pathsum import path_moments
from theory.specs import FeedforwardSpec, ResnetSpec

REPLICATIONS = 200
FALSE_ALARM = 1e-3
LOW = int(stats.binom.ppf(FALSE_ALARM / 2, REPLICATIONS, 0.95))
HIGH = int(stats.binom.isf(FALSE_ALARM / 2, REPLICATIONS, 0.95))


@pytest.mark.parametrize("spec", [FeedforwardSpec(depth=3, width=8),
                                  ResnetSpec(depth=3, width=8, beta=0.5, norm="bn")],
                         ids=lambda s: s.describe())
def test_correlation_intervals_cover_the_exact_value(spec):
    exact = [float(r) for r in path_moments(spec)["layer_curves"]["correlation"]]
    covered = [0] * spec.depth
    for rep in range(REPLICATIONS):
        result = typical_pairs(spec, model="path", nets=40, seed=rep, batch=40, pairs=4)
        for k, est in enumerate(result.correlation):
            lo, hi = est.interval(0.95)
            covered[k] += lo <= exact[k] <= hi
    for k, count in enumerate(covered):
        assert LOW <= count <= HIGH, (f"depth {k + 1}: {count}/{REPLICATIONS} intervals cover the "
                                      f"exact {exact[k]:.4g}; accepted {LOW}..{HIGH}")


def test_fieller_interval_solves_its_inequality_and_is_unbounded_when_the_denominator_is_not_significant():
    import math

    import numpy as np

    from montecarlo.estimators import StreamingMoments
    rng = np.random.default_rng(1)
    acc = StreamingMoments((), 2)
    for a in rng.normal(2.0, 1.0, size=30):
        acc.add(np.array([a, 0.6 * a + rng.normal(0, 0.3)]))
    est = acc.ratio(1, 0)
    lo, hi = est.interval(0.95)
    assert lo < est.mean < hi and math.isfinite(lo) and math.isfinite(hi)
    mn, md, vnn, vnd, vdd = est.ratio_moments
    q = stats.t.ppf(0.975, acc.n - 1)
    for rho in (lo, hi):     # the end points are where the inequality becomes an equality
        assert math.isclose((mn - rho * md) ** 2, q * q * (vnn - 2 * rho * vnd + rho * rho * vdd), rel_tol=1e-9)
    # the delta-method standard error is still the reported one
    assert math.isclose(est.stderr, math.sqrt(vnn - 2 * est.mean * vnd + est.mean ** 2 * vdd) / abs(md), rel_tol=1e-9)
    noisy = StreamingMoments((), 2)
    for a in rng.normal(0.0, 1.0, size=30):
        noisy.add(np.array([a, rng.normal()]))
    assert noisy.ratio(1, 0).interval(0.95) == (-math.inf, math.inf)


def test_fieller_interval_of_a_ratio_that_is_constant_network_by_network_is_that_constant():
    """Numerator = denominator x r in every network (the looks-linear correlation 1): the set is the one
    point r; rounding in b^2 - ac must not make it the whole line (it did at seed 0's depth 10)."""
    import math

    import numpy as np

    from montecarlo.estimators import StreamingMoments
    rng = np.random.default_rng(2)
    for r in (1.0, 0.3, 1.7):
        acc = StreamingMoments((), 2)
        for a in rng.normal(1.0, 0.2, size=24) * 1e-3:
            acc.add(np.array([a, r * a]))
        lo, hi = acc.ratio(1, 0).interval(1 - 1e-6)
        assert math.isfinite(lo) and math.isfinite(hi)
        assert lo == pytest.approx(r, rel=1e-6) and hi == pytest.approx(r, rel=1e-6)
