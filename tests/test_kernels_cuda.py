"""The device weights stream (kernels/cuda_rng.py) against the CPU generator (kernels/rng.py), bit for bit.

Where each check runs.
* numba's CUDA simulator, in a child process (``NUMBA_ENABLE_CUDASIM=1`` must be set before numba
  is imported, and the rest of the suite uses the real numba.cuda): the device kernels run as
  written, one Python thread per device thread, and their raw words and float32 normals must equal
  the CPU's exactly — several keys, windows that start inside a block and far down the stream,
  counts that are no multiple of the block or of the thread block, several streams in one launch,
  a chunk of networks, and Box–Muller edge words (both branches of ln u, u → 1, every quadrant).
  Mutants of the device code (a Philox multiplier bit, a Weyl increment, the sines of a block
  before its cosines) must make the *same* comparison fail, and a Python float slipped into the
  float32 arithmetic must be refused.
* libNVVM, without a GPU: the normals kernel compiles to sm_90 PTX with every float32 operation
  explicitly round-to-nearest, none fused into an FMA and none in float64 (the simulator cannot see
  this), while plain ``a·b + c`` *is* fused (so the check can fail).  Skipped without the CUDA toolkit.
* A CUDA device (``-m cuda``; skipped without one): the same streams drawn on the GPU, and a chunk
  of networks handed to torch without a host copy.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kernels import rng
from montecarlo import sampling
from tests import cuda_jobs

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600


def _child(job: str, *args: str, simulate: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulate:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run([sys.executable, "-m", "tests.cuda_jobs", job, *args], cwd=ROOT, env=env,
                          check=False, capture_output=True, text=True, timeout=TIMEOUT)


def _simulated(tmp_path_factory, mutant: str = "") -> dict:
    out = tmp_path_factory.mktemp("cudasim") / "streams.npz"
    proc = _child("simulate", str(out), mutant, simulate=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as saved:
        return {name: saved[name] for name in saved.files}


def _cpu_expected() -> dict:
    """What the simulated device must have produced: the same cases from the CPU generator."""
    want = {}
    for name, kind, key, start, count, _ in cuda_jobs.CASES:
        draw = rng.raw if kind == "raw" else rng.normals
        want[name] = draw(cuda_jobs.key_of(key), count, start)
    names, start, count, _ = cuda_jobs.MULTI
    want["multi"] = np.stack([rng.normals(cuda_jobs.key_of(n), count, start) for n in names])
    seed, nets, depth, width = cuda_jobs.NETWORKS
    W, v = sampling.sample_weights(seed, range(nets[0], nets[-1] + 1), depth, width)
    want["net_readout"] = v
    want["net_columns"] = np.ascontiguousarray(W.transpose(0, 1, 3, 2))   # stream order: [s, l, column, row]
    words = cuda_jobs.edge_words()
    z = np.empty(2 * words.size, dtype=np.float32)
    rng._box_muller(words, words.size, np.empty(2 * words.size, dtype=np.float32), z)
    z = z.reshape(-1, 8)                       # per block of 4 words: 4 cosines, then 4 sines
    want["edge_cos"], want["edge_sin"] = z[:, :4].ravel(), z[:, 4:].ravel()
    return want


def _differences(got: dict, want: dict) -> list[str]:
    """The cases whose bits differ (float32 compared as uint32, so −0.0 ≠ 0.0 and NaN = NaN)."""
    bad = []
    for name, expected in want.items():
        actual = got[name]
        as_bits = np.uint32 if expected.dtype == np.float32 else np.uint64
        if actual.shape != expected.shape or actual.dtype != expected.dtype:
            bad.append(f"{name}: {actual.dtype}{actual.shape} instead of {expected.dtype}{expected.shape}")
        elif not np.array_equal(actual.view(as_bits), expected.view(as_bits)):
            first = int(np.flatnonzero(actual.view(as_bits).ravel() != expected.view(as_bits).ravel())[0])
            bad.append(f"{name}: {np.sum(actual.view(as_bits) != expected.view(as_bits))} of {expected.size} "
                       f"differ, first at {first}: {actual.ravel()[first]!r} != {expected.ravel()[first]!r}")
    return bad


def assert_same_bits(got: dict, want: dict) -> None:
    bad = _differences(got, want)
    assert not bad, "device stream differs from kernels.rng:\n" + "\n".join(bad)


@pytest.fixture(scope="module")
def expected():
    return _cpu_expected()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return _simulated(tmp_path_factory)


def test_simulated_device_stream_is_the_cpu_stream_bit_for_bit(simulated, expected):
    assert_same_bits(simulated, expected)


def test_cases_cover_what_they_claim(expected):
    """Unaligned windows, counts that are no multiple of a block or of the thread block, far counters."""
    for name, kind, key, start, count, threads in cuda_jobs.CASES:
        per_block = 4 if kind == "raw" else 8
        blocks = (start + count - 1) // per_block - start // per_block + 1
        assert blocks % threads or start % per_block, name
    starts = [case[3] for case in cuda_jobs.CASES]
    assert 0 in starts and any(s % 8 for s in starts) and max(starts) > 2 ** 32
    hi = np.array(cuda_jobs.EDGE_HI, dtype=np.uint64)
    assert (hi >= int(rng._SQRT_HALF_HI)).any() and (hi < int(rng._SQRT_HALF_HI)).any()
    assert set(np.array(cuda_jobs.EDGE_LO) >> 30) == {0, 1, 2, 3}            # every quadrant


@pytest.mark.parametrize("mutant,affects_raw", [("multiplier", True), ("weyl", True), ("sincos", False)])
def test_a_wrong_device_generator_fails_the_same_comparison(tmp_path_factory, expected, mutant, affects_raw):
    got = _simulated(tmp_path_factory, mutant)
    with pytest.raises(AssertionError, match="device stream differs"):
        assert_same_bits(got, expected)
    bad = {line.split(":")[0] for line in _differences(got, expected)}
    assert {"normals_a_0", "multi", "net_columns"} <= bad
    raw = {name for name, kind, *_ in cuda_jobs.CASES if kind == "raw"}
    assert (raw <= bad) if affects_raw else not (raw & bad)     # the words are untouched by a swap


def test_a_python_float_in_the_float32_arithmetic_is_refused(tmp_path):
    proc = _child("simulate", str(tmp_path / "x.npz"), "float64", simulate=True)
    assert proc.returncode != 0
    assert "float32 arithmetic got float 0.5" in proc.stderr


def _ptx_counts(tmp_path):
    from numba.cuda.cudadrv import nvvm
    from numba.cuda.cudadrv.error import NvvmError, NvvmSupportError
    try:
        nvvm.NVVM()
    except (NvvmSupportError, NvvmError, OSError) as e:   # no CUDA toolkit (libNVVM) on this machine
        pytest.skip(f"libNVVM is not available, so the kernel cannot be compiled to PTX here: {e}")
    proc = _child("ptx", str(tmp_path / "ptx.json"), simulate=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / "ptx.json").read_text())


def test_device_kernel_compiles_without_fused_or_float64_arithmetic(tmp_path):
    counts = _ptx_counts(tmp_path)
    kernel, plain = counts["kernel"], counts["plain"]
    float_ops = {op: n for op, n in kernel.items() if op.endswith(".f32") and op.split(".")[0] in
                 ("add", "sub", "mul", "div", "sqrt", "fma", "mad")}
    assert float_ops and all(".rn." in op for op in float_ops), float_ops     # explicit round-to-nearest
    assert not [op for op in kernel if op.startswith(("fma", "mad")) and "f32" in op or "f64" in op], kernel
    assert any(op.startswith("fma") for op in plain), plain          # what plain operators would give
    assert kernel.get("sqrt.rn.f32") == 4 and kernel.get("div.rn.f32") == 4   # one each per word


def test_round_keys_are_the_weyl_schedule_mod_2_64():
    keys = sampling.weight_key(1, 2), (2 ** 64 - 1, 2 ** 64 - 1)
    from kernels import cuda_rng
    schedule = cuda_rng.round_keys(keys)
    assert schedule.shape == (2, rng.ROUNDS, 2) and schedule.dtype == np.uint64
    with np.errstate(over="ignore"):
        for s, (k0, k1) in enumerate(keys):
            k = np.array([k0, k1], dtype=np.uint64)
            for r in range(rng.ROUNDS):
                assert np.array_equal(schedule[s, r], k)
                k = k + np.array([rng.W0, rng.W1], dtype=np.uint64)


def test_bad_launch_arguments_are_named():
    from kernels import cuda_rng
    keys = cuda_rng.round_keys([(1, 2)])
    out = np.empty((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="start=-1 is not allowed"):
        cuda_rng.fill_normals(keys, -1, out)
    with pytest.raises(ValueError, match=r"keys shape \(1, 10, 2\) is not allowed: \(2, 10, 2\)"):
        cuda_rng.fill_normals(keys, 0, np.empty((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="threads=0 is not allowed"):
        cuda_rng.fill_normals(keys, 0, out, threads=0)
    with pytest.raises(ValueError, match="depth=0, width=3 are not allowed"):
        cuda_rng.network_streams([(1, 2)], 0, 3)


def _need_device():
    from numba import cuda
    if not cuda.is_available():
        pytest.skip("no CUDA device (numba.cuda.is_available() is False): the simulator tests above "
                    "stand in; python -m montecarlo.bench.gpu_check runs these when a GPU is lent")
    from kernels import cuda_rng
    return cuda_rng


@pytest.mark.cuda
def test_device_stream_is_the_cpu_stream_bit_for_bit(expected):
    cuda_rng = _need_device()
    got = {}
    for name, kind, key, start, count, threads in cuda_jobs.CASES:
        draw = cuda_rng.raw if kind == "raw" else cuda_rng.normals
        got[name] = draw(cuda_jobs.key_of(key), count, start, threads=threads)
    assert_same_bits(got, {name: expected[name] for name in got})
    big = cuda_rng.normals(cuda_jobs.key_of("seeded"), 1_000_003, 5)           # the GPU is not slow
    assert np.array_equal(big.view(np.uint32), rng.normals(cuda_jobs.key_of("seeded"), 1_000_003, 5).view(np.uint32))


@pytest.mark.cuda
def test_device_networks_reach_torch_without_a_copy(expected):
    cuda_rng = _need_device()
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device (torch.cuda.is_available() is False)")
    seed, nets, depth, width = cuda_jobs.NETWORKS
    W, v = cuda_rng.torch_weights([sampling.weight_key(seed, i) for i in nets], depth, width)
    Wc, vc = sampling.sample_weights(seed, range(nets[0], nets[-1] + 1), depth, width)
    assert W.is_cuda and W.shape == Wc.shape and not W.is_contiguous()       # a transposed view
    assert np.array_equal(W.cpu().numpy(), Wc) and np.array_equal(v.cpu().numpy(), vc)


def test_torch_cuda_forward_mode_draws_lazy_gaussian_weights_on_the_device():
    from kernels import torch_kernel
    lazy = sampling.LazyWeights(5, range(2), 2, 6)
    assert torch_kernel.drawn_on_device(lazy, "cuda") and torch_kernel.drawn_on_device(lazy, "cuda:0")
    assert not torch_kernel.drawn_on_device(lazy, "cpu") and not torch_kernel.drawn_on_device(lazy, "cuda:1")
    assert not torch_kernel.drawn_on_device(lazy.materialize(), "cuda")
    assert not torch_kernel.drawn_on_device(sampling.LazyWeights(5, range(2), 2, 6, orthogonal=True), "cuda")


@pytest.mark.cuda
def test_cuda_forward_mode_on_device_weights_is_the_host_weights_result():
    _need_device()
    from kernels import BackendUnavailable, LayerPlan, get_kernel
    try:
        kernel = get_kernel("cuda")
    except BackendUnavailable as e:
        pytest.skip(str(e))
    seed, nets, L, N, M = 3, range(4), 4, 32, 16
    plan = LayerPlan(np.full(L, 0.0), np.full(L, np.sqrt(2.0 / N)), first_norm="none")
    lazy = sampling.LazyWeights(seed, nets, L, N)
    x0 = sampling.sample_grid_inputs(seed, nets, N, sampling.grid_points(M), 1.0)
    on_device, _ = kernel.input_derivative(plan, lazy, lazy.readout, x0, np.ones_like(x0))
    from_host, _ = kernel.input_derivative(plan, lazy.materialize(), lazy.readout, x0, np.ones_like(x0))
    assert np.array_equal(on_device, from_host)        # same weights bits and layout, same products
    ref, _ = get_kernel("numpy").input_derivative(plan, lazy.materialize(), lazy.readout, x0, np.ones_like(x0))
    assert np.allclose(on_device, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
