"""Oracle: the exact expectation of ∇_i ∇_j in the gate model, by brute-force symbolic algebra.

For a tiny network (N = 2, L = 2 or 3) the gradient is written out as a polynomial in the
weight, gate and readout symbols, multiplied out, and averaged term by term with Gaussian
moments (E[w] = 0, E[w²] = σ², E[w⁴] = 3σ⁴), idempotent Bernoulli gates (E[h] = p, and
E[h_i h_j] = q for the two inputs at one neuron) and independence.  No orthogonality and no
path counting is assumed; the result must equal the closed forms derived by path counting.
"""
import itertools

import pytest
import sympy as sp

from theory import derivations as D
from theory import symbols as S


def _expectation(poly_expr, weights, gates_i, gates_j, readout, sigma2, p, q):
    poly = sp.Poly(sp.expand(poly_expr), *(weights + readout + gates_i + gates_j))
    n_w, n_v, n_g = len(weights), len(readout), len(gates_i)
    total = 0
    gauss = {0: 1, 1: 0, 2: 1, 3: 0, 4: 3}
    for exps, coeff in poly.terms():
        term = coeff
        for e in exps[:n_w]:
            term *= gauss[e] * (sigma2 ** (e // 2) if e else 1)
        for e in exps[n_w:n_w + n_v]:
            term *= gauss[e]
        gi = exps[n_w + n_v:n_w + n_v + n_g]
        gj = exps[n_w + n_v + n_g:]
        for a, b in zip(gi, gj):
            term *= q if (a and b) else p if (a or b) else 1
        total += term
    return sp.simplify(total)


def _gradient(kind, N, L, alpha, beta, gates):
    """Row vector ∂(vᵀ x_L)/∂x_0 for one input, with symbolic weights and that input's gates."""
    W = [sp.Matrix(N, N, lambda a, b, l=l: sp.Symbol(f"w{l}_{a}{b}")) for l in range(L)]
    v = sp.Matrix(1, N, lambda _, a: sp.Symbol(f"v{a}"))
    row = v
    for l in reversed(range(L)):
        D_l = sp.diag(*gates[l])
        if kind == "ff":
            J = W[l] * D_l
        elif kind == "resnet":
            J = alpha * (sp.eye(N) + beta * W[l] * D_l)
        elif kind == "crelu":
            J = W[l] * D_l + (-W[l]) * (-sp.diag(*[1 - h for h in gates[l]]))
        row = row * J
    weights = [w for M in W for w in M]
    return row, weights, list(v)


@pytest.mark.parametrize("kind, L", [("ff", 2), ("ff", 3), ("resnet", 2), ("resnet", 3), ("crelu", 2)])
def test_exact_gate_model_expectation_equals_the_path_count(kind, L):
    N = 2
    sigma2 = S.c / N
    gi = [[sp.Symbol(f"hi{l}_{a}") for a in range(N)] for l in range(L)]
    gj = [[sp.Symbol(f"hj{l}_{a}") for a in range(N)] for l in range(L)]
    row_i, weights, readout = _gradient(kind, N, L, S.alpha, S.beta, gi)
    row_j, _, _ = _gradient(kind, N, L, S.alpha, S.beta, gj)
    flat_i = list(itertools.chain(*gi))
    flat_j = list(itertools.chain(*gj))
    cov = _expectation(row_i[0] * row_j[0], weights, flat_i, flat_j, readout, sigma2, S.p, S.q)
    # variance: the same input twice, so each gate squared is itself (h² = h -> E = p)
    absent = [sp.Symbol(f"absent{k}") for k in range(len(flat_i))]
    var = _expectation(row_i[0] ** 2, weights, flat_i, absent, readout, sigma2, S.p, S.q)
    derivation = {"ff": lambda: D.derive_feedforward("none"), "resnet": D.derive_resnet,
                  "crelu": D.derive_crelu_ll}[kind]()
    at = {S.L: L}
    assert sp.simplify(cov - derivation.result["covariance_general"].subs(at)) == 0
    assert sp.simplify(var - derivation.result["variance_general"].subs(at)) == 0
