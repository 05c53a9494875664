"""Real networks (sampled, differentiated): what is *true* of them, measured, not the theorem.

Known facts (DESIGN.md, measured with batch statistics treated as constants):
* with mean-centering or BN, feedforward correlations follow 2^-d closely (up to a small
  finite-batch effect: centring over M inputs makes two inputs' centred values correlate by
  −1/(M−1), lowering co-activation by arcsin(1/(M−1))/(2π) ≈ 0.5% per layer at M = 32);
* without normalization they decay far more slowly, and co-activation climbs with depth;
* a resnet without BN keeps variance 2^d, its correlation decays more slowly than (3/4)^d;
* differentiating *through* the batch statistics makes Σ_m g_m = 0 over the batch in every
  feedforward layer, so (by exchangeability) the typical-pair correlation is −1/(M−1).
z-tests use |z| < 4.4 (false-alarm rate 1.1e-5 per comparison).
"""
from __future__ import annotations

import numpy as np
import pytest

from montecarlo.observables import typical_pairs
from theory.specs import FeedforwardSpec, ResnetSpec

Z_MAX = 4.4
PAIRS = 16  # batch of M = 32 inputs per network


@pytest.mark.parametrize("norm", ["center", "bn"])
def test_normalized_feedforward_correlation_halves_per_layer(norm):
    r = typical_pairs(FeedforwardSpec(depth=3, width=64, norm=norm), nets=40, seed=1,
                      pairs=PAIRS, backend="torch", batch=20)
    for d, est in zip(r.depth, r.correlation):
        truth = 0.5 ** d
        assert abs(est.mean - truth) <= Z_MAX * est.stderr + 0.05 * truth, (d, est)
    for act, co in zip(r.active, r.coactive):  # Assumption 1 holds under normalization (Fig. 3)
        assert abs(act.mean - 0.5) < 0.02 and abs(co.mean - 0.25) < 0.02


def test_unnormalized_feedforward_decays_far_slower_and_coactivation_climbs():
    r = typical_pairs(FeedforwardSpec(depth=6, width=64), nets=40, seed=2, pairs=PAIRS,
                      backend="torch", batch=20)
    assert r.correlation[2].mean - Z_MAX * r.correlation[2].stderr > 2 * 0.5 ** 3
    assert r.coactive[-1].mean - Z_MAX * r.coactive[-1].stderr > 0.3   # last block, far above 1/4
    assert abs(r.coactive[0].mean - 0.25) < 0.02                       # inputs: independent gates


def test_resnet_keeps_variance_2_to_the_d_and_decays_slower_than_three_quarters():
    r = typical_pairs(ResnetSpec(depth=6, width=64), nets=40, seed=3, pairs=PAIRS,
                      backend="torch", batch=20)
    for d, est in zip(r.depth, r.variance):
        assert abs(est.z(2.0 ** d)) < Z_MAX, (d, est)
    assert r.correlation[-1].mean - Z_MAX * r.correlation[-1].stderr > 0.75 ** 6


def test_batchnorm_through_statistics_gives_correlation_minus_one_over_M_minus_one():
    r = typical_pairs(FeedforwardSpec(depth=3, width=64, norm="bn"), nets=40, seed=4,
                      pairs=PAIRS, backend="torch", batch=20, bn_backward="through")
    for est in r.correlation:
        assert abs(est.z(-1.0 / (2 * PAIRS - 1))) < Z_MAX, est


def test_bn_resnet_small_beta_follows_the_exact_product():
    """β = 0.1: the path model's finite-L product (0.9953 per layer here) within 1%."""
    from theory.pathsum import path_moments
    spec = ResnetSpec(depth=6, width=64, beta=0.1, norm="bn")
    r = typical_pairs(spec, nets=40, seed=5, pairs=PAIRS, backend="torch", batch=20)
    exact = path_moments(spec)["layer_curves"]["correlation"]
    for d, est in zip(r.depth, r.correlation):
        assert abs(est.mean - float(exact[d - 1])) < 0.01, (d, est, float(exact[d - 1]))


def test_compiled_pair_summaries_equal_the_numpy_reference():
    """kernels.summaries: pair_summary's (A, C) to float64 rounding, gate_summary's shares exactly; a
    pairing of the wrong columns is told apart."""
    from kernels.summaries import gate_moments, pair_moments
    from montecarlo.observables import gate_summary, pair_summary
    rng = np.random.default_rng(2)
    grads = rng.standard_normal((5, 7, 12)).astype(np.float32)
    grads[:, :, 1::2] += 0.6 * grads[:, :, 0::2]           # correlated pairs: C clearly nonzero
    got = np.empty((5, 2))
    pair_moments(grads, got)
    np.testing.assert_allclose(got, pair_summary(grads), rtol=1e-12, atol=1e-15)
    shuffled = np.ascontiguousarray(np.roll(grads, 1, axis=2))   # columns (2p−1, 2p): other pairs
    wrong = np.empty((5, 2))
    pair_moments(shuffled, wrong)
    assert not np.allclose(wrong[:, 1], got[:, 1], rtol=0.05)
    active = grads > 0
    shares = np.empty((5, 2))
    gate_moments(active, shares)
    np.testing.assert_array_equal(shares, gate_summary(active))


@pytest.mark.parametrize("model", ["real", "path"])
def test_pairs_summary_rows_are_the_same_through_the_fused_moments(model, monkeypatch):
    """PairsExperiment.summaries takes the numba kernel's fused moments when it has them; without them
    (the stored gradients, then pair_moments) the rows are the same bits."""
    from montecarlo import networks
    from montecarlo.observables import PairsExperiment
    e = PairsExperiment(ResnetSpec(depth=4, width=24, beta=0.5, norm="bn"), model, 5)
    fused = e.summaries(3, range(2, 9), "numba")
    monkeypatch.setattr(networks, "pair_moments", lambda *a, **k: None)
    assert np.array_equal(e.summaries(3, range(2, 9), "numba"), fused)
