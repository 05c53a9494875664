"""``python -m theory.verify``: a verdict for every claim of the paper.

    python -m theory.verify [--claims ID ...] [--full] [--symbolic-only] [--seed K] [--alpha A] [--stability SEEDS]
        [--store PATH | --no-store] [--workers K | --scheduler ADDRESS]
        [--json] [--latex [FILE]] [--force] [--list]

For each claim of the registry (:mod:`theory.claims`):

* **symbolic** — the form derived by path counting (:mod:`theory.derivations`) against the
  paper's stated form, by ``simplify(derived − stated) == 0`` and at random numeric points, or
  the paper's printed numbers recomputed exactly;
* **path model** — Monte Carlo of Assumption 1's gate model against the same path sum (the
  theorem's own model: it must hold);
* **real networks** — Monte Carlo of sampled ReLU networks against the prediction: where real
  networks follow the theorem, and where they depart (a finding, not a failure);
* **infinite width** — the mean-field prediction (:mod:`theory.infinite_width`) against the same
  real-network samples: it explains where and why real networks depart (typical pairs only);
* **CIFAR-10 convnets** (effrank-depth, gradnorm-depth, Fig. 5c–d) — the registry's rule applied to
  the ``fig5-convnets`` documents of the results store (:mod:`montecarlo.convnets.evidence`), one
  verdict per stored setting; never computed here: without a stored document the verdict is
  ``n/a`` and the summary names the ``python -m montecarlo.convnets`` command to run.

Decisions come from :mod:`theory.decision` at a stated family-wise false-alarm rate; a claim
that needs a measurement never shows ``pass`` without one.  Every run also feeds deliberately
wrong forms (negative controls) through the same symbolic checks and the same Monte Carlo
samples; the run fails if any control is accepted.

**The application entry.**  This is the one module of :mod:`theory` that imports the engine
(:mod:`montecarlo`: the evidence, the results store, the executors) and :mod:`reports` (the
LaTeX table): it composes the layers for the user's command.  Every other module of
:mod:`theory` is pure maths and imports neither (``tests/test_layers.py`` checks it).

**Mutants** (:mod:`theory.mutants`): near misses of every stated form (base × 1.01, depth ± 1, a
wrong constant, …) are fed through the same symbolic checks; the mutation score is printed and
every mutant must be rejected.

Exit codes: 0 every symbolic check passes, the path model holds (no departure, no "holds
approximately" against its own exact form), every control and every mutant is rejected; 1
otherwise (and for ``--stability``: more than :data:`STABILITY_TARGET` cells change); 2 bad usage.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import sympy as sp

from kernels import BACKENDS
from montecarlo import evidence
from montecarlo.convnets import evidence as convnet_evidence
from montecarlo.convnets import training_evidence
from montecarlo.run_options import add_store_options, open_store, workers_error
from montecarlo.run_options import executor as executor_of
from montecarlo.store import StoreError
from reports.tables import claims_latex

from . import __version__, cli
from .claims import CLAIMS, CLAIMS_BY_ID, FAIL, NA, PASS, Claim, CheckResult, get_claim, negative_controls
from .decision import DEPARTS, HOLDS_APPROXIMATELY, NOT_APPLICABLE, location
from .mutants import mutation_score

MC_NOT_RUN = "not run yet"
RULE = ("four outcomes (theory.decision): holds = the (1 - alpha) interval inside the band mu ± delta and "
        "containing mu; holds approximately = inside the band, not containing mu; departs = outside the band; "
        "undecided = straddling an edge")
IW_NOT_AVAILABLE = {"verdict": NOT_APPLICABLE, "predicted": None, "estimate": None, "ci": None, "n": 0, "z": None,
                    "note": "no infinite-width comparison for this observable in this version"}


def claim_status(results: list[CheckResult]) -> str:
    if not results:
        return NA
    return PASS if all(r.status == PASS for r in results) else FAIL


def evaluate(claims: Sequence[Claim], progress: bool = False,
             settings: evidence.Settings | None = evidence.DEFAULT, store: Any = None,
             executor: Any = None) -> dict[str, Any]:
    """Run every claim's checks, the Monte Carlo comparisons (unless ``settings`` is None) and
    the negative controls; return the verify document."""
    start = time.perf_counter()
    controls = negative_controls()
    comparisons = evidence.plan(claims, settings) if settings is not None else []
    n_groups = len({c.group for c in comparisons})
    bar = _progress(len(claims) + len(controls) + n_groups) if progress else None
    runs: list[dict] = []
    family: dict[str, Any] = {}
    # the symbolic checks, controls and mutants run beside the Monte Carlo (:func:`_background_symbolic`);
    # neither depends on the other's timing.  The Monte Carlo stays on this thread, so that Ctrl-C stops it
    # at once.
    with _background_symbolic(claims, controls, bar) as symbolic:
        if settings is not None:
            stored = convnet_evidence.stored_documents(store)
            trained = training_evidence.stored_documents(store)
            n_cifar = convnet_evidence.count_tests(claims, stored) + training_evidence.count_tests(claims, trained)
            n_controls = sum(c.column == evidence.CONTROL for c in comparisons)
            total = len(comparisons) + n_cifar
            alpha = settings.alpha / max(total, 1)  # one family-wise rate, Bonferroni over every comparison
            scales = evidence.group_scales(comparisons)
            sizes = sorted({evidence.reachable_sizes(c.group, settings, scales[c.group]) for c in comparisons})
            family = {"alpha_family": settings.alpha, "alpha_each": alpha, "comparisons": total,
                      "sizes": [sizes[0], sizes[-1]] if sizes else [1, 1],
                      "split": {"monte_carlo": len(comparisons) - n_controls, "monte_carlo_controls": n_controls,
                                "cifar10_tests": n_cifar}}
            # and within each Monte Carlo group over the sizes it may stop at (evidence's module doc)
            runs = evidence.run(comparisons, settings, alpha, progress=bar, store=store, executor=executor)
        rows, control_rows, mutants = symbolic.result()
    if settings is not None:
        _attach_evidence(rows, claims, comparisons, control_rows)
        convnet_evidence.attach(rows, claims, stored, alpha, None if store is None else str(store.path))
        training_evidence.attach(rows, claims, trained, alpha, None if store is None else str(store.path))
    ok = (all(r["symbolic"] != FAIL for r in rows) and all(c["rejected"] for c in control_rows)
          and mutants["rejected"] == mutants["tried"]
          and all(r.get("path", {}).get("verdict") not in (DEPARTS, HOLDS_APPROXIMATELY) for r in rows))
    doc = {"version": __version__, "ok": ok, "claims": rows, "controls": control_rows, "mutants": mutants,
           "seconds": round(time.perf_counter() - start, 3)}
    if settings is not None:
        doc["settings"] = {**family, "rule": RULE, "precision": "each claim's own (theory.claims), "
                           f"closed forms × {settings.precision_scale:g}",
                           "power": settings.power, "ambiguity": settings.ambiguity,
                           "flops_per_run": settings.flops_per_run, "seed": settings.seed,
                           "pairs_per_net": settings.pairs, "path_width": settings.path_width,
                           "max_nets": settings.max_nets,
                           "budgets": {c.id: c.observable.budget for c in claims
                                       if c.observable is not None and c.observable.budget > 1},
                           "max_rounds": settings.max_rounds, "backend": settings.backend}
        doc["runs"] = runs
    return doc


class _SymbolicProcess:
    """The registry's symbolic rows computed in a spawned process; ``result()`` waits for them."""

    def __init__(self, ids: list[str], controls: list, bar):
        import multiprocessing
        import signal
        self.controls, self.bar = controls, bar
        # the child ignores Ctrl-C (the parent answers it with one line and ends the child)
        self.pool = multiprocessing.get_context("spawn").Pool(1, initializer=signal.signal,
                                                               initargs=(signal.SIGINT, signal.SIG_IGN))
        self.pending = self.pool.apply_async(_symbolic_rows_of, (ids,))
        self.ids = ids

    def result(self):
        rows = self.pending.get()
        if self.bar:
            for label in [*self.ids, *(c.id for c in self.controls)]:
                self.bar(label)
        return rows

    def close(self, finished: bool) -> None:
        if finished:
            self.pool.close()
        else:
            self.pool.terminate()
        self.pool.join()


@contextlib.contextmanager
def _background_symbolic(claims: Sequence[Claim], controls: list, bar):
    """The symbolic checks, controls and mutants beside the Monte Carlo.

    For the registry's own claims, in a spawned process: SymPy holds the GIL for ~8 s, which on a thread
    slowed the Monte Carlo's Python side (measured 2026-12-01: verify 51–53 → 47 s on two cores, the same
    document).  Other claims (a caller's own), or where no process can be started, on a thread.  The rows
    are the same either way (pure functions of the registry)."""
    registry = all(CLAIMS_BY_ID.get(c.id) is c for c in claims) and \
        [c.id for c in controls] == [c.id for c in negative_controls()]
    process = None
    if registry:
        try:
            process = _SymbolicProcess([c.id for c in claims], controls, bar)
        except (OSError, ImportError):
            process = None
    if process is None:
        with ThreadPoolExecutor(1, thread_name_prefix="symbolic") as background:
            yield background.submit(_symbolic_rows, claims, controls, bar)
        return
    finished = False
    try:
        yield process
        finished = True
    finally:
        process.close(finished)


def _symbolic_rows_of(ids: list[str]) -> tuple[list[dict], list[dict], dict]:
    """:func:`_symbolic_rows` of registry claims named by id (what a spawned process can be sent)."""
    return _symbolic_rows([get_claim(i) for i in ids], list(negative_controls()), None)


def _symbolic_rows(claims: Sequence[Claim], controls: list, bar) -> tuple[list[dict], list[dict], dict]:
    """Every claim's symbolic checks, the symbolic negative controls and the mutation score."""
    rows = []
    for claim in claims:
        rows.append(_claim_entry(claim, claim.run_checks()))
        if bar:
            bar(claim.id)
    control_rows = []
    for control in controls:
        results = control.run_checks()
        control_rows.append({"id": control.id, "kind": "symbolic", "rejected": claim_status(results) == FAIL,
                             "detail": "; ".join(r.detail for r in results)})
        if bar:
            bar(control.id)
    return rows, control_rows, mutation_score(claims)


def _attach_evidence(rows: list[dict], claims: Sequence[Claim], comparisons: list, control_rows: list) -> None:
    by_claim: dict[tuple[str, str], list] = {}
    exact: dict[str, float] = {}
    for c in comparisons:
        by_claim.setdefault((c.claim_id, c.column + (f":{c.label}" if c.label else "")), []).append(c.verdict)
        if c.exact is not None:
            exact[c.claim_id] = c.exact
    for row, claim in zip(rows, claims):
        path = evidence.column_entry(by_claim.get((claim.id, evidence.PATH), []))
        real = evidence.column_entry(by_claim.get((claim.id, evidence.REAL), []))
        infinite = evidence.column_entry(by_claim.get((claim.id, evidence.INFINITE_WIDTH), []))
        if infinite["verdict"] == NOT_APPLICABLE:
            infinite = dict(IW_NOT_AVAILABLE)
        row["path"], row["real"], row["infinite_width"] = path, real, infinite
        needs_mc = claim.observable is not None
        if needs_mc and claim.observable.spec is None:
            row["monte_carlo"] = MC_NOT_RUN + " (CIFAR-10 convnets are not in this version)"
        elif needs_mc:
            row["monte_carlo"] = f"path: {path['verdict']}; real: {real['verdict']}"
        if needs_mc:
            row["summary"] = evidence.summarize(claim, path, real, infinite, exact.get(claim.id))
            if claim.id in exact:
                row["exact"] = exact[claim.id]
        else:
            row["summary"] = "symbolic identity only."
    for claim in claims:
        for control in evidence.monte_carlo_controls(claim):
            verdicts = by_claim.get((claim.id, f"{evidence.CONTROL}:{control.description}"))
            if verdicts:
                control_rows.append({"id": f"mc-control:{claim.id}:{control.description}", "kind": "monte carlo",
                                     "rejected": evidence.rejected(verdicts),
                                     "detail": "; ".join(f"{location(v, compact=True)}: {v.verdict} (z={v.z:.1f})"
                                                        for v in verdicts)})


def _claim_entry(claim: Claim, results: list[CheckResult]) -> dict[str, Any]:
    return {
        "id": claim.id,
        "paper_ref": claim.paper_ref,
        "statement": claim.statement,
        "kind": claim.kind,
        "assumptions": list(claim.assumptions),
        "closed_form": claim.closed_form_text,
        "closed_form_latex": claim.closed_form_latex,
        "symbolic": claim_status(results),
        "checks": [{"name": r.name, "status": r.status, "detail": r.detail,
                    "derived": sp.sstr(r.derived) if r.derived is not None else None,
                    "derived_latex": sp.latex(r.derived) if r.derived is not None else None}
                   for r in results],
        "monte_carlo": MC_NOT_RUN if claim.observable is not None else NA,
        "observable": None if claim.observable is None else {
            "experiment": claim.observable.experiment, "quantity": claim.observable.quantity,
            "spec": claim.observable.spec.to_dict() if claim.observable.spec is not None else None,
            "depths": list(claim.observable.depths)},
    }


#: the stability target: at most this many verdict cells may change across the seeds of --stability
STABILITY_TARGET = 1
COLUMNS = ("path", "infinite_width", "real")


def verdict_cells(doc: dict[str, Any]) -> dict[str, str]:
    """``{"claim/column": verdict}`` of a verify document (the cells of its table; n/a cells left out)."""
    out = {}
    for c in doc["claims"]:
        for col in COLUMNS:
            v = (c.get(col) or {}).get("verdict")
            if v not in (None, NOT_APPLICABLE):
                out[f"{c['id']}/{col}"] = v
    return out


def stability(claims: Sequence[Claim], settings: Any, seeds: Sequence[int], store: Any = None,
              executor: Any = None, progress: bool = False) -> dict[str, Any]:
    """The verification once per seed; which verdict cells change between seeds, and the time per seed."""
    import dataclasses
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        doc = evaluate(claims, settings=dataclasses.replace(settings, seed=seed), store=store, executor=executor)
        runs.append({"seed": seed, "seconds": round(time.perf_counter() - t0, 1), "cells": verdict_cells(doc)})
        if progress:
            sys.stderr.write(f"\rseed {seed}: {runs[-1]['seconds']:.0f} s   ")
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\r" + " " * 30 + "\r")
    names = sorted({k for r in runs for k in r["cells"]})
    cells = {k: [r["cells"].get(k, NOT_APPLICABLE) for r in runs] for k in names}
    changing = {k: v for k, v in cells.items() if len(set(v)) > 1}
    return {"seeds": list(seeds), "cells": len(cells), "changing": len(changing), "target": STABILITY_TARGET,
            "changes": {k: {x: v.count(x) for x in sorted(set(v))} for k, v in changing.items()},
            "seconds": [r["seconds"] for r in runs], "verdicts": cells}


def render_stability(doc: dict[str, Any]) -> str:
    lines = [f"Stability over seeds {doc['seeds'][0]}..{doc['seeds'][-1]}: {doc['changing']} of {doc['cells']} "
             f"verdict cells change (target: at most {doc['target']}).",
             f"Seconds per seed: {', '.join(f'{s:.0f}' for s in doc['seconds'])} "
             f"(median {sorted(doc['seconds'])[len(doc['seconds']) // 2]:.0f})."]
    for cell, counts in doc["changes"].items():
        lines.append(f"  {cell}: " + ", ".join(f"{k} x{n}" for k, n in counts.items()))
    return "\n".join(lines)


def _progress(total: int):
    """A one-line progress indicator on stderr (only when stderr is a terminal)."""
    done = [0]

    def step(label: str) -> None:
        done[0] += 1
        sys.stderr.write(f"\r[{done[0]:2d}/{total}] {label:<28}")
        if done[0] == total:
            sys.stderr.write("\r" + " " * 40 + "\r")
        sys.stderr.flush()
    return step


def _cell(entry: dict[str, Any] | None, key: str = "estimate") -> str:
    """``verdict (d=…: value)``: the Monte Carlo estimate, or for the infinite-width column its prediction."""
    if not entry or entry.get("verdict") in (None, NOT_APPLICABLE):
        return "n/a"
    if entry.get(key) is None:
        return entry["verdict"]
    if entry.get("levels"):  # a trend: the levels, not the change
        return f"{entry['verdict']} (d=1..{entry['depth']}: {entry['levels']})"
    return f"{entry['verdict']} ({location(entry, compact=True)}: {entry[key]:.3g})"


def _budgets(settings: dict[str, Any]) -> str:
    """The claims whose groups may grow beyond the default cap (the registry's ``Observable.budget``)."""
    budgets = settings.get("budgets") or {}
    if not budgets:
        return ""
    return "; up to " + ", ".join(f"{k}× for {claim}" for claim, k in budgets.items()) + " (theory.claims says why)"


def render_text(doc: dict[str, Any]) -> str:
    with_mc = "settings" in doc
    if with_mc:
        rows = [(c["id"], c["paper_ref"], c["closed_form"], c["symbolic"], _cell(c.get("path")),
                 _cell(c.get("infinite_width"), "predicted"), _cell(c.get("real")) if c.get("observable") else "n/a")
                for c in doc["claims"]]
        headers = ("claim", "ref", "closed form", "symbolic", "path model", "infinite width", "real networks")
    else:
        rows = [(c["id"], c["paper_ref"], c["statement"], c["closed_form"], c["symbolic"], c["monte_carlo"])
                for c in doc["claims"]]
        headers = ("claim", "ref", "statement", "closed form", "symbolic", "Monte Carlo")
    out = [cli.text_table(headers, rows, max_width=40)]
    if with_mc:
        out.append("\n(path model, real networks: the Monte Carlo estimate; infinite width: its prediction, "
                   "compared with the real-network estimate.)\nIn words:")
        out.extend(f"  {c['id']}: {c['summary']}" for c in doc["claims"] if c.get("summary"))
    failed = [c for c in doc["claims"] if c["symbolic"] == FAIL]
    for c in failed:
        out.append(f"\nFAILED {c['id']}:")
        out.extend(f"  {r['name']}: {r['status']} — {r['detail']}" for r in c["checks"])
    rejected = sum(c["rejected"] for c in doc["controls"])
    out.append(f"\nNegative controls (wrong forms fed through the same checks and samples): "
               f"{rejected}/{len(doc['controls'])} rejected")
    for c in doc["controls"]:
        if not c["rejected"]:
            out.append(f"  ACCEPTED (a defect of the checker): {c['id']} — {c['detail']}")
    m = doc["mutants"]
    kinds = ", ".join(f"{k} {v['rejected']}/{v['tried']}" for k, v in m["by_kind"].items())
    out.append(f"Mutation score: {m['rejected']}/{m['tried']} near misses of the stated forms rejected by the same "
               f"symbolic checks ({kinds}).")
    for sv in m["survivors"]:
        out.append(f"  SURVIVED (a check that cannot see a near miss): {sv['claim']} / {sv['check']}: "
                   f"{sv['kind']} {sv['stated']}")
    n_pass = sum(c["symbolic"] == PASS for c in doc["claims"])
    n_sym = sum(c["symbolic"] != NA for c in doc["claims"])
    out.append(f"Symbolic: {n_pass}/{n_sym} claims pass.")
    if with_mc:
        st = doc["settings"]
        sp_ = st["split"]
        out.append(f"Monte Carlo: family-wise false-alarm rate {st['alpha_family']:g} over {st['comparisons']} "
                   f"comparisons ({sp_['monte_carlo']} Monte Carlo, {sp_['monte_carlo_controls']} controls, "
                   f"{sp_['cifar10_tests']} CIFAR-10 tests; Bonferroni): {st['alpha_each']:.2g} each; a Monte Carlo "
                   f"comparison is decided by its interval at {st['alpha_each']:.2g} over the {st['sizes'][0]}–"
                   f"{st['sizes'][1]} sizes its group may stop at (so that the stopping costs no rate), a CIFAR-10 "
                   f"test by its {1 - st['alpha_each']:.6%} one (Student t; Fieller for correlations). Rule: "
                   f"{st['rule']}. Precision: {st['precision']}. Networks: sampled until decided (power "
                   f"{st['power']:g}, at most {st['max_rounds']} rounds, {st['max_nets']} networks{_budgets(st)}); "
                   f"seed {st['seed']}.")
    else:
        out.append("Monte Carlo: not run (--symbolic-only).")
    out.append(f"Done in {doc['seconds']:.1f} s.")
    return "\n".join(out)


def build_parser() -> cli.Parser:
    p = cli.Parser(
        prog="python -m theory.verify",
        description="Check every claim of 'The Shattered Gradients Problem': closed forms derived by path "
                    "counting (SymPy) against the paper's statements, the paper's numbers recomputed "
                    "exactly, negative controls that must be rejected.",
        epilog="Exit codes: 0 every check passes and every control is rejected; 1 a check failed or a "
               "control passed; 2 bad usage.\nIds: " + ", ".join(c.id for c in CLAIMS),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", nargs="+", metavar="ID", help="check only these claims (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--latex", nargs="?", const="-", metavar="FILE",
                   help="print a booktabs table (to FILE if given; an existing FILE needs --force)")
    p.add_argument("--force", action="store_true", help="allow --latex FILE to replace an existing file")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--symbolic-only", action="store_true", help="skip the Monte Carlo columns")
    p.add_argument("--full", action="store_true",
                   help="tighter precision: ±0.005 on every correlation, 5%% on variances; up to 20000 networks "
                        "per run (long: meant for a quiet machine or --workers/--scheduler)")
    p.add_argument("--seed", type=int, default=0, help="seed of every Monte Carlo run (default 0)")
    p.add_argument("--alpha", type=float, default=1e-3, help="family-wise false-alarm rate (default 1e-3)")
    p.add_argument("--stability", type=int, metavar="SEEDS",
                   help="run the verification for SEEDS seeds (--seed, --seed + 1, ...) and report every verdict "
                        f"cell that changes between them (exit 1 when more than {STABILITY_TARGET} change)")
    p.add_argument("--backend", choices=BACKENDS, default="numba", help="Monte Carlo kernel (default numba)")
    add_store_options(p, what="every Monte Carlo chunk is written as it completes and reused by later runs (a killed run resumes)",
                      executor=True)
    return p


@cli.command("python -m theory.verify")
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.json and args.latex == "-":
        cli.usage_error(parser.prog, "--json and --latex (to stdout) both want stdout; give --latex a FILE")
    try:
        claims = [get_claim(i) for i in args.claims] if args.claims else list(CLAIMS)
    except KeyError as exc:
        cli.usage_error(parser.prog, "--claims: " + str(exc.args[0]))
    if args.list:
        print(cli.text_table(("claim", "ref", "statement"), [(c.id, c.paper_ref, c.statement) for c in claims],
                             max_width=70))
        return cli.EXIT_OK
    if args.latex not in (None, "-") and os.path.exists(args.latex) and not args.force:
        cli.usage_error(parser.prog, f"--latex {args.latex!r} exists; it is not overwritten without --force")
    if not 0 < args.alpha < 1:
        cli.usage_error(parser.prog, f"--alpha={args.alpha!r} is not allowed: a probability in (0, 1)")
    if args.seed < 0:
        cli.usage_error(parser.prog, f"--seed={args.seed!r} is not allowed: an integer >= 0")
    settings = None
    if not args.symbolic_only:
        import dataclasses
        settings = dataclasses.replace(evidence.FULL if args.full else evidence.DEFAULT, seed=args.seed,
                                       alpha=args.alpha, backend=args.backend)
    if workers_error(args):
        cli.usage_error(parser.prog, workers_error(args))
    store = None
    if settings is not None:
        try:
            store = open_store(args)
        except StoreError as exc:
            cli.usage_error(parser.prog, f"--store: {exc}")
    if args.stability is not None and (settings is None or args.stability < 2):
        cli.usage_error(parser.prog, f"--stability={args.stability!r} is not allowed: an integer >= 2 (seeds), "
                                     "without --symbolic-only")
    try:
        with executor_of(args) as executor:
            if args.stability is not None:
                doc = stability(claims, settings, range(args.seed, args.seed + args.stability), store, executor,
                                progress=sys.stderr.isatty() and not args.json)
                if args.json:
                    cli.dump_json(doc)
                else:
                    print(render_stability(doc))
                return cli.EXIT_OK if doc["changing"] <= STABILITY_TARGET else cli.EXIT_FAILED
            doc = evaluate(claims, progress=sys.stderr.isatty() and not args.json, settings=settings,
                           store=store, executor=executor)
    finally:
        if store is not None:
            store.close()
    if store is not None:
        doc["store"] = str(store.path)
    if args.json:
        cli.dump_json(doc)
    elif args.latex == "-":
        sys.stdout.write(claims_latex(doc))
    else:
        print(render_text(doc))
    if args.latex not in (None, "-"):
        with open(args.latex, "w", encoding="utf-8") as fh:
            fh.write(claims_latex(doc))
        if not args.json:
            print(f"LaTeX table written to {args.latex}")
    return cli.EXIT_OK if doc["ok"] else cli.EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
