"""The claims registry: every symbolic check passes, wrong forms are rejected by the same checks."""
import math

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory import derivations as D
from theory import symbols as S
from theory.claims import CLAIMS, CLAIMS_BY_ID, FAIL, PASS, Check, get_claim, negative_controls

SYMBOLIC = [c for c in CLAIMS if c.checks]

REQUIRED = {"thm1a", "thm1b", "thm2a", "thm2b", "thm2c", "sec33a", "sec33b", "thm3a", "thm3b", "thm3c",
            "thm3-beta0.1", "thm3-beta1", "cor1a", "cor1b", "cor1-limit", "shallow-brown", "act-half",
            "coact-bn", "coact-climbs", "effrank-depth", "gradnorm-depth", "ll-linear", "ll-correlation"}


def test_registry_covers_every_claim_of_the_paper():
    assert REQUIRED <= set(CLAIMS_BY_ID)
    assert len(CLAIMS_BY_ID) == len(CLAIMS), "claim ids are unique"
    for claim in CLAIMS:
        assert claim.paper_ref and claim.statement and claim.assumptions
        assert claim.kind in ("theorem", "empirical")
        assert (claim.kind == "empirical") == (not claim.checks)


@pytest.mark.parametrize("claim", SYMBOLIC, ids=lambda c: c.id)
def test_symbolic_checks_pass(claim):
    results = claim.run_checks()
    assert results and all(r.status == PASS for r in results), [r.detail for r in results]


@pytest.mark.parametrize("control", negative_controls(), ids=lambda c: c.id)
def test_negative_controls_are_rejected_by_the_same_machinery(control):
    assert any(r.status == FAIL for r in control.run_checks())


@pytest.mark.parametrize("wrong", [sp.Rational(55, 100) ** S.L, 2 ** -(S.L + 1), 1 - S.L / 2 ** S.L])
def test_a_wrong_form_for_thm1_fails(wrong):
    check = Check("covariance", lambda: D.derive_feedforward().result["covariance"], wrong)
    assert check.run().status == FAIL


def test_wrong_paper_number_fails():
    check = Check("x", lambda: D.thm3_number(sp.Rational(1, 10), 100).result["paper_convention"],
                  sp.Float(0.8), kind="rounds-to")
    assert check.run().status == FAIL


def test_get_claim_names_allowed_ids():
    with pytest.raises(KeyError, match="claim='nope' is not allowed: one of thm1a"):
        get_claim("nope")


def test_thm3_numbers_recomputed_exactly():
    low = D.thm3_number(sp.Rational(1, 10), 100).result
    high = D.thm3_number(1, 100).result
    assert float(low["blocks_convention"]) == pytest.approx(0.70754885783596, abs=1e-12)
    assert float(low["paper_convention"]) == pytest.approx(0.70932216324407, abs=1e-12)
    assert float(high["blocks_convention"]) == pytest.approx(0.11213905228575, abs=1e-12)
    # the exact value is a rational number at beta = 1/10 (a = 100 is an integer)
    assert low["blocks_convention"].is_Rational


def test_highway_limit_and_its_approach():
    lim = D.highway_limit().result
    assert lim["limit"] == sp.exp(-sp.Rational(1, 2))
    values = [float(lim["correlation_at_default"].subs(S.L, n)) for n in (1, 10, 100, 10000)]
    assert values == sorted(values), "(1 - 1/(2L))^L increases towards its limit"
    assert abs(values[-1] - math.exp(-0.5)) < 1e-4


def test_thm3_asymptotic_prefactor_against_numbers():
    """K(beta) = lim cov/sqrt(L): the exact covariance at large L approaches K sqrt(L)."""
    asym = D.thm3_asymptotics().result
    cov = D.derive_resnet_bn().result["covariance"]
    for beta in (0.1, 0.5, 1.0):
        b = sp.Float(beta, 30)  # floats: exact Gamma of 10^6 + 1 would be a factorial with 5.6 million digits
        K = sp.N(asym["covariance_prefactor"].subs(S.beta, b), 20)
        at_large = sp.N(cov.subs({S.beta: b, S.L: 10 ** 6}) / sp.sqrt(10 ** 6), 20)
        assert abs(at_large / K - 1) < 1e-4
        assert abs(K / beta - 1) < beta ** 2 / 8 * 1.2 + 1e-12


@given(st.floats(0.05, 3.0), st.integers(1, 400))
def test_thm3_correlation_in_unit_interval_and_decreasing(beta, depth):
    corr = D.derive_resnet_bn().result["correlation"]
    r1 = float(sp.N(corr.subs({S.beta: beta, S.L: depth}), 20))
    r2 = float(sp.N(corr.subs({S.beta: beta, S.L: depth + 1}), 20))
    assert 0 < r2 < r1 <= 1


def test_every_derivation_prints_as_text_and_latex():
    for build in (D.derive_feedforward, D.derive_resnet, D.derive_resnet_bn, D.derive_highway, D.highway_limit,
                  D.derive_shallow, D.derive_crelu_ll, D.thm3_asymptotics):
        d = build()
        text, latex = d.as_text(), d.as_latex()
        assert len(d.steps) >= 2 and d.title in text
        assert latex.count(r"\item") == len(d.steps)


def test_shallow_covariance_numbers():
    out = D.shallow_covariance(-0.5, 0.5, bias_std=1.0, weight_gain=1.0)
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    assert float(out["covariance"]) == pytest.approx(phi(-0.5), rel=1e-12)
    assert float(out["correlation"]) == pytest.approx(math.sqrt(phi(-0.5) / phi(0.5)), rel=1e-12)
