"""Infinite-width recursions: internal consistency (no Monte Carlo of networks here).

* the shared topology with the path model's per-layer map reproduces theory.pathsum exactly;
* the arc-cosine formulas against numerical integration; the non-central ReLU moments too;
* exact batch-statistics facts (inverse chi-square, BN's 1/(1 - 1/pi), BN-through -1/(M-1));
* correlations in [-1, 1] for every drawn spec; the CLI.
"""
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from tests.strategies import any_deep_spec
from theory import infinite_width as iw
from theory import infinite_width_grid as iwg
from theory import predict
from theory.pathsum import path_moments
from theory.specs import make_spec

SPECS = [make_spec("ff", depth=7), make_spec("ff", depth=7, norm="center"), make_spec("ff", depth=7, norm="bn"),
         make_spec("resnet", depth=9), make_spec("resnet", depth=9, alpha=2 ** -0.5),
         make_spec("resnet", depth=9, beta=0.1, norm="bn"), make_spec("resnet", depth=12, beta=1.0, norm="bn"),
         make_spec("highway", depth=6), make_spec("highway", depth=6, gamma1=0.6), make_spec("crelu-ll", depth=5)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_path_model_map_reproduces_pathsum(spec):
    """Gate moments forced to 1/2, 1/4 (and BN by v_{l-1}): the shared topology gives path_moments."""
    exact = path_moments(spec)
    ours = iw.path_model_moments(spec)
    for sense in ("curves", "layer_curves"):
        for key in ("variance", "covariance", "correlation"):
            np.testing.assert_allclose(ours[sense][key], [float(v) for v in exact[sense][key]], rtol=1e-12)


def _gauss2(q1, q2, c, fn):
    cov = np.array([[q1, c * math.sqrt(q1 * q2)], [c * math.sqrt(q1 * q2), q2]])
    dens = stats.multivariate_normal(mean=[0, 0], cov=cov)
    lim = 9 * math.sqrt(max(q1, q2))
    val, _ = integrate.dblquad(lambda v, u: fn(u, v) * dens.pdf([u, v]), 0, lim, 0, lim, epsabs=1e-10)
    return val


@pytest.mark.parametrize("q1, q2, c", [(1.0, 1.0, 0.0), (2.0, 0.5, 0.3), (1.5, 1.5, -0.7), (0.7, 1.3, 0.95)])
def test_arccosine_formulas_against_numerical_integration(q1, q2, c):
    assert iw.relu_kernel(q1, q2, c) == pytest.approx(_gauss2(q1, q2, c, lambda u, v: u * v), rel=1e-6)
    assert iw.relu_gate_moment(c) == pytest.approx(_gauss2(q1, q2, c, lambda u, v: 1.0), rel=1e-6)
    assert iw.relu_kernel(q1, q1, 1.0) == pytest.approx(q1 / 2)


@pytest.mark.parametrize("m1, m2, s1, s2, r", [(0.3, -0.5, 1.2, 0.7, 0.4), (1.0, 2.0, 0.5, 1.5, -0.6),
                                               (-1.0, -1.0, 1.0, 1.0, 0.95), (0.0, 0.0, 1.0, 2.0, 0.3)])
def test_noncentral_relu_moments_against_integration(m1, m2, s1, s2, r):
    cov = np.array([[s1 * s1, r * s1 * s2], [r * s1 * s2, s2 * s2]])
    dens = stats.multivariate_normal(mean=[m1, m2], cov=cov)
    val, _ = integrate.dblquad(lambda v, u: u * v * dens.pdf([u, v]), 0, m1 + 10 * s1, 0, m2 + 10 * s2,
                               epsabs=1e-10)
    assert iwg.relu_kernel_noncentral(np.float64(m1), m2, s1, s2, r) == pytest.approx(val, rel=1e-6)
    if m1 == m2 == 0:
        assert iwg.relu_kernel_noncentral(np.float64(0), 0.0, s1, s2, r) == pytest.approx(
            iw.relu_kernel(s1 ** 2, s2 ** 2, r), rel=1e-12)
    assert iwg.first_layer_relu_kernel(0.5, -0.3, 0.8) == pytest.approx(
        integrate.quad(lambda b: max(0.5 - b, 0) * max(-0.3 - b, 0) * stats.norm.pdf(b, scale=0.8), -8, -0.3)[0],
        rel=1e-8)


def test_inverse_batch_variance_is_inverse_chi_square_and_matches_sampling():
    K = iw.PairKernel(1.0, 0.0, 0.0, 64)
    assert iw.inverse_batch_variance(K) == pytest.approx(64 / 61)
    assert iw.inverse_batch_variance(iw.PairKernel(1.0, 0.3, 0.3, math.inf)) == pytest.approx(1 / 0.7)
    # non-exchangeable batch (pairs with correlation 0.6): integral against sampling u ~ N(0, P K P)
    M = 16
    K = iw.PairKernel(1.0, 0.6, 0.1, M)
    idx = np.arange(M) // 2
    full = np.where(idx[:, None] == idx[None, :], 0.6, 0.1) + np.eye(M) * 0.4
    P = np.eye(M) - 1 / M
    rng = np.random.default_rng(0)
    u = rng.multivariate_normal(np.zeros(M), P @ full @ P, size=400_000)
    sampled = np.mean(M / (u * u).sum(axis=1))
    assert iw.inverse_batch_variance(K) == pytest.approx(sampled, rel=5e-3)
    np.testing.assert_allclose(iw.center_vector(K.vector(), M),
                               [(P @ full @ P)[0, 0], (P @ full @ P)[0, 1], (P @ full @ P)[0, 2]], rtol=1e-12)


def test_bn_feedforward_gradient_growth_is_one_over_one_minus_one_over_pi():
    """BN divides by the batch variance, which excludes the per-neuron batch mean of rho: 1/(1 - 1/pi)."""
    spec = make_spec("ff", depth=12, norm="bn")
    inf = iw.infinite_width_moments(spec, batch_size=math.inf)["layer_curves"]["variance"]
    assert inf[5] / inf[4] == pytest.approx(1 / (1 - 1 / math.pi), rel=1e-12)
    m64 = iw.infinite_width_moments(spec, batch_size=64)["layer_curves"]["variance"]
    k = 2 * iw.relu_unit_kernel(-1 / 63)
    assert m64[5] / m64[4] == pytest.approx(64 / (61 * (1 - k)), rel=1e-12)  # E[1/sigma^2], inverse chi^2


@pytest.mark.parametrize("M", [8, 64, math.inf])
def test_bn_through_gives_correlation_minus_one_over_m_minus_one(M):
    spec = make_spec("ff", depth=6, norm="bn")
    r = iw.infinite_width_moments(spec, batch_size=M, bn_backward="through")
    expected = 0.0 if M == math.inf else -1 / (M - 1)
    np.testing.assert_allclose(r["layer_curves"]["correlation"], expected, atol=1e-14)
    assert all(v > 0 for v in r["layer_curves"]["variance"])


def test_centering_forgets_the_input_correlation_in_an_exchangeable_batch():
    spec = make_spec("ff", depth=4, norm="center")
    r = iw.infinite_width_moments(spec)
    np.testing.assert_allclose(r["gates"]["preactivation_correlation"], -1 / 63, rtol=1e-12)
    np.testing.assert_allclose(r["gates"]["coactive"], iw.relu_gate_moment(-1 / 63), rtol=1e-12)


def test_crelu_ll_keeps_c0_forward_and_gradient_correlation_one():
    r = iw.infinite_width_moments(make_spec("crelu-ll", depth=20), c0=0.3)
    np.testing.assert_allclose(r["forward"]["correlation"], 0.3, rtol=1e-12)
    np.testing.assert_allclose(r["curves"]["correlation"], 1.0, rtol=1e-12)


def test_c0_one_keeps_correlation_one_without_normalization():
    for spec in (make_spec("ff", depth=10), make_spec("resnet", depth=10), make_spec("highway", depth=10)):
        r = iw.infinite_width_moments(spec, c0=1.0)
        np.testing.assert_allclose(r["correlation"], 1.0, rtol=1e-9)


@given(any_deep_spec, st.floats(min_value=-1.0, max_value=1.0),
       st.sampled_from([4, 8, 64, math.inf]), st.sampled_from(["constant", "through"]))
def test_correlations_are_in_minus_one_one(spec, c0, M, mode):
    if mode == "through" and getattr(spec, "norm", "none") == "bn" and M != math.inf:
        c0 = 0.0
    r = iw.infinite_width_moments(spec, c0=c0, batch_size=M, bn_backward=mode)
    for sense in ("curves", "layer_curves"):
        corr = np.array(r[sense]["correlation"])
        assert np.all(np.abs(corr) <= 1 + 1e-9), corr
        assert np.all(np.array(r[sense]["variance"]) > 0)
    assert np.all(np.abs(r["forward"]["correlation"]) <= 1 + 1e-9)
    co = np.array(r["gates"]["coactive"])
    assert np.all((co >= 0) & (co <= 0.5 + 1e-12)) or np.all(np.isnan(co))


def test_expected_normalized_covariance_matches_sampling():
    rng = np.random.default_rng(1)
    t = np.linspace(-1, 1, 12)
    cov = np.exp(-np.abs(t[:, None] - t[None, :])) + 0.2
    ours = iwg.expected_normalized_covariance(cov)
    assert np.trace(ours) == pytest.approx(12, rel=1e-9)
    y = rng.multivariate_normal(np.zeros(12), cov, size=800_000)
    z = y - y.mean(axis=1, keepdims=True)
    sampled = np.einsum("si,sj->ij", z / np.linalg.norm(z, axis=1, keepdims=True),
                        z / np.linalg.norm(z, axis=1, keepdims=True)) / len(z) * 12
    np.testing.assert_allclose(ours, sampled, atol=6e-3)


def test_grid_depth_one_is_the_shallow_brownian_covariance():
    """ff of depth 1 on the grid: N c Phi(min(t, t')/sigma_b), the shallow net's exact form."""
    spec = make_spec("ff", depth=1, width=200)
    t = np.linspace(-2, 2, 9)
    cov = iwg.grid_gradient_covariance(spec, t, bias_std=0.7)
    exact = 200 * 2.0 * stats.norm.cdf(np.minimum(t[:, None], t[None, :]) / 0.7)
    np.testing.assert_allclose(cov, exact, rtol=1e-5, atol=1e-5)


def test_cli_infinite_width_json(capsys):
    assert predict.main(["ff", "--model", "infinite-width", "--depth", "6", "--c0", "0.5", "--curve", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    direct = iw.infinite_width_moments(make_spec("ff", depth=6), c0=0.5)
    assert doc["model"] == "infinite-width" and doc["c0"] == 0.5 and doc["batch_size"] == 64
    assert doc["correlation"] == pytest.approx(direct["correlation"], rel=1e-15)
    assert {"curves", "layer_curves", "forward", "gates"} <= set(doc)
    assert doc["forward"]["correlation"][0] == 0.5
    assert predict.main(["resnet", "--model", "infinite-width", "--norm", "bn", "--batch-size", "inf",
                         "--bn-backward", "through", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["batch_size"] == "inf" and doc["bn_backward"] == "through"


@pytest.mark.parametrize("argv, fragment", [
    (["ff", "--model", "infinite-width", "--c0", "-1.01"], "--c0: c0=-1.01 is not allowed: a real number in [-1, 1]"),
    (["ff", "--model", "infinite-width", "--batch-size", "1"], "--batch-size: batch_size=1.0 is not allowed"),
    (["ff", "--model", "infinite-width", "--norm", "bn", "--batch-size", "3"], "an integer >= 4 or inf under batch-norm"),
    (["ff", "--model", "infinite-width", "--norm", "bn", "--bn-backward", "through", "--c0", "0.2"],
     "--c0: c0=0.2 is not allowed"),
    (["ff", "--batch-size", "8"], "--batch-size=8.0 is not allowed with --model path"),
])
def test_cli_infinite_width_bad_usage(capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        predict.main(argv)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err
