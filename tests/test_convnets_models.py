"""Convnets of §4 (montecarlo.convnets.models): shapes, skip placement, init, BN modes."""
import pytest
import torch
from torch import nn

from montecarlo.convnets.models import BatchNorm2d, Block, ConvNet, build


@pytest.mark.parametrize("arch", ["feedforward", "resnet"])
@pytest.mark.parametrize("depth", [2, 4, 10])
def test_shapes_and_layer_counts(arch, depth):
    net = build(arch, depth, width=4, seed=0)
    out = net(torch.randn(5, 3, 32, 32))
    assert out.shape == (5, 10)
    assert len(net.conv_layers()) == depth
    assert len(net.blocks) == depth // 2
    for block in net.blocks:
        assert isinstance(block, Block) and block.skip == (arch == "resnet")
        kinds = [type(m) for m in block.branch]
        assert kinds == [nn.Conv2d, BatchNorm2d, nn.ReLU] * 2  # one skip per two conv layers
    assert net.stem[0].weight.shape == (4, 3, 3, 3)
    assert net.classifier.weight.shape == (10, 4)


def test_skip_is_identity_plus_beta_branch():
    torch.manual_seed(0)
    res = Block(4, skip=True, beta=0.3, bn_backward="through")
    ff = Block(4, skip=False, beta=0.3, bn_backward="through")
    ff.load_state_dict(res.state_dict())
    x = torch.randn(6, 4, 8, 8)
    torch.testing.assert_close(res(x), x + 0.3 * ff(x))


def test_he_init_variance():
    net = build("feedforward", 10, width=32, seed=1)
    w = torch.cat([c.weight.flatten() for c in net.conv_layers()])
    assert w.var().item() == pytest.approx(2 / (32 * 9), rel=0.05)


def test_seeded_build_is_reproducible():
    a, b = build("resnet", 4, width=4, seed=7), build("resnet", 4, width=4, seed=7)
    for (na, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), na
    c = build("resnet", 4, width=4, seed=8)
    assert not torch.equal(a.stem[0].weight, c.stem[0].weight)


def test_bn_uses_batch_statistics_and_two_backward_modes():
    x = torch.randn(8, 3, 5, 5) * 3 + 2
    auto, const = BatchNorm2d(3, "through"), BatchNorm2d(3, "constant")
    ya = auto(x)
    torch.testing.assert_close(ya.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(ya, const(x))
    xa = x.clone().requires_grad_(True)
    (ga,) = torch.autograd.grad((auto(xa) ** 3).sum(), xa)
    xc = x.clone().requires_grad_(True)
    (gc,) = torch.autograd.grad((const(xc) ** 3).sum(), xc)
    # through the statistics re-centres the backward signal per channel; constant statistics do not
    torch.testing.assert_close(ga.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    assert not torch.allclose(ga, gc)


def _constant_reference(bn: BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """Constant statistics spelled out: detached var_mean, then eval-mode batch norm with them."""
    with torch.no_grad():
        var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
    return torch.nn.functional.batch_norm(x, mean, var, bn.weight, bn.bias, training=False, eps=bn.eps)


def test_constant_statistics_bn_is_the_spelled_out_map_with_the_forward_bits_of_through():
    gen = torch.Generator().manual_seed(5)
    x = (torch.randn(6, 3, 4, 5, generator=gen, dtype=torch.float64) * 2 + 1)
    const, through = BatchNorm2d(3, "constant").double(), BatchNorm2d(3, "through").double()
    with torch.no_grad():
        for bn in (const, through):  # a non-trivial scale and shift, the same in both
            bn.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
            bn.bias.copy_(torch.tensor([0.1, -0.3, 0.0]))
    assert torch.equal(const(x), through(x))  # the same kernel forward
    assert torch.equal(const.float()(x.float()), through.float()(x.float()))
    const.double(), through.double()
    w = torch.randn(6, 3, 4, 5, generator=gen, dtype=torch.float64)
    grads = []
    for f in (const, lambda v: _constant_reference(const, v)):
        xv = x.clone().requires_grad_(True)
        loss = ((f(xv) ** 2) * w).sum()
        grads.append(torch.autograd.grad(loss, (xv, const.weight, const.bias)))
    for got, want in zip(*grads):  # input, scale and shift gradients
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    const.requires_grad_(False)  # the probe's case: input gradients only
    xv = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(const(xv).sum(), xv)
    scale = const.weight / torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False) + const.eps)
    torch.testing.assert_close(g, scale.view(1, -1, 1, 1).expand_as(x), rtol=1e-12, atol=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=0), "depth"), (dict(depth=3), "depth"), (dict(depth=-2), "depth"),
    (dict(depth=2, arch="densenet"), "arch"), (dict(depth=2, width=0), "width"),
    (dict(depth=2, beta=-1.0), "beta"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvNet(**kwargs)


def test_bn_backward_accepts_the_older_spelling_and_names_a_bad_value():
    assert BatchNorm2d(3, "autograd").bn_backward == "through"  # the convnets' former name of "through"
    assert build("resnet", 2, width=4, bn_backward="autograd", seed=0).stem[1].bn_backward == "through"
    with pytest.raises(ValueError, match="bn_backward='exact'.*constant, through"):
        BatchNorm2d(3, "exact")


@pytest.mark.parametrize("arch,bn_backward", [("feedforward", "through"), ("resnet", "through"),
                                              ("resnet", "constant"), ("crelu-he", None), ("crelu-ll", None)])
def test_channels_last_probe_is_the_same_map_and_keeps_its_layout(arch, bn_backward):
    """Fig. 5 probes run channels-last (experiments.PROBE_LAYOUT): in float64 the input gradients are
    those of the channels-first net to rounding, and the backward pass stays channels-last (the pool's
    gradient is converted once, not met with strides by every elementwise backward)."""
    from montecarlo.convnets.experiments import PROBE_LAYOUT, build_arch
    from montecarlo.convnets.probe import input_gradients
    net = build_arch(arch, 6, 4, 0.1, bn_backward or "through", seed=11).to(torch.float64).requires_grad_(False)
    x = torch.randn(8, 3, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    first, _ = input_gradients(net, x, None, "sum")
    seen = []

    def record_layout(module, inputs, output):
        inputs[0].register_hook(lambda g: seen.append(g.is_contiguous(memory_format=PROBE_LAYOUT)))

    handle = net.pool.register_forward_hook(record_layout)
    try:
        last, _ = input_gradients(net.to(memory_format=PROBE_LAYOUT), x.contiguous(memory_format=PROBE_LAYOUT),
                                  None, "sum")
    finally:
        handle.remove()
    assert torch.allclose(last, first, rtol=0, atol=1e-12 * float(first.abs().max()))
    assert last.is_contiguous(memory_format=PROBE_LAYOUT)
    assert seen == [True]  # the gradient that leaves the pool, into the last activation


def test_global_average_pool_is_the_adaptive_pool_and_keeps_a_channels_first_gradient_as_it_is():
    from montecarlo.convnets.models import GlobalAveragePool
    x = torch.randn(3, 5, 4, 4, generator=torch.Generator().manual_seed(2), requires_grad=True)
    y = GlobalAveragePool()(x)
    assert torch.equal(y, nn.AdaptiveAvgPool2d(1)(x).flatten(1))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.is_contiguous()
    xl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    (gl,) = torch.autograd.grad(GlobalAveragePool()(xl).sum(), xl)
    assert gl.is_contiguous(memory_format=torch.channels_last) and torch.equal(gl, g)


@pytest.mark.parametrize("arch", ["feedforward", "resnet"])
@pytest.mark.parametrize("bn_backward,loss", [("through", "cross_entropy"), ("constant", "sum")])
def test_in_place_relus_and_skip_give_the_bits_of_out_of_place_ones(arch, bn_backward, loss):
    """The blocks' ReLUs run in place on the BN outputs (nothing else reads them) and the skip's sum
    goes into the product's tensor: the same input gradients and gate statistics, bit for bit, in
    float32 channels-last, as with ``nn.ReLU()`` and ``h + β · branch(h)``."""
    import copy

    from montecarlo.convnets.experiments import _probed
    from montecarlo.convnets.probe import probe
    net = _probed(build(arch, 6, width=4, bn_backward=bn_backward, seed=3))
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    plain = copy.deepcopy(net)

    def out_of_place(block):
        return lambda h: h + block.beta * block.branch(h) if block.skip else block.branch(h)
    for block in plain.blocks:
        block.branch = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.ReLU) else m for m in block.branch])
        block.forward = out_of_place(block)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(16, 3, 8, 8, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (16,), generator=g) if loss == "cross_entropy" else None
    a = probe(net, x, y, loss, keep_gradients=True, gates=True)
    b = probe(plain, x, y, loss, keep_gradients=True, gates=True)
    assert (a["gradients"] == b["gradients"]).all() and a["relus"] == b["relus"]
    assert a["relative_effective_rank"] == b["relative_effective_rank"]
