"""The decision procedure: error rates measured where the truth is known, and its three verdicts."""
import math

import numpy as np
import pytest
from scipy import stats

from theory.decision import (CONFIRMED, DEVIATES, INCONCLUSIVE, Tolerance, combine, critical_z, decide,
                             decide_trend, networks_needed)

TOL = Tolerance(absolute=0.01, relative=0.1)


def test_three_verdicts():
    assert decide(0.5, 0.501, 0.001, 100, alpha=1e-3, tolerance=TOL).verdict == CONFIRMED
    assert decide(0.5, 0.6, 0.001, 100, alpha=1e-3, tolerance=TOL).verdict == DEVIATES
    assert decide(0.5, 0.51, 0.05, 100, alpha=1e-3, tolerance=TOL).verdict == INCONCLUSIVE
    assert decide(0.5, 0.5, 0.0001, 3, alpha=1e-3, tolerance=TOL).verdict == INCONCLUSIVE  # too few networks


def test_small_but_significant_difference_within_tolerance_is_confirmed():
    v = decide(0.5, 0.52, 0.001, 1000, alpha=1e-3, tolerance=TOL)
    assert v.verdict == CONFIRMED and v.precision <= TOL.delta(0.5)


def test_false_alarm_and_false_confirmation_rates_are_near_their_stated_values():
    """Simulated estimates with known truth, 20,000 replications each, acceptance bands at 99.99%.

    With an interval as wide as the tolerance, P(deviates | truth = μ) is α exactly; with a
    narrow one it is smaller (a small significant difference inside ±δ is "confirmed").
    P(confirmed | truth = μ + δ) is at most α/2 (one tail of the equivalence test)."""
    rng = np.random.default_rng(7)
    alpha, reps = 0.05, 20_000
    mu = 0.5
    delta = TOL.delta(mu)
    z = rng.standard_normal(reps)
    lo, hi = (stats.binom.ppf(q, reps, alpha) / reps for q in (0.00005, 0.99995))
    big_n = 10 ** 6  # Student-t quantile ≈ normal: the simulated estimates are exactly normal
    wide = [decide(mu, mu + delta * zi, delta, big_n, alpha=alpha, tolerance=TOL).verdict for zi in z]
    assert lo <= wide.count(DEVIATES) / reps <= hi
    narrow = [decide(mu, mu + 0.01 * zi, 0.01, big_n, alpha=alpha, tolerance=TOL).verdict for zi in z]
    assert narrow.count(DEVIATES) / reps <= hi
    off = [decide(mu, mu + delta + 0.01 * zi, 0.01, big_n, alpha=alpha, tolerance=TOL).verdict for zi in z]
    assert off.count(CONFIRMED) / reps <= stats.binom.ppf(0.99995, reps, alpha / 2) / reps


def test_networks_needed_gives_the_stated_power():
    alpha, power, sd, delta = 1e-3, 0.9, 0.3, 0.05
    n = networks_needed(sd, delta, alpha, power)
    se = sd / math.sqrt(n)
    # with truth = μ, the interval lies inside ±δ with probability >= power
    p_confirm = stats.norm.cdf((delta - critical_z(alpha) * se) / se) - stats.norm.cdf((-delta + critical_z(alpha) * se) / se)
    assert p_confirm >= power - 1e-9
    assert networks_needed(sd, delta, alpha, power) > networks_needed(sd, 2 * delta, alpha, power)


def test_trend_and_combine():
    up = decide_trend((0.25, 0.01), (0.40, 0.01), 50, alpha=1e-3, direction=+1)
    down = decide_trend((0.25, 0.01), (0.40, 0.01), 50, alpha=1e-3, direction=-1)
    flat = decide_trend((0.25, 0.05), (0.26, 0.05), 50, alpha=1e-3, direction=+1)
    assert (up.verdict, down.verdict, flat.verdict) == (CONFIRMED, DEVIATES, INCONCLUSIVE)
    assert combine([up, flat]) == INCONCLUSIVE and combine([up, down]) == DEVIATES and combine([up]) == CONFIRMED


def test_bad_alpha_is_named():
    with pytest.raises(ValueError, match="alpha=1.5 is not allowed"):
        critical_z(1.5)


def test_false_alarm_rate_measured_on_the_path_model():
    """Where the truth is exact (the path model), P(deviates) is close to the stated α.

    300 independent runs (seeds 0..299) of a path-model network with the verifier's pilot size
    (24 networks, 32 pairs each), each decided at α = 0.05 against the exact correlation at depth 2
    with a negligible tolerance (so "deviates" means "the interval misses the truth").
    Acceptance: the central 99.9% binomial band of 300·α.  (With far smaller networks — N = 8,
    2 pairs — the delta-method standard error of the ratio is too small and the rate doubles:
    the verifier never runs that small.)"""
    from montecarlo.observables import typical_pairs
    from theory.pathsum import path_moments
    from theory.specs import FeedforwardSpec

    spec = FeedforwardSpec(depth=4, width=32)
    truth = float(path_moments(spec)["layer_curves"]["correlation"][1])
    alpha, reps = 0.05, 300
    tiny = Tolerance(absolute=1e-12, relative=0.0)
    alarms = 0
    for seed in range(reps):
        est = typical_pairs(spec, model="path", nets=24, seed=seed, batch=24, backend="numpy", pairs=32).correlation[1]
        alarms += decide(truth, est.mean, est.stderr, est.n, alpha=alpha, tolerance=tiny).verdict == DEVIATES
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, alpha)
    assert lo <= alarms <= hi, alarms
