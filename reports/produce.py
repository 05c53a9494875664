"""``python -m reports.produce``: run the experiments the report needs, into the results store.

    python -m reports.produce [--store PATH] [--results FILE.json] [--quick] [--nets S] [--seed K]
        [--skip-verify] [--rasters-only] [--convnets default|quick|skip] [--training default|skip]

1. every grid experiment of :mod:`reports.catalog` through :func:`montecarlo.runner.estimate`
   with the store (chunks already stored are reused: a second run computes nothing);
2. the gate raster of network 0 of every Fig. 4 run (:mod:`montecarlo.raster`: the run the
   report will pick, layers :func:`reports.catalog.fig4_layers`; one network each, checked
   against its stored summary row; ``--rasters-only`` does only this, for what is stored);
3. Fig. 5: ``python -m montecarlo.convnets --store PATH`` (``--convnets default``: the CLI's
   defaults, then ``--loss sum --bn-backward constant --minibatches 16``; ``quick``: the first only — fewer depths
   would save little, the deep nets dominate; ``skip``), a stored run is read back, not
   recomputed.  Measured on one core of this project's 2-core machine (docs/benchmarks.md, "Report
   build time"): 74-82 s and 195-202 s (were 138 s and 316 s before the probe skipped its unused gate
   hooks and the freed activations stayed in the heap; channels-last probes have since taken another
   ~18 % off); ``--workers K`` splits the minibatches over K processes;
4. Fig. 6: ``python -m montecarlo.convnets.train --seed K --store PATH`` (``--training default``: the
   CLI's defaults, a reduced reproduction — 4 architectures, depths 8, 20, 50, 2 seeds, 5 epochs on
   1,000 images; ``skip``; ``--quick`` implies ``skip`` unless ``--training`` is given), a stored run is
   read back (0.4 s), not retrained.  Measured on one core (one torch thread): 276 s; ``--workers K``
   trains the 24 runs in K processes, longest first (the first ``make report`` only, and again after
   the code of ``montecarlo/convnets/`` changes: that is the document's code version);
5. ``python -m theory.verify --json --store PATH`` into ``--results`` (default
   ``out/verify.json``; its Monte Carlo chunks go to the same store; it decides the CIFAR-10
   claims from the stored Fig. 5 documents).

``--workers K|auto`` (``make report``: auto, the usable cores) goes to steps 3 and 4, which share one
set of worker processes (:func:`montecarlo.convnets.workers.kept_workers`: a fresh process pays
for backing its heap at its first deep probe); the numbers do not depend on it.  ``--quick``: a subset of the grid runs with 8 networks and ``theory.verify --symbolic-only``
and no Fig. 6 training (a smoke test; the figures then have fewer curves and no Monte Carlo points
in the theory-vs-measurement panel).  Then ``python -m reports --results FILE --out DIR``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from kernels import BACKENDS, check_backend
from montecarlo.convnets.training_evidence import is_training
from montecarlo.convnets.workers import kept_workers
from montecarlo.run_options import add_store_options, store_path
from montecarlo.store import StoreError
from theory.cli import command
from theory.claims import CLAIMS, CONVNET_SETTINGS
from theory.specs import SpecError

from .catalog import DEFAULT_NETS, DEFAULT_SEED, GRID_ENTRIES, QUICK_NAMES, fig4_entries, fig4_layers

QUICK_NETS = 8
#: the claims decided from stored training runs (their rules name the runs that decided them)
TRAINING_CLAIMS = tuple(c for c in CLAIMS if is_training(c))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reports.produce",
        description="Run the 1-D grid experiments behind Fig. 1-4, the CIFAR-10 convnet runs behind Fig. 5 "
                    "and the training behind Fig. 6 into the results store (stored results are "
                    "reused) and write a `python -m theory.verify --json` document; then run "
                    "`python -m reports --results FILE --out DIR`.")
    add_store_options(p, what="every run is written as it completes and reused by later runs", no_store=False)
    p.add_argument("--results", metavar="FILE.json", default="out/verify.json",
                   help="where the verify document goes (default out/verify.json; replaced)")
    p.add_argument("--quick", action="store_true",
                   help=f"a subset of grid runs with {QUICK_NETS} networks, verify --symbolic-only (smoke test)")
    p.add_argument("--nets", type=int, help=f"networks per grid run (default {DEFAULT_NETS}, --quick {QUICK_NETS})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"root seed (default {DEFAULT_SEED})")
    p.add_argument("--points", type=int, default=256, help="grid points (default 256)")
    p.add_argument("--max-lag", type=int, default=64, dest="max_lag", help="ACF lags (default 64)")
    p.add_argument("--backend", default="numba", choices=BACKENDS, help=" | ".join(BACKENDS) + " (default numba)")
    p.add_argument("--skip-verify", action="store_true", help="run the experiments only, not theory.verify")
    p.add_argument("--convnets", choices=tuple(CONVNET_PRESETS) + ("skip",), default=None,
                   help="Fig. 5 on CIFAR-10 convnets (python -m montecarlo.convnets, before verify, which decides "
                        "the claims effrank-depth and gradnorm-depth from it; a stored run is reused): "
                        "default = the registry's two settings (theory.claims.CONVNET_SETTINGS): "
                        + "; ".join(" ".join(s.command_args()) for s in CONVNET_SETTINGS) + " "
                        "(measured on one core: 1.3 min for 8 minibatches, 3.3 min for 16; --workers splits them); quick = the "
                        "first of these only; claims = the minibatches that decided every claim of each setting at "
                        "seed 0 (" + "; ".join(f"{s.name}: {s.deciding_minibatches}, {s.why}" for s in CONVNET_SETTINGS)
                   + "); skip. Default: default, or quick with --quick")
    p.add_argument("--training", choices=tuple(TRAINING_PRESETS) + ("skip",), default=None,
                   help="Fig. 6: thin convnets trained on CIFAR-10 (python -m montecarlo.convnets.train --store PATH, "
                        "before verify; a stored run is reused): default = the CLI's defaults (a reduced "
                        "reproduction; measured on one core: 4.6 min; --workers splits the runs); claims = default, then "
                        "the run that decided each training claim at seed 0 ("
                   + "; ".join(f"{c.id}: " + (" ".join(c.observable.rule.deciding_args() or []) or "none")
                               + f", {c.observable.rule.deciding_why}" for c in TRAINING_CLAIMS)
                   + "); skip. Default: default, or skip with --quick")
    p.add_argument("--workers", type=_workers, default=1, metavar="K|auto",
                   help="processes for the Fig. 5 runs and the Fig. 6 training (--workers K of both CLIs: their "
                        "minibatches and runs are independent, so the numbers do not depend on K); auto = the "
                        "cores this process may use (make report passes auto). Default 1: one process, as before")
    p.add_argument("--rasters-only", action="store_true", dest="rasters_only",
                   help="only write the Fig. 4 gate rasters (network 0) of the grid runs already stored "
                        "(one network each; no grid run, no verify)")
    return p


def _workers(text: str) -> int:
    """``--workers``: a positive integer, or ``auto`` (the usable cores)."""
    if text == "auto":
        from montecarlo.convnets.workers import usable_cores
        return usable_cores()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: a positive integer or auto")
    return value


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


def write_rasters(store: str, names: Sequence[str] | None = None, log=print) -> int:
    """Store the gate raster of network 0 (Fig. 4 layers) of the stored run each Fig. 4 entry uses.

    The run is the one the report picks (:func:`reports.data.find_grid_run`); the raster is
    computed on that run's backend with its seed and options (:func:`montecarlo.raster.write_raster`).
    Returns the number of entries that have a raster afterwards.
    """
    from montecarlo.raster import write_raster
    from montecarlo.chunks import experiment_of
    from montecarlo.store import Store

    from .data import find_grid_run
    done = 0
    with Store(store) as st:
        runs = st.runs()
        for e in fig4_entries():
            if names is not None and e.name not in names:
                continue
            run = find_grid_run(runs, e.spec)
            if run is None:
                log(f"  raster {e.name}: no stored grid run of {e.spec.describe()} (skipped)")
                continue
            exp, backend = experiment_of(run.key)
            t0 = time.perf_counter()
            w = write_raster(st, exp, run.key.seed, backend, network=0, layers=fig4_layers(exp.layers))
            done += 1
            state = ("written" if w.written else "already stored") + (", checked against its summary row"
                                                                      if w.checked else "")
            log(f"  raster {e.name}: network 0, layers {list(w.raster.layers)} ({state})  "
                f"{time.perf_counter() - t0:5.1f} s")
    return done


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


#: ``python -m montecarlo.convnets`` argument lists per ``--convnets`` preset (one run each): the
#: registry's settings that decide the CIFAR-10 claims (:data:`theory.claims.CONVNET_SETTINGS`)
CONVNET_PRESETS = {"default": tuple(setting.command_args() for setting in CONVNET_SETTINGS),
                   "quick": (CONVNET_SETTINGS[0].command_args(),),
                   "claims": tuple(setting.command_args(deciding=True) for setting in CONVNET_SETTINGS)}


def _run_presets(cli: str, main, runs: Sequence[Sequence[str]], store: str, seed: int, figure: str, log,
                 workers: int = 1) -> None:
    """``cli`` (``python -m …``) once per argument list of ``runs`` with ``--seed --store`` (and
    ``--workers K`` when ``workers > 1``), in this process; a stored run is read back, not recomputed.
    A run that fails (e.g. no CIFAR-10 data: argparse exits 2) is skipped with a note and the rest of
    ``runs`` is not tried."""
    for extra in runs:
        argv = [*extra, "--seed", str(seed), "--store", store] + (["--workers", str(workers)] if workers > 1 else [])
        t0 = time.perf_counter()
        log(f"  {cli} " + " ".join(argv))
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        if code != 0:
            log(f"  ({figure} run skipped: {cli} exited {code}; see its message above)")
            return
        log(f"  {time.perf_counter() - t0:5.1f} s")


def run_convnets(store: str, preset: str, seed: int, log=print, workers: int = 1) -> None:
    """Fig. 5 runs of ``preset`` into ``store`` (the report omits Fig. 5 without the CIFAR-10 data)."""
    from montecarlo.convnets.cli import main as convnets
    _run_presets("python -m montecarlo.convnets", convnets, CONVNET_PRESETS[preset], store, seed, "Fig. 5", log,
                 workers)


#: ``python -m montecarlo.convnets.train`` argument lists per ``--training`` preset (one run each)
#: ``claims``: the default runs, then each training claim's deciding run (:class:`theory.claims.TrainingRule`)
TRAINING_PRESETS = {"default": ([],),
                    "claims": ([],) + tuple(args for args in (c.observable.rule.deciding_args() for c in TRAINING_CLAIMS)
                                            if args)}


def run_training(store: str, preset: str, seed: int, log=print, workers: int = 1) -> None:
    """Fig. 6 runs of ``preset`` into ``store`` (the report omits Fig. 6 without the CIFAR-10 data).
    The train CLI sets torch's thread count (part of its key); the caller's count is restored afterwards."""
    import torch

    from montecarlo.convnets.train import main as train
    threads = torch.get_num_threads()
    try:
        _run_presets("python -m montecarlo.convnets.train", train, TRAINING_PRESETS[preset], store, seed,
                     "Fig. 6", log, workers)
    finally:
        torch.set_num_threads(threads)


@command("python -m reports.produce")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    nets = args.nets or (QUICK_NETS if args.quick else DEFAULT_NETS)
    store = str(store_path(args))
    if nets < 2:
        print(f"python -m reports.produce: error: --nets={nets!r} is not allowed: an integer >= 2", file=sys.stderr)
        return 2
    check_backend(args.backend)  # before any run: no CUDA device or no torch is a usage error
    t0 = time.perf_counter()
    names = QUICK_NAMES if args.quick else None
    if args.rasters_only:
        print(f"Fig. 4 gate rasters into {store}:")
        try:
            write_rasters(store, names)
        except (SpecError, StoreError, KeyError, ValueError) as err:
            print(f"python -m reports.produce: error: {err}", file=sys.stderr)
            return 2
        print(f"done in {time.perf_counter() - t0:.0f} s")
        return 0
    print(f"grid experiments into {store}:")
    try:
        run_grid(store, names, nets, args.seed, args.points, args.max_lag, args.backend)
        write_rasters(store, names)
    except (SpecError, StoreError, KeyError) as err:
        print(f"python -m reports.produce: error: {err}", file=sys.stderr)
        return 2
    convnets = args.convnets or ("quick" if args.quick else "default")
    training = args.training or ("skip" if args.quick else "default")
    with kept_workers():  # one set of worker processes (and their warm heaps) for every convnet run
        for what, preset, run in (("Fig. 5 convnets", convnets, run_convnets), ("Fig. 6 training", training, run_training)):
            if preset == "skip":
                continue
            print(f"{what} ({preset}) into {store}:")
            try:
                run(store, preset, args.seed, workers=args.workers)
            except StoreError as err:
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
