"""Mutation testing of the symbolic checks: near misses of every stated form must be rejected.

A check that passes the paper's form proves little unless it would fail a form that is *almost*
right.  For every check of every claim, mutants of its stated form are fed through the very same
:meth:`theory.claims.Check.run` (``simplify`` and 30-digit random points, or rounding for a printed
number); each must fail.  The mutants:

* **base × 1.01** — every power ``b^e`` whose exponent holds a depth symbol (``L``, ``L_paper``)
  gets the base ``1.01·b`` (``2^-L`` → ``(2.02)^-L``);
* **depth ± 1** — the depth symbol shifted by one layer, ``L → L ± 1`` everywhere it appears:
  an off-by-one in the depth, which for Thm 3 is also the other index convention
  (``L_paper = L + 1``, :data:`theory.pathsum.PAPER_THM3_OFFSET`);
* **constant × 1.01** — the whole form times 1.01 (a wrong constant; for a zero form, ``+ 0.01``);
* **min ↔ max** — where the form holds ``Min`` (the shallow net's Brownian covariance), ``Max``;
* **printed neighbours** — a printed number (a ``rounds-to`` check) replaced by the neighbouring
  printed values (``0.7`` → ``0.6``, ``0.8``).

:func:`mutation_score` runs them all and reports rejected / tried and the survivors by name.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import sympy as sp

from . import symbols as S
from .claims import CLAIMS, FAIL, Check, Claim, L_paper

DEPTH_SYMBOLS = (S.L, L_paper)


@dataclass(frozen=True)
class Mutant:
    claim_id: str
    check: str
    kind: str
    stated: sp.Basic


def _scale_bases(expr: sp.Basic, factor: sp.Basic) -> sp.Basic:
    """Every power whose exponent holds a depth symbol, with its base times ``factor``."""
    def visit(e: sp.Basic) -> sp.Basic:
        if e.is_Atom:
            return e
        args = [visit(a) for a in e.args]
        if isinstance(e, sp.Pow) and e.exp.free_symbols & set(DEPTH_SYMBOLS):
            return sp.Pow(factor * args[0], args[1], evaluate=False)
        return e.func(*args)
    return visit(expr)


def mutants_of(claim: Claim, check: Check) -> list[Mutant]:
    """The near misses of one check's stated form (see the module docstring); a check that states one
    case of the claim's form (``Check.of_claim``) gets the mutants of the claim's form, in that case."""
    form = claim.stated if check.of_claim is not None else check.stated
    out: list[tuple[str, sp.Basic]] = []
    if check.kind == "rounds-to":
        step = sp.Rational(1, 10 ** check.digits)
        value = sp.nsimplify(form)
        out += [("printed neighbour", sp.Float(float(value - step))), ("printed neighbour", sp.Float(float(value + step)))]
    else:
        near = sp.Rational(101, 100)
        if any(isinstance(p, sp.Pow) and p.exp.free_symbols & set(DEPTH_SYMBOLS) for p in sp.preorder_traversal(form)):
            out.append(("base × 1.01", _scale_bases(form, near)))
        for symbol in DEPTH_SYMBOLS:
            if symbol in form.free_symbols:
                out += [("depth + 1", form.subs(symbol, symbol + 1)), ("depth − 1", form.subs(symbol, symbol - 1))]
        out.append(("constant × 1.01", near * form) if form != 0 else ("constant + 0.01", sp.Rational(1, 100)))
        if form.has(sp.Min):
            out.append(("min ↔ max", form.replace(sp.Min, sp.Max)))
    if check.of_claim is not None:
        out = [(kind, check.of_claim(stated)) for kind, stated in out]
    return [Mutant(claim.id, check.name, kind, stated) for kind, stated in out]


def mutation_score(claims: Sequence[Claim] = CLAIMS) -> dict:
    """Run every mutant through its check: ``{"tried", "rejected", "by_kind", "survivors"}``."""
    tried = rejected = 0
    by_kind: dict[str, list[int]] = {}
    survivors = []
    for claim in claims:
        for check in claim.checks:
            for m in mutants_of(claim, check):
                result = replace(check, stated=m.stated).run()
                ok = result.status == FAIL
                tried += 1
                rejected += ok
                counts = by_kind.setdefault(m.kind, [0, 0])
                counts[0] += ok
                counts[1] += 1
                if not ok:
                    survivors.append({"claim": m.claim_id, "check": m.check, "kind": m.kind,
                                      "stated": sp.sstr(m.stated), "detail": result.detail})
    return {"tried": tried, "rejected": rejected, "by_kind": {k: {"rejected": r, "tried": t}
                                                              for k, (r, t) in by_kind.items()},
            "survivors": survivors}
