"""Fast kernels against the numpy reference on identical networks, and the reference against
torch.autograd (an independent derivation of both batch-statistics backward modes).

Tolerance.  The fast kernels compute in float32 (unit roundoff u = 6e-8); each layer adds
O(u·sqrt(N)) relative error through its N-term dot products, and L layers compound it
linearly, so for N ≤ 32, L ≤ 6 the gradient error is below ~1e-5 of the layer's RMS
gradient; BN's differentiated-through backward subtracts two batch means (cancellation), so
we allow rtol = 1e-4 of the RMS everywhere.  A gate that flips (pre-activation within float32
rounding of 0) would exceed it: at these sizes and fixed seeds the nearest pre-activation is
orders of magnitude from 0 (asserted below via identical gate patterns).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kernels import LayerPlan, NonFiniteError, get_kernel

RTOL_OF_RMS = 1e-4
FAST = ["numba", "torch"]


def _networks(S=3, L=5, N=24, M=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((S, L, N, N), dtype=np.float32),
            rng.standard_normal((S, N), dtype=np.float32),
            rng.standard_normal((S, N, M), dtype=np.float32),
            rng.random((S, L, N, M)) < 0.5)


def _plan(L, N, norm="none", stats="constant", unit="relu", skip=0.6):
    return LayerPlan(np.full(L, skip), np.full(L, np.sqrt(2.0 / N)), norm, stats, unit)


def _assert_close(fast, ref):
    rms = np.sqrt((ref ** 2).mean(axis=(0, 2, 3), keepdims=True))
    assert np.all(np.abs(fast - ref) <= RTOL_OF_RMS * rms)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("norm,stats", [("none", "constant"), ("center", "constant"),
                                        ("center", "through"), ("bn", "constant"), ("bn", "through")])
@pytest.mark.parametrize("unit", ["relu", "crelu-mirrored"])
@pytest.mark.parametrize("keep", ["all", "input"])
def test_real_gradients_match_reference(backend, norm, stats, unit, keep):
    W, v, x, _ = _networks()
    plan = _plan(W.shape[1], W.shape[2], norm, stats, unit)
    ref, ref_active = get_kernel("numpy").real_gradients(plan, W, v, x, keep=keep, want_active=True)
    fast, active = get_kernel(backend).real_gradients(plan, W, v, x, keep=keep, want_active=True)
    assert fast.shape == ref.shape
    assert np.array_equal(active, ref_active)
    _assert_close(fast, ref)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("unit", ["relu", "crelu-mirrored"])
def test_path_gradients_match_reference(backend, unit):
    W, v, _, gates = _networks()
    plan = _plan(W.shape[1], W.shape[2], unit=unit)
    g = gates if unit == "relu" else None
    ref = get_kernel("numpy").path_gradients(plan, W, v, g, n_inputs=gates.shape[-1])
    _assert_close(get_kernel(backend).path_gradients(plan, W, v, g, n_inputs=gates.shape[-1]), ref)


@pytest.mark.parametrize("norm,stats", [("none", "constant"), ("center", "constant"),
                                        ("center", "through"), ("bn", "constant"), ("bn", "through")])
def test_reference_matches_torch_autograd(norm, stats):
    """Build the same network in torch float64 and differentiate f = Σ_m vᵀ x_L[:, m] by autograd.

    ``constant``: batch statistics detached (treated as constants); ``through``: not detached.
    """
    torch = pytest.importorskip("torch")
    W, v, x, _ = _networks(S=2, L=4, N=12, M=6, seed=3)
    skip, branch = 0.6, np.sqrt(2.0 / 12)
    plan = _plan(4, 12, norm, stats, skip=skip)
    ref, _ = get_kernel("numpy").real_gradients(plan, W, v, x)
    for i in range(2):
        xs = [torch.tensor(x[i], dtype=torch.float64, requires_grad=True)]
        Wt = torch.tensor(W[i], dtype=torch.float64)
        for l in range(4):
            h = xs[-1]
            if norm != "none":
                mean = h.mean(dim=1, keepdim=True)
                h = h - (mean.detach() if stats == "constant" else mean)
            if norm == "bn":
                std = torch.sqrt((h * h).mean(dim=1, keepdim=True))
                h = h / (std.detach() if stats == "constant" else std)
            nxt = skip * xs[-1] + branch * (Wt[l] @ torch.relu(h))
            nxt.retain_grad()
            xs.append(nxt)
        f = (torch.tensor(v[i], dtype=torch.float64)[:, None] * xs[-1]).sum()
        for t in xs:
            t.retain_grad()
        f.backward()
        for d in range(1, 5):
            np.testing.assert_allclose(ref[i, d - 1], xs[4 - d].grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
def test_zero_batch_std_raises_naming_the_layer(backend):
    W, v, x, _ = _networks()
    x[:] = 1.0  # every input identical: BN divides by a batch std of 0 at x_0
    plan = _plan(W.shape[1], W.shape[2], "bn")
    with pytest.raises(NonFiniteError, match=r"non-finite forward pass into x_1 \(depth d=4\) of network #0 .*standard deviation of 0 in x_0"):
        get_kernel(backend).real_gradients(plan, W, v, x)


def test_importing_kernels_imports_neither_torch_nor_numba():
    code = "import sys, kernels; print('torch' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="backend='tpu' is not allowed: one of numpy, numba, torch, cuda"):
        get_kernel("tpu")


@pytest.mark.cuda
def test_cuda_matches_reference():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    W, v, x, gates = _networks()
    for norm, stats in [("none", "constant"), ("bn", "constant"), ("bn", "through")]:
        plan = _plan(W.shape[1], W.shape[2], norm, stats)
        ref, _ = get_kernel("numpy").real_gradients(plan, W, v, x)
        _assert_close(get_kernel("cuda").real_gradients(plan, W, v, x)[0], ref)
    plan = _plan(W.shape[1], W.shape[2])
    _assert_close(get_kernel("cuda").path_gradients(plan, W, v, gates),
                  get_kernel("numpy").path_gradients(plan, W, v, gates))


def test_grid_input_layer_is_not_normalized():
    """On the 1-D grid, block 1 sees x·v − b unnormalized: centering it over the grid would
    subtract every neuron's bias and make all first-layer units the same function of t."""
    from montecarlo.observables import grid
    from theory.specs import FeedforwardSpec

    res = grid(FeedforwardSpec(depth=2, width=32, norm="center"), nets=4, seed=3, backend="numpy")
    levels = res.activation_levels[0]  # histogram of per-neuron activation levels in block 1
    assert (levels > 0).sum() > 3, "first-layer neurons differ in how often they fire"


@pytest.mark.parametrize("norm, orthogonal", [("none", False), ("bn", False), ("none", True)])
def test_numba_backward_pass_on_lazy_weights_is_the_dense_one_bit_for_bit(norm, orthogonal):
    """The numba kernel draws each network's matrices itself (LazyWeights); given the same weights as
    an array it copies them instead: the same bits, every layer, and the same gates."""
    from montecarlo import sampling
    L, N, M = 4, 24, 10
    plan = LayerPlan(np.full(L, 0.8), np.full(L, np.sqrt(2 / N)), norm, "constant", "relu")
    lazy = sampling.LazyWeights(3, range(2, 5), L, N, orthogonal)
    x = np.random.default_rng(1).standard_normal((3, N, M)).astype(np.float32)
    kernel = get_kernel("numba")
    got, active = kernel.real_gradients(plan, lazy, lazy.readout, x, want_active=True)
    want, want_active = kernel.real_gradients(plan, lazy.materialize(), lazy.readout, x, want_active=True)
    assert np.array_equal(got, want) and np.array_equal(active, want_active)
    ref, _ = get_kernel("numpy").real_gradients(plan, lazy.materialize(), lazy.readout, x)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("norm, stats, orthogonal", [("none", "constant", False), ("bn", "constant", False),
                                                     ("bn", "through", False), ("none", "constant", True)])
def test_numba_fused_pair_moments_are_the_moments_of_the_stored_gradients(norm, stats, orthogonal):
    """real_pair_moments / path_pair_moments take each layer's moments inside the compiled pass: the same
    bits as pair_moments / gate_moments of real_gradients / path_gradients (keep='all'); a moment of the
    wrong layer would not be."""
    from kernels.summaries import gate_moments, pair_moments
    from montecarlo import sampling
    L, N, M = 5, 24, 10
    plan = LayerPlan(np.full(L, 0.8), np.full(L, np.sqrt(2 / N)), norm, stats, "relu")
    lazy = sampling.LazyWeights(4, range(1, 6), L, N, orthogonal)
    x = np.random.default_rng(2).standard_normal((5, N, M)).astype(np.float32)
    kernel = get_kernel("numba")
    grads, active = kernel.real_gradients(plan, lazy, lazy.readout, x, want_active=True)
    moments, shares = kernel.real_pair_moments(plan, lazy, lazy.readout, x, want_active=True)
    want, want_shares = np.empty((5, L, 2)), np.empty((5, L, 2))
    for k in range(5):
        pair_moments(grads[k], want[k])
        gate_moments(active[k], want_shares[k])
    assert np.array_equal(moments, want) and np.array_equal(shares, want_shares)
    assert not np.allclose(moments[:, ::-1], want)
    assert kernel.real_pair_moments(plan, lazy, lazy.readout, x)[1] is None
    gates = sampling.sample_gates(4, range(1, 6), L, N, M)
    path = kernel.path_gradients(plan, lazy, lazy.readout, gates)
    for k in range(5):
        pair_moments(path[k], want[k])
    got, got_shares = kernel.path_pair_moments(plan, lazy, lazy.readout, gates, want_active=True)
    for k in range(5):
        gate_moments(gates[k], want_shares[k])
    assert np.array_equal(got, want) and np.array_equal(got_shares, want_shares)
    assert kernel.path_pair_moments(plan, lazy, lazy.readout, gates)[1] is None


def test_numba_fused_pair_moments_report_a_non_finite_gradient_as_the_gradients_do():
    from montecarlo import sampling
    L, N, M = 4, 16, 6
    plan = LayerPlan(np.full(L, 1.0), np.full(L, 1e30), "none", "constant", "relu")   # overflows
    lazy = sampling.LazyWeights(1, range(2), L, N, False)
    x = np.random.default_rng(3).standard_normal((2, N, M)).astype(np.float32)
    kernel = get_kernel("numba")
    with pytest.raises(NonFiniteError) as stored:
        kernel.real_gradients(plan, lazy, lazy.readout, x)
    with pytest.raises(NonFiniteError) as fused:
        kernel.real_pair_moments(plan, lazy, lazy.readout, x)
    assert str(fused.value) == str(stored.value)


@pytest.mark.parametrize("norm", ["none", "bn"])
def test_numba_forward_mode_on_lazy_grid_inputs_is_the_dense_one_bit_for_bit(norm):
    """The numba kernel's workers compute each network's grid inputs themselves (LazyGridInputs, a
    broadcast tangent of ones): the same df/dx and gates as the inputs and tangent given as arrays; the
    lazy inputs are sample_grid_inputs' rows bit for bit."""
    from montecarlo import sampling
    L, N, M = 4, 24, 16
    plan = LayerPlan(np.full(L, 0.8), np.full(L, np.sqrt(2 / N)), norm, "constant", "relu")
    nets, grid = range(3, 8), sampling.grid_points(M)
    lazy = sampling.LazyWeights(6, nets, L, N)
    inputs = sampling.LazyGridInputs(6, nets, N, grid, 0.7)
    dense = sampling.sample_grid_inputs(6, nets, N, grid, 0.7)
    assert inputs.shape == dense.shape and np.array_equal(inputs.materialize(), dense)
    row = np.empty((N, M), dtype=np.float32)
    inputs.fill_network(2, row)
    assert np.array_equal(row, dense[2]) and not np.array_equal(row, dense[1])
    kernel = get_kernel("numba")
    assert kernel.lazy_inputs
    got, active = kernel.input_derivative(plan, lazy, lazy.readout, inputs, np.broadcast_to(np.float32(1), dense.shape),
                                          want_active=True)
    want, want_active = kernel.input_derivative(plan, lazy, lazy.readout, dense, np.ones_like(dense), want_active=True)
    assert np.array_equal(got, want) and np.array_equal(active, want_active)
    ref, _ = get_kernel("numpy").input_derivative(plan, lazy.materialize(), lazy.readout, dense, np.ones_like(dense))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
