"""Infinite-width predictions against real networks sampled by the Monte Carlo engine.

Decision rules (stated, seeds fixed so each test is deterministic):
* agreement at N = 200: two-sided z-test, family-wise false-alarm rate 1e-3 over all the
  checks of one test (Bonferroni), z = (MC − prediction)/stderr;
* the finite-width gap shrinks like O(1/N): the weighted least-squares slope of log|gap| vs
  log N over N = 25, 50, 100, 200 must lie in [−1.5, −0.5], and every gap must be resolved
  (|gap| > 3 stderr).  Measured here: slope ≈ −1.0, gap·N ≈ 1.3 for the ff correlation at depth 6.
"""

import numpy as np
import pytest
from scipy import stats

from montecarlo.observables import grid, typical_pairs
from theory.infinite_width import infinite_width_moments
from theory.infinite_width_grid import grid_predictions
from theory.pathsum import path_moments
from theory.specs import make_spec

FAMILY_ALPHA = 1e-3
PAIRS = 32  # batch M = 64 = theory.infinite_width.DEFAULT_BATCH_SIZE


def z_crit(checks: int) -> float:
    return float(stats.norm.isf(FAMILY_ALPHA / (2 * checks)))


def mc(spec, nets, seed, **kw):
    return typical_pairs(spec, model="real", nets=nets, seed=seed, backend="numba", pairs=PAIRS, **kw)


def test_gap_to_real_networks_shrinks_like_one_over_width():
    widths, nets = [25, 50, 100, 200], [1600, 1200, 800, 800]
    gaps, errs = [], []
    for N, S in zip(widths, nets):
        spec = make_spec("ff", depth=6, width=N)
        est = mc(spec, S, seed=11).correlation[-1]
        gaps.append(est.mean - infinite_width_moments(spec)["correlation"])
        errs.append(est.stderr)
    gaps, errs = np.array(gaps), np.array(errs)
    assert np.all(np.abs(gaps) > 3 * errs), (gaps, errs)  # the gap is resolved at every width
    slope = np.polyfit(np.log(widths), np.log(np.abs(gaps)), 1, w=np.abs(gaps) / errs)[0]
    assert -1.5 <= slope <= -0.5, (slope, gaps)


AGREEMENT = [("ff", {}), ("ff", {"norm": "center"}), ("ff", {"norm": "bn"}), ("resnet", {}),
             ("resnet", {"beta": 0.1, "norm": "bn"}), ("highway", {})]


def test_agreement_at_width_200_within_monte_carlo_error():
    """Every depth d = 1..4 of variance and correlation, six architectures: 48 z-tests."""
    crit = z_crit(len(AGREEMENT) * 4 * 2)
    failures, rejected_path = [], 0
    for arch, kw in AGREEMENT:
        spec = make_spec(arch, depth=4, width=200, **kw)
        res = mc(spec, 256, seed=2024)
        pred = infinite_width_moments(spec, batch_size=2 * PAIRS)["layer_curves"]
        path = path_moments(spec)["layer_curves"]
        for d in range(4):
            for key in ("variance", "correlation"):
                est = getattr(res, key)[d]
                z = est.z(pred[key][d])
                if abs(z) > crit:
                    failures.append((spec.describe(), key, d + 1, est.mean, est.stderr, pred[key][d], z))
                rejected_path += abs(est.z(float(path[key][d]))) > crit
    assert not failures, failures
    assert rejected_path >= 8  # the same samples have the power to reject the path model where it is wrong


def test_bn_through_statistics_against_real_networks():
    spec = make_spec("ff", depth=4, width=200, norm="bn")
    res = mc(spec, 128, seed=7, bn_backward="through")
    pred = infinite_width_moments(spec, bn_backward="through")["layer_curves"]
    crit = z_crit(8)
    for d in range(4):
        assert abs(res.variance[d].z(pred["variance"][d])) < crit
        assert abs(res.correlation[d].z(pred["correlation"][d])) < crit
        assert pred["correlation"][d] == pytest.approx(-1 / 63)


def test_known_fact_feedforward_normalized_follows_two_to_minus_l():
    """DESIGN.md: with centering or BN, ff correlation follows 2^-L closely (rate measured)."""
    L = 30
    for norm in ("center", "bn"):
        corr = np.array(infinite_width_moments(make_spec("ff", depth=L, norm=norm))["curves"]["correlation"])
        rate = -np.polyfit(np.arange(1, L + 1), np.log2(corr), 1)[0]
        assert 0.97 < rate < 1.03, (norm, rate)


def test_known_fact_feedforward_without_normalization_coactivation_climbs():
    """Without normalization co-activation climbs with depth and correlation decays far more slowly."""
    r = infinite_width_moments(make_spec("ff", depth=10))
    co = np.array(r["gates"]["coactive"])
    assert co[0] == pytest.approx(0.25) and np.all(np.diff(co) > 0) and co[-1] > 0.4
    assert r["correlation"] > 30 * 2.0 ** -10
    res = mc(make_spec("ff", depth=6, width=200), 64, seed=3)
    assert res.coactive[-1].mean > res.coactive[0].mean + 10 * res.coactive[-1].stderr
    assert res.correlation[-1].mean > 2.0 ** -6 + 10 * res.correlation[-1].stderr


def test_known_fact_resnet_variance_two_to_l_correlation_slower_than_three_quarters():
    L = 12
    r = infinite_width_moments(make_spec("resnet", depth=L))
    assert r["variance"] == pytest.approx(2.0 ** L, rel=1e-12)
    assert r["correlation"] > 2 * 0.75 ** L


def test_known_fact_bn_resnets_beta_small_follow_path_model_beta_one_falls_below():
    for L in (20, 50):
        small = make_spec("resnet", depth=L, beta=0.1, norm="bn")
        big = make_spec("resnet", depth=L, beta=1.0, norm="bn")
        r_small = infinite_width_moments(small)["correlation"]
        r_big = infinite_width_moments(big)["correlation"]
        assert r_small == pytest.approx(float(path_moments(small)["correlation"]), rel=0.03)
        assert r_big < 0.75 * float(path_moments(big)["correlation"])


def test_grid_acf_against_real_networks():
    """Expected sample ACF on the 256-point grid (ff, L = 4, N = 200) within MC error."""
    spec = make_spec("ff", depth=4, width=200)
    res = grid(spec, model="real", nets=40, seed=2, backend="numba")
    pred = grid_predictions(spec)["acf"]
    lags = [1, 2, 4, 8, 16, 32, 64]
    crit = z_crit(len(lags))
    for k in lags:
        assert abs(res.acf[k].z(pred[k])) < crit, (k, res.acf[k], pred[k])
    assert pred[1] > pred[8] > pred[32]
