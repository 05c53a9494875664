"""Looks-linear initialization (§5): orthogonal centre taps, mirrored CReLU, exact linearity."""
import numpy as np
import pytest
import torch

from montecarlo.convnets.llinit import (CReLU, LLNet, build_ll, mirrored, orthogonal_centre_kernel,
                                        orthonormal_columns)
from montecarlo.convnets.probe import probe, white_effective_rank


@pytest.mark.parametrize("a, b", [(8, 8), (16, 3), (9, 5)])
def test_orthogonal_centre_kernel(a, b):
    k = orthogonal_centre_kernel(a, b, torch.Generator().manual_seed(a * 10 + b), dtype=torch.float64)
    assert k.shape == (a, b, 3, 3)
    w = k[:, :, 1, 1]
    torch.testing.assert_close(w.T @ w, torch.eye(b, dtype=torch.float64), atol=1e-12, rtol=0)
    off = k.clone()
    off[:, :, 1, 1] = 0
    assert torch.count_nonzero(off) == 0


def test_orthonormal_columns_needs_a_ge_b():
    with pytest.raises(ValueError, match="A \\(out channels\\) >= B"):
        orthonormal_columns(3, 5)


def test_mirrored_block_structure():
    net = build_ll(3, width=4, nonlinearity="crelu", init="ll", seed=0)
    for conv in net.convs():
        assert conv.weight.shape == (4, 8, 3, 3)
        torch.testing.assert_close(conv.weight[:, :4], -conv.weight[:, 4:], atol=0, rtol=0)
    torch.testing.assert_close(mirrored(torch.ones(2, 1, 1, 1)).flatten(), torch.tensor([1., -1., 1., -1.]))


@pytest.mark.parametrize("nonlinearity", ["crelu", "prelu"])
def test_ll_net_is_exactly_its_linear_map(nonlinearity):
    torch.manual_seed(0)
    net = build_ll(12, width=6, nonlinearity=nonlinearity, init="ll", seed=3)
    x = torch.randn(5, 3, 32, 32)
    out, lin = net(x), net.linear_equivalent(x)
    torch.testing.assert_close(out, lin, atol=1e-5, rtol=1e-5)   # float32 rounding
    net64 = net.double()
    x64 = x.double()
    torch.testing.assert_close(net64(x64), net64.linear_equivalent(x64), atol=1e-12, rtol=1e-12)
    # affine: f(x + y) − f(0) = (f(x) − f(0)) + (f(y) − f(0))
    z = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    f0 = net64(z)
    torch.testing.assert_close(net64(x64[:1] + x64[1:2]) - f0,
                               (net64(x64[:1]) - f0) + (net64(x64[1:2]) - f0), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["crelu", "prelu"])
def test_ll_input_gradients_identical_for_all_inputs(nonlinearity):
    net = build_ll(8, width=4, nonlinearity=nonlinearity, init="ll", seed=1).double()
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    r = probe(net, x, loss="sum", keep_gradients=True)
    g = r["gradients"]
    np.testing.assert_allclose(g, np.broadcast_to(g[0], g.shape), rtol=1e-10, atol=1e-14)
    assert r["mean_correlation"] == pytest.approx(1.0, abs=1e-10)
    assert r["gradient_norm"] == pytest.approx(1.0, abs=1e-10)
    assert r["effective_rank"] == pytest.approx(1.0, abs=1e-8)
    assert r["relative_effective_rank"] == pytest.approx(1 / white_effective_rank(3 * 32 * 32, 6), rel=1e-8)
    # the CReLU gates still fire on about half of the units (the net only *looks* linear)
    assert all(0.3 < s["activation"] < 0.7 for s in r["relus"])


def test_he_init_crelu_and_relu_shatter():
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for nl in ("crelu", "relu"):
        r = probe(build_ll(20, width=8, nonlinearity=nl, init="he", seed=4), x, loss="sum")
        assert r["mean_correlation"] < 0.9, nl


def test_bad_ll_arguments():
    with pytest.raises(ValueError, match="nonlinearity"):
        LLNet(2, nonlinearity="tanh")
    with pytest.raises(ValueError, match="relu"):
        LLNet(2, nonlinearity="relu", init="ll")
    with pytest.raises(ValueError, match="init"):
        LLNet(2, init="xavier")
    with pytest.raises(ValueError, match="depth"):
        LLNet(0)


SPECIAL = [-0.0, 0.0, float("nan"), -float("nan"), float("inf"), -float("inf"), 1.0, -1.0, 1e-45, -1e-45]


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values with the same sign bits (so −0 ≠ +0), or NaN where the other is NaN (the sign of
    a NaN is not specified by IEEE arithmetic: ``0 + (−NaN)`` and ``0 − NaN`` may differ in it)."""
    nan = a.isnan() & b.isnan()
    return bool((nan | ((a == b) & (torch.signbit(a) == torch.signbit(b)))).all() and (a.isnan() == b.isnan()).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [1, 6, 23])
def test_compiled_crelu_has_the_bits_of_the_torch_spelling(dtype, channels):
    """Channels-last CPU input: kernels.crelu's loops give the torch operations' output and input
    gradient bit for bit, signed zeros and infinities included, and NaN where they give NaN (in x and
    in the gradient)."""
    from montecarlo.convnets.llinit import _CompiledCReLU
    g = torch.Generator().manual_seed(channels)
    x = torch.randn(3, channels, 5, 4, generator=g, dtype=dtype)
    grad = torch.randn(3, 2 * channels, 5, 4, generator=g, dtype=dtype)
    x.view(-1)[:len(SPECIAL)] = torch.tensor(SPECIAL, dtype=dtype)
    grad.view(-1)[-len(SPECIAL):] = torch.tensor(SPECIAL, dtype=dtype)
    grad.view(-1)[:len(SPECIAL)] = torch.tensor(SPECIAL[::-1], dtype=dtype)
    x, grad = (t.contiguous(memory_format=torch.channels_last) for t in (x, grad))

    def run(fn):
        leaf = x.clone().requires_grad_(True)
        out = fn(leaf)
        (gx,) = torch.autograd.grad(out, leaf, grad)
        return out.detach(), gx

    calls = []
    original = _CompiledCReLU.forward

    def counted(ctx, t):
        calls.append(t.shape)
        return original(ctx, t)

    reference = run(lambda t: torch.cat([torch.relu(t), torch.relu(-t)], dim=1))
    _CompiledCReLU.forward = staticmethod(counted)
    try:
        compiled = run(CReLU())
    finally:
        _CompiledCReLU.forward = staticmethod(original)
    assert calls == [x.shape]
    assert _same_bits(compiled[0], reference[0]) and _same_bits(compiled[1], reference[1])
    assert compiled[0].is_contiguous(memory_format=torch.channels_last)
