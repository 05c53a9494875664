"""Smoke test of ``python -m montecarlo.bench`` on a tiny configuration (no timing assertions)."""
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from montecarlo import sampling  # noqa: E402
from montecarlo.bench import grid as bench  # noqa: E402
from montecarlo.bench import peers as bench_peers  # noqa: E402
from theory.specs import FeedforwardSpec, ResnetSpec  # noqa: E402

TINY = ["--depth", "3", "--width", "16", "--points", "32", "--nets", "2", "--torch-nets", "2",
        "--peer-nets", "2", "--curve-nets", "2", "--pairs", "4", "--batch", "2",
        "--gemm-size", "64", "--gemm-reps", "1", "--tune-nets", "2", "--no-compile"]


def test_bench_json_document_has_the_issue_keys(capsys):
    assert bench.main(TINY + ["--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)  # exactly one JSON document on stdout
    assert {"gemm_gflops", "configs", "depth_curve_speedup", "machine", "load_average"} <= set(doc)
    assert doc["gemm_gflops"] > 0 and doc["depth_curve_speedup"] > 0
    assert [c["name"] for c in doc["configs"]] == ["ff-relu", "resnet-bn-beta0.1"]
    for c in doc["configs"]:
        assert {"name", "engine_nets_per_s", "pct_of_gemm", "peers", "acf_agree"} <= set(c)
        assert set(c["peers"]) == set(bench.PEERS)
        assert c["best_peer"] == max(c["peers"], key=c["peers"].get)
        for family in ("engine_numba",) + bench.TUNED_PEERS:   # every variant was timed, the fastest ran the rounds
            rates = c["tuning"][family]["nets_per_s"]
            assert len(rates) == {"vmap_tuned": 6, "engine_numba": len(bench.ENGINE_CHUNKS)}.get(family, 3)
            assert c["tuning"][family]["chosen"] == max(rates, key=rates.get) == c["rows"][family]["variant"]
        limit = c["engine_limit_ms_per_net"]
        assert limit["total"] == limit["products"] + limit["normals"] > 0
        assert len(c["rounds_gemm_gflops"]) == len(c["rounds_limit_nets_per_s"]) == 8   # one of each per round
        assert c["pct_of_gemm_executed_paired"] > 0 and c["engine_over_limit_paired"] > 0
        assert c["torch_compile"] is None
        assert isinstance(c["acf_agree"], bool)
        test = c["acf_test"]
        assert test["lags"] == 16 and test["false_alarm"] == bench.FALSE_ALARM
        for peer in bench.PEERS:
            assert np.isfinite(test[peer]["max_abs_t"]) and test[peer]["critical"] > 0
    assert doc["machine"]["threads"]["torch"] >= 1
    assert len(doc["load_average"]["start"]) == 3
    assert set(doc["targets"]) == {"ff-relu", "resnet-bn-beta0.1", "depth_curve>=20x"}
    assert set(doc["targets"]["ff-relu"]) == {"engine_over_best_peer>=1.5", "pct_of_gemm_executed>=60"}


def test_paired_share_cancels_a_drift_that_the_overall_share_does_not():
    """The engine at 60 % of the GEMM rate in every round while the machine slows down: the paired
    share says 60 %; the overall rate against the fastest GEMM measurement says less."""
    gemm = [400.0, 380.0, 300.0, 250.0]
    engine = [0.6 * g for g in gemm]
    assert bench.paired_share(engine, gemm) == pytest.approx(0.6)
    assert float(np.mean(engine)) / max(gemm) < 0.5
    assert bench.paired_share([1.0, 2.0, 10.0], [1.0, 1.0, 1.0]) == 2.0      # a median: one odd round does not move it
    with pytest.raises(ValueError, match="one per round"):
        bench.paired_share([1.0], [1.0, 2.0])


def test_bench_rejects_bad_sizes(capsys):
    assert bench.main(["--nets", "1", "--json"]) == 2
    assert "--nets" in capsys.readouterr().err


def test_peers_compute_the_engines_gradient_on_the_same_network():
    """Same weights and biases in both: df/dx agrees up to the engine's constant rescaling."""
    torch = pytest.importorskip("torch")
    from kernels import get_kernel
    from montecarlo import networks
    spec = ResnetSpec(depth=4, width=12, beta=0.1, norm="bn")
    plan = networks.compile_spec(spec)
    grads, _ = networks.gradients(plan, get_kernel("numpy"), 3, range(1), "grid", 16, keep="input")
    engine = grads[0, 0].sum(axis=0)
    W, v = sampling.sample_weights(3, range(1), 4, 12)
    t = sampling.grid_points(16)
    x0 = sampling.sample_grid_inputs(3, range(1), 12, t, 1.0)[0].astype(np.float64)
    skip, branch, norm = bench_peers._block(spec)
    tt = torch.tensor(t, requires_grad=True)
    x = tt[None, :] - torch.tensor(t[0] - x0[:, 0])[:, None]
    Wt = torch.tensor(W[0], dtype=torch.float64) * np.sqrt(spec.weight_gain / spec.width)
    f = torch.tensor(v[0], dtype=torch.float64) @ bench_peers._forward(Wt, x, skip, branch, norm)
    (peer,) = torch.autograd.grad(f.sum(), tt)
    peer = peer.numpy()
    scale = engine @ peer / (peer @ peer)
    np.testing.assert_allclose(engine, scale * peer, rtol=1e-6, atol=1e-9 * np.abs(engine).max())


def _same_network(spec, M=16, seed=3):
    """One engine network's weights, readout and biases, and the engine's own df/dx on it."""
    from kernels import get_kernel
    from montecarlo import networks
    plan = networks.compile_spec(spec)
    grads, _ = networks.gradients(plan, get_kernel("numpy"), seed, range(1), "grid", M, keep="input")
    W, v = sampling.sample_weights(seed, range(1), spec.depth, spec.width)
    t = sampling.grid_points(M)
    x0 = sampling.sample_grid_inputs(seed, range(1), spec.width, t, 1.0)[0].astype(np.float64)
    W = W[0].astype(np.float64) * np.sqrt(spec.weight_gain / spec.width)
    return grads[0, 0].sum(axis=0), W, v[0].astype(np.float64), t[0] - x0[:, 0], t


def _proportional(engine, peer, rtol):
    scale = engine @ peer / (peer @ peer)
    np.testing.assert_allclose(engine, scale * peer, rtol=rtol, atol=rtol * np.abs(engine).max())


@pytest.mark.parametrize("spec", [ResnetSpec(depth=4, width=12, beta=0.1, norm="bn"),
                                  FeedforwardSpec(depth=4, width=12), FeedforwardSpec(depth=4, width=12, norm="center")])
def test_peers_at_their_best_compute_the_engines_gradient(spec):
    """numpy and torch forward mode, and vmap with row-major activations, on the engine's network:
    df/dx agrees up to the engine's constant rescaling (float32 peers: to float32 rounding)."""
    torch = pytest.importorskip("torch")
    engine, W, v, b, t = _same_network(spec)
    skip, branch, norm = bench_peers._block(spec)
    Wt = np.ascontiguousarray(branch * W.transpose(0, 2, 1)).astype(np.float32)

    def fill(l, out):
        out[0] = Wt[l]
    got = bench_peers.numpy_forward_stack(fill, v[None].astype(np.float32), b[None].astype(np.float32), t,
                                          spec.depth, skip, branch, norm)[0]
    _proportional(engine, got.astype(np.float64), 2e-5)
    with torch.inference_mode():
        got = bench_peers.torch_forward_stack(lambda l, out: out[0].copy_(torch.from_numpy(Wt[l])),
                                              torch.tensor(v[None], dtype=torch.float32),
                                              torch.tensor(b[None], dtype=torch.float32),
                                              torch.tensor(t, dtype=torch.float32), spec.depth, skip, branch, norm)[0]
    _proportional(engine, got.numpy().astype(np.float64), 2e-5)
    tt = torch.tensor(t, requires_grad=True)
    x = tt[:, None] - torch.tensor(b)[None, :]
    f = bench_peers._forward_rows(torch.tensor(W.transpose(0, 2, 1).copy()), x, skip, branch, norm) @ torch.tensor(v)
    (got,) = torch.autograd.grad(f.sum(), tt)
    _proportional(engine, got.numpy(), 1e-6)


def test_a_wrong_peer_is_told_apart():
    """The same comparison rejects a peer that forgets the ReLU's gate on the tangent."""
    engine, W, v, b, t = _same_network(FeedforwardSpec(depth=4, width=12))
    wrong = np.ones((t.size, 12)) * 1.0
    x = t[:, None] - b[None, :]
    for l in range(4):
        h = np.maximum(x, 0)
        wrong, x = wrong @ W[l].T, h @ W[l].T       # the tangent skips φ'(u)
    with pytest.raises(AssertionError):
        _proportional(engine, wrong @ v, 2e-5)


def test_compiled_loop_gives_the_eager_gradient_or_says_why_not():
    torch = pytest.importorskip("torch")
    spec = FeedforwardSpec(depth=2, width=8)
    grid = sampling.grid_points(8)
    loop = bench_peers.CompiledLoop(spec, grid)
    if loop.fn is None:
        assert loop.error
        return
    rows = []
    loop(2, seed=5, sink=rows.append)
    eager = []
    bench_peers.autograd_loop(spec, 2, grid, seed=5, sink=eager.append)
    np.testing.assert_allclose(np.array(rows), np.array(eager), rtol=1e-5, atol=1e-6)
    assert loop.compile_seconds > 0
