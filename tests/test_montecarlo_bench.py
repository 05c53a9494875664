"""Smoke test of ``python -m montecarlo.bench`` on a tiny configuration (no timing assertions)."""
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from montecarlo import sampling  # noqa: E402
from montecarlo.bench import grid as bench  # noqa: E402
from montecarlo.bench import peers as bench_peers  # noqa: E402
from theory.specs import ResnetSpec  # noqa: E402

TINY = ["--depth", "3", "--width", "16", "--points", "32", "--nets", "2", "--torch-nets", "2",
        "--peer-nets", "2", "--curve-nets", "2", "--pairs", "4", "--batch", "2",
        "--gemm-size", "64", "--gemm-reps", "1"]


def test_bench_json_document_has_the_issue_keys(capsys):
    assert bench.main(TINY + ["--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)  # exactly one JSON document on stdout
    assert {"gemm_gflops", "configs", "depth_curve_speedup", "machine", "load_average"} <= set(doc)
    assert doc["gemm_gflops"] > 0 and doc["depth_curve_speedup"] > 0
    assert [c["name"] for c in doc["configs"]] == ["ff-relu", "resnet-bn-beta0.1"]
    for c in doc["configs"]:
        assert {"name", "engine_nets_per_s", "pct_of_gemm", "peers", "acf_agree"} <= set(c)
        assert set(c["peers"]) == {"autograd_loop", "torch_func_vmap"}
        assert isinstance(c["acf_agree"], bool)
        test = c["acf_test"]
        assert test["lags"] == 16 and test["false_alarm"] == bench.FALSE_ALARM
        for peer in ("autograd_loop", "torch_func_vmap"):
            assert np.isfinite(test[peer]["max_abs_t"]) and test[peer]["critical"] > 0
    assert doc["machine"]["threads"]["torch"] >= 1
    assert len(doc["load_average"]["start"]) == 3
    assert set(doc["targets"]) == {"ff-relu", "resnet-bn-beta0.1", "depth_curve>=20x"}


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
