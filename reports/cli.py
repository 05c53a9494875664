"""``python -m reports``: figures, LaTeX table, HTML report and Markdown summary from stored results.

    python -m reports [--store PATH] [--results FILE.json] --out DIR [--force]

Reads the results store (grid runs of :mod:`reports.catalog`; the CIFAR-10 documents of Fig. 5,
``python -m montecarlo.convnets``, and of Fig. 6, ``python -m montecarlo.convnets.train``) and a
``theory.verify --json`` document; never runs an experiment or trains a network.  With nothing stored it names the command to run first
(exit 2).  Exit codes: 0 written; 2 bad usage, nothing to report, unusable inputs, or an
existing report that ``--force`` was not given to replace.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from montecarlo.convnets.documents import fig6_command_line, setting
from montecarlo.run_options import add_store_options
from montecarlo.store import default_store_path
from theory.cli import command

from . import figures as F
from .catalog import GRID_ENTRIES
from .data import ReportInputError, ReportInputs, load_inputs, montecarlo_command
from .html import render_html
from .tables import claims_latex, claims_markdown

EXIT_OK, EXIT_USAGE = 0, 2
PRODUCE = "python -m reports.produce"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reports",
        description="Turn stored results into the paper's figures (PNG and PDF), a LaTeX verdict table, a "
                    "self-contained HTML report and a Markdown summary. Reads the results store and a "
                    "`python -m theory.verify --json` document only; never runs an experiment "
                    f"(run `{PRODUCE}` or `make report` first).",
        epilog="Writes DIR/figures/*.png|pdf, DIR/tables/claims.tex, DIR/report.html, DIR/summary.md. "
               "An existing DIR/report.html is not overwritten unless --force is given (then every file "
               "of the report in DIR is replaced). Exit codes: 0 written; 2 bad usage, nothing stored, "
               "unusable inputs or an existing report without --force.")
    add_store_options(p, read_only=True)
    p.add_argument("--results", metavar="FILE.json",
                   help="a `python -m theory.verify --json` document (verdict table, theory-vs-measurement figure)")
    p.add_argument("--out", metavar="DIR", required=True, help="output directory (created if needed)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing DIR/report.html and the other report files in DIR")
    return p


def _series(inputs: ReportInputs, names: Sequence[str]):
    return [inputs.grid[n] for n in names if n in inputs.grid]


def build_figures(inputs: ReportInputs, fig_dir: Path) -> tuple[list[F.Figure], list[str]]:
    """Every figure whose stored results exist; notes say what is missing and how to get it.

    The figures are independent, so they are drawn in worker processes (:func:`draw_all`); their order,
    files and captions are those of drawing them one after the other.
    """
    jobs: list[tuple] = []   # (function, args, kwargs), in the report's order
    notes: list[str] = []
    fig1 = _series(inputs, ("shallow", "ff-center-24", "resnet-bn-beta0.1-50"))
    if fig1:
        jobs.append((F.figure_1, ([(s.label, s.result, s.single_gradient) for s in fig1], fig_dir), {}))
    fig2 = [(title, [(s.label, s.result) for s in _series(inputs, names)]) for title, names in (
        ("feedforward, centred", ("shallow", "ff-center-2", "ff-center-4", "ff-center-10", "ff-center-24",
                                  "ff-center-50")),
        ("resnet, BN, β = 1", ("resnet-bn-beta1-2", "resnet-bn-beta1-10", "resnet-bn-beta1-50")),
        ("resnet, BN, β = 0.1", ("resnet-bn-beta0.1-10", "resnet-bn-beta0.1-50")))]
    fig2 = [(t, s) for t, s in fig2 if s]
    if fig2:
        jobs.append((F.figure_2, (fig2, fig_dir), {}))
    fig3 = [(s.label, s.result, s.entry.spec.norm == "bn") for s in _series(inputs, ("gates-ff-none", "gates-ff-bn"))]
    if fig3:
        jobs.append((F.figure_3, (fig3, fig_dir), {}))
    fig4 = [(s.label, s.result, s.raster) for s in _series(inputs, ("gates-ff-none", "gates-ff-bn", "gates-resnet-bn"))]
    if fig4:
        jobs.append((F.figure_4, (fig4, fig_dir), {"raster_command": F.RASTER_COMMAND + (
            f" --store {inputs.store_path}" if inputs.store_path else "")}))
    if inputs.fig5:
        from .figures_convnets import figure_5
        jobs.append((figure_5, (inputs.fig5, fig_dir), {}))
    else:
        notes.append("Fig. 5 (CIFAR-10 convnets): no stored fig5-convnets document; run `python -m montecarlo.convnets"
                     + (f" --store {inputs.store_path}" if inputs.store_path else "") + f"` (or `{PRODUCE}`).")
    if inputs.fig6:
        from .figures_training import figure_6
        jobs.append((figure_6, (inputs.fig6, fig_dir), {}))
    else:
        notes.append("Fig. 6 (CIFAR-10 training, §5.1): no stored fig6-training document; run "
                     "`python -m montecarlo.convnets.train"
                     + (f" --store {inputs.store_path}" if inputs.store_path else "") + f"` (or `{PRODUCE}`).")
    if inputs.verify is not None and F.correlation_claims(inputs.verify):
        jobs.append((F.figure_theory, (inputs.verify, fig_dir), {}))
    else:
        notes.append("Theory vs measurement: needs a verify document with Monte Carlo columns "
                     "(python -m theory.verify --json > verify.json; then --results verify.json).")
    figs = draw_all(jobs)
    older = sorted({e["code_version"] for e in inputs.fig6 if not e.get("current", True)}) if inputs.fig6 else []
    for fig in figs:
        if fig.name.startswith("fig6") and older:
            fig.caption += (f" Trained by older code (version {', '.join(older)}): rerun its command (Commands and "
                            "seeds, below) to train it again with the current code.")
    for e in inputs.missing:
        notes.append(f"{e.label} ({', '.join(e.figures)}): no stored grid run of {e.spec.describe()}; "
                     f"run `{PRODUCE}` (or python -m montecarlo with --experiment grid).")
    return figs, notes


_JOBS: list[tuple] = []
#: seconds each figure took to draw one after the other (2026-12-02, this project's 2-core machine):
#: the processes take the longest first, so that a long one is not left alone at the end
DRAW_SECONDS = {"figure_theory": 4.1, "figure_1": 3.8, "figure_4": 2.4, "figure_2": 2.1, "figure_5": 1.7,
                "figure_6": 0.6, "figure_3": 0.3}


def _draw(index: int) -> F.Figure:
    fn, args, kwargs = _JOBS[index]
    return fn(*args, **kwargs)


def draw_all(jobs: list[tuple]) -> list[F.Figure]:
    """``fn(*args, **kwargs)`` for every job, in forked worker processes (one per core, the figures being
    independent; a figure is drawn by matplotlib in one thread), results in the jobs' order.  One job, one
    core or no ``fork`` (not Linux): here, one after the other.  Measured 2026-12-01 on two cores: the
    report's seven figures 11 s one after the other, 7.8 s in two processes (the same bytes).  They are
    handed out longest first (:data:`DRAW_SECONDS`), the results kept in the jobs' order."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if len(jobs) < 2 or cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [fn(*args, **kwargs) for fn, args, kwargs in jobs]
    global _JOBS
    _JOBS = jobs
    order = sorted(range(len(jobs)), key=lambda i: -DRAW_SECONDS.get(jobs[i][0].__name__, 0.0))
    try:
        with ProcessPoolExecutor(min(cores, len(jobs)), mp_context=multiprocessing.get_context("fork")) as pool:
            drawn = dict(zip(order, pool.map(_draw, order)))
        return [drawn[i] for i in range(len(jobs))]
    finally:
        _JOBS = []


def provenance(inputs: ReportInputs) -> tuple[list[str], list[dict]]:
    commands, runs = [], []
    for name, s in inputs.grid.items():
        commands.append(montecarlo_command(s.run) + (f" --store {inputs.store_path}" if inputs.store_path else ""))
        runs.append({"label": s.label, "spec": s.entry.spec.describe(), "nets": s.nets, "seed": s.run.key.seed,
                     "points": s.run.options.get("points"), "backend": s.run.options.get("backend"),
                     "code_version": s.run.key.code_version + ("" if s.current else " (older code)")})
    for e in inputs.fig5:
        doc, o = e["document"], e["document"]["options"]
        commands.append(doc.get("command", "python -m montecarlo.convnets")
                        + (f" --store {inputs.store_path}" if inputs.store_path else ""))
        runs.append({"label": f"Fig. 5: loss {o['loss']}, BN backward {setting(doc)[1]}",
                     "spec": f"CIFAR-10 convnets ({', '.join(o.get('archs', []))}), width {o['width']}, "
                             f"β = {o['beta']:g}, depths {', '.join(map(str, o['depths']))}",
                     "nets": f"{o['minibatches']} per depth and arch (one per minibatch)", "seed": o["seed"],
                     "points": f"{o['batch_size']} images", "backend": f"torch CPU, {o.get('torch_threads')} threads",
                     "code_version": e["code_version"] + ("" if e.get("current", True) else " (older code)")})
    for e in inputs.fig6:
        doc, o = e["document"], e["document"]["options"]
        c = o["config"]
        commands.append((doc.get("command") or fig6_command_line(doc))
                        + (f" --store {inputs.store_path}" if inputs.store_path else ""))
        threads = f"{c.get('torch_threads')} thread(s)" if c.get("device", "cpu") == "cpu" else ""
        runs.append({"label": "Fig. 6: CIFAR-10 training (§5.1)",
                     "spec": f"thin convnets ({', '.join(o['archs'])}), depths {', '.join(map(str, o['depths']))}; "
                             f"{o['epochs']} epochs, batch {c['batch_size']}, Adam lr {c['lr']:g}"
                             + ("" if c.get("augment", True) else ", no augmentation"),
                     "nets": f"{o['seeds']} seed(s) per depth and arch", "seed": c["seed"],
                     "points": f"{c['train_images']} training / {c['test_images']} test images",
                     "backend": f"torch {str(c.get('device', 'cpu')).upper()}" + (f", {threads}" if threads else ""),
                     "code_version": e["code_version"] + ("" if e.get("current", True) else " (older code)")})
    if inputs.verify is not None:
        st = inputs.verify.get("settings") or {}
        cmd = "python -m theory.verify --json"
        if st:
            cmd += f" --seed {st.get('seed', 0)} --alpha {st.get('alpha_family', 1e-3):g} --backend {st.get('backend')}"
        else:
            cmd += " --symbolic-only"
        if inputs.verify.get("store"):
            cmd += f" --store {inputs.verify['store']}"
        commands.append(cmd + (f" > {inputs.verify_path}" if inputs.verify_path else ""))
    return commands, runs


def write_report(inputs: ReportInputs, out: Path) -> list[Path]:
    fig_dir, table_dir = out / "figures", out / "tables"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figs, notes = build_figures(inputs, fig_dir)
    written = [p for f in figs for p in f.paths]
    if inputs.verify is not None:
        table_dir.mkdir(parents=True, exist_ok=True)
        tex = table_dir / "claims.tex"
        tex.write_text(claims_latex(inputs.verify), encoding="utf-8")
        written.append(tex)
        summary = ("# Verdicts\n\nGenerated by `python -m reports` from a `theory.verify --json` document; "
                   "measured cells: estimate(standard error in the last digits) at depth d, then the verdict.\n\n"
                   + claims_markdown(inputs.verify))
    else:
        summary = ("# Verdicts\n\nNo verify document was given: run `python -m theory.verify --json > verify.json` "
                   "and pass `--results verify.json`.\n")
        notes.append("LaTeX table and verdict table: need --results (a theory.verify --json document).")
    summary += "\n## Figures\n\n" + "".join(f"* `figures/{f.name}.png` — {f.caption}\n" for f in figs)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    written.append(out / "summary.md")
    commands, runs = provenance(inputs)
    page = render_html(figures=figs, verify=inputs.verify, commands=commands, runs=runs, notes=notes,
                       store=str(inputs.store_path) if inputs.store_path else None,
                       results=str(inputs.verify_path) if inputs.verify_path else None)
    (out / "report.html").write_text(page, encoding="utf-8")
    written.append(out / "report.html")
    return written


@command("python -m reports")
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"{prog}: error: --out {out} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    if (out / "report.html").exists() and not args.force:
        print(f"{prog}: error: --out {out} already holds report.html; it is not overwritten without --force",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        inputs = load_inputs(args.store, args.results)
    except ReportInputError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if inputs.empty:
        where = args.store or str(default_store_path())
        print(f"{prog}: error: nothing to report: no stored grid run in {where} and no --results document. "
              f"Run `{PRODUCE}" + (f" --store {args.store}" if args.store else "") + " --results verify.json` "
              "(or `make report`) first, then pass --results verify.json.", file=sys.stderr)
        return EXIT_USAGE
    written = write_report(inputs, out)
    print(f"report written to {out}/report.html ({len(written)} files; "
          f"{len(inputs.grid)}/{len(GRID_ENTRIES)} grid runs found, {len(inputs.fig5)} Fig. 5 setting(s), "
          f"{len(inputs.fig6)} Fig. 6 run(s)"
          + (", verify document read" if inputs.verify is not None else ", no verify document") + ")")
    return EXIT_OK
