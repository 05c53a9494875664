"""Step-by-step derivations and the checks that compare a derived form with a stated one.

A :class:`Derivation` is an ordered list of :class:`Step` s — a sentence and a SymPy
expression (or equation) — that prints as plain text or LaTeX (via ``sympy.latex``).

:func:`symbolic_equal` is the house check for identities (STYLE.md, after SymPy's own tests):
``simplify(lhs − rhs) == 0`` *and*, independently, agreement at random numeric points.
Both must hold; the numeric check guards against a simplifier that returns 0 too eagerly
and proves nothing when the symbolic one already failed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import sympy as sp


@dataclass(frozen=True)
class Step:
    """One line of a derivation: what was done, and the expression it produced."""

    text: str
    expr: sp.Basic | None = None

    def as_text(self) -> str:
        if self.expr is None:
            return self.text
        return f"{self.text}\n    {sp.sstr(self.expr)}"

    def as_latex(self) -> str:
        if self.expr is None:
            return f"\\item {_latex_text(self.text)}"
        return f"\\item {_latex_text(self.text)}\n  \\[ {sp.latex(self.expr)} \\]"


def _latex_text(text: str) -> str:
    out = text
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("^", r"\^{}"), ("~", r"\~{}")):
        out = out.replace(a, b)
    for a, b in (("α", r"$\alpha$"), ("β", r"$\beta$"), ("γ", r"$\gamma$"), ("σ", r"$\sigma$"),
                 ("ρ", r"$\rho$"), ("Φ", r"$\Phi$"), ("∇", r"$\nabla$"), ("Σ", r"$\Sigma$"),
                 ("Π", r"$\Pi$"), ("≤", r"$\le$"), ("≥", r"$\ge$"), ("→", r"$\to$"),
                 ("∞", r"$\infty$"), ("√", r"$\sqrt{}$"), ("²", r"$^2$"), ("·", r"$\cdot$"),
                 ("−", "-"), ("⊆", r"$\subseteq$"), ("∈", r"$\in$"), ("∉", r"$\notin$"),
                 ("≡", r"$\equiv$"), ("Γ", r"$\Gamma$"), ("ℓ", r"$\ell$"), ("≈", r"$\approx$"),
                 ("…", r"\ldots{}"), ("ᵀ", r"$^\top$"), ("′", "'"), ("—", "---"), ("–", "--")):
        out = out.replace(a, b)
    return out


@dataclass
class Derivation:
    """A titled, ordered list of steps; ``result`` holds the named final expressions."""

    title: str
    steps: list[Step] = field(default_factory=list)
    result: dict[str, sp.Basic] = field(default_factory=dict)

    def say(self, text: str, expr: sp.Basic | None = None) -> sp.Basic | None:
        """Append a step and return its expression (so derivations read top to bottom)."""
        self.steps.append(Step(text, expr))
        return expr

    def extend(self, other: "Derivation", prefix: str = "") -> None:
        for step in other.steps:
            self.steps.append(Step(prefix + step.text, step.expr))

    def as_text(self) -> str:
        lines = [self.title, "=" * len(self.title)]
        for i, step in enumerate(self.steps, 1):
            lines.append(f"{i:2d}. " + step.as_text())
        return "\n".join(lines)

    def as_latex(self) -> str:
        body = "\n".join(step.as_latex() for step in self.steps)
        return (f"\\paragraph{{{_latex_text(self.title)}}}\n"
                f"\\begin{{enumerate}}\n{body}\n\\end{{enumerate}}")


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing a derived expression with a stated one."""

    equal: bool
    symbolic_difference: sp.Basic
    numeric_max_error: float
    points: int
    detail: str


def _random_point(symbols: Iterable[sp.Symbol], rng: random.Random,
                  ranges: Mapping[sp.Symbol, tuple[float, float]] | None) -> dict:
    point = {}
    for s in symbols:
        if ranges and s in ranges:
            lo, hi = ranges[s]
            if s.is_integer:
                point[s] = sp.Integer(rng.randint(int(lo), int(hi)))
            else:
                point[s] = sp.Float(rng.uniform(lo, hi), 30)
        elif s.is_integer:
            point[s] = sp.Integer(rng.randint(1 if s.is_positive else 0, 40))
        elif s.is_positive or s.is_nonnegative:
            point[s] = sp.Float(rng.uniform(0.05, 3.0), 30)
        else:
            point[s] = sp.Float(rng.uniform(-3.0, 3.0), 30)
    return point


def symbolic_equal(derived: sp.Basic, stated: sp.Basic, *, points: int = 12, seed: int = 0,
                   ranges: Mapping[sp.Symbol, tuple[float, float]] | None = None,
                   rtol: float = 1e-20) -> Comparison:
    """Is ``derived ≡ stated``?  ``simplify(derived − stated) == 0`` and equal at random points.

    Random points draw integer symbols from their declared range and real symbols from
    (0.05, 3) (positive) or (−3, 3); ``ranges`` overrides per symbol.  Evaluation uses 30
    significant digits, so ``rtol`` can be tiny: a wrong form differs by far more.
    """
    diff = sp.simplify(sp.gammasimp(derived - stated))
    symbolic_zero = diff == 0
    rng = random.Random(seed)
    free = sorted((derived.free_symbols | stated.free_symbols), key=lambda s: s.name)
    worst = 0.0
    for _ in range(points):
        point = _random_point(free, rng, ranges)
        a = sp.N(derived.subs(point), 30)
        b = sp.N(stated.subs(point), 30)
        scale = max(abs(complex(a)), abs(complex(b)), 1e-300)
        worst = max(worst, abs(complex(a) - complex(b)) / scale)
    numeric_ok = worst <= rtol
    if symbolic_zero and numeric_ok:
        detail = f"simplify(derived - stated) == 0; max relative error {worst:.1e} at {points} random points"
    elif symbolic_zero:
        detail = f"simplify says 0 but {points} random points disagree (max relative error {worst:.3g})"
    else:
        detail = (f"simplify(derived - stated) = {sp.sstr(diff)}; "
                  f"max relative error {worst:.3g} at {points} random points")
    return Comparison(symbolic_zero and numeric_ok, diff, worst, points, detail)
