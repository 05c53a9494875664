"""``python -m theory.verify``: a verdict for every claim of the paper.

    python -m theory.verify [--claims ID ...] [--json] [--latex [FILE]] [--force] [--list]

For each claim of the registry (:mod:`theory.claims`) it runs the symbolic checks — the form
derived by path counting (:mod:`theory.derivations`) against the paper's stated form, by
``simplify(derived − stated) == 0`` and at random numeric points, or the paper's printed
numbers recomputed exactly — and reports the Monte Carlo column.  In this version the Monte
Carlo engine is not wired in: claims that need it say ``not run yet`` (never ``pass``).

Every run also feeds deliberately wrong forms (negative controls, e.g. ``0.55^L`` for Thm 1)
through the same checks; the run fails if any control is accepted.

Exit codes: 0 all symbolic checks pass and every control is rejected; 1 otherwise; 2 bad usage.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Sequence

import sympy as sp

from . import __version__, cli
from .claims import CLAIMS, FAIL, NA, PASS, Claim, CheckResult, get_claim, negative_controls

MC_NOT_RUN = "not run yet"


def claim_status(results: list[CheckResult]) -> str:
    if not results:
        return NA
    return PASS if all(r.status == PASS for r in results) else FAIL


def evaluate(claims: Sequence[Claim], progress: bool = False) -> dict[str, Any]:
    """Run every claim's checks and the negative controls; return the verify document."""
    start = time.perf_counter()
    rows = []
    controls = negative_controls()
    total = len(claims) + len(controls)
    bar = _progress(total) if progress else None
    for claim in claims:
        results = claim.run_checks()
        rows.append(_claim_entry(claim, results))
        if bar:
            bar(claim.id)
    control_rows = []
    for control in controls:
        results = control.run_checks()
        control_rows.append({"id": control.id, "rejected": claim_status(results) == FAIL,
                             "detail": "; ".join(r.detail for r in results)})
        if bar:
            bar(control.id)
    ok = all(r["symbolic"] != FAIL for r in rows) and all(c["rejected"] for c in control_rows)
    return {"version": __version__, "ok": ok, "claims": rows, "controls": control_rows,
            "seconds": round(time.perf_counter() - start, 3)}


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


def render_text(doc: dict[str, Any]) -> str:
    rows = [(c["id"], c["paper_ref"], c["statement"], c["closed_form"], c["symbolic"], c["monte_carlo"])
            for c in doc["claims"]]
    out = [cli.text_table(("claim", "ref", "statement", "closed form", "symbolic", "Monte Carlo"), rows,
                          max_width=44)]
    failed = [c for c in doc["claims"] if c["symbolic"] == FAIL]
    for c in failed:
        out.append(f"\nFAILED {c['id']}:")
        out.extend(f"  {r['name']}: {r['status']} — {r['detail']}" for r in c["checks"])
    rejected = sum(c["rejected"] for c in doc["controls"])
    out.append(f"\nNegative controls (wrong forms fed through the same checks): "
               f"{rejected}/{len(doc['controls'])} rejected")
    for c in doc["controls"]:
        if not c["rejected"]:
            out.append(f"  ACCEPTED (a defect of the checker): {c['id']}")
    n_pass = sum(c["symbolic"] == PASS for c in doc["claims"])
    n_sym = sum(c["symbolic"] != NA for c in doc["claims"])
    n_mc = sum(c["monte_carlo"] == MC_NOT_RUN for c in doc["claims"])
    out.append(f"Symbolic: {n_pass}/{n_sym} claims pass. Monte Carlo: {n_mc} claims not run yet "
               f"(the Monte Carlo verdicts are not wired into this version).")
    out.append(f"Done in {doc['seconds']:.1f} s.")
    return "\n".join(out)


def render_latex(doc: dict[str, Any]) -> str:
    """A booktabs table of the claims, formulas rendered by ``sympy.latex``."""
    def esc(text: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                     ("§", r"\S{}"), ("^", r"\^{}")):
            text = text.replace(a, b)
        return text
    lines = [r"\begin{tabular}{llp{0.42\linewidth}lll}", r"\toprule",
             r"Claim & Ref. & Statement & Closed form & Symbolic & Monte Carlo \\", r"\midrule"]
    for c in doc["claims"]:
        form = f"${c['closed_form_latex']}$" if c["closed_form"] != "empirical" else "empirical"
        lines.append(f"{esc(c['id'])} & {esc(c['paper_ref'])} & {esc(c['statement'])} & {form} & "
                     f"{esc(c['symbolic'])} & {esc(c['monte_carlo'])} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def build_parser() -> cli.Parser:
    import argparse
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
    return p


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
    doc = evaluate(claims, progress=sys.stderr.isatty() and not args.json)
    if args.json:
        cli.dump_json(doc)
    elif args.latex == "-":
        sys.stdout.write(render_latex(doc))
    else:
        print(render_text(doc))
    if args.latex not in (None, "-"):
        with open(args.latex, "w", encoding="utf-8") as fh:
            fh.write(render_latex(doc))
        if not args.json:
            print(f"LaTeX table written to {args.latex}")
    return cli.EXIT_OK if doc["ok"] else cli.EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
