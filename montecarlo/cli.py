"""``python -m montecarlo``: estimate the paper's quantities on sampled networks.

    python -m montecarlo ARCH [--depth L] [--width N] [--alpha A] [--beta B] [--gamma1 G]
        [--gamma2 G2] [--norm none|center|bn] [--bn-backward constant|through]
        [--model real|path] [--nets S] [--seed K] [--batch B] [--backend numpy|numba|torch|cuda]
        [--pairs P] [--effective-rank] [--experiment pairs|grid] [--store PATH | --no-store]
        [--workers K | --scheduler ADDRESS] [--json]

Results store: every chunk of ``--batch`` networks is written, as soon as it is computed, to the
SQLite results store (:mod:`montecarlo.store`; by default ``$SHATTERED_GRADIENTS_STORE`` or
``~/.cache/shattered-gradients/results.sqlite``).  The same command run again reuses every
stored chunk (and computes nothing); a killed run started again computes only the missing
chunks and prints exactly the numbers of an uninterrupted run.  ``--no-store`` neither reads
nor writes a store.  ``--workers K`` / ``--scheduler ADDRESS`` spread the chunks over a Dask
cluster (:mod:`montecarlo.distributed`); results are bit-identical to a single process.

Exit codes: 0 success, 1 numerical failure (a non-finite value; the message names the layer),
2 bad usage (the message names the argument, the value and what is allowed), an unusable
results store (corrupt, incompatible, not a store, a full disk: the message says what to do; the
file is never modified and what it held stays readable) or a machine that lacks what the run needs
(``--backend cuda`` without a device, torch not installed, no permission to write:
:func:`theory.cli.command`).
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager

from kernels import BACKENDS, NonFiniteError, check_backend
from theory.cli import command
from theory.options import add_bn_backward, add_options, given_values
from theory.specs import ARCHS, SPEC_OPTIONS, SpecError, make_spec

from . import runner
from .chunks import make_experiment
from .networks import MODELS
from .observables import EXPERIMENTS
from .run_options import add_store_options, store_path, workers_error
from .run_options import executor as executor_of
from .store import StoreError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m montecarlo",
        description="Monte Carlo estimates of gradient variance, covariance and correlation for "
                    "typical pairs at every depth (or the 1-D grid observables), on sampled "
                    "networks (--model real) or the path model of Assumption 1 (--model path).")
    p.add_argument("arch", metavar="ARCH", help="one of " + ", ".join(ARCHS))
    add_options(p.add_argument_group("architecture (theory.specs; omitted = the spec's default)"), SPEC_OPTIONS)
    run = p.add_argument_group("sampling")
    run.add_argument("--model", default="real", choices=MODELS, help="real | path (default real)")
    add_bn_backward(run, "constant", extra_help="; real model, norm center|bn")
    run.add_argument("--experiment", default="pairs", choices=tuple(EXPERIMENTS),
                     help="pairs (typical pairs, default) | grid")
    run.add_argument("--nets", type=int, default=64, help="networks sampled (default 64)")
    run.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    run.add_argument("--batch", type=int, default=8,
                     help="networks per chunk: the unit of storage, resumption and distribution; "
                          "does not change results (default 8)")
    run.add_argument("--backend", default="numba", choices=BACKENDS,
                     help=" | ".join(BACKENDS) + " (default numba)")
    run.add_argument("--pairs", type=int, default=32,
                     help="typical pairs per network (default 32: a batch of M = 64 inputs; centring/BN over "
                          "M inputs lowers co-activation by arcsin(1/(M-1))/(2 pi) per layer)")
    run.add_argument("--effective-rank", action="store_true", dest="effective_rank",
                     help="pairs experiment: also the relative effective rank r(Δ)/r(white) of each network's "
                          "2P x N matrix of gradients at every depth (§4, Fig. 5c; ~10 ms more per network "
                          "at L = 50)")
    run.add_argument("--points", type=int, default=256, help="grid points (default 256)")
    run.add_argument("--max-lag", type=int, default=64, dest="max_lag", help="ACF lags (default 64)")
    add_store_options(p, what="chunks are written as they complete and reused by later runs", executor=True)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout, nothing else")
    return p


@contextmanager
def _progress(enabled: bool):
    """A callback for :func:`montecarlo.runner.estimate` drawing chunks done (and reused) on stderr."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("chunks", total=None)

        def show(state: runner.ChunkProgress) -> None:
            bar.update(task, total=state.total, completed=state.done,
                       description=f"chunks ({state.reused} reused, {state.computed} computed)")
        yield show


def run(args: argparse.Namespace) -> dict:
    fields = given_values(args, SPEC_OPTIONS)
    if args.arch != "shallow":
        fields.pop("bias_std", None)  # the grid's first-layer biases: an experiment option here
    spec = make_spec(args.arch, **fields)
    if args.experiment == "pairs" and args.arch == "shallow":
        raise SpecError("--experiment", "pairs", "grid for ARCH=shallow (its typical-pair moments "
                        "depend on the inputs; see theory.derivations.shallow_covariance)")
    if workers_error(args):
        raise SpecError("--workers", args.workers, "an integer >= 1 (local worker processes)")
    for name, value, low in (("nets", args.nets, 2), ("batch", args.batch, 1), ("seed", args.seed, 0)):
        if value < low:
            raise SpecError(name, value, f"an integer >= {low}" +
                            (" (networks are the independent units of the standard errors)" if name == "nets" else ""))
    if args.effective_rank and args.experiment != "pairs":
        raise SpecError("--effective-rank", True, "only with --experiment pairs (the grid's input is 1-D)")
    if args.experiment == "pairs":
        options = dict(pairs=args.pairs)
        if args.effective_rank:
            options["effective_rank"] = True
    else:
        options = dict(points=args.points, max_lag=args.max_lag, bias_std=args.bias_std)
    # the experiment's own checks, before a store or a cluster is opened
    make_experiment(spec, args.experiment, args.model, dict(options, bn_backward=args.bn_backward))
    check_backend(args.backend)  # no CUDA device, no torch: a usage error (theory.cli.command)
    store = store_path(args)
    show = not args.json and sys.stderr.isatty()
    with _progress(show) as tick, executor_of(args) as executor:
        result = runner.estimate(spec, args.experiment, model=args.model, nets=args.nets, seed=args.seed,
                                 chunk=args.batch, backend=args.backend, store=store, executor=executor,
                                 progress=tick, bn_backward=args.bn_backward, **options)
    out = result.to_dict()
    out["backend"] = args.backend
    if args.experiment == "pairs" and args.model == "path":
        from theory.pathsum import path_moments
        exact = path_moments(spec)["layer_curves"]
        out["exact"] = {k: [float(x) for x in exact[k]] for k in ("variance", "covariance", "correlation")}
    return out


def _table(out: dict) -> str:
    lines = [f"{out['spec']['arch']} {out['spec']}  model={out['model']}  backend={out['backend']}"]
    if out["experiment"] == "pairs":
        c = out["curves"]
        head = f"{'d':>4} {'variance':>24} {'covariance':>24} {'correlation':>22}"
        if "exact" in out:
            head += f" {'exact corr':>11}"
        if "effective_rank" in c:
            head += f" {'rel. eff. rank':>22}"
        lines.append(head)
        for k, d in enumerate(c["depth"]):
            row = f"{d:>4}"
            for key, w in (("variance", 24), ("covariance", 24), ("correlation", 22)):
                e = c[key][k]
                row += f" {e['mean']:>{w - 11}.5g} ± {e['stderr']:<8.2g}"
            if "exact" in out:
                row += f" {out['exact']['correlation'][k]:>11.5g}"
            if "effective_rank" in c:
                e = c["effective_rank"][k]
                row += f" {e['mean']:>11.4f} ± {e['stderr']:<8.2g}"
            lines.append(row)
        lines.append(f"({out['correlation']['n']} networks, {out['pairs_per_net']} pairs each; "
                     "d = layers between the neuron and the output; ± one standard error)")
    else:
        lines.append(f"{'lag':>4} {'ACF':>22}")
        for k, e in zip(out["acf"]["lag"], out["acf"]["values"]):
            lines.append(f"{k:>4} {e['mean']:>11.4f} ± {e['stderr']:<8.2g}")
        if out.get("spectral_exponent"):
            e = out["spectral_exponent"]
            lines.append(f"spectral exponent of df/dx (white noise 0, brown 2): {e['mean']:.3f} ± {e['stderr']:.2g} "
                         f"({e['n']} networks)")
    return "\n".join(lines)


@command("python -m montecarlo")
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        out = run(args)
    except (SpecError, StoreError) as err:
        print(f"python -m montecarlo: error: {err}", file=sys.stderr)
        return 2
    except (NonFiniteError, FloatingPointError) as err:
        print(f"python -m montecarlo: numerical failure: {err}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        print(_table(out))
    return 0
