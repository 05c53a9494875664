"""``python -m reports.produce``: run the experiments the report needs, into the results store.

    python -m reports.produce [--store PATH] [--results FILE.json] [--quick] [--nets S] [--seed K]
        [--skip-verify]

1. every grid experiment of :mod:`reports.catalog` through :func:`montecarlo.runner.estimate`
   with the store (chunks already stored are reused: a second run computes nothing);
2. ``python -m theory.verify --json --store PATH`` into ``--results`` (default
   ``out/verify.json``; its Monte Carlo chunks go to the same store).

``--quick``: a subset of the grid runs with 8 networks and ``theory.verify --symbolic-only``
(a smoke test; the figures then have fewer curves and no Monte Carlo points in the
theory-vs-measurement panel).  Then ``python -m reports --results FILE --out DIR``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from montecarlo.store import StoreError, default_store_path
from theory.specs import SpecError

from .catalog import DEFAULT_NETS, DEFAULT_SEED, GRID_ENTRIES, QUICK_NAMES

QUICK_NETS = 8


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reports.produce",
        description="Run the 1-D grid experiments behind Fig. 1-4 into the results store (stored chunks are "
                    "reused) and write a `python -m theory.verify --json` document; then run "
                    "`python -m reports --results FILE --out DIR`.")
    p.add_argument("--store", metavar="PATH", help=f"results store (default: $SHATTERED_GRADIENTS_STORE, else "
                                                   f"{default_store_path()})")
    p.add_argument("--results", metavar="FILE.json", default="out/verify.json",
                   help="where the verify document goes (default out/verify.json; replaced)")
    p.add_argument("--quick", action="store_true",
                   help=f"a subset of grid runs with {QUICK_NETS} networks, verify --symbolic-only (smoke test)")
    p.add_argument("--nets", type=int, help=f"networks per grid run (default {DEFAULT_NETS}, --quick {QUICK_NETS})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"root seed (default {DEFAULT_SEED})")
    p.add_argument("--points", type=int, default=256, help="grid points (default 256)")
    p.add_argument("--max-lag", type=int, default=64, dest="max_lag", help="ACF lags (default 64)")
    p.add_argument("--backend", default="numba", help="numpy | numba | torch | cuda (default numba)")
    p.add_argument("--skip-verify", action="store_true", help="run the grid experiments only")
    return p


def run_grid(store: str, names: Sequence[str] | None, nets: int, seed: int, points: int, max_lag: int,
             backend: str, log=print) -> None:
    from montecarlo.runner import estimate
    for e in GRID_ENTRIES:
        if names is not None and e.name not in names:
            continue
        t0 = time.perf_counter()
        res = estimate(e.spec, "grid", model="real", nets=nets, seed=seed, chunk=4, backend=backend, store=store,
                       points=points, max_lag=max_lag)
        log(f"  grid {e.spec.describe():<55} {nets} nets  lag-1 ACF {res.acf[1].mean:+.3f}  "
            f"{time.perf_counter() - t0:5.1f} s")


def run_verify(store: str, results: Path, symbolic_only: bool, seed: int, backend: str) -> int:
    cmd = [sys.executable, "-m", "theory.verify", "--json", "--seed", str(seed), "--backend", backend]
    cmd += ["--symbolic-only"] if symbolic_only else ["--store", str(store)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        print(f"python -m reports.produce: error: {' '.join(cmd)} exited {proc.returncode} without a JSON "
              "document", file=sys.stderr)
        return 2
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return proc.returncode


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    nets = args.nets or (QUICK_NETS if args.quick else DEFAULT_NETS)
    store = args.store or str(default_store_path())
    if nets < 2:
        print(f"python -m reports.produce: error: --nets={nets!r} is not allowed: an integer >= 2", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    print(f"grid experiments into {store}:")
    try:
        run_grid(store, QUICK_NAMES if args.quick else None, nets, args.seed, args.points, args.max_lag,
                 args.backend)
    except (SpecError, StoreError) as err:
        print(f"python -m reports.produce: error: {err}", file=sys.stderr)
        return 2
    if not args.skip_verify:
        print("python -m theory.verify --json" + (" --symbolic-only" if args.quick else "") + f" > {args.results}")
        code = run_verify(store, Path(args.results), args.quick, args.seed, args.backend)
        if code == 2:
            return 2
        if code == 1:
            print("  (verify reports a failed check or an accepted control: see the report)")
    print(f"done in {time.perf_counter() - t0:.0f} s; next: python -m reports --results {args.results} --out DIR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
