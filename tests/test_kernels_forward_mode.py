"""Forward mode (``input_derivative``): the 1-D grid's ``df/dx`` from one forward pass.

The oracle is the backward pass: with the batch statistics constant the columns do not
interact, so ``Σ_n v_n (dx_L)[n, m]`` with tangent ``dx_0`` equals ``Σ_n (∂f/∂x_0)[n, m] dx_0[n, m]``
from :func:`kernels.reference.real_gradients`.  The reference's forward mode must match it to
float64 rounding; the fast kernels to float32 rounding (tolerance as in test_kernels_agree.py).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kernels import LayerPlan, NonFiniteError, get_kernel
from montecarlo import networks, sampling
from theory.specs import FeedforwardSpec, ResnetSpec

RTOL = 1e-4


def _case(S=3, L=5, N=24, M=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((S, L, N, N), dtype=np.float32), rng.standard_normal((S, N), dtype=np.float32),
            rng.standard_normal((S, N, M), dtype=np.float32), rng.standard_normal((S, N, M), dtype=np.float32))


def _oracle(plan, W, v, x, t):
    grads, active = get_kernel("numpy").real_gradients(plan, W, v, x, keep="input", want_active=True)
    return (grads[:, 0] * t.astype(np.float64)).sum(axis=1), active


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("norm", ["none", "center", "bn"])
@pytest.mark.parametrize("unit", ["relu", "crelu-mirrored"])
def test_forward_mode_equals_the_backward_pass(backend, norm, unit):
    W, v, x, t = _case()
    plan = LayerPlan(np.full(5, 0.6), np.full(5, np.sqrt(2 / 24)), norm, "constant", unit)
    want, want_active = _oracle(plan, W, v, x, t)
    got, active = get_kernel(backend).input_derivative(plan, W, v, x, t, want_active=True)
    assert got.shape == want.shape and got.dtype == np.float64
    assert np.array_equal(active, want_active)
    tol = 1e-12 if backend == "numpy" else RTOL
    assert np.all(np.abs(got - want) <= tol * np.sqrt((want ** 2).mean()))


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
def test_forward_mode_refuses_statistics_differentiated_through(backend):
    W, v, x, t = _case()
    plan = LayerPlan(np.full(5, 0.6), np.full(5, 0.3), "bn", "through")
    with pytest.raises(ValueError, match="through"):
        get_kernel(backend).input_derivative(plan, W, v, x, t)


def test_forward_mode_checks_the_tangent_shape():
    W, v, x, t = _case()
    plan = LayerPlan(np.full(5, 0.6), np.full(5, 0.3))
    with pytest.raises(ValueError, match="tangent shape"):
        get_kernel("numba").input_derivative(plan, W, v, x, t[:, :, :-1])


def test_forward_mode_names_the_layer_that_overflows():
    W, v, x, t = _case(L=4)
    plan = LayerPlan(np.full(4, 1.0), np.array([1.0, 1.0, 1e200, 1e200]), unit="crelu-mirrored")
    for backend in ("numpy", "numba"):
        with pytest.raises(NonFiniteError, match=r"x_[34]"):
            get_kernel(backend).input_derivative(plan, W, v, x, t)


def test_lazy_weights_are_the_sampled_weights_bit_for_bit():
    lazy = sampling.LazyWeights(5, range(2, 5), 3, 16)
    W, v = sampling.sample_weights(5, range(2, 5), 3, 16)
    assert np.array_equal(lazy.readout, v) and lazy.shape == W.shape
    buf = np.empty((16, 16), dtype=np.float32)
    for k in range(3):
        for l in range(3):
            lazy.fill_layer(k, l, buf)
            assert np.array_equal(buf, W[k, l])
    assert np.array_equal(lazy.materialize(), W)


@pytest.mark.parametrize("spec", [FeedforwardSpec(depth=6, width=16, norm="center"),
                                  ResnetSpec(depth=6, width=16, beta=0.1, norm="bn"),
                                  FeedforwardSpec(depth=6, width=16, norm="none")])
def test_grid_derivative_matches_the_backward_row_sums(spec):
    """The engine's grid path (lazy weights, forward mode) gives the backward pass's df/dx."""
    plan = networks.compile_spec(spec)
    plan = dataclasses.replace(plan, layers=dataclasses.replace(plan.layers, first_norm="none"))
    grads, active = networks.gradients(plan, get_kernel("numpy"), 3, range(4), "grid", 32, keep="input",
                                       want_active=True)
    want = grads[:, 0].sum(axis=1)
    for backend in ("numpy", "numba", "torch"):
        got, got_active = networks.grid_derivative(plan, get_kernel(backend), 3, range(4), 32, want_active=True)
        assert np.array_equal(got_active, active)
        assert np.all(np.abs(got - want) <= (1e-12 if backend == "numpy" else RTOL) * np.sqrt((want ** 2).mean()))
    # same networks whatever the chunk: networks 1..3 alone give the same bits
    part, _ = networks.grid_derivative(plan, get_kernel("numba"), 3, range(1, 4), 32)
    full, _ = networks.grid_derivative(plan, get_kernel("numba"), 3, range(4), 32)
    assert np.array_equal(part, full[1:])


def test_grid_derivative_falls_back_to_the_backward_pass_when_statistics_are_differentiated():
    spec = ResnetSpec(depth=4, width=16, beta=0.5, norm="bn")
    plan = networks.compile_spec(spec, bn_backward="through")
    grads, _ = networks.gradients(plan, get_kernel("numba"), 1, range(2), "grid", 16, keep="input")
    got, _ = networks.grid_derivative(plan, get_kernel("numba"), 1, range(2), 16)
    assert np.array_equal(got, grads[:, 0].astype(np.float64).sum(axis=1))


def test_numba_kernel_loops_as_plain_python_match_the_reference():
    """The @njit loops run as ordinary Python (``NUMBA_DISABLE_JIT=1``, the way coverage sees
    them) and still agree with the reference: the jitted code is not the only thing tested."""
    import os
    import subprocess
    import sys
    code = """
import numpy as np
from kernels import LayerPlan, get_kernel
rng = np.random.default_rng(2)
W = rng.standard_normal((2, 3, 6, 6), dtype=np.float32); v = rng.standard_normal((2, 6), dtype=np.float32)
x = rng.standard_normal((2, 6, 5), dtype=np.float32); t = np.ones_like(x)
worst = 0.0
for norm in ("none", "center", "bn"):
    for stats in ("constant", "through"):
        plan = LayerPlan(np.full(3, 0.7), np.full(3, 0.5), norm, stats)
        ref, _ = get_kernel("numpy").real_gradients(plan, W, v, x)
        got, _ = get_kernel("numba").real_gradients(plan, W, v, x)
        worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
        if stats == "constant":
            ref, _ = get_kernel("numpy").input_derivative(plan, W, v, x, t)
            got, _ = get_kernel("numba").input_derivative(plan, W, v, x, t)
            worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
import numba.core.config as c
print(c.DISABLE_JIT, worst)
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=root)
    disabled, worst = out.stdout.split()
    assert disabled in ("1", "True") and float(worst) < 1e-5


def test_skipped_columns_of_neurons_off_on_the_whole_grid_change_nothing():
    """A feedforward net on the grid has many units off at every grid point (~37 % at L = 50): the
    numba kernel skips their columns of Z (neither drawn nor multiplied).  Its derivative must still
    be the reference's on the same networks, and lazily drawn columns the dense weights bit for bit."""
    spec = FeedforwardSpec(depth=12, width=40)
    plan = networks.compile_spec(spec)
    seeds = range(0, 4)
    lazy = sampling.LazyWeights(3, seeds, spec.depth, spec.width)
    x0 = sampling.sample_grid_inputs(3, seeds, spec.width, sampling.grid_points(64), 1.0)
    t = np.ones_like(x0)
    want, want_active = get_kernel("numpy").input_derivative(plan.layers, lazy.materialize(), lazy.readout, x0, t,
                                                              want_active=True)
    off = ~want_active.any(axis=3)                      # (S, L, N): units off on the whole grid
    assert off[:, 1:].mean() > 0.2                      # the case is one where columns are skipped
    got, active = get_kernel("numba").input_derivative(plan.layers, lazy, lazy.readout, x0, t, want_active=True)
    assert np.array_equal(active, want_active)
    assert np.all(np.abs(got - want) <= RTOL * np.sqrt((want ** 2).mean(axis=1, keepdims=True)))
    dense, _ = get_kernel("numba").input_derivative(plan.layers, lazy.materialize(), lazy.readout, x0, t)
    assert np.array_equal(dense, got)


def test_sgemm_by_address_and_numba_dot_agree():
    from kernels import sgemm
    rng = np.random.default_rng(4)
    a = rng.standard_normal((30, 20), dtype=np.float32)
    b = rng.standard_normal((30, 11), dtype=np.float32)
    for k in (30, 7, 0):
        want = a[:k].T.astype(np.float64) @ b[:k]
        routines = {(sgemm.openblas_address(), False), (0, False), sgemm.routine()}
        for addr, fortran in routines:
            out = np.full((20, 11), np.nan, dtype=np.float32)
            sgemm.gemm_at_b(addr, a, k, b, out, 1.0, 0.0, fortran)
            assert np.allclose(out, want, rtol=1e-5, atol=1e-5 * np.sqrt(max(k, 1)))


def test_sgemm_fortran_path_computes_the_same_product():
    """MKL's Fortran ``sgemm_`` (column major, by reference, 32-bit ints) gives ``aᵀ b`` with alpha and beta,
    whatever the alignment of its operands (bit for bit) and on another thread (bit for bit)."""
    import threading

    from kernels import sgemm
    if sgemm._mkl() is None:
        pytest.skip("torch's MKL (libtorch_cpu.so with sgemm_) is not installed here")
    addr = sgemm._mkl()[0]
    rng = np.random.default_rng(5)
    a = rng.standard_normal((40, 24), dtype=np.float32)
    b = rng.standard_normal((40, 36), dtype=np.float32)
    start = rng.standard_normal((24, 36), dtype=np.float32)
    with sgemm.one_mkl_thread():       # as in the kernel's threads
        for k in (40, 13, 0):
            want = 0.5 * a[:k].T.astype(np.float64) @ b[:k] + 0.75 * start
            out = start.copy()
            sgemm.gemm_at_b(addr, a, k, b, out, 0.5, 0.75, True)
            assert np.allclose(out, want, rtol=1e-5, atol=1e-5 * np.sqrt(max(k, 1)))
        first = start.copy()
        sgemm.gemm_at_b(addr, a, 40, b, first, 0.5, 0.75, True)

        def shifted(x, offset):          # the same values at another address (other alignment)
            buf = np.empty(x.size + 16, dtype=np.float32)
            view = buf[offset:offset + x.size].reshape(x.shape)
            view[...] = x
            return view
        for offset in (1, 3, 8):
            out = shifted(start, (offset * 5) % 16)
            sgemm.gemm_at_b(addr, shifted(a, offset), 40, shifted(b, (offset * 3) % 16), out, 0.5, 0.75, True)
            assert np.array_equal(out, first)
    other = {}

    def elsewhere():
        with sgemm.one_mkl_thread():
            out = start.copy()
            sgemm.gemm_at_b(addr, a, 40, b, out, 0.5, 0.75, True)
        other["out"] = out
    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert np.array_equal(other["out"], first)


def test_one_mkl_thread_restores_the_callers_count():
    """A kernel call with one part runs in the caller's thread: afterwards that thread's MKL count is
    what it was, so its later torch products are not left on one core (a count pinned for good is
    the mutant: the bench's torch peers and GEMM measurements ran at one core's rate after it)."""
    import ctypes

    from kernels import numba_kernel, sgemm
    from montecarlo import networks
    if sgemm.choice() != "mkl":
        pytest.skip("the engine multiplies with OpenBLAS here: no MKL count to keep")
    setter = sgemm._mkl()[1]

    def local_count() -> int:      # mkl_set_num_threads_local returns the previous count: set it back
        previous = setter(ctypes.byref(ctypes.c_int(0)))
        setter(ctypes.byref(ctypes.c_int(previous)))
        return previous
    before = local_count()
    with sgemm.one_mkl_thread():
        assert local_count() == 1
    assert local_count() == before
    plan = networks.compile_spec(FeedforwardSpec(depth=3, width=16))
    networks.grid_derivative(plan, numba_kernel, 0, range(1), 32)      # one network: in this thread
    assert local_count() == before


def test_blas_choice_follows_the_environment(monkeypatch):
    from kernels import sgemm
    try:
        for value, allowed in (("openblas", {"openblas"}), ("auto", {"openblas", "mkl"}), ("", {"openblas", "mkl"})):
            monkeypatch.setenv(sgemm.ENV_VAR, value)
            sgemm.choice.cache_clear()
            assert sgemm.choice() in allowed
        monkeypatch.setenv(sgemm.ENV_VAR, "atlas")
        sgemm.choice.cache_clear()
        with pytest.raises(ValueError, match="atlas.*one of auto, mkl, openblas"):
            sgemm.choice()
    finally:
        monkeypatch.delenv(sgemm.ENV_VAR, raising=False)
        sgemm.choice.cache_clear()


def test_the_blas_choice_is_part_of_the_engine_version(monkeypatch):
    """MKL and OpenBLAS round differently: their stored chunks must not be mixed."""
    from kernels import sgemm
    from montecarlo import store
    versions = set()
    for name in ("mkl", "openblas"):
        monkeypatch.setattr(sgemm, "choice", lambda name=name: name)
        store.engine_version.cache_clear()
        versions.add(store.engine_version())
    store.engine_version.cache_clear()
    assert len(versions) == 2


def test_forward_mode_is_the_same_with_either_blas(monkeypatch):
    """OpenBLAS and MKL (where installed) give df/dx equal to float32 rounding on the same networks."""
    from kernels import sgemm
    if sgemm._mkl() is None:
        pytest.skip("torch's MKL is not installed here")
    spec = ResnetSpec(depth=6, width=32, beta=0.5, norm="bn")
    plan = networks.compile_spec(spec)
    got, routines = {}, set()
    for name in ("mkl", "openblas"):
        monkeypatch.setattr(sgemm, "choice", lambda name=name: name)
        routines.add(sgemm.routine())
        got[name], _ = networks.grid_derivative(plan, get_kernel("numba"), 2, range(3), 64)
    monkeypatch.undo()
    assert len(routines) == 2                       # the two runs did multiply with different libraries
    np.testing.assert_allclose(got["mkl"], got["openblas"], rtol=RTOL, atol=RTOL * np.abs(got["openblas"]).max())


def test_numba_cache_is_keyed_by_every_jitted_source():
    """numba keys a cached function on its own file only; the cache directory is therefore named by
    the hash of every jitted module (kernels.numba_cache): each module with cache=True is listed."""
    import pathlib

    from numba.core import config

    from kernels import numba_cache, numba_kernel  # noqa: F401  (configures the cache)
    here = pathlib.Path(numba_cache.__file__).parent
    jitted = {p.name for p in here.glob("*.py") if "cache=True" in p.read_text()}
    assert jitted and jitted <= set(numba_cache.JITTED)
    assert config.CACHE_DIR == str(numba_cache.cache_base() / numba_cache.source_digest())
