"""The SymPy symbols of the theory, with their assumptions declared once.

``L`` depth (layers between the neuron and the output), ``l`` a layer index, ``k`` the number
of weight hops on a path, ``N`` width, ``c`` the gain in σ² = c/N, ``p`` the activation
probability of a gate and ``q`` the co-activation probability of a gate for two inputs
(Assumption 1: p = 1/2, q = 1/4), ``alpha``/``beta`` the resnet rescalings of eq. (2),
``gamma1``/``gamma2`` the highway scalars of §3.4, ``x``/``xp`` two scalar inputs and
``sigma_b`` the bias scale of the shallow net.
"""
import sympy as sp

L = sp.Symbol("L", integer=True, positive=True)
l = sp.Symbol("l", integer=True, positive=True)  # noqa: E741 — the paper's layer index
k = sp.Symbol("k", integer=True, nonnegative=True)
N = sp.Symbol("N", integer=True, positive=True)
c = sp.Symbol("c", positive=True)
sigma2 = sp.Symbol("sigma^2", positive=True)
p = sp.Symbol("p", positive=True)
q = sp.Symbol("q", positive=True)
alpha = sp.Symbol("alpha", positive=True)
beta = sp.Symbol("beta", positive=True)
gamma1 = sp.Symbol("gamma_1", positive=True)
gamma2 = sp.Symbol("gamma_2", positive=True)
x = sp.Symbol("x", real=True)
xp = sp.Symbol("x'", real=True)
sigma_b = sp.Symbol("sigma_b", positive=True)
v = sp.Function("v")  # forward variance v(l) of x_l

#: Assumption 1 (typical datapoints) and He initialization: the values the theorems use.
ASSUMPTION_1 = {p: sp.Rational(1, 2), q: sp.Rational(1, 4)}
HE_INIT = {c: sp.Integer(2)}
