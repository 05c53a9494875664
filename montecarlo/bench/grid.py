"""``python -m montecarlo.bench``: this engine against its peers, measured in one run.

    python -m montecarlo.bench [--quick] [--json] [--depth L] [--width N] [--points M]
        [--nets S] [--peer-nets S] [--rounds R] [--curve-nets S] [--pairs P] [--batch B] [--seed K]

What is timed (DESIGN.md "Performance"; issue 4, item 5), on each configuration — (a)
feedforward ReLU and (b) BN resnet β = 0.1, both ``L = 50, N = 200`` on the ``M = 256`` 1-D grid
(first layer ``x·1 − b``): sample a network, then ``df/dx`` of ``f = vᵀ x_L`` at every grid
point, then its sample ACF along the grid (:func:`montecarlo.observables.sample_acf`),
averaged over networks with a standard error.

* **engine** — :func:`montecarlo.networks.grid_derivative` with the numba kernel: what the grid
  experiment runs (one compiled forward-mode pass per network, ``Z_l φ`` and ``Z_l dφ`` in one
  ``N × K_l × 2M`` product where ``K_l ≤ N`` counts the units active somewhere on the grid — the
  columns of the others multiply zeros and are neither drawn nor multiplied; the executed share
  is reported beside the rates, which count the dense products — each column drawn right before
  its product; the grid experiment's activation histograms are not part of the race); the torch
  kernel is an extra row on the very same networks;
* **autograd_loop**, **torch_func_vmap** — the peers of :mod:`montecarlo.bench.peers`, on their
  own independent networks (``torch.randn``), sampling included in their time.

Figures: networks/s; GFLOP/s counting ``4·M·N²·(L−1)`` flops per network (forward and backward
products, the issue's convention); % of this machine's fp32 GEMM rate, measured in the same
run as the best of a few ``2048³`` sgemm's with numpy and with torch (the larger is the peak);
the ratio engine/peer.  Each round also starts with a torch ``2048³`` sgemm and the engine's
limit, and the engine's executed share of each is given paired by round as well
(:func:`paired_share`: this VM's speed moves within a run; the targets are judged on it).  **ACF agreement**: for every lag ``k = 1..K`` and each peer,
``t_k = (ā_engine − ā_peer) / sqrt(se_e² + se_p²)``; the family (2 peers × K lags) is tested
at a false-alarm rate of 1e-3 with Bonferroni and Student-t quantiles with
``min(S_e, S_p) − 1`` degrees of freedom (conservative).  Different networks, so the test is
two-sample; it can only detect a discrepancy of several standard errors.

**Depth curve**: the correlation of gradients for typical pairs at every depth ``d = 1..L``
comes out of one backward pass of one depth-``L`` network in the engine
(:func:`montecarlo.observables.typical_pairs`); the peers' way is one autograd network per
depth, ``L`` separate runs, at equal precision (same networks per depth, same pairs).  The
speedup is the ratio of the two wall times; at ``d = L`` both estimate the same correlation,
which is checked.

Threads: the engine uses one worker per core (single-threaded BLAS in each,
:mod:`kernels.blas_threads`); ``torch.set_num_threads`` is set to the same count for the peers
and the torch rows.  The load average is recorded at start and end: the machine is shared.
**Rounds**: each method's networks are split into ``R`` parts and the methods take turns (engine,
torch row, autograd, vmap, engine, …), so that a load that comes and goes falls on all of them
alike; a method's rate is its networks over its summed time, and the per-round rates are reported
beside it (their spread is the run's own measure of timing noise).  The ratio engine/peer is
given both ways: overall rates, and the median over rounds of the ratio within a round (paired:
a drift of the machine's speed cancels); the targets are judged on the paired median.
Targets of the issue (benchmark figures, never test assertions) are reported as met or not.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from numba import njit
from scipy import stats

from kernels import get_kernel, rng, sgemm
from kernels.blas_threads import single_threaded_blas, worker_count
from kernels.sgemm import gemm_at_b
from theory.cli import command
from theory.specs import FeedforwardSpec, NetworkSpec, ResnetSpec

from .. import networks, observables, sampling
from ..estimators import StreamingMoments
from . import peers as bench_peers

FALSE_ALARM = 1e-3
#: issue 16's targets, judged on the engine over the *best* peer of each configuration (paired
#: per-round ratios) and on the GEMM peak by the products the engine executes
TARGETS = {"ff-relu": {"engine_over_best_peer": 1.5, "pct_of_gemm_executed": 60.0},
           "resnet-bn-beta0.1": {"engine_over_best_peer": 1.3, "pct_of_gemm_executed": 75.0},
           "depth_curve_speedup": 20.0}
#: peers as first written (issue 4): rows kept for comparison with earlier runs
PLAIN_PEERS = ("autograd_loop", "torch_func_vmap")
#: peers at their best (issue 16, item 1): each a family of variants tuned in the same run
TUNED_PEERS = ("vmap_tuned", "numpy_forward", "torch_forward")
PEERS = PLAIN_PEERS + TUNED_PEERS
STACKS = (8, 16, 32)
#: networks per call of the engine, tuned like the peers' stacks: a call's last network runs on one
#: core while the other waits (the workers take networks one at a time), so longer calls idle less
ENGINE_CHUNKS = (8, 16, 32, 64)


@dataclass(frozen=True)
class Settings:
    """Sizes of one benchmark run (``quick`` and full presets below; tests use tiny ones)."""

    depth: int = 50
    width: int = 200
    points: int = 256
    max_lag: int = 64
    nets: int = 384           # engine networks per configuration (numba)
    torch_nets: int = 64      # engine, torch kernel (extra row)
    peer_nets: int = 192      # networks per peer per configuration
    rounds: int = 8           # the methods take turns, each running 1/rounds of its networks per turn
    batch: int = 8            # networks per chunk (torch engine, profile) / per plain vmap stack
    curve_nets: int = 32      # networks per depth in the depth-curve race
    pairs: int = 32           # typical pairs per network there
    gemm_size: int = 2048
    gemm_reps: int = 5
    seed: int = 0
    bias_std: float = 1.0
    tune_nets: int = 32       # networks per variant when a tuned peer picks its stack size / layout
    compile: bool = True      # time a torch.compile'd autograd loop as well (~20 s of compiling per config)


QUICK = Settings(nets=96, torch_nets=16, peer_nets=48, rounds=4, curve_nets=12, gemm_reps=3, tune_nets=16,
                 compile=False)
FULL = Settings()


def configurations(s: Settings) -> list[tuple[str, NetworkSpec]]:
    """(a) feedforward ReLU and (b) BN resnet β = 0.1 at the run's depth and width."""
    return [("ff-relu", FeedforwardSpec(depth=s.depth, width=s.width)),
            ("resnet-bn-beta0.1", ResnetSpec(depth=s.depth, width=s.width, beta=0.1, norm="bn"))]


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- machine
def measure_gemm(size: int, reps: int, with_numpy: bool = True) -> dict:
    """Best-of-``reps`` fp32 ``size³`` GEMM rate (GFLOP/s) with numpy and torch; peak = the max.

    ``with_numpy=False`` (the end-of-run measurement): once the engine has run, numpy's OpenBLAS is
    pinned to one thread for the rest of the process (:mod:`kernels.blas_threads`), so its rate
    there is a one-core rate, not the machine's; it is left out (``None``).
    """
    import torch
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = {"numpy": None}
    libraries = (("numpy", np.matmul, a, b),) if with_numpy else ()
    for name, mul, x, y in libraries + (("torch", torch.matmul, torch.from_numpy(a), torch.from_numpy(b)),):
        out[name] = gemm_rate(mul, x, y, reps)
    out["peak"] = max(v for k, v in out.items() if v is not None)
    out["size"] = size
    return out


def gemm_rate(mul, a, b, reps: int) -> float:
    """Best-of-``reps`` GFLOP/s of ``mul(a, b)`` for square float32 matrices, after one untimed
    product (the library's own threads); with torch on each round's start, the machine's GEMM rate
    *now*, beside the methods of that round."""
    mul(a, b)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        mul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * a.shape[0] ** 3 / best / 1e9


def paired_share(rates: list[float], references: list[float]) -> float:
    """Median over rounds of ``rate_r / reference_r``, each pair measured in the same round: like the
    paired engine/peer ratios, a drift of the machine's speed between rounds cancels in each ratio
    (this VM's GEMM rate moved by 10-30 % within one run, and a share taken against a peak measured at
    the run's start and end moved with it)."""
    if len(rates) != len(references) or not rates:
        raise ValueError(f"rates ({len(rates)}) and references ({len(references)}) must pair up, one per round")
    return float(np.median([r / q for r, q in zip(rates, references)]))


def machine_info(workers: int) -> dict:
    import numba
    import torch
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {"cpu": cpu, "cores": cores, "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "numba": numba.__version__, "torch_config_blas": _torch_blas(torch),
            "threads": {"engine_workers": workers, "engine_blas_per_worker": 1,
                        "torch": torch.get_num_threads(), "numba": numba.get_num_threads(),
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}}


def _torch_blas(torch) -> str:
    config = torch.__config__.show()
    for key in ("BLAS_INFO", "USE_MKL"):
        for part in config.replace("\n", ",").split(","):
            if key in part:
                return part.strip()
    return "unknown"


# ----------------------------------------------------------------------------- runners
def engine_grid(spec: NetworkSpec, backend: str, nets: int, s: Settings, sink, progress=None,
                first: int = 0) -> None:
    """The engine's df/dx on the grid for networks ``first .. first+nets−1`` of seed ``s.seed``;
    ``sink(df/dx)`` per network unless ``sink`` is None (as the peers take it)."""
    plan = networks.compile_spec(spec)
    kernel = get_kernel(backend)
    for start in range(first, first + nets, s.batch):
        idx = range(start, min(first + nets, start + s.batch))
        dfdx, _ = networks.grid_derivative(plan, kernel, s.seed, idx, s.points, bias_std=s.bias_std)
        if sink is not None:
            for y in dfdx:
                sink(y)
        if progress is not None:
            progress(len(idx))


def _acf_sink(max_lag: int):
    acc = StreamingMoments((max_lag + 1,), 1)
    return acc, (lambda y: acc.add(observables.sample_acf(np.asarray(y, dtype=np.float64), max_lag)[:, None]))


def _timed(run) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def acf_agreement(engine: StreamingMoments, peers: dict[str, StreamingMoments],
                  false_alarm: float = FALSE_ALARM) -> dict:
    """Two-sample t statistics per lag (1..K) between the engine's mean ACF and each peer's."""
    K = engine.mean.shape[0] - 1
    family = K * len(peers)
    out = {"false_alarm": false_alarm, "lags": K, "method": "two-sample, Bonferroni over "
           f"{family} tests, Student-t with min(S)-1 df"}
    ok = True
    me, se_e = _mean_se(engine)
    for name, acc in peers.items():
        mp, se_p = _mean_se(acc)
        df = max(min(engine.n, acc.n) - 1, 1)
        crit = float(stats.t.ppf(1 - false_alarm / (2 * family), df))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se_e[1:] ** 2 + se_p[1:] ** 2 > 0,
                         (me[1:] - mp[1:]) / np.sqrt(se_e[1:] ** 2 + se_p[1:] ** 2), 0.0)
        worst = int(np.argmax(np.abs(t)))
        agree = bool(np.abs(t).max() <= crit)
        ok &= agree
        out[name] = {"max_abs_t": float(np.abs(t).max()), "at_lag": worst + 1, "critical": crit,
                     "agree": agree, "acf_lag1": [float(me[1]), float(mp[1])]}
    out["agree"] = ok
    return out


def _mean_se(acc: StreamingMoments) -> tuple[np.ndarray, np.ndarray]:
    mean = acc.mean[:, 0]
    se = np.sqrt(np.maximum(acc.covariance()[:, 0, 0], 0.0) / max(acc.n, 1))
    return mean, se


def _paired_median(engine: dict, peer: dict) -> float:
    """Median over rounds of (engine rate / peer rate) within the same round: a drift of the
    machine's speed between rounds cancels in each ratio."""
    return float(np.median([e / p for e, p in zip(engine["rounds_nets_per_s"], peer["rounds_nets_per_s"])]))


def engine_profile(spec: NetworkSpec, s: Settings) -> dict:
    """Where the engine's time goes on one chunk: ms per network (wall, all workers busy).

    ``sample_weights`` (RNG, ``L·N²`` normals per network, drawn here into an array),
    ``sample_inputs``, ``kernel`` (the forward-mode pass on those stored weights), and
    ``kernel_gemm_only``: ``L`` dense products ``N × N × 2M`` per network on the same thread
    split with single-threaded BLAS, nothing else.  The engine itself draws each ``Z_l`` inside
    the kernel's loop (:class:`montecarlo.sampling.LazyWeights`), so its time is about
    ``sample_weights + kernel`` less the cost of storing and re-reading the weights.

    ``executed_fraction``: the share of the dense products the engine actually multiplies.  A
    ReLU unit that is off at every grid point contributes a row of zeros to ``φ`` and ``dφ``, so
    the numba kernel skips its column of ``Z_l`` (neither drawn nor multiplied); the fraction is
    ``Σ_l K_l / (L·N)`` with ``K_l`` the units of ``x_{l−1}`` active somewhere on the grid,
    counted from the gates of these networks.  Figures in "GFLOP/s" and "% of GEMM" use the
    issue's dense count ``4·M·N²·(L−1)``; the executed rate is that times this fraction.
    """
    from concurrent.futures import ThreadPoolExecutor
    plan = networks.compile_spec(spec)
    kernel = get_kernel("numba")
    S = s.batch
    idx = range(s.nets, s.nets + S)   # networks the timed run does not use
    t0 = time.perf_counter()
    W, v = sampling.sample_weights(s.seed, idx, spec.depth, spec.width)
    t1 = time.perf_counter()
    x0 = sampling.sample_grid_inputs(s.seed, idx, spec.width, sampling.grid_points(s.points), s.bias_std)
    t2 = time.perf_counter()
    # the stored-weights variant of the compiled pass is not the one the engine runs: compile (or
    # load) it on one network first, so that its compilation is not timed as "kernel"
    kernel.input_derivative(plan.layers, W[:1], v[:1], x0[:1], np.ones_like(x0[:1]))
    t2_warm = time.perf_counter()
    kernel.input_derivative(plan.layers, W, v, x0, np.ones_like(x0))
    t3 = time.perf_counter()
    _, active = kernel.input_derivative(plan.layers, W, v, x0, np.ones_like(x0), want_active=True)
    executed = float(active.any(axis=3).mean()) if plan.layers.gated else 1.0
    counts = active.any(axis=3).sum(axis=2) if plan.layers.gated else np.full((S, spec.depth), spec.width)
    parts = worker_count(S)
    edges = np.linspace(0, S, parts + 1).astype(int)
    both = np.concatenate([np.maximum(x0, 0), np.ones_like(x0)], axis=2)

    def products(a: int, b: int) -> None:
        with single_threaded_blas():
            for k in range(a, b):
                for l in range(spec.depth):
                    np.matmul(W[k, l], both[k])
    t4 = time.perf_counter()
    with ThreadPoolExecutor(parts) as pool:
        list(pool.map(lambda ab: products(*ab), zip(edges[:-1], edges[1:])))
    t5 = time.perf_counter()
    ms = 1e3 / S
    out = {"networks": S, "sample_weights": (t1 - t0) * ms, "sample_inputs": (t2 - t1) * ms,
           "kernel": (t3 - t2_warm) * ms, "kernel_gemm_only": (t5 - t4) * ms}
    out["kernel_other"] = out["kernel"] - out["kernel_gemm_only"]
    out["executed_fraction"] = executed
    out["columns_per_layer"] = counts
    return out


def peer_variants(spec: NetworkSpec, s: Settings, grid_t: np.ndarray) -> dict[str, dict[str, object]]:
    """Each tuned peer's variants: ``run(n, seed, sink)`` per variant label.

    ``vmap_tuned``: stacks of 8 / 16 / 32 networks × both activation layouts (``cols``: (N, M),
    ``W_l x``; ``rows``: (M, N), ``x W_lᵀ``); ``numpy_forward`` and ``torch_forward``: stacks of
    8 / 16 / 32 networks (:mod:`montecarlo.bench.peers`).
    """
    workers = worker_count(max(s.nets, 2))
    kw = {"bias_std": s.bias_std}
    out: dict[str, dict[str, object]] = {"vmap_tuned": {}, "numpy_forward": {}, "torch_forward": {}}
    for B in STACKS:
        out["vmap_tuned"][f"cols, stacks of {B}"] = functools.partial(_vmap_run, bench_peers.vmap_grid, spec, grid_t, B, kw)
        out["vmap_tuned"][f"rows, stacks of {B}"] = functools.partial(_vmap_run, bench_peers.vmap_rows, spec, grid_t, B, kw)
        out["numpy_forward"][f"stacks of {B}, {workers} threads"] = functools.partial(
            _numpy_run, spec, grid_t, B, workers, kw)
        out["torch_forward"][f"stacks of {B}"] = functools.partial(_vmap_run, bench_peers.torch_forward, spec, grid_t,
                                                                   B, kw)
    return out


def engine_chunks(s: Settings) -> dict[str, Settings]:
    """The numba engine's settings with ``B`` networks per call (:data:`ENGINE_CHUNKS`), by label."""
    return {f"chunks of {B}": replace(s, batch=B) for B in ENGINE_CHUNKS}


def _engine_run(spec, s, n, seed, sink):
    """``run(n, seed, sink)`` of a tuning variant: the same networks and bits at every chunk size, from
    index ``s.nets + 10·seed`` on (networks the timed rounds do not use)."""
    engine_grid(spec, "numba", n, s, sink, first=s.nets + 10 * seed)


def _vmap_run(fn, spec, grid_t, batch, kw, n, seed, sink):
    fn(spec, n, grid_t, batch=batch, seed=seed, sink=sink, **kw)


def _numpy_run(spec, grid_t, batch, workers, kw, n, seed, sink):
    bench_peers.numpy_forward(spec, n, grid_t, batch=batch, workers=workers, seed=seed, sink=sink, **kw)


def tune(variants: dict[str, object], nets: int, seed: int) -> tuple[str, dict[str, float]]:
    """The fastest variant (networks/s on ``nets`` networks each, after a warm-up of 2) and every rate.

    A tuning pass is short and shares the machine's noise; the chosen variant then runs the
    timed rounds like every other method, so a lucky tuning figure never enters a ratio.
    """
    rates = {}
    for label, run in variants.items():
        run(2, seed + 7, None)
        rates[label] = nets / _timed(functools.partial(run, nets, seed + 8, None))
    return max(rates, key=rates.get), rates


@njit(nogil=True, cache=False)
def _products(addr, fortran, ZT, both, out, counts):
    for c in counts:
        gemm_at_b(addr, ZT, c, both, out, 1.0, 1.0, fortran)


@njit(nogil=True, cache=False)
def _normals_per_layer(k0, k1, counts, buf, words, z):
    flat = buf.reshape(-1)
    N = buf.shape[0]
    for l in range(counts.size):
        rng.fill_normals_with(k0, k1, rng.weight_column_start(N, l, 0), flat[:counts[l] * N], words, z)


def engine_limit(spec: NetworkSpec, s: Settings, counts: np.ndarray) -> dict:
    """The engine's floor per network: its executed products and its weight normals, nothing else.

    ``counts`` (S, L): the columns ``K_l`` each profiled network multiplies.  On the engine's thread
    split (one network per worker at a time, single-threaded BLAS), time the ``N × K_l × 2M``
    products with the engine's own sgemm (:func:`kernels.sgemm.routine`) and the ``Σ_l K_l · N``
    normals of the weights stream (:func:`kernels.rng.fill_normals_with`, each layer's into one
    ``N × N`` buffer, as the engine draws them); ms per network (wall) and the networks/s they allow.
    """
    from concurrent.futures import ThreadPoolExecutor

    N, M = spec.width, s.points
    addr, fortran = sgemm.routine()
    S = counts.shape[0]
    parts = worker_count(S)

    def run(k: int, what: str) -> None:
        with single_threaded_blas(), sgemm.one_mkl_thread():
            if what == "products":
                ZT = np.ones((N, N), dtype=np.float32)
                both = np.ones((N, 2 * M), dtype=np.float32)
                out = np.zeros((N, 2 * M), dtype=np.float32)
                _products(addr, fortran, ZT, both, out, counts[k].astype(np.int64))
            else:   # as the engine draws them: each layer's K_l columns into one N × N buffer (in cache)
                _normals_per_layer(np.uint64(k + 1), np.uint64(7), counts[k].astype(np.int64),
                                   np.empty((N, N), dtype=np.float32), *rng.scratch())
    out = {}
    with ThreadPoolExecutor(parts) as pool:
        for what in ("products", "normals"):
            list(pool.map(lambda k: run(k, what), range(min(S, parts))))   # warm-up
            out[what] = _timed(lambda: list(pool.map(lambda k: run(k, what), range(S)))) * 1e3 / S
    out["total"] = out["products"] + out["normals"]
    out["nets_per_s"] = 1e3 / out["total"]
    return out


def bench_config(name: str, spec: NetworkSpec, s: Settings) -> dict:
    """Time the engine (numba; torch extra row) and every peer on one configuration."""
    import torch
    grid_t = sampling.grid_points(s.points)
    flops = 4.0 * s.points * s.width ** 2 * (s.depth - 1)
    warm = replace(s, batch=min(s.batch, 2))
    # warm-up: numba compilation (cached), torch init, first allocations
    engine_grid(spec, "numba", 2, warm, None)
    engine_grid(spec, "torch", 2, warm, None)
    bench_peers.autograd_loop(spec, 1, grid_t, seed=s.seed + 1, bias_std=s.bias_std)
    bench_peers.vmap_grid(spec, 2, grid_t, batch=2, seed=s.seed + 2, bias_std=s.bias_std)

    # the engine and the tuned peers pick their best variant first, in this run, on this machine
    chunks = engine_chunks(s)
    best_chunk, chunk_rates = tune({label: functools.partial(_engine_run, spec, es) for label, es in chunks.items()},
                                   s.tune_nets, s.seed)
    tuning = {"engine_numba": {"chosen": best_chunk, "nets_per_s": chunk_rates}}
    engine_s = chunks[best_chunk]
    _log(f"{name}: tuned engine_numba: " + ", ".join(f"{k} {v:.1f}" for k, v in chunk_rates.items())
         + f" -> {best_chunk}")
    chosen = {}
    for family, variants in peer_variants(spec, s, grid_t).items():
        best, rates = tune(variants, s.tune_nets, s.seed)
        tuning[family] = {"chosen": best, "nets_per_s": rates}
        chosen[family] = variants[best]
        _log(f"{name}: tuned {family}: " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()) + f" -> {best}")
    compiled = None
    if s.compile:
        compiled = bench_peers.CompiledLoop(spec, grid_t, s.bias_std)
        _log(f"{name}: torch.compile'd loop: " + (f"compiled in {compiled.compile_seconds:.1f} s" if compiled.fn
                                                   else f"did not compile ({compiled.error})"))

    # each method's networks are split into ``rounds`` turns, and the methods take turns: a load
    # that comes and goes on a shared machine then falls on all of them alike.  Round r of the
    # engine runs networks first_r.. (distinct networks); each peer round seeds its own generator.
    runs = [("engine_numba", s.nets, lambda n, first, r, sink: engine_grid(spec, "numba", n, engine_s, sink,
                                                                           first=first)),
            ("engine_torch", s.torch_nets, lambda n, first, r, sink: engine_grid(spec, "torch", n, s, sink,
                                                                                 first=first)),
            ("autograd_loop", s.peer_nets, lambda n, first, r, sink: bench_peers.autograd_loop(
                spec, n, grid_t, seed=s.seed + 1 + 1000 * r, bias_std=s.bias_std, sink=sink)),
            ("torch_func_vmap", s.peer_nets, lambda n, first, r, sink: bench_peers.vmap_grid(
                spec, n, grid_t, batch=s.batch, seed=s.seed + 2 + 1000 * r, bias_std=s.bias_std, sink=sink))]
    for k, family in enumerate(TUNED_PEERS):
        runs.append((family, s.peer_nets, lambda n, first, r, sink, run=chosen[family], k=k: run(
            n, s.seed + 10 + k + 1000 * r, sink)))
    if compiled is not None and compiled.fn is not None:
        runs.append(("torch_compile_loop", s.peer_nets, lambda n, first, r, sink: compiled(
            n, seed=s.seed + 20 + 1000 * r, sink=sink)))
    peers = [label for label, _, _ in runs if not label.startswith("engine")]
    accs = {label: _acf_sink(s.max_lag) for label, _, _ in runs}
    walls = {label: [] for label, _, _ in runs}
    counts = {label: [] for label, _, _ in runs}
    ran = {label: [] for label, _, _ in runs}   # the rounds a method had networks in
    # what the engine's shares are taken of: its executed columns (profiled networks), and in each
    # round, right before the methods, the GEMM rate and the engine's limit at that moment
    profile = engine_profile(spec, s)
    columns = profile.pop("columns_per_layer")
    square = torch.ones(s.gemm_size, s.gemm_size)
    round_gemm, round_limit = [], []
    for r in range(s.rounds):
        round_gemm.append(gemm_rate(torch.matmul, square, square, max(1, min(s.gemm_reps, 2))))
        round_limit.append(engine_limit(spec, s, columns)["nets_per_s"])
        for label, total, run in runs:
            first = total * r // s.rounds
            n = total * (r + 1) // s.rounds - first
            if n == 0:
                continue
            walls[label].append(_timed(functools.partial(run, n, first, r, accs[label][1])))
            counts[label].append(n)
            ran[label].append(r)
    rows = {}
    for label, total, _ in runs:
        wall = sum(walls[label])
        rate = total / wall
        per_round = [n / w for n, w in zip(counts[label], walls[label])]
        rows[label] = {"nets": total, "seconds": wall, "nets_per_s": rate, "gflops": rate * flops / 1e9,
                       "rounds_nets_per_s": per_round}
        if label in tuning:
            rows[label]["variant"] = tuning[label]["chosen"]
        _log(f"{name}: {label:18s} {total:4d} nets in {wall:7.2f} s = {rate:8.2f} nets/s, "
             f"{rows[label]['gflops']:6.1f} GFLOP/s (rounds {min(per_round):.1f}..{max(per_round):.1f})")
    accs = {label: acc for label, (acc, _) in accs.items()}
    limit = engine_limit(spec, s, columns)
    _log(f"{name}: engine profile, ms per network: " + ", ".join(
        f"{k} {v:.1f}" for k, v in profile.items() if k not in ("networks", "executed_fraction"))
        + f"; products executed: {100 * profile['executed_fraction']:.1f} % of the dense count; limit "
        f"{limit['total']:.2f} ms per network (products {limit['products']:.2f} + normals {limit['normals']:.2f})")
    agreement = acf_agreement(accs["engine_numba"], {p: accs[p] for p in peers})
    me, _ = _mean_se(accs["engine_numba"])
    mt, _ = _mean_se(accs["engine_torch"])
    common = min(s.nets, s.torch_nets)
    engine = rows["engine_numba"]
    best_peer = max(peers, key=lambda p: rows[p]["nets_per_s"])
    return {
        "name": name, "spec": spec.describe(), "points": s.points, "flops_per_network": flops,
        "engine_nets_per_s": engine["nets_per_s"], "engine_gflops": engine["gflops"],
        "engine_executed_fraction": profile["executed_fraction"],
        "engine_executed_gflops": engine["gflops"] * profile["executed_fraction"],
        "pct_of_gemm": None,  # set by run_benchmark once the GEMM peak is known
        "peers": {p: rows[p]["nets_per_s"] for p in peers},
        "best_peer": best_peer,
        "ratio_engine_over_peer": {p: engine["nets_per_s"] / rows[p]["nets_per_s"] for p in peers},
        "ratio_paired_median": {p: _paired_median(engine, rows[p]) for p in peers},
        "tuning": tuning,
        "torch_compile": (None if compiled is None else
                          {"compiled": compiled.fn is not None, "compile_seconds": compiled.compile_seconds,
                           "error": compiled.error}),
        "engine_limit_ms_per_net": limit,
        "engine_over_limit": engine["nets_per_s"] / limit["nets_per_s"],
        "rounds_gemm_gflops": round_gemm, "rounds_limit_nets_per_s": round_limit,
        "engine_over_limit_paired": paired_share(engine["rounds_nets_per_s"],
                                                 [round_limit[r] for r in ran["engine_numba"]]),
        "pct_of_gemm_executed_paired": 100.0 * paired_share(
            [rate * flops * profile["executed_fraction"] / 1e9 for rate in engine["rounds_nets_per_s"]],
            [round_gemm[r] for r in ran["engine_numba"]]),
        "acf_agree": agreement["agree"], "acf_test": agreement,
        "engine_torch_nets_per_s": rows["engine_torch"]["nets_per_s"],
        "engine_torch_acf_note": (f"torch kernel on the first {s.torch_nets} of the engine's networks; "
                                  f"numba on {s.nets}" if s.torch_nets != s.nets else "same networks"),
        "engine_torch_vs_numba_lag1": [float(me[1]), float(mt[1])] if common else None,
        "rows": rows, "engine_profile_ms_per_net": profile, "torch_threads": torch.get_num_threads(),
    }


def bench_depth_curve(s: Settings) -> dict:
    """The whole correlation-vs-depth curve: one engine run at depth L vs L autograd runs."""
    import torch
    spec = FeedforwardSpec(depth=s.depth, width=s.width)
    observables.typical_pairs(spec.with_depth(2), nets=2, batch=2, pairs=s.pairs, seed=s.seed)  # warm-up
    holder = {}
    wall_engine = _timed(lambda: holder.setdefault("r", observables.typical_pairs(
        spec, nets=s.curve_nets, batch=s.batch, pairs=s.pairs, seed=s.seed, backend="numba")))
    engine = holder["r"]
    _log(f"depth curve: engine, one depth-{s.depth} run of {s.curve_nets} nets: {wall_engine:.2f} s")
    gen = torch.Generator().manual_seed(s.seed + 3)
    peer_last = StreamingMoments((), 2)

    def per_depth():
        for depth in range(1, s.depth + 1):
            acc = StreamingMoments((), 2) if depth < s.depth else peer_last
            bench_peers.autograd_pairs_at_depth(spec, depth, s.curve_nets, s.pairs, gen=gen, sink=acc.add)
            acc.ratio(1, 0)  # the per-depth estimate a peer would compute
    wall_peer = _timed(per_depth)
    _log(f"depth curve: autograd, {s.depth} runs (L = 1..{s.depth}) of {s.curve_nets} nets: "
         f"{wall_peer:.2f} s")
    e, p = engine.correlation[-1], peer_last.ratio(1, 0)
    t = (e.mean - p.mean) / math.sqrt(e.stderr ** 2 + p.stderr ** 2) if (e.stderr or p.stderr) else 0.0
    crit = float(stats.t.ppf(1 - FALSE_ALARM / 2, max(s.curve_nets - 1, 1)))
    return {"spec": spec.describe(), "nets_per_depth": s.curve_nets, "pairs": s.pairs,
            "engine_seconds": wall_engine, "peer_seconds": wall_peer,
            "speedup": wall_peer / wall_engine,
            "correlation_at_L": {"engine": e.to_dict(), "autograd": p.to_dict(), "t": t,
                                 "critical": crit, "agree": bool(abs(t) <= crit)}}


# ----------------------------------------------------------------------------- run and report
def run_benchmark(s: Settings) -> dict:
    """The whole benchmark: GEMM peak, both configurations, the depth curve; a JSON-able dict."""
    import torch
    load_start = os.getloadavg()
    workers = worker_count(max(s.nets, 2))
    torch.set_num_threads(workers)
    _log(f"threads: engine {workers} workers x 1 BLAS thread; torch {torch.get_num_threads()}; "
         f"load average {load_start[0]:.2f}")
    gemm = measure_gemm(s.gemm_size, s.gemm_reps)
    _log(f"GEMM {s.gemm_size}^3 fp32: numpy {gemm['numpy']:.1f}, torch {gemm['torch']:.1f} GFLOP/s")
    configs = [bench_config(name, spec, s) for name, spec in configurations(s)]
    curve = bench_depth_curve(s)
    gemm_after = measure_gemm(s.gemm_size, s.gemm_reps, with_numpy=False)
    _log(f"GEMM again: torch {gemm_after['torch']:.1f} GFLOP/s (numpy's BLAS is pinned to one thread now)")
    peak = max(gemm["peak"], gemm_after["peak"])  # a transient load lowers one measurement, not both
    for c in configs:
        for row in c["rows"].values():
            row["pct_of_gemm"] = 100.0 * row["gflops"] / peak
        c["pct_of_gemm"] = c["rows"]["engine_numba"]["pct_of_gemm"]
        c["pct_of_gemm_executed"] = c["pct_of_gemm"] * c["engine_executed_fraction"]
    targets = {}
    for c in configs:
        want = TARGETS.get(c["name"])
        if want is None:
            continue
        ratio = c["ratio_paired_median"][c["best_peer"]]
        targets[c["name"]] = {
            f"engine_over_best_peer>={want['engine_over_best_peer']:g}": bool(ratio >= want["engine_over_best_peer"]),
            f"pct_of_gemm_executed>={want['pct_of_gemm_executed']:g}": bool(
                c["pct_of_gemm_executed_paired"] >= want["pct_of_gemm_executed"])}
    targets[f"depth_curve>={TARGETS['depth_curve_speedup']:g}x"] = bool(
        curve["speedup"] >= TARGETS["depth_curve_speedup"])
    return {"gemm_gflops": peak, "gemm": gemm, "gemm_end_of_run": gemm_after,
            "configs": configs, "depth_curve_speedup": curve["speedup"], "depth_curve": curve,
            "targets": targets, "settings": asdict(s), "machine": machine_info(workers),
            "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def format_table(r: dict) -> str:
    """The human report: one block per configuration, then the depth curve and the targets."""
    peak = r["gemm_gflops"]
    g = r["gemm"]
    th = r["machine"]["threads"]
    ge = r["gemm_end_of_run"]
    lines = [f"fp32 GEMM {g['size']}^3 (best of {r['settings']['gemm_reps']}): numpy {g['numpy']:.1f}, torch "
             f"{g['torch']:.1f} at the start, torch {ge['torch']:.1f} at the end GFLOP/s -> peak {peak:.1f}",
             f"threads: engine {th['engine_workers']} workers x {th['engine_blas_per_worker']} BLAS thread, "
             f"torch {th['torch']}; load average start {r['load_average']['start'][0]:.2f}, "
             f"end {r['load_average']['end'][0]:.2f}; methods timed in {r['settings']['rounds']} "
             "interleaved rounds (range of the per-round rates in brackets)",
             ""]
    for c in r["configs"]:
        lines.append(f"{c['name']}: {c['spec']}, M = {c['points']} grid points, "
                     f"{c['flops_per_network'] / 1e9:.2f} GFLOP per network")
        lines.append(f"  {'method':21s} {'nets':>5s} {'nets/s':>8s} {'(rounds)':>13s} {'GFLOP/s':>8s} "
                     f"{'% GEMM':>7s} {'engine/x':>24s}  ACF lags 1..K vs the engine")
        e = c["rows"]["engine_numba"]["nets_per_s"]
        for label, row in c["rows"].items():
            ratio = "" if label.startswith("engine_numba") else f"{e / row['nets_per_s']:8.2f}x"
            label = label + (" *" if label == c["best_peer"] else "")
            key = label.rstrip(" *")
            if key in c["ratio_paired_median"]:
                ratio += f" (paired {c['ratio_paired_median'][key]:.2f}x)"
            test = c["acf_test"].get(key)
            acf = (f"t = {test['max_abs_t']:.2f} (crit {test['critical']:.2f}) "
                   f"{'agree' if test['agree'] else 'DISAGREE'}" if test else "")
            rr = row["rounds_nets_per_s"]
            lines.append(f"  {label:21s} {row['nets']:5d} {row['nets_per_s']:8.2f} "
                         f"{f'({min(rr):.1f}..{max(rr):.1f})':>13s} {row['gflops']:8.1f} "
                         f"{row['pct_of_gemm']:6.1f}% {ratio:>24s}  {acf}")
        best = c["best_peer"]
        lines.append(f"  best peer: {best} ({c['rows'][best].get('variant', 'as written')}): engine/best "
                     f"{c['ratio_paired_median'][best]:.2f}x (paired median over rounds)")
        for family, t in c["tuning"].items():
            lines.append(f"  tuned {family} ({r['settings']['tune_nets']} nets per variant): " + ", ".join(
                f"{k} {v:.1f}" for k, v in t["nets_per_s"].items()) + f" nets/s -> {t['chosen']}")
        tc = c.get("torch_compile")
        if tc is not None:
            lines.append("  torch.compile'd loop: " + (f"compiled in {tc['compile_seconds']:.1f} s (not in its rate)"
                                                       if tc["compiled"] else f"did not compile: {tc['error']}"))
        lim = c["engine_limit_ms_per_net"]
        lines.append(f"  limit (executed products {lim['products']:.2f} + weight normals {lim['normals']:.2f} ms "
                     f"per network, same threads and BLAS): {lim['nets_per_s']:.1f} nets/s; the engine runs at "
                     f"{100 * c['engine_over_limit']:.0f} % of it (paired with the limit measured in each round: "
                     f"{100 * c['engine_over_limit_paired']:.0f} %)")
        pr = c["engine_profile_ms_per_net"]
        lines.append(f"  engine profile, ms per network: RNG weights {pr['sample_weights']:.1f}, inputs "
                     f"{pr['sample_inputs']:.1f}, kernel {pr['kernel']:.1f} (dense GEMMs alone "
                     f"{pr['kernel_gemm_only']:.1f})")
        lines.append(f"  products the engine executes: {100 * c['engine_executed_fraction']:.1f} % of the "
                     f"dense count (columns of units off on the whole grid skipped) -> executed "
                     f"{c['engine_executed_gflops']:.1f} GFLOP/s, {c['pct_of_gemm_executed']:.1f} % of GEMM peak; "
                     f"paired with the GEMM rate measured in each round ({min(c['rounds_gemm_gflops']):.0f}.."
                     f"{max(c['rounds_gemm_gflops']):.0f} GFLOP/s): {c['pct_of_gemm_executed_paired']:.1f} % "
                     "(the targets' figure)")
        lines.append(f"  ACF agreement (all lags 1..{c['acf_test']['lags']}, false alarm "
                     f"{c['acf_test']['false_alarm']:g}): {c['acf_agree']}")
        lines.append("")
    d = r["depth_curve"]
    ca = d["correlation_at_L"]
    lines.append(f"depth curve L = 1..{r['settings']['depth']} ({d['nets_per_depth']} nets per depth, "
                 f"{d['pairs']} pairs): engine {d['engine_seconds']:.2f} s, autograd per depth "
                 f"{d['peer_seconds']:.2f} s -> speedup {d['speedup']:.1f}x; correlation at L: "
                 f"{ca['engine']['mean']:.4f} +- {ca['engine']['stderr']:.4f} vs "
                 f"{ca['autograd']['mean']:.4f} +- {ca['autograd']['stderr']:.4f} "
                 f"({'agree' if ca['agree'] else 'DISAGREE'})")
    lines.append("")
    lines.append("targets (issue 16): " + "; ".join(
        f"{k}: " + (", ".join(f"{kk} {'met' if vv else 'NOT met'}" for kk, vv in v.items())
                    if isinstance(v, dict) else ("met" if v else "NOT met"))
        for k, v in r["targets"].items()))
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m montecarlo.bench",
                                description="Time the Monte Carlo engine against torch autograd and "
                                            "torch.func.vmap peers, with the machine's GEMM peak.")
    p.add_argument("--quick", action="store_true", help="fewer networks and reps (< 5 min on 2 cores)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout, nothing else")
    for name, kind, text in (("depth", int, "L (default 50)"), ("width", int, "N (default 200)"),
                             ("points", int, "grid points M (default 256)"),
                             ("max-lag", int, "ACF lags tested (default 64)"),
                             ("nets", int, "engine networks per configuration"),
                             ("torch-nets", int, "engine networks with the torch kernel"),
                             ("peer-nets", int, "networks per peer per configuration"),
                             ("rounds", int, "interleaved rounds the methods take turns in"),
                             ("curve-nets", int, "networks per depth in the depth-curve race"),
                             ("pairs", int, "typical pairs per network in the depth curve"),
                             ("batch", int, "networks per chunk of the torch engine and the profile / "
                                            "per stack of the plain vmap peer (the numba engine tunes its own)"),
                             ("gemm-size", int, "GEMM size (default 2048)"),
                             ("gemm-reps", int, "GEMM repetitions"), ("seed", int, "root seed"),
                             ("tune-nets", int, "networks per variant when the engine tunes its networks per call "
                                                "and a peer its stack size")):
        p.add_argument(f"--{name}", type=kind, dest=name.replace("-", "_"), help=text)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="also time a torch.compile'd autograd loop (default: in full runs, not with --quick; "
                        "~20 s of compiling per configuration)")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    s = QUICK if args.quick else FULL
    given = {k: v for k, v in vars(args).items() if k not in ("quick", "json") and v is not None}
    s = replace(s, **given)
    for field in ("depth", "width", "nets", "torch_nets", "peer_nets", "rounds", "curve_nets", "pairs", "batch",
                  "gemm_size", "gemm_reps", "tune_nets"):
        if getattr(s, field) < 1:
            raise ValueError(f"--{field.replace('_', '-')}={getattr(s, field)} is not allowed: >= 1")
    if s.nets < 2 or s.peer_nets < 2 or s.curve_nets < 2 or s.torch_nets < 2:
        raise ValueError("--nets/--peer-nets/--curve-nets/--torch-nets must be >= 2 "
                         "(standard errors need two networks)")
    if s.points < 3:
        raise ValueError(f"--points={s.points} is not allowed: an integer >= 3")
    return replace(s, max_lag=max(1, min(s.max_lag, s.points // 2)))


@command("python -m montecarlo.bench")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        s = settings_from(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = run_benchmark(s)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result), end="")
    return 0
