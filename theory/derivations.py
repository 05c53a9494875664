"""Closed forms of the paper, derived by counting weighted paths (SymPy).

Each ``derive_*`` function builds the gradient's variance ``E[∇_i²]`` and covariance
``E[∇_i ∇_j]`` as a path sum (:mod:`theory.pathsum`), with the weight gain ``c`` (σ² = c/N),
the gate moments ``p`` (active) and ``q`` (co-active) and the architecture's scalars kept
symbolic, lets SymPy reduce the sum, and only then substitutes the theorem's values
(He init ``c = 2``; Assumption 1 ``p = 1/2, q = 1/4``).  Every function returns a
:class:`~theory.derivation.Derivation` whose ``result`` holds the named expressions and
whose steps print as text or LaTeX.

Nothing here types in a theorem's answer: the stated forms live in :mod:`theory.claims`
and are *compared* with what is derived here.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from . import symbols as S
from .derivation import Derivation
from .pathsum import PAPER_THM3_OFFSET, Block, forward_variance_step, gate_moment, hop_gate

class _Named(sp.Symbol):
    """A symbol that prints as plain text but renders as the given LaTeX."""

    LATEX = {"E[nabla_i^2]": r"\mathbb{E}[\nabla_i^2]", "E[nabla_i nabla_j]": r"\mathbb{E}[\nabla_i \nabla_j]",
             "factor_l": r"\mathrm{factor}_l"}

    def _latex(self, printer):  # noqa: D401 - SymPy printer hook
        return self.LATEX.get(self.name, self.name)


E_var = _Named("E[nabla_i^2]")
E_cov = _Named("E[nabla_i nabla_j]")
Phi = sp.Lambda(S.x, (1 + sp.erf(S.x / sp.sqrt(2))) / 2)  # standard normal CDF


def _path_sum(block: Block, same_input: bool, d: Derivation) -> sp.Expr:
    """Reduce ``Σ_paths E[path-weight²] P(active)`` for a homogeneous block; record the steps."""
    gate = gate_moment(block.unit, same_input)
    lhs = E_var if same_input else E_cov
    what = "one input: each gate active with probability p" if same_input else \
        "two inputs: each gate co-active with probability q"
    s2 = block.skip ** 2
    t = block.branch ** 2 * S.N * S.sigma2 * gate
    if block.batchnorm:
        raise ValueError("batch-normalized blocks have layer-dependent factors: use _bn_path_sum")
    d.say(f"Path sum ({what}). A path crosses each layer by the skip (factor {sp.sstr(s2)}) or "
          "through the branch: N neurons to route to, weight variance sigma^2, gate moment "
          f"{sp.sstr(gate)}. Grouping paths by k = number of branch hops (C(L,k) choices of layers):",
          sp.Eq(lhs, sp.Sum(sp.binomial(S.L, S.k) * s2 ** (S.L - S.k) * t ** S.k, (S.k, 0, S.L))))
    if s2 == 0:
        moment = t ** S.L
        d.say("No skip connection: only k = L survives (0^0 = 1 for the k = L term)", sp.Eq(lhs, moment))
    else:
        moment = (s2 + t) ** S.L
        d.say("Binomial theorem (a finite sum, valid for every value of the summands)", sp.Eq(lhs, moment))
    moment = d.say("Substitute sigma^2 = c/N (the N neurons cancel the 1/N of each weight)",
                   sp.Eq(lhs, sp.powsimp(sp.factor(moment.subs(S.sigma2, S.c / S.N))))).rhs
    return moment


def forward_variance(block: Block, d: Derivation | None = None) -> sp.Expr:
    """Closed form of ``v(l−1)`` (for ``l >= 1``), the variance BN divides the branch input by.

    Solves the forward recursion ``v_l = s² v_{l−1} + b² c E[φ²]`` with ``v_0 = 1``
    (inputs N(0, I)) by ``sympy.rsolve``.
    """
    step = forward_variance_step(block, S.v(S.l - 1), S.c)
    if block.skip == 0:
        raise ValueError("feedforward BN: v_0 = 1 and v_l = c/2 for l >= 1; handled by the caller")
    sol = sp.rsolve(S.v(S.l) - step, S.v(S.l), {S.v(0): 1})
    prev = sp.simplify(sol.subs(S.l, S.l - 1))
    if d is not None:
        d.say("Forward variance of the block inputs (recursion solved by rsolve, v(0) = 1)",
              sp.Eq(S.v(S.l - 1), prev))
    return prev


def _bn_path_sum(block: Block, same_input: bool, d: Derivation) -> sp.Expr:
    """Path sum for batch-normalized blocks: the branch hop of layer l is divided by v(l−1)."""
    gate = gate_moment(block.unit, same_input)
    lhs = E_var if same_input else E_cov
    s2 = block.skip ** 2
    if s2 == 0:
        # feedforward + BN: layer 1 sees the unit-variance input, every later layer v = c/2.
        first = (block.branch ** 2 * S.c * gate).subs(S.sigma2, S.c / S.N)
        later = block.branch ** 2 * S.c * gate / (block.branch ** 2 * S.c / 2)
        moment = first * later ** (S.L - 1)
        d.say("Feedforward with BN: every path crosses every branch; BN divides layer l's branch "
              "by v(l-1) = 1 for l = 1 (the input) and c/2 afterwards", sp.Eq(lhs, moment))
        return sp.simplify(moment)
    v_prev = forward_variance(block)
    t = block.branch ** 2 * S.c * gate / v_prev
    d.say("Path sum = product over layers of (skip + branch), the branch of layer l rescaled by "
          "BN by 1/v(l-1) (statistics treated as constants)",
          sp.Eq(lhs, sp.Product(s2 + t, (S.l, 1, S.L))))
    if block.skip != 1 or not block.branch.has(S.beta):
        return sp.Product(s2 + t, (S.l, 1, S.L))  # no closed form attempted: exact finite product
    a = sp.Symbol("a", positive=True)
    factor = sp.factor(sp.simplify((s2 + t).subs(S.beta, sp.sqrt(2 / (S.c * a)))))
    d.say("Write a = 2/(c beta^2) (= 1/beta^2 for He init): the layer factor is a ratio of "
          "shifted integers", sp.Eq(_Named("factor_l"), factor))
    product = sp.Product(factor, (S.l, 1, S.L)).doit()
    d.say("The product telescopes into rising factorials", sp.Eq(lhs, product))
    value = sp.gammasimp(product.rewrite(sp.gamma))
    d.say("Rising factorials as Gamma functions", sp.Eq(lhs, value))
    value = value.subs(a, 2 / (S.c * S.beta ** 2))
    d.say("Back to beta", sp.Eq(lhs, value))
    return value


def _moments(block: Block, d: Derivation) -> tuple[sp.Expr, sp.Expr]:
    reduce = _bn_path_sum if block.batchnorm else _path_sum
    var = reduce(block, True, d)
    cov = reduce(block, False, d)
    return var, cov


def _finish(d: Derivation, var: sp.Expr, cov: sp.Expr, values: dict) -> Derivation:
    """Record general and substituted forms; ``values`` are the theorem's parameter values."""
    corr = sp.simplify(sp.powsimp(cov / var, force=True))
    d.say("Correlation R = E[nabla_i nabla_j] / E[nabla_i^2]", sp.Eq(sp.Symbol("R"), corr))
    d.result.update(variance_general=var, covariance_general=cov, correlation_general=corr)
    if values:
        subs_text = ", ".join(f"{sp.sstr(k_)} = {sp.sstr(v_)}" for k_, v_ in values.items())
        var_t = sp.simplify(sp.gammasimp(var.subs(values)))
        cov_t = sp.simplify(cov.subs(values))
        corr_t = sp.simplify(sp.powsimp(sp.gammasimp(cov_t / var_t), force=True))
        d.say(f"Substitute {subs_text}: variance", var_t)
        d.say("covariance", cov_t)
        d.say("correlation", corr_t)
        d.result.update(variance=var_t, covariance=cov_t, correlation=corr_t)
    return d


THEOREM_VALUES = {**S.HE_INIT, **S.ASSUMPTION_1}


@lru_cache(maxsize=None)
def derive_feedforward(norm: str = "none") -> Derivation:
    """Thm 1: ``E[∇²] = (c p)^L → 1``, ``E[∇_i∇_j] = (c q)^L → 2^{−L}`` (He init, Assumption 1)."""
    d = Derivation(f"Feedforward ReLU network, norm = {norm} (Thm 1)")
    if norm == "center":
        d.say("Mean-centering with statistics treated as constants leaves every derivative unchanged: "
              "same path sum as without normalization")
    block = Block(0, 1, "none" if norm == "center" else norm)
    var, cov = _moments(block, d)
    return _finish(d, var, cov, THEOREM_VALUES)


@lru_cache(maxsize=None)
def derive_resnet(alpha: sp.Expr = S.alpha, beta: sp.Expr = S.beta,
                  values: tuple = ()) -> Derivation:
    """Thm 2 and §3.3: ``α^{2L}(1 + β² c p)^L`` and ``α^{2L}(1 + β² c q)^L``."""
    d = Derivation("Resnet x_l = alpha (x_{l-1} + beta W rho(x_{l-1})), no normalization (Thm 2, §3.3)")
    var, cov = _moments(Block(alpha, alpha * beta, "none"), d)
    return _finish(d, var, cov, {**THEOREM_VALUES, **dict(values)})


@lru_cache(maxsize=None)
def derive_resnet_bn(beta: sp.Expr = S.beta) -> Derivation:
    """Thm 3: BN resnet with β-rescaling, α = 1; the exact finite-L product and its Gamma form.

    With ``a = 2/(c β²)`` (``= 1/β²`` for He init) the layer factor is
    ``(l − 1 + a + 2G)/(l − 1 + a)`` and the path sum telescopes to
    ``Γ(a) Γ(a + 2G + L) / (Γ(a + 2G) Γ(a + L))``: ``1 + β² L`` for ``G = p = 1/2``.
    """
    d = Derivation("Resnet with batch normalization and beta-rescaling, alpha = 1 (Thm 3)")
    d.say("Index convention: L = number of residual blocks between the neuron and the output. "
          f"The paper's Thm 3 writes beta^2 (L-1) + 1, i.e. its L is ours + {PAPER_THM3_OFFSET}")
    block = Block(1, beta, "bn")
    var, cov = _moments(block, d)
    d = _finish(d, var, cov, THEOREM_VALUES)
    L_paper = sp.Symbol("L_paper", integer=True, positive=True)
    d.say("In the paper's convention (L_paper = L + 1): variance",
          sp.expand(d.result["variance"].subs(S.L, L_paper - PAPER_THM3_OFFSET)))
    d.result["variance_paper_convention"] = d.result["variance"].subs(S.L, L_paper - PAPER_THM3_OFFSET)
    d.result["L_paper"] = L_paper
    return d


def _log_with_loggamma(expr: sp.Expr) -> sp.Expr:
    """``log(expr)`` expanded, with ``log Γ(z)`` written as ``loggamma(z)`` (all arguments positive)."""
    out = sp.expand_log(sp.log(expr), force=True)
    return out.replace(lambda u: isinstance(u, sp.log) and isinstance(u.args[0], sp.gamma),
                       lambda u: sp.loggamma(u.args[0].args[0]))


def _expansion(expr: sp.Expr, var: sp.Symbol, order: int = 2) -> sp.Expr:
    """Series of ``expr`` at ``var = 0``, constants of the form log(2π)/2 − log 2/2 − log π/2 cleared."""
    series = sp.series(expr, var, 0, order).removeO()
    return sp.expand(sp.simplify(sp.expand_log(series, force=True)))


@lru_cache(maxsize=None)   # four claims' checks and their mutants ask for it: one expansion per process
def thm3_asymptotics() -> Derivation:
    """Thm 3 b–c as asymptotic expansions (He init, Assumption 1), from the exact Gamma form.

    With ``w = 1/L``: ``log cov = −½ log w + log K(β) + (1/(2β²) − 1/8) w + O(w²)``, so
    ``cov = K(β) L^{1/2} (1 + O(1/L))``; with ``u = β²``: ``log K(β) − log β = u/8 + O(u²)``,
    so ``K(β) = β (1 + β²/8 + …)`` — covariance ``~ β√L``.  The same expansion of the
    correlation gives ``L^{−1/2}`` times ``K_R(β) = (1 + β²/8 + …)/β`` — ``~ 1/(β√L)``.
    The exponents of ``L`` are read off the ``log w`` coefficient, not assumed.
    """
    base = derive_resnet_bn()
    d = Derivation("Thm 3 asymptotics: covariance ~ beta sqrt(L), correlation ~ 1/(beta sqrt(L))")
    w = sp.Symbol("w", positive=True)
    u = sp.Symbol("u", positive=True)
    for name, scale in (("covariance", S.beta), ("correlation", 1 / S.beta)):
        series = d.say(f"log({name}) expanded in w = 1/L",
                       _expansion(_log_with_loggamma(base.result[name]).subs(S.L, 1 / w), w))
        exponent = d.say(f"Exponent of L in the {name} (minus the coefficient of log w)",
                         sp.simplify(-series.coeff(sp.log(w))))
        constant, _rest = (series + exponent * sp.log(w)).as_independent(w, as_Add=True)
        prefactor = d.say(f"Prefactor K(beta) = lim_{{L->oo}} {name} / L^exponent",
                          sp.simplify(sp.exp(constant)))
        ratio = d.say(f"log(K(beta) / ({sp.sstr(scale)})) expanded in u = beta^2",
                      _expansion((constant - sp.log(scale)).subs(S.beta, sp.sqrt(u)), u))
        d.result.update({f"{name}_exponent": exponent, f"{name}_prefactor": prefactor,
                         f"{name}_prefactor_log_ratio_at_beta0": ratio.subs(u, 0),
                         f"{name}_prefactor_log_ratio": ratio})
    d.result.update(w=w, u=u)
    return d


@lru_cache(maxsize=None)
def thm3_number(beta_value: sp.Expr, paper_depth: int) -> Derivation:
    """The paper's two numbers: exact correlation at ``β`` and the paper's ``L`` (both conventions)."""
    base = derive_resnet_bn()
    corr = base.result["correlation"]
    d = Derivation(f"Thm 3 at beta = {beta_value}, L_paper = {paper_depth}")
    blocks = paper_depth - PAPER_THM3_OFFSET
    exact_paper = d.say(f"Correlation with L_paper = {paper_depth} ({blocks} blocks), exact",
                        sp.gammasimp(corr.subs({S.beta: beta_value, S.L: blocks})))
    exact_blocks = d.say(f"Correlation with {paper_depth} blocks, exact",
                         sp.gammasimp(corr.subs({S.beta: beta_value, S.L: paper_depth})))
    d.say("Numerically (30 digits)", sp.Tuple(sp.N(exact_paper, 30), sp.N(exact_blocks, 30)))
    d.result.update(paper_convention=exact_paper, blocks_convention=exact_blocks)
    return d


@lru_cache(maxsize=None)
def derive_highway() -> Derivation:
    """Cor. 1: ``(γ1² + γ2² c p)^L → 1`` and correlation ``(γ1² + γ2²/2)^L`` with γ2² = 1 − γ1²."""
    d = Derivation("Modified highway network x_l = gamma1 x_{l-1} + gamma2 W rho(x_{l-1}) (Cor. 1)")
    var, cov = _moments(Block(S.gamma1, S.gamma2, "none"), d)
    values = {**THEOREM_VALUES, S.gamma2: sp.sqrt(1 - S.gamma1 ** 2)}
    d.say("Constraint gamma1^2 + gamma2^2 = 1: substitute gamma2 = sqrt(1 - gamma1^2)")
    return _finish(d, var, cov, values)


@lru_cache(maxsize=None)
def highway_limit() -> Derivation:
    """Cor. 1's limit: with ``γ1² = 1 − 1/L``, ``lim_{L→∞} R = 1/√e`` (``sympy.limit``)."""
    corr = derive_highway().result["correlation"]
    d = Derivation("Cor. 1 limit with gamma1^2 = 1 - 1/L")
    at = d.say("Correlation with gamma1 = sqrt(1 - 1/L)", sp.simplify(corr.subs(S.gamma1, sp.sqrt(1 - 1 / S.L))))
    lim = d.say("lim_{L->oo}", sp.limit(at, S.L, sp.oo))
    d.result.update(correlation_at_default=at, limit=lim)
    return d


@lru_cache(maxsize=None)
def derive_crelu_ll() -> Derivation:
    """§5: ``(W, −W)(ρ(x); ρ(−x)) = W x``; gradients are constant, correlation exactly 1."""
    d = Derivation("CReLU with the mirrored looks-linear initialization (§5)")
    u_pos = sp.Symbol("u", positive=True)
    u_neg = sp.Symbol("u", negative=True)
    rho = sp.Lambda(S.x, sp.Max(S.x, 0))
    ident = rho(S.x) - rho(-S.x) - S.x
    d.say("Identity to prove: rho(x) - rho(-x) - x = 0", ident)
    cases = [sp.simplify(ident.subs(S.x, u)) for u in (u_pos, u_neg, 0)]
    d.say("Case by case (x > 0, x < 0, x = 0)", sp.Tuple(*cases))
    W = sp.Matrix(2, 2, sp.symbols("w11 w12 w21 w22", real=True))
    xv = sp.Matrix([u_pos, u_neg])
    mirrored = W * xv.applyfunc(rho) - W * (-xv).applyfunc(rho) - W * xv
    d.say("Hence (W, -W)(rho(x); rho(-x)) - W x, e.g. for a 2x2 W and x = (u>0, u<0)",
          sp.simplify(mirrored))
    h = sp.Symbol("h")
    d.say("Backward: the mirrored pair gates W by h and -W by -(1 - h); the hop factor per layer",
          hop_gate("crelu-mirrored", h))
    gate = d.say("Gate moment over the joint law of two inputs' gates (both on q, one on p - q, none "
                 "1 - 2p + q)", sp.simplify(gate_moment("crelu-mirrored", False)))
    d.say("and for one input", sp.simplify(gate_moment("crelu-mirrored", True)))
    block = Block(0, 1, "none", "crelu-mirrored")
    var, cov = _moments(block, d)
    d.result["identity_cases"] = cases
    d.result["identity_matrix"] = sp.simplify(mirrored)
    d.result["gate_moment"] = gate
    return _finish(d, var, cov, {})


@lru_cache(maxsize=None)
def derive_shallow() -> Derivation:
    """§1.1 / A1: ``E[f'(x) f'(x')] = c Φ(min(x, x')/σ_b)`` — Brownian motion in ``t = Φ(x/σ_b)``.

    ``f'(x) = Σ_i w_i v_i 1[x > b_i]`` with ``v_i = 1``, ``w_i ~ N(0, c/N)``,
    ``b_i ~ N(0, σ_b²)``; one path per hidden neuron, gate ``1[b_i < x]``.  Exact at every
    width (no Assumption 1 needed: the gates are determined by the biases).
    """
    d = Derivation("Shallow network f(x) = w^T rho(x v - b) on a scalar input (§1.1, A1)")
    b = sp.Symbol("b", real=True)
    density = sp.exp(-b ** 2 / (2 * S.sigma_b ** 2)) / (S.sigma_b * sp.sqrt(2 * sp.pi))
    d.say("f'(x) = sum_i w_i v_i 1[b_i < x]: neuron i is active at x when its bias lies below x; distinct "
          "neurons are orthogonal (independent w_i of mean 0), so E[f'(x) f'(x')] = N E[w^2] "
          "E[1[b < x] 1[b < x']] with N E[w^2] = c")
    joint = d.say("E[1[b < x] 1[b < x']] = integral of the N(0, sigma_b^2) density times both gates over b",
                  sp.simplify(sp.integrate(density * sp.Heaviside(S.x - b) * sp.Heaviside(S.xp - b),
                                           (b, -sp.oo, sp.oo))))
    cov = d.say("Covariance", S.c * joint)
    var = d.say("Variance at x (x' = x)", sp.simplify(cov.subs(S.xp, S.x)))
    gap = sp.Symbol("Delta", positive=True)
    below = d.say("Case x < x' (x' = x + Delta, Delta > 0)", sp.simplify(cov.subs(S.xp, S.x + gap)))
    above = d.say("Case x > x' (x = x' + Delta)", sp.simplify(cov.subs(S.x, S.xp + gap)))
    t = sp.Lambda(S.x, Phi(S.x / S.sigma_b))
    slope = d.say("Time change t(x) = Phi(x/sigma_b): dt/dx (a Gaussian density)", sp.diff(t(S.x), S.x))
    increasing = bool(slope.is_positive)
    d.say(f"dt/dx > 0 is {increasing}: t is increasing, so min(t(x), t(x')) = t(min(x, x'))")
    brownian = [sp.simplify(case - S.c * t(sp.Min(*pair)))
                for case, pair in ((below, (S.x, S.x + gap)), (above, (S.xp + gap, S.xp)))]
    bm_difference = d.say("Covariance minus the Brownian covariance c t(min(x, x')), in both cases",
                          sp.Add(*[abs(v) for v in brownian]))
    if not increasing:
        bm_difference = sp.nan
    d1, d2 = sp.symbols("delta_1 delta_2", positive=True)
    K = sp.Lambda((S.x, S.xp), cov)
    x1 = S.x
    increment = sp.simplify(K(x1 + d1 + d2, x1) - K(x1 + d1, x1))
    d.say("Independent increments: Cov(f'(x3) - f'(x2), f'(x1)) for x1 < x2 < x3", increment)
    corr = d.say("Correlation", cov / sp.sqrt(var * var.subs(S.x, S.xp)))
    d.result.update(covariance=cov, variance=var, correlation=corr, brownian_difference=bm_difference,
                    increment_covariance=increment, time=t(S.x), covariance_below=below, covariance_above=above,
                    gap=gap)
    return d


def shallow_covariance(x: float, x_prime: float, bias_std: float, weight_gain: float) -> dict:
    """Numbers from :func:`derive_shallow` at two inputs: variance at x, covariance, correlation."""
    res = derive_shallow().result
    subs = {S.c: weight_gain, S.sigma_b: bias_std}
    var_x = sp.N(res["variance"].subs({**subs, S.x: x}), 30)
    var_xp = sp.N(res["variance"].subs({**subs, S.x: x_prime}), 30)
    cov = sp.N(res["covariance"].subs({**subs, S.x: x, S.xp: x_prime}), 30)
    return {"variance": var_x, "variance_x_prime": var_xp, "covariance": cov,
            "correlation": cov / sp.sqrt(var_x * var_xp)}


@lru_cache(maxsize=None)
def derive_shallow_increments() -> Derivation:
    """A1 at finite width: how far the increments of the shallow net's ``f'`` are from Gaussian.

    Between grid points ``x < x'`` the increment is ``Δ = f'(x') − f'(x) = Σ_i w_i 1[x < b_i ≤ x']``:
    a sum of ``K`` independent ``N(0, c/N)`` weights, ``K ~ Binomial(N, p)`` the units whose bias
    falls in ``(x, x']`` (``p = Φ(x'/σ_b) − Φ(x/σ_b)``).  Conditionally on ``K`` it is Gaussian, so
    ``E[Δ²] = (c/N) E[K]`` and ``E[Δ⁴] = 3 (c/N)² E[K²]``, whence

        E[Δ⁴] / (3 E[Δ²]²) − 1 = (1 − p)/(N p)     (a third of the excess kurtosis),

    exact at every width and → 0 as ``N → ∞`` at fixed ``p``: the increments become Gaussian, as
    Donsker's theorem (A1) says the whole process does.
    """
    d = Derivation("Shallow net: the increments of f' along the grid at finite width (A1)")
    N, p, c = sp.Symbol("N", positive=True), sp.Symbol("p", positive=True), S.c
    mean_k = d.say("E[K] for K ~ Binomial(N, p)", N * p)
    second_k = d.say("E[K^2] = Var K + (E K)^2", N * p * (1 - p) + (N * p) ** 2)
    m2 = d.say("E[Delta^2] = (c/N) E[K] (K weights of variance c/N, given K)", c / N * mean_k)
    m4 = d.say("E[Delta^4] = 3 (c/N)^2 E[K^2] (a Gaussian's fourth moment, given K)", 3 * (c / N) ** 2 * second_k)
    g = d.say("E[Delta^4] / (3 E[Delta^2]^2) - 1", sp.simplify(m4 / (3 * m2 ** 2) - 1))
    d.result.update(gaussianity=g, width=N, step_probability=p, wide_limit=sp.limit(g, N, sp.oo))
    return d


def shallow_increment_gaussianity(width: int, bias_std: float, grid, window: float) -> float:
    """The exact ``G`` of :func:`derive_shallow_increments` averaged over the grid steps with both
    ends inside ``|x| <= window`` (the steps :func:`montecarlo.observables.increment_gaussianity`
    pools): ``mean_k (1 − p_k)/(N p_k)``, ``p_k = Φ(x_{k+1}/σ_b) − Φ(x_k/σ_b)``."""
    import math
    form = sp.lambdify((sp.Symbol("N", positive=True), sp.Symbol("p", positive=True)),
                       derive_shallow_increments().result["gaussianity"])
    phi = [0.5 * (1 + math.erf(float(x) / (bias_std * math.sqrt(2)))) for x in grid]
    values = [form(width, phi[k + 1] - phi[k]) for k in range(len(phi) - 1)
              if abs(grid[k]) <= window and abs(grid[k + 1]) <= window]
    return float(sum(values) / len(values))
