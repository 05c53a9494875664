"""Every symbolic check catches near misses: the mutants of each stated form are rejected."""
from __future__ import annotations

import sympy as sp

from theory import mutants as M
from theory import symbols as S
from theory.claims import CLAIMS, PASS, Check, CheckResult, get_claim


def test_every_mutant_of_every_stated_form_is_rejected():
    score = M.mutation_score()
    assert score["survivors"] == [] and score["rejected"] == score["tried"] > 50
    assert {"base × 1.01", "depth + 1", "depth − 1", "constant × 1.01", "printed neighbour",
            "min ↔ max"} <= set(score["by_kind"])


def test_every_check_of_every_claim_has_mutants():
    for claim in CLAIMS:
        for check in claim.checks:
            assert M.mutants_of(claim, check), (claim.id, check.name)


def test_the_mutants_are_near_misses():
    thm1b = get_claim("thm1b")
    forms = {m.kind: m.stated for m in M.mutants_of(thm1b, thm1b.checks[0])}
    L = S.L
    assert sp.simplify(forms["depth + 1"] - 2 ** -(L + 1)) == 0
    assert sp.simplify(forms["constant × 1.01"] - sp.Rational(101, 100) * 2 ** -L) == 0
    assert abs(float(forms["base × 1.01"].subs(L, 1)) - 1 / 2.02) < 1e-12
    printed = {m.stated for m in M.mutants_of(get_claim("thm3-beta0.1"), get_claim("thm3-beta0.1").checks[0])}
    assert sorted(round(float(x), 6) for x in printed) == [0.6, 0.8]


def test_a_check_that_cannot_fail_is_reported(monkeypatch):
    """The score is not a constant: a check that passes whatever it is given lets every mutant survive."""
    monkeypatch.setattr(Check, "run", lambda self: CheckResult(self.name, PASS, "always", None, self.stated))
    score = M.mutation_score([get_claim("thm1b"), get_claim("cor1-limit")])
    assert score["rejected"] == 0 and len(score["survivors"]) == score["tried"] > 0
