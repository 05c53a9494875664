"""The decision rule: its four outcomes on constructed cases, how depths combine, the planned
sample size, and its error rates measured where the truth is known (simulated normal estimates,
then the path model, whose correlation is exact)."""
import math

import numpy as np
import pytest
from scipy import stats

from theory.decision import (DEPARTS, HOLDS, HOLDS_APPROXIMATELY, NOT_APPLICABLE, UNDECIDED, classify, combine,
                             critical_t, critical_z, decide, decide_direction, decide_exceeds, networks_needed,
                             networks_to_decide)

BIG_N = 10 ** 6  # Student t ≈ normal: the simulated estimates below are exactly normal


@pytest.mark.parametrize("interval, expect", [
    ((0.49, 0.51), HOLDS),                 # inside the band, contains μ
    ((0.52, 0.53), HOLDS_APPROXIMATELY),   # inside the band, misses μ: a difference smaller than δ
    ((0.56, 0.60), DEPARTS),               # beyond the band: a difference larger than δ
    ((0.40, 0.44), DEPARTS),
    ((0.53, 0.57), UNDECIDED),             # straddles the upper edge
    ((0.40, 0.60), UNDECIDED),             # straddles both
])
def test_the_four_outcomes_on_constructed_intervals(interval, expect):
    assert classify(interval, (0.45, 0.55), 0.5) == expect


def test_a_band_claim_has_no_approximately():
    assert classify((0.66, 0.69), (0.65, 0.75), None) == HOLDS     # a printed 0.7: the band is the claim
    assert classify((0.66, 0.69), (0.65, 0.75), 0.7) == HOLDS_APPROXIMATELY
    v = decide(0.7, 0.673, 0.003, 100, alpha=1e-3, delta=0.05, point=False)
    assert v.verdict == HOLDS and v.band == pytest.approx((0.65, 0.75))


def test_decide_reports_the_interval_that_decided_and_its_band():
    v = decide(0.5, 0.52, 0.001, 1000, alpha=1e-3, delta=0.05)
    assert v.verdict == HOLDS_APPROXIMATELY
    half = critical_t(1e-3, 1000) * 0.001
    assert v.ci == pytest.approx((0.52 - half, 0.52 + half)) and v.band == pytest.approx((0.45, 0.55))
    assert v.difference == pytest.approx(0.02) and v.difference_ci == pytest.approx((0.02 - half, 0.02 + half))
    d = v.to_dict()
    assert d["verdict"] == HOLDS_APPROXIMATELY and d["difference"] == pytest.approx(0.02)
    # a supplied interval (a ratio's Fieller interval) decides instead of estimate ± t·se
    assert decide(0.5, 0.52, 0.001, 1000, alpha=1e-3, delta=0.05, interval=(0.44, 0.53)).verdict == UNDECIDED


def test_undecided_says_how_many_networks_would_decide():
    v = decide(0.5, 0.54, 0.01, 50, alpha=1e-3, delta=0.05)
    assert v.verdict == UNDECIDED and v.needed is not None
    # with that many networks (same sd, same estimate) the interval clears the edge
    sd = 0.01 * math.sqrt(50)
    again = decide(0.5, 0.54, sd / math.sqrt(v.needed * 2), v.needed * 2, alpha=1e-3, delta=0.05)
    assert again.verdict in (HOLDS, HOLDS_APPROXIMATELY)
    assert networks_to_decide(0.55, (0.5, 0.6), (0.45, 0.55), 10) is None  # on the edge: none decides


def test_too_few_networks_or_non_finite_is_undecided():
    assert decide(0.5, 0.5, 0.0001, 3, alpha=1e-3, delta=0.05).verdict == UNDECIDED
    assert decide(0.5, math.nan, 0.01, 100, alpha=1e-3, delta=0.05).verdict == UNDECIDED
    with pytest.raises(ValueError, match="delta=-1 is not allowed"):
        decide(0.5, 0.5, 0.01, 100, alpha=1e-3, delta=-1)


def test_one_sided_claims():
    up = decide_direction(0.15, 0.01, 50, alpha=1e-3, direction=+1)
    down = decide_direction(0.15, 0.01, 50, alpha=1e-3, direction=-1)
    flat = decide_direction(0.01, 0.05, 50, alpha=1e-3, direction=+1)
    assert (up.verdict, down.verdict, flat.verdict) == (HOLDS, DEPARTS, UNDECIDED)
    assert flat.needed is not None and flat.needed > 50
    assert decide_exceeds([1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.0, 1.1], 0.5, alpha=1e-3).verdict == HOLDS
    assert decide_exceeds([0.1, 0.2, 0.0, 0.1, 0.15, 0.05, 0.1, 0.1], 0.5, alpha=1e-3).verdict == DEPARTS
    assert decide_exceeds([1.0, None, 1.0], 0.5, alpha=1e-3).verdict == UNDECIDED


def test_depths_combine_as_stated():
    h, a, d, u = (decide(0.5, e, s, 1000, alpha=1e-3, delta=0.05) for e, s in
                  ((0.5, 0.001), (0.52, 0.001), (0.7, 0.001), (0.55, 0.01)))
    assert (h.verdict, a.verdict, d.verdict, u.verdict) == (HOLDS, HOLDS_APPROXIMATELY, DEPARTS, UNDECIDED)
    assert combine([h, h]) == HOLDS
    assert combine([h, a]) == HOLDS_APPROXIMATELY
    assert combine([h, a, u]) == UNDECIDED
    assert combine([h, a, u, d]) == DEPARTS
    assert combine([]) == NOT_APPLICABLE


def test_bad_alpha_is_named():
    with pytest.raises(ValueError, match="alpha=1.5 is not allowed"):
        critical_z(1.5)


def test_networks_needed_is_planned_with_the_deciding_t_quantile():
    alpha, power, sd, delta = 1e-3, 0.9, 0.3, 0.05
    n = networks_needed(sd, delta, alpha, power)
    zp = stats.norm.ppf((1 + power) / 2)
    assert (critical_t(alpha, n) + zp) * sd / math.sqrt(n) <= delta
    assert (critical_t(alpha, n - 1) + zp) * sd / math.sqrt(n - 1) > delta  # the smallest such n
    # planning with z (the old rule) would give fewer networks than the t quantile needs
    assert n > math.ceil(((critical_z(alpha) + zp) * sd / delta) ** 2) - 1
    assert networks_needed(sd, delta, alpha, power) > networks_needed(sd, 2 * delta, alpha, power)


def test_planned_networks_give_the_stated_power():
    """At the planned n and truth = μ, the interval lies inside the band with probability ≥ power
    (simulated: 4000 replications, acceptance at the lower 99.9 % binomial bound)."""
    rng = np.random.default_rng(3)
    alpha, power, sd, delta, reps = 0.01, 0.9, 1.0, 0.25, 4000
    n = networks_needed(sd, delta, alpha, power)
    inside = 0
    for _ in range(reps):
        x = rng.standard_normal(n) * sd
        v = decide(0.0, x.mean(), x.std(ddof=1) / math.sqrt(n), n, alpha=alpha, delta=delta)
        inside += v.verdict in (HOLDS, HOLDS_APPROXIMATELY)
    assert inside / reps >= stats.binom.ppf(1e-3, reps, power) / reps


def _rates(truth: float, mu: float, delta: float, se: float, alpha: float, reps: int, rng) -> dict[str, float]:
    z = rng.standard_normal(reps)
    out = [decide(mu, truth + se * zi, se, BIG_N, alpha=alpha, delta=delta).verdict for zi in z]
    return {k: out.count(k) / reps for k in (HOLDS, HOLDS_APPROXIMATELY, DEPARTS, UNDECIDED)}


def test_error_rates_on_simulated_estimates_are_within_their_guarantees():
    """20,000 replications each; bounds are the stated guarantees, judged at the upper 99.99 %
    binomial bound: false equivalence ≤ α/2 (truth outside the band), false departure ≤ α (truth
    inside), false "approximately" ≤ α (truth = μ)."""
    rng = np.random.default_rng(7)
    alpha, reps, mu, delta = 0.05, 20_000, 0.5, 0.05

    def upper(p):
        return stats.binom.ppf(0.9999, reps, p) / reps
    outside = _rates(mu + 1.02 * delta, mu, delta, 0.01, alpha, reps, rng)
    assert outside[HOLDS] + outside[HOLDS_APPROXIMATELY] <= upper(alpha / 2)
    edge_inside = _rates(mu + 0.98 * delta, mu, delta, 0.01, alpha, reps, rng)
    assert edge_inside[DEPARTS] <= upper(alpha / 2)
    at_mu = _rates(mu, mu, delta, 0.01, alpha, reps, rng)
    assert at_mu[HOLDS_APPROXIMATELY] + at_mu[DEPARTS] <= upper(alpha)
    # and the guarantee is tight where it should be: with an interval as wide as the band the
    # false "approximately"/departs rate at μ is α itself (within its two-sided band)
    wide = _rates(mu, mu, 10.0, 0.01, alpha, reps, rng)
    lo, hi = (stats.binom.ppf(q, reps, alpha) / reps for q in (0.00005, 0.99995))
    assert lo <= wide[HOLDS_APPROXIMATELY] <= hi


def test_error_rates_measured_on_the_path_model():
    """Where the truth is exact (the path model), the rule's rates are within their binomial bands.

    300 independent runs (seeds 0..299) of a path-model network with the verifier's pilot size
    (24 networks, 32 pairs each), each decided at α = 0.05 by the Fieller interval of the
    correlation at depth 2: against the exact value (a false "approximately" or "departs" is a
    false alarm: rate ≤ α), and against a value 1.5 δ away (a false "holds" or "holds
    approximately" is a false confirmation: rate ≤ α/2).  Acceptance: the upper 99.9 % binomial
    bound of each stated rate, and for the false alarm also its lower bound (the interval is not
    needlessly wide)."""
    from montecarlo.observables import typical_pairs
    from theory.pathsum import path_moments
    from theory.specs import FeedforwardSpec

    spec = FeedforwardSpec(depth=4, width=32)
    truth = float(path_moments(spec)["layer_curves"]["correlation"][1])
    alpha, reps, delta = 0.05, 300, 0.02
    alarms = confirmations = 0
    for seed in range(reps):
        est = typical_pairs(spec, model="path", nets=24, seed=seed, batch=24, backend="numpy", pairs=32).correlation[1]
        ci = est.interval(1 - alpha)
        alarms += decide(truth, est.mean, est.stderr, est.n, alpha=alpha, delta=1e-12, interval=ci).verdict in (
            HOLDS_APPROXIMATELY, DEPARTS)
        confirmations += decide(truth + 1.5 * delta, est.mean, est.stderr, est.n, alpha=alpha, delta=delta,
                                interval=ci).verdict in (HOLDS, HOLDS_APPROXIMATELY)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], reps, alpha)
    assert lo <= alarms <= hi, alarms
    assert confirmations <= stats.binom.ppf(0.999, reps, alpha / 2), confirmations
