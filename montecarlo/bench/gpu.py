"""``python -m montecarlo.bench.gpu``: the CUDA engine measured once, when a GPU is lent (a benchmark,
never a test; ``python -m montecarlo.bench.gpu_check`` runs it after ``pytest -m cuda``).

    python -m montecarlo.bench.gpu [--json] [--depth L] [--width N] [--points M] [--nets S]
        [--batches 64,256,1024] [--compare-nets S] [--seed K] [--tf32]

What it prints (every number, nothing judged silently):

* the device, torch / numba versions, and whether TF32 is off (default: off, fp32 products);
* **weights stream**: one network's ``N + L·N²`` normals drawn by :mod:`kernels.cuda_rng` equal the
  CPU's :func:`kernels.rng.normals` bit for bit (yes/no), and the device's draw rate (normals/s) on a
  chunk of the largest batch;
* **grid forward mode** for the bench's two configurations (feedforward ReLU and BN resnet
  β = 0.1, ``L = 50, N = 200, M = 256``): :func:`montecarlo.networks.grid_derivative` with the
  ``cuda`` backend — weights drawn on the device, ``torch.bmm`` over the chunk — at each batch size:
  networks/s and GFLOP/s by the issue's convention (``4·M·N²·(L−1)`` per network, what the CPU bench
  counts); the issue's target is ≥ 10,000 networks/s for ff on an H100/H200-class GPU;
* **agreement with the CPU engine** on the same ``--compare-nets`` networks: the largest relative
  difference of ``df/dx`` (float32 products summed in another order: ~1e-5 expected, not 0) and of
  the ACF averaged over those networks, lag by lag.

The first batch of each size is a warm-up (cuBLAS handles, numba's compile) and is not timed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from kernels import get_kernel, rng
from montecarlo import networks, observables, sampling
from theory.specs import FeedforwardSpec, ResnetSpec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m montecarlo.bench.gpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="one JSON document on stdout, nothing else")
    p.add_argument("--depth", type=int, default=50, help="L (default 50)")
    p.add_argument("--width", type=int, default=200, help="N (default 200)")
    p.add_argument("--points", type=int, default=256, help="grid points M (default 256)")
    p.add_argument("--nets", type=int, default=8192, help="timed networks per configuration and batch size")
    p.add_argument("--batches", default="64,256,1024", help="networks per chunk, comma-separated")
    p.add_argument("--compare-nets", type=int, default=32, help="networks compared with the CPU engine")
    p.add_argument("--max-lag", type=int, default=16, help="ACF lags compared (default 16)")
    p.add_argument("--seed", type=int, default=2026, help="root seed")
    p.add_argument("--tf32", action="store_true", help="allow TF32 products (default: fp32)")
    return p


def _stream_check(args, batch: int) -> dict:
    from numba import cuda

    from kernels import cuda_rng
    key = sampling.weight_key(args.seed, 0)
    n = args.width + args.depth * args.width ** 2
    same = np.array_equal(cuda_rng.normals(key, n).view(np.uint32), rng.normals(key, n).view(np.uint32))
    keys = cuda.to_device(cuda_rng.round_keys([sampling.weight_key(args.seed, i) for i in range(batch)]))
    out = cuda.device_array((batch, n), dtype=np.float32)
    cuda_rng.fill_normals(keys, 0, out)          # warm-up (compile)
    cuda.synchronize()
    t = time.perf_counter()
    cuda_rng.fill_normals(keys, 0, out)
    cuda.synchronize()
    seconds = time.perf_counter() - t
    return {"bit_identical_to_cpu": bool(same), "normals": batch * n, "seconds": seconds,
            "normals_per_s": batch * n / seconds}


def _rate(plan, kernel, args, batch: int) -> dict:
    networks.grid_derivative(plan, kernel, args.seed, range(batch), args.points)       # warm-up
    t = time.perf_counter()
    done = 0
    while done < args.nets:
        idx = range(batch + done, batch + done + min(batch, args.nets - done))
        networks.grid_derivative(plan, kernel, args.seed, idx, args.points)          # returns to the host: synchronized
        done += len(idx)
    seconds = time.perf_counter() - t
    flops = 4.0 * args.points * args.width ** 2 * (args.depth - 1) * done
    return {"batch": batch, "nets": done, "seconds": seconds, "nets_per_s": done / seconds,
            "gflops": flops / seconds / 1e9}


def _agreement(plan, kernel, args) -> dict:
    idx = range(args.compare_nets)
    gpu, _ = networks.grid_derivative(plan, kernel, args.seed, idx, args.points)
    cpu, _ = networks.grid_derivative(plan, get_kernel("numba"), args.seed, idx, args.points)
    scale = np.abs(cpu).max(axis=1, keepdims=True)
    acf = [np.mean([observables.sample_acf(np.asarray(y, dtype=np.float64), args.max_lag) for y in d], axis=0)
           for d in (gpu, cpu)]
    return {"nets": len(idx), "max_rel_diff_dfdx": float(np.max(np.abs(gpu - cpu) / scale)),
            "max_abs_diff_mean_acf": float(np.max(np.abs(acf[0] - acf[1]))),
            "mean_acf_lag1": [float(acf[0][1]), float(acf[1][1])]}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    import numba
    import torch
    if not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False (this benchmark needs a GPU)", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    batches = [int(b) for b in args.batches.split(",")]
    kernel = get_kernel("cuda")
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "numba": numba.__version__,
              "tf32": args.tf32, "depth": args.depth, "width": args.width, "points": args.points,
              "stream": _stream_check(args, max(batches)), "configs": {}}
    for name, spec in (("ff-relu", FeedforwardSpec(depth=args.depth, width=args.width)),
                       ("resnet-bn-beta0.1", ResnetSpec(depth=args.depth, width=args.width, beta=0.1, norm="bn"))):
        plan = networks.compile_spec(spec)
        rates = [_rate(plan, kernel, args, b) for b in batches]
        report["configs"][name] = {"rates": rates, "best_nets_per_s": max(r["nets_per_s"] for r in rates),
                                   "agreement": _agreement(plan, kernel, args)}
        if not args.json:
            print(f"[{name}] done", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
        return 0
    s = report["stream"]
    print(f"device {report['device']}  torch {report['torch']}  numba {report['numba']}  TF32 {'on' if args.tf32 else 'off'}")
    print(f"weights stream: bit-identical to the CPU: {s['bit_identical_to_cpu']};  "
          f"{s['normals_per_s'] / 1e9:.2f} G normals/s ({s['normals']} in {s['seconds'] * 1e3:.1f} ms)")
    for name, c in report["configs"].items():
        print(f"{name}  L={args.depth} N={args.width} M={args.points}")
        for r in c["rates"]:
            print(f"  batch {r['batch']:>5}: {r['nets_per_s']:10.1f} nets/s  {r['gflops']:8.1f} GFLOP/s  "
                  f"({r['nets']} nets in {r['seconds']:.2f} s)")
        a = c["agreement"]
        print(f"  vs numba on {a['nets']} nets: max rel diff df/dx {a['max_rel_diff_dfdx']:.2e}, "
              f"max |diff| mean ACF {a['max_abs_diff_mean_acf']:.2e} (lag 1: {a['mean_acf_lag1'][0]:.5f} "
              f"gpu, {a['mean_acf_lag1'][1]:.5f} cpu)")
    print(f"target ff >= 10,000 nets/s: best {report['configs']['ff-relu']['best_nets_per_s']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
