"""The Monte Carlo evidence: the path model's width, depth exponents, Fig. 4 as numbers, threads."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from montecarlo import evidence
from montecarlo.estimators import Estimate
from montecarlo.observables import level_shares, mean_run_length, run_lengths
from theory.claims import CLAIMS, get_claim
from theory.decision import DEPARTS, HOLDS, HOLDS_APPROXIMATELY, UNDECIDED
from theory.pathsum import path_moments
from theory.specs import ResnetSpec


def _path_specs():
    seen = []
    for claim in CLAIMS:
        obs = claim.observable
        if obs is not None and obs.spec is not None and obs.experiment == "typical_pairs" and obs.spec.arch != "shallow":
            if obs.spec not in seen:
                seen.append(obs.spec)
    return seen


@pytest.mark.parametrize("spec", _path_specs(), ids=lambda s: s.describe())
def test_the_path_sums_do_not_depend_on_the_width(spec):
    """Why the path model may be simulated at ``path_width``: its curves are the same at every N."""
    a = path_moments(spec)["layer_curves"]
    b = path_moments(dataclasses.replace(spec, width=evidence.DEFAULT.path_width))["layer_curves"]
    for key in ("variance", "covariance", "correlation"):
        np.testing.assert_allclose(np.asarray(a[key], float), np.asarray(b[key], float), rtol=1e-12)


def test_the_path_model_runs_at_its_width_and_real_networks_at_the_claims():
    comparisons = evidence.plan([get_claim("thm1b"), get_claim("thm3-exponent")], evidence.DEFAULT)
    for c in comparisons:
        expected = evidence.DEFAULT.path_width if c.model == "path" else 200
        assert c.spec.width == expected, (c.claim_id, c.column, c.spec.describe())
        if c.low_spec is not None:
            assert c.low_spec.width == expected
    wide = evidence.plan([get_claim("thm1b")], dataclasses.replace(evidence.DEFAULT, path_width=None))
    assert {c.spec.width for c in wide} == {200}


def _estimate(mean: float, stderr: float, n: int = 400) -> Estimate:
    return Estimate(mean, stderr, n)


def test_slope_estimate_and_its_interval():
    low, high = _estimate(0.2, 0.002), _estimate(0.1, 0.001)
    est, se, (lo, hi) = evidence.slope_estimate(low, high, (25, 100), alpha=1e-3)
    assert est == pytest.approx(-0.5)  # a halving over a factor of 4 in depth
    assert se == pytest.approx(math.hypot(0.01, 0.01) / math.log(4))
    assert lo < est < hi
    # the interval pairs the ends of the two correlations' own (1 - alpha/2) intervals
    lo1, hi1 = low.interval(1 - 1e-3 / 2)
    lo2, hi2 = high.interval(1 - 1e-3 / 2)
    assert lo == pytest.approx((math.log(lo2) - math.log(hi1)) / math.log(4))
    assert hi == pytest.approx((math.log(hi2) - math.log(lo1)) / math.log(4))
    # an interval reaching zero leaves that end unbounded
    _, _, (lo0, hi0) = evidence.slope_estimate(_estimate(0.2, 0.002), _estimate(0.01, 0.01, 30), (25, 100), 1e-3)
    assert lo0 == -math.inf and math.isfinite(hi0)


def test_slope_interval_covers_at_its_stated_rate():
    """Simulated correlations with known means: the slope interval misses at most alpha of the time."""
    rng = np.random.default_rng(0)
    alpha, n, misses, trials = 0.05, 200, 0, 2000
    truth = (math.log(0.08) - math.log(0.16)) / math.log(4)
    for _ in range(trials):
        a = rng.normal(0.16, 0.05, n)
        b = rng.normal(0.08, 0.05, n)
        low = _estimate(a.mean(), a.std(ddof=1) / math.sqrt(n), n)
        high = _estimate(b.mean(), b.std(ddof=1) / math.sqrt(n), n)
        _, _, (lo, hi) = evidence.slope_estimate(low, high, (25, 100), alpha)
        misses += not (lo <= truth <= hi)
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / trials)  # binomial band above the guarantee
    assert misses / trials <= bound


class _Result:
    def __init__(self, r: Estimate):
        self.correlation = [r] * 100


def test_a_wrong_exponent_is_rejected_and_the_right_one_holds():
    spec = ResnetSpec(depth=100, width=200, beta=1.0, norm="bn")
    make = lambda predicted: evidence.Comparison(  # noqa: E731
        "x", evidence.REAL, "pairs", spec, "real", "correlation", 100, predicted, get_claim("thm3-exponent")
        .observable.precision, kind="slope", low_spec=dataclasses.replace(spec, depth=25))
    low, high = _Result(_estimate(0.2, 0.0005, 2000)), _Result(_estimate(0.1, 0.00025, 2000))
    assert evidence.decide_slope(make(-0.5), low, high, 1e-4).verdict == HOLDS
    assert evidence.decide_slope(make(-1.0), low, high, 1e-4).verdict == DEPARTS
    assert evidence.decide_slope(make(-0.58), _Result(_estimate(0.2, 0.02, 30)), high, 1e-4).verdict == UNDECIDED


def test_level_shares_and_mean_run_length():
    levels = np.array([[5, 0, 0, 1, 2, 3, 4, 0, 0, 5]])  # 20 units in ten bins over [0, 1]
    outer, middle = level_shares(levels)
    assert outer[0] == pytest.approx(10 / 20) and middle[0] == pytest.approx(10 / 20)
    runs = np.zeros((1, 8))
    runs[0, 0], runs[0, 3] = 4, 1  # four runs of 1, one of 4: mean 8/5
    assert mean_run_length(runs)[0] == pytest.approx(8 / 5)


def test_fair_coins_have_mean_runs_of_two():
    """The baseline of the 'shattered' band: independent fair gates along the grid (mean run 2)."""
    rng = np.random.default_rng(1)
    M, units = 256, 4000
    counts = np.zeros((1, M))
    for row in rng.random((units, M)) < 0.5:
        np.add.at(counts[0], run_lengths(row) - 1, 1)
    # runs per row: 1 + (M - 1)/2 on average, so the pooled mean is M / (1 + (M - 1)/2) ≈ 2 - 2/M
    assert mean_run_length(counts)[0] == pytest.approx(M / (1 + (M - 1) / 2), rel=0.01)


def test_threads_do_not_change_a_bit():
    settings = dataclasses.replace(evidence.DEFAULT, pilot_nets=8, max_rounds=1, pairs=4)
    claims = [get_claim("thm1b")]

    def estimates(threads: int):
        comparisons = evidence.plan(claims, dataclasses.replace(settings, threads=threads))
        evidence.run(comparisons, dataclasses.replace(settings, threads=threads), alpha=1e-3)
        return [(c.column, c.depth, c.verdict.estimate, c.verdict.stderr, c.verdict.verdict) for c in comparisons]
    assert estimates(1) == estimates(2)


def test_groups_sampled_side_by_side_give_the_same_run(monkeypatch):
    """Groups in flight together (each growing over rounds, on a shared pool) decide exactly as one
    after the other, and several did run at once."""
    import threading
    settings = dataclasses.replace(evidence.DEFAULT, pilot_nets=8, max_rounds=3, pairs=4, max_nets=40)
    claims = [get_claim("thm1b"), get_claim("thm2a")]
    inner = evidence._sample_group
    running, most = [0], [0]
    lock = threading.Lock()

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return inner(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1
    monkeypatch.setattr(evidence, "_sample_group", counted)

    def run(in_flight: int):
        monkeypatch.setattr(evidence, "GROUPS_IN_FLIGHT", in_flight)
        comparisons = evidence.plan(claims, dataclasses.replace(settings, threads=2))
        runs = evidence.run(comparisons, dataclasses.replace(settings, threads=2), alpha=1e-3)
        return ([(c.claim_id, c.column, c.depth, c.verdict.estimate, c.verdict.stderr, c.verdict.verdict)
                 for c in comparisons], [(r["spec"], r["model"], r["nets"], r["rounds"]) for r in runs])
    one_by_one = run(1)
    assert most[0] == 1
    most[0] = 0
    assert run(4) == one_by_one
    assert most[0] > 1
    assert max(r[3] for r in one_by_one[1]) > 1      # some group did grow over rounds


def test_increment_gaussianity_recovers_the_binomial_law_and_gaussian_zero():
    """A1's statistic on simulated shallow-net gradients (exact law (1 - p)/(N p)) and on Gaussian paths (0)."""
    from montecarlo.estimators import StreamingMoments
    from montecarlo.observables import increment_gaussianity
    from montecarlo.sampling import grid_points
    from theory.derivations import shallow_increment_gaussianity
    rng = np.random.default_rng(3)
    grid, N, nets = grid_points(64), 50, 3000
    shallow, gaussian = StreamingMoments((63,), 2), StreamingMoments((63,), 2)
    for _ in range(nets):
        b, w = rng.normal(size=N), rng.normal(0, 1 / math.sqrt(N), N)
        y = (w[None, :] * (grid[:, None] > b[None, :])).sum(axis=1)  # f'(x) = sum_i w_i 1[x > b_i]
        g = np.cumsum(rng.normal(size=64))
        for acc, path in ((shallow, y), (gaussian, g)):
            step = np.diff(path)
            acc.add(np.stack([step ** 2, step ** 4], axis=1))
    est = increment_gaussianity(shallow, grid)
    exact = shallow_increment_gaussianity(N, 1.0, grid, 1.0)
    assert abs(est.mean - exact) < 4 * est.stderr, (est, exact)
    zero = increment_gaussianity(gaussian, grid)
    assert abs(zero.mean) < 4 * zero.stderr
    assert abs(est.mean - 2 * exact) > 4 * est.stderr  # a wrong constant is told apart


def test_a_slopes_groups_grow_by_the_same_rule_as_every_group(monkeypatch):
    """Both groups of a depth exponent grow at most ×growth per round (as _sample_group's rounds do)."""
    settings = dataclasses.replace(evidence.DEFAULT, pilot_nets=6, max_rounds=3, pairs=4, growth=2)
    comparisons = [c for c in evidence.plan([get_claim("thm3-exponent")], settings) if c.column == "path"]
    monkeypatch.setattr(evidence, "slope_networks_wanted", lambda *args, **kwargs: 10 ** 6)
    monkeypatch.setattr(evidence, "networks_wanted", lambda *args, **kwargs: 0)
    sizes: dict = {}
    inner = evidence._run_group

    def recorded(key, nets, *args, **kwargs):
        sizes.setdefault(key, []).append(nets)
        return inner(key, nets, *args, **kwargs)
    monkeypatch.setattr(evidence, "_run_group", recorded)
    evidence.run(comparisons, dataclasses.replace(settings, threads=1), alpha=1e-3)
    assert len(sizes) == 2
    for seq in sizes.values():
        assert seq[0] == 6 and len(seq) == 3
        assert all(b <= 2 * a for a, b in zip(seq, seq[1:]))


def test_a_round_moves_a_group_up_the_grid_of_sizes():
    """next_size: the smallest nets * 2^k (k >= 1) covering what is wanted, never above the cap; from a pilot
    every size is pilot * 2^k or the cap, and reachable_sizes counts them."""
    assert evidence.next_size(100, 110, 1000) == 200     # a round that would creep by 10 % doubles
    assert evidence.next_size(100, 300, 1000) == 400     # rounded up to the grid
    assert evidence.next_size(100, 400, 1000) == 400
    assert evidence.next_size(100, 10 ** 6, 250) == 250  # never above the cap
    settings = dataclasses.replace(evidence.DEFAULT, growth=4, max_rounds=5)
    deep = ("pairs", ResnetSpec(depth=99, width=200, beta=1.0, norm="bn"), "real")
    assert evidence.group_budget(deep, settings) == (24, 295)
    assert evidence.reachable_sizes(deep, settings) == 5     # 24, 48, 96, 192 and the cap 295
    rng = np.random.default_rng(0)
    for cap in (295, 1000, 7324):
        seen = {24}
        for _ in range(500):                              # random wants: the sizes reached are those counted
            nets = 24
            for _ in range(settings.max_rounds - 1):
                nets = evidence.next_size(nets, min(int(rng.integers(1, 10 ** 5)), nets * settings.growth), cap)
                seen.add(nets)
        assert seen <= {min(cap, 24 * 2 ** k) for k in range(9)}
    spec = dataclasses.replace(deep[1], depth=10)
    assert evidence.reachable_sizes(("pairs", spec, "real"), settings) == 7   # 24 ... 768 and the cap 1000


def test_a_groups_rounds_never_creep(monkeypatch):
    """A group whose members keep asking for a few more networks still at least doubles per round."""
    settings = dataclasses.replace(evidence.DEFAULT, pilot_nets=6, max_rounds=4, pairs=4, threads=1)
    comparisons = [c for c in evidence.plan([get_claim("thm1a")], settings) if c.column == "path"]
    sizes: list = []
    inner = evidence._run_group

    def recorded(key, nets, *args, **kwargs):
        sizes.append(nets)
        return inner(key, nets, *args, **kwargs)
    monkeypatch.setattr(evidence, "_run_group", recorded)
    monkeypatch.setattr(evidence, "networks_wanted", lambda c, result, *a, **k: result.variance[0].n + 1)
    evidence.run(comparisons, settings, alpha=1e-3)
    assert sizes == [6, 12, 24, 48]


def test_point_covariance_is_the_mean_of_the_products_at_the_covariance_points():
    """A1's observable: the accumulator's entries are the plain means (and standard errors) over networks of
    y(x_i) y(x_j) at the grid points nearest to sigma_b Phi^-1(q), recomputed here from the summary rows."""
    from scipy.stats import norm
    from montecarlo.observables import COVARIANCE_QUANTILES, GridExperiment, covariance_pairs, covariance_points
    from montecarlo.sampling import grid_points
    from theory.specs import ShallowSpec
    spec = ShallowSpec(width=40, bias_std=0.7)
    experiment = GridExperiment(spec, points=64, max_lag=16)
    at = covariance_points(64, 0.7)
    grid = grid_points(64)
    for i, q in zip(at, COVARIANCE_QUANTILES):   # nearest grid point to the quantile
        assert abs(grid[i] - 0.7 * norm.ppf(q)) <= (grid[1] - grid[0]) / 2 + 1e-12
    rows = experiment.summaries(5, range(0, 40), "numba")
    acc = experiment.accumulator()
    acc.add(rows)
    result = acc.result(5)
    dfdx, _ = experiment._derivative_and_gates(5, range(0, 40), "numba")
    y = dfdx[:, at]
    pairs = covariance_pairs()
    assert len(result.point_covariance) == len(pairs) == 10
    for e, (i, j) in zip(result.point_covariance, pairs):
        products = y[:, i] * y[:, j]
        assert e.n == 40
        assert e.mean == pytest.approx(products.mean(), rel=1e-12)
        assert e.stderr == pytest.approx(products.std(ddof=1) / math.sqrt(40), rel=1e-9)
    assert np.allclose(result.covariance_x, grid[at])


def test_a1_covariance_compares_every_pair_with_the_form_and_its_control_is_rejected():
    """One point comparison per pair of covariance points against Phi(min(x, x')/sigma_b) at the grid points
    themselves; on measurements that follow the form every pair holds and the He-constant control (2x) is
    rejected at every pair, while a covariance of a smooth process (t t' instead of min(t, t')) departs."""
    from scipy.stats import norm
    from montecarlo.observables import GridResult, covariance_pairs, covariance_points
    from montecarlo.sampling import grid_points
    claim = get_claim("a1-covariance")
    comparisons = evidence.plan([claim], evidence.DEFAULT)
    real = [c for c in comparisons if c.column == evidence.REAL]
    controls = [c for c in comparisons if c.column == evidence.CONTROL]
    assert len(real) == len(controls) == 10 and all(c.point for c in real)
    x = grid_points()[covariance_points(256, claim.observable.spec.bias_std)]
    pairs = covariance_pairs()
    for c, k, (i, j) in zip(real, controls, pairs):
        assert c.predicted == pytest.approx(norm.cdf(min(x[i], x[j])), rel=1e-12)
        assert k.predicted == pytest.approx(2 * c.predicted) and k.where == c.where == f"x, x' = {x[i]:.2f}, {x[j]:.2f}"

    def result_with(values):
        r = GridResult.__new__(GridResult)
        r.point_covariance = [Estimate(v, 0.01 * v, 4000) for v in values]
        return r
    alpha = 1e-3 / 200
    follows = result_with([c.predicted for c in real])
    assert all(evidence.decide_comparison(c, follows, alpha).verdict == HOLDS for c in real)
    assert all(evidence.decide_comparison(c, follows, alpha).verdict == DEPARTS for c in controls)
    t = norm.cdf(x)
    smooth = result_with([t[i] * t[j] for i, j in pairs])  # a covariance t t' of the same variances
    assert DEPARTS in [evidence.decide_comparison(c, smooth, alpha).verdict for c in real]


def test_the_shallow_group_is_capped_by_flops_only():
    """max_nets guards against finite-width biases; the shallow net's forms are exact at every width."""
    settings = evidence.DEFAULT
    shallow = next(c for c in evidence.plan([get_claim("a1-covariance")], settings)).group
    deep = next(c for c in evidence.plan([get_claim("thm2a")], settings) if c.column == evidence.REAL).group
    assert evidence.group_budget(shallow, settings)[1] == int(settings.flops_per_run // evidence.flops_per_network(
        *shallow[:2], settings)) > settings.max_nets
    assert evidence.group_budget(deep, settings)[1] <= settings.max_nets


def test_a_ratio_whose_fieller_interval_is_unbounded_asks_for_more_networks():
    """The looks-linear correlation is 1 network by network (delta-method se 0), but at depth 10 its
    denominator is not yet significant at the run's level with 24 networks: Fieller's interval is the whole
    line, and the sizing must ask for the networks that bound it (it asked for none)."""
    import types
    c = next(c for c in evidence.plan([get_claim("ll-correlation")], evidence.DEFAULT)
             if c.column == evidence.PATH and c.depth == 10)
    n, md, vdd = 24, 1.44, 0.05
    e = Estimate(1.0, 0.0, n, (md, md, vdd, vdd, vdd))
    result = types.SimpleNamespace(correlation=[e] * 10)
    alpha = 6e-7
    assert e.interval(1 - alpha) == (-math.inf, math.inf)
    want = evidence.networks_wanted(c, result, alpha, evidence.DEFAULT)
    assert want > n
    grown = Estimate(1.0, 0.0, want, (md, md, vdd * n / want, vdd * n / want, vdd * n / want))
    assert all(math.isfinite(x) for x in grown.interval(1 - alpha))


def _sequential_outcomes(truth: float, point: bool, alpha: float, reps: int, seed: int, hunt: bool = False):
    """The run's sequential procedure (pilot, next_size, networks_wanted, decide at the group's level) on
    one synthetic comparison: per network a N(truth, 1) value against mu = 1 +- 0.2; cap 1000.  With
    ``hunt`` a wrong one: every interval at the undivided share ``alpha`` (the level before the sizes were
    counted), sampling on until a difference shows ("sample until significant")."""
    import types
    from theory.claims import Precision
    from theory.specs import FeedforwardSpec
    s, cap = evidence.DEFAULT, 1000
    cmp = evidence.Comparison("sim", evidence.REAL, "pairs", FeedforwardSpec(depth=2, width=8), "real", "variance",
                              1, 1.0, Precision(absolute=0.2), point=point)
    level = alpha if hunt else alpha / len({min(cap, 24 * 2 ** k) for k in range(9)})  # as reachable_sizes counts
    rng = np.random.default_rng(seed)
    counts: dict = {}
    for _ in range(reps):
        x = rng.normal(truth, 1.0, cap)

        def result(n):
            return types.SimpleNamespace(variance=[Estimate(float(x[:n].mean()), float(x[:n].std(ddof=1)) / math.sqrt(n), n)])
        n, rounds, r = 24, 1, result(24)

        def wanted(r):
            if hunt:
                return n if evidence.decide_comparison(cmp, r, level).verdict in (HOLDS_APPROXIMATELY, DEPARTS) \
                    else 10 ** 6
            return evidence.networks_wanted(cmp, r, level, s)
        w = wanted(r)
        while rounds < s.max_rounds and min(w, cap) > n:
            n = evidence.next_size(n, min(w, n * s.growth), cap)
            r, rounds = result(n), rounds + 1
            w = wanted(r)
        v = evidence.decide_comparison(cmp, r, level).verdict
        counts[v] = counts.get(v, 0) + 1
    return counts


def test_the_sequential_procedure_keeps_its_false_alarm_rates_whatever_the_stopping():
    """decision's guarantees hold for the procedure as run, not only at a fixed n: at alpha = 0.1 (measurable),
    a truth on the band's edge is called "holds" with probability <= alpha/2 and a truth at mu anything but
    "holds"/"undecided" with probability <= alpha (binomial bands, 3 se); a procedure that samples until it
    finds a difference is caught by the same measurement."""
    alpha, reps = 0.1, 600

    def within(k, p):
        return k / reps <= p + 3 * math.sqrt(p * (1 - p) / reps)
    edge = _sequential_outcomes(1.2, False, alpha, reps, seed=1)
    assert within(edge.get(HOLDS, 0), alpha / 2), edge
    at_mu = _sequential_outcomes(1.0, True, alpha, reps, seed=2)
    assert within(reps - at_mu.get(HOLDS, 0) - at_mu.get(UNDECIDED, 0), alpha), at_mu
    hunted = _sequential_outcomes(1.0, True, alpha, reps, seed=2, hunt=True)
    assert not within(reps - hunted.get(HOLDS, 0) - hunted.get(UNDECIDED, 0), alpha), hunted


def test_an_infinite_width_column_that_does_not_hold_is_named_at_its_own_depth():
    """thm2b at seed 0: real networks depart at d = 5 (their headline) while the mean-field column is undecided
    at d = 10 only; the sentence names d = 10 and its prediction, not the real column's depth."""
    from theory.decision import Verdict
    claim = get_claim("thm2b")

    def v(verdict, d, predicted, estimate):
        return Verdict(verdict, predicted, estimate, 0.1, (estimate - 1, estimate + 1), 1000, 1.0, 0.2 * predicted,
                       1e-6, (0.8 * predicted, 1.2 * predicted), depth=d)
    path = evidence.column_entry([v(HOLDS, d, 1.5 ** d, 1.5 ** d) for d in (1, 5, 10)])
    real = evidence.column_entry([v(DEPARTS, 5, 7.59, 14.9), v(DEPARTS, 10, 57.7, 161.7)])
    iw = evidence.column_entry([v(HOLDS, 5, 14.49, 14.9), v(UNDECIDED, 10, 143.5, 161.7)])
    assert real["depth"] == 5 and iw["verdict"] == UNDECIDED
    text = evidence.summarize(claim, path, real, iw)
    assert "143.5 at d = 10" in text and "undecided" in text, text
    held = evidence.column_entry([v(HOLDS, 5, 14.49, 14.9), v(HOLDS, 10, 143.5, 161.7)])
    assert "14.49 at d = 5" in evidence.summarize(claim, path, real, held)


def test_a_claims_budget_scales_its_real_groups_cap_and_their_level():
    """Observable.budget: a real-network group's cap is the default times the largest budget of its claims
    (flops and networks alike), its level divided over the larger number of sizes that cap allows; the
    path model's groups keep theirs; a budget needs its reason; verify prints and records the budgets."""
    from theory.verify import _budgets
    settings = evidence.DEFAULT
    comparisons = evidence.plan([get_claim("thm2a"), get_claim("thm2b"), get_claim("thm3b")], settings)
    scales = evidence.group_scales(comparisons)
    res10 = ("pairs", ResnetSpec(depth=10, width=200), "real")
    bn50 = ("pairs", ResnetSpec(depth=50, width=200, beta=0.1, norm="bn"), "real")
    assert scales[res10] == 4 and scales[bn50] == 4            # thm2a shares thm2b's group: the larger budget
    assert all(s == 1 for key, s in scales.items() if key[2] == "path")
    assert evidence.group_budget(res10, settings) == (24, 1000)
    assert evidence.group_budget(res10, settings, 4) == (24, 4000)                       # networks × 4
    assert evidence.group_budget(bn50, settings, 4)[1] == int(4 * settings.flops_per_run // evidence.flops_per_network(
        "pairs", bn50[1], settings))                                                        # flops × 4: 2343
    assert evidence.reachable_sizes(res10, settings, 4) > evidence.reachable_sizes(res10, settings)
    with pytest.raises(ValueError, match="budget_reason"):
        dataclasses.replace(get_claim("thm2b").observable, budget=2, budget_reason="")
    with pytest.raises(ValueError, match="budget=0 is not allowed"):
        dataclasses.replace(get_claim("thm2b").observable, budget=0)
    assert _budgets({"budgets": {"thm2b": 4}}) == "; up to 4× for thm2b (theory.claims says why)"
    assert _budgets({"budgets": {}}) == ""
