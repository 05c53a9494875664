"""The probe (montecarlo.convnets.probe) on matrices and tiny models with known answers."""
import numpy as np
import pytest
import torch
from torch import nn

from montecarlo.convnets.probe import (effective_rank, gradient_stats, path_acf, probe,
                                       white_effective_rank)
from montecarlo.observables import sample_acf


def test_effective_rank_known_values():
    assert effective_rank(np.eye(7)) == pytest.approx(7.0)
    assert effective_rank(np.diag([2.0, 1.0, 0.0])) == pytest.approx(1.25)
    rng = np.random.default_rng(0)
    rank1 = np.outer(rng.standard_normal(300), rng.standard_normal(40))
    assert effective_rank(rank1) == pytest.approx(1.0, rel=1e-10)     # the lower bound
    assert effective_rank(rank1.T) == pytest.approx(1.0, rel=1e-10)


def test_white_matrix_has_relative_effective_rank_one():
    rng = np.random.default_rng(123)  # not the reference draws' seed
    for rows, cols in [(3072, 32), (500, 64)]:
        r = effective_rank(rng.standard_normal((rows, cols))) / white_effective_rank(rows, cols)
        # one draw of r(Y) has a relative spread of 1-2% at these shapes (measured): 4+ sigma
        assert r == pytest.approx(1.0, abs=0.08)
        # Bai–Yin: r(Y) ≈ rows·cols / (√rows + √cols)²
        assert white_effective_rank(rows, cols) == pytest.approx(rows * cols / (rows ** .5 + cols ** .5) ** 2, rel=0.05)


def test_gradient_stats_white_and_identical_gradients():
    rng = np.random.default_rng(1)
    n, d = 64, 3072
    white = gradient_stats(rng.standard_normal((n, d)))
    assert white["relative_effective_rank"] == pytest.approx(1.0, abs=0.08)
    assert white["gradient_norm"] == pytest.approx(1 / np.sqrt(n), rel=0.05)
    assert abs(white["mean_correlation"]) < 0.01
    same = gradient_stats(np.tile(rng.standard_normal(d), (n, 1)))
    assert same["effective_rank"] == pytest.approx(1.0)
    assert same["relative_effective_rank"] == pytest.approx(1 / white_effective_rank(d, n))
    assert same["gradient_norm"] == pytest.approx(1.0)
    assert same["mean_correlation"] == pytest.approx(1.0)
    np.testing.assert_allclose(same["correlation"], 1.0)


def test_probe_linear_model_all_gradients_equal():
    torch.manual_seed(0)
    model = nn.Linear(12, 1).double()
    x = torch.randn(9, 12, dtype=torch.float64)
    r = probe(model, x, loss="sum", keep_gradients=True)
    np.testing.assert_allclose(r["gradients"], np.tile(model.weight.detach().numpy(), (9, 1)))
    assert r["mean_correlation"] == pytest.approx(1.0)
    assert r["gradient_norm"] == pytest.approx(1.0)
    assert r["effective_rank"] == pytest.approx(1.0)
    np.testing.assert_allclose(r["covariance"], float(model.weight.detach().pow(2).mean()))
    assert r["relus"] == []


def test_probe_cross_entropy_gradient_matches_closed_form():
    torch.manual_seed(1)
    model = nn.Linear(6, 3).double()
    x, y = torch.randn(5, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])
    r = probe(model, x, y, keep_gradients=True)
    p = torch.softmax(model(x), dim=1) - nn.functional.one_hot(y, 3)
    np.testing.assert_allclose(r["gradients"], (p @ model.weight).detach().numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="targets"):
        probe(model, x)
    with pytest.raises(ValueError, match="loss"):
        probe(model, x, y, loss="hinge")


def test_probe_relu_activation_and_coactivation_known():
    # identity first layer: unit j is active for input i iff x_ij > 0
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.ReLU(), nn.Linear(3, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3))
    x = torch.tensor([[1., 1., -1.], [1., -1., -1.], [1., 1., -1.], [-1., 1., -1.]], dtype=torch.float64)
    (s,) = probe(model, x, loss="sum")["relus"]
    # active counts per unit k = (3, 3, 0) of n = 4; co-active pairs k(k-1) / (n(n-1))
    assert s["activation"] == pytest.approx(6 / 12)
    assert s["coactivation"] == pytest.approx((6 + 6 + 0) / 3 / 12)
    assert s["name"] == "1" and s["type"] == "ReLU"


def test_probe_path_acf():
    # f(x) = relu(x) on a 1-D path: gradient 0 then 1 — the ACF of that step sequence
    model = nn.Sequential(nn.ReLU()).double()
    grid = torch.linspace(-2, 2, 41, dtype=torch.float64).reshape(-1, 1)
    r = probe(model, grid, loss="sum", path=grid, max_lag=10)
    expected = sample_acf((grid.flatten() > 0).double().numpy(), 10)
    np.testing.assert_allclose(r["acf"], expected)
    assert r["acf"][0] == pytest.approx(1.0)
    assert np.isnan(path_acf(np.ones((5, 3)))).all()  # constant gradient: undefined
    with pytest.raises(ValueError, match="max_lag"):
        path_acf(np.ones((5, 3)), max_lag=5)


def test_probe_rejects_single_input():
    with pytest.raises(ValueError, match="n >= 2"):
        probe(nn.Linear(3, 1), torch.randn(1, 3), loss="sum")


def test_deep_feedforward_convnet_shatters_more_than_resnet():
    """A quick version of Fig. 5c on Gaussian inputs: more effective rank without skips."""
    from montecarlo.convnets.models import build
    x = torch.randn(32, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(32) % 10
    ff = probe(build("feedforward", 10, width=8, seed=1), x, y)
    res = probe(build("resnet", 10, width=8, seed=1), x, y)
    assert ff["relative_effective_rank"] > 2 * res["relative_effective_rank"]
    assert len(ff["relus"]) == 10


@pytest.mark.parametrize("arch,bn_backward,loss", [("feedforward", "through", "cross_entropy"),
                                                   ("resnet", "constant", "sum")])
def test_probe_without_gates_gives_the_same_bits(arch, bn_backward, loss):
    """Fig. 5 probes with ``gates=False`` (no hooks): every statistic equals the hooked probe's, bit for bit."""
    from montecarlo.convnets.models import build
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.arange(16) % 10
    net = build(arch, 6, width=4, bn_backward=bn_backward, seed=3).requires_grad_(False)
    with_gates = probe(net, x, y, loss, keep_gradients=True)
    without = probe(net, x, y, loss, keep_gradients=True, gates=False)
    assert len(with_gates["relus"]) == 6 and without["relus"] is None
    assert set(with_gates) == set(without)
    for name, value in with_gates.items():
        if name in ("relus", "acf"):
            continue
        np.testing.assert_array_equal(np.asarray(without[name]), np.asarray(value), err_msg=name)
