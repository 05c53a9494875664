"""Monte Carlo evidence for the claims: plan the comparisons, sample until decided, decide, say it.

The claims, their closed forms and their precisions live in :mod:`theory.claims`; the decision
rule (four outcomes: holds, holds approximately, departs, undecided) in :mod:`theory.decision`.
This module measures each claim's observable on sampled networks
(:func:`montecarlo.runner.estimate`) and applies the rule; ``python -m theory.verify`` composes it.

For every claim with a typical-pairs observable, three columns (and its negative controls):

* ``path`` — the path-model simulation (Assumption 1's gate model) against the exact path sum of
  :mod:`theory.pathsum`, within the claim's precision.  This is the theorem's own model: anything
  but *holds* (or *undecided*) is a defect of the tool and fails the run.
* ``real`` — sampled ReLU networks at finite width against what the paper claims: the closed form,
  or — where the paper prints a number ("0.7") — the interval that number rounds to (a band claim,
  judged without "approximately"; the exact path value and the difference from it are reported
  beside).  A departure is a *finding* (where real networks depart from the proofs), not a failure.
* ``infinite_width`` — the mean-field prediction (:mod:`theory.infinite_width`, the same batch of
  ``2·pairs`` inputs, input correlation 0) against the *same* real-network samples: when it holds
  where the theorem's prediction departs, it explains the departure.  The mean-field value is a
  limit (``N → ∞``), not claimed exact at the sampled width, so this is a band comparison: it
  *holds* when the measurement lies within the claim's precision of it (the O(1/N) difference is
  reported, not tested: with enough networks a test of equality would always reject it).

**The path model's width.**  The path sums do not depend on ``N`` (each layer contributes
``E[W²] · N = c`` whatever ``N`` is: :func:`theory.pathsum.path_moments` gives the same curves at
every width, a test checks it), so the path-model simulation runs at ``path_width`` neurons, not at
the claim's: a network's estimate scatters as ``1/√N`` while its cost grows as ``N²``, and at
``N = 64`` a network of the default run costs 4–11 times less than at ``N = 200`` for about 3 times
the variance (measured on this machine, 2026-12-01) — the same precision for a half to a third of
the time, which goes to the real networks.  Real networks run at the claim's width.

The prediction at depth ``d`` is the path model's value for the gradient with respect to the
neuron ``d`` layers below the output of the claim's network (``layer_curves``): one backward pass
measures every depth.  Empirical claims are decided on real networks only: activation 1/2 and
co-activation 1/4 (§2) as values, co-activation climbing with depth as a one-sided trend, and on
the 1-D grid (§1.1) "resembles white/brown noise" as the spectral exponent of ``df/dx``
(:func:`montecarlo.observables.spectral_exponent`) in a band around 0 or 2 (the registry's
``target`` and precision), and "does not whiten" as the exponent above the white band (one-sided);
Fig. 4 as numbers per block (the share of units nearly always on or off, the share active for about
half the grid, the mean contiguity run) against the registry's band or one-sided threshold.

**Intervals.**  Every comparison is decided by the estimate's two-sided ``(1 − α)`` interval with
``α`` the run's family-wise rate divided by the number of comparisons (Bonferroni, controls and
the CIFAR-10 tests included: ``theory.verify`` counts them) and by the sizes a group may stop at
(below): Student ``t`` with ``n − 1``
degrees of freedom, Fieller's interval for a correlation (a ratio of means; the delta-method
interval under-covers, :mod:`montecarlo.estimators`).  The sentence prints that interval and ``δ``.

**Sequential sampling.**  A pilot of ``pilot_nets`` networks per group (experiment, spec, model);
then, up to ``max_rounds − 1`` times, the group grows to the number of networks that every member
wants, capped by ``max_nets`` and a floating-point budget (both times the largest ``budget`` of the
group's claims, :func:`group_budget`: three claims whose measured value sits near a decision boundary get
2–4 times the default, each with its reason in the registry): a member wants enough networks that
its interval clears the nearest edge of its band with probability ``power`` (planned with the
same ``t`` quantile that decides, on an upper confidence bound of the per-network sd — Stein's
two-stage idea), and, when its difference from a point claim is within ``ambiguity`` of the
critical value (holds vs holds approximately hangs on the seed), enough that the difference is
either clearly significant or not.  Stored chunks are reused, so the rounds cost only the
networks they add.  When the cap binds the verdict may be *undecided* — with the number of
networks that would decide it — never *holds* without the precision.  A round at most multiplies a
group's networks by ``growth`` (a pilot estimate that happens to sit near a band's edge asks for
thousands of networks; the next round's estimate, from four times as many, usually does not), and a
negative control stops asking for networks once one of its depths rejects it.

**Sizes on a grid, and what that buys.**  A group's networks are always ``pilot · 2^k`` or its cap
(:func:`next_size`: what the members want, rounded up to the grid — so a round at least doubles the
group; a round sized on the last estimate falls just short about half the time, and rounds that crept
up by a few per cent ended undecided when they ran out).  The stopping is data-dependent (a group stops
once its comparisons are decided), so the interval at the size where it stopped is not a fixed-``n``
interval; but it is one of the intervals at the sizes fixed in advance (:func:`reachable_sizes`: the
``min(cap, pilot · 2^k)`` for ``k ≤ log2(growth) · (max_rounds − 1)``, 4 to 9 of them in the default run),
and the probability that *any* of those misses the truth is at most their number times the level of
each.  So every Monte Carlo comparison is decided at ``α_share / reachable_sizes`` (``α_share`` its
Bonferroni share of the run's family-wise rate, from ``theory.verify``): whatever the stopping, its false
alarm has probability ≤ ``α_share``.  A depth exponent's two groups move up the grid together (the same
target, the smaller of their two levels).
"""
from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from scipy import stats

from theory import symbols as S
from theory.claims import (DEPTH_EXPONENT, POINT_COVARIANCE, VERDICT_WORDS, Claim, Control, Precision,
                           printed_precision)
from theory.decision import (DEPARTS, HOLDS, HOLDS_APPROXIMATELY, NOT_APPLICABLE, SUPPORTED, UNDECIDED, Verdict,
                             combine, critical_t, decide, decide_direction, location, networks_needed)
from theory.derivations import shallow_increment_gaussianity
from theory.infinite_width import infinite_width_moments
from theory.pathsum import path_moments
from theory.specs import NetworkSpec

from .estimators import Estimate
from .observables import INCREMENT_WINDOW, covariance_pairs, covariance_points
from .sampling import grid_points
from .runner import estimate
from .store import Store

PATH, REAL, INFINITE_WIDTH, CONTROL = "path", "real", "infinite_width", "control"


@dataclass(frozen=True)
class Settings:
    """How hard a run looks.  ``alpha`` is the family-wise false-alarm rate of the whole run."""

    alpha: float = 1e-3
    power: float = 0.95  # of each comparison's interval clearing its band's nearest edge (sizing)
    ambiguity: float = 3.0  # |z| within this of the critical value: sample on (holds vs approximately)
    pilot_nets: int = 24
    max_nets: int = 1000  # and at most this many networks (cheap groups stop where a finite-width bias of ~2 % would turn holds into holds approximately in some seeds only: docs/stability.md runs 10-12)
    flops_per_run: float = 3e11  # caps the networks of one group: nets <= flops_per_run / flops(net)
    grid_nets: int = 24
    max_rounds: int = 5
    growth: int = 4  # a round at most multiplies a group's networks by this (a power of 2: sizes stay on the grid)
    precision_scale: float = 1.0  # every closed form's δ times this (--full: 0.5); printed numbers keep theirs
    pairs: int = 32
    threads: int = 0  # chunks computed on this many threads when no executor is given (0: every core); same bits
    path_width: int | None = 64  # the path model's simulated width (its moments do not depend on N); None: the claim's
    seed: int = 0
    backend: str = "numba"


DEFAULT = Settings()
FULL = Settings(precision_scale=0.5, pilot_nets=48, max_nets=20000, flops_per_run=1e13, grid_nets=48,
                max_rounds=6)


def flops_per_network(experiment: str, spec: NetworkSpec, settings: Settings) -> float:
    """Forward + backward matrix products of one network: ``4 · inputs · N² · L``."""
    inputs = 2 * settings.pairs if experiment == "pairs" else 256
    return 4.0 * inputs * spec.width ** 2 * spec.depth


def group_budget(key: tuple, settings: Settings, scale: int = 1) -> tuple[int, int]:
    """``(pilot, cap)``: the networks a group starts with and the most it may grow to,
    ``scale · min(max_nets, flops_per_run / flops per network)`` (never below the pilot); ``scale`` is the
    largest ``budget`` of the group's claims (:func:`group_scales`, the registry's ``Observable.budget``).

    ``max_nets`` keeps the cheap groups short of the networks at which a finite-width bias of a few
    per cent turns *holds* into *holds approximately* in some seeds only (docs/stability.md); a network
    whose forms are exact at every width (the shallow net of A1, ``exact_at_every_width``) has no such
    bias, so its group is capped by the flops alone."""
    experiment, spec, _ = key
    pilot = settings.grid_nets if experiment == "grid" else settings.pilot_nets
    by_flops = int(scale * settings.flops_per_run // flops_per_network(experiment, spec, settings))
    return pilot, max(pilot, by_flops if spec.exact_at_every_width else min(scale * settings.max_nets, by_flops))


def pilot_sd_upper(stderr: float, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on the per-network sd from ``n`` networks:
    ``sd · sqrt((n − 1)/χ²_{1−confidence, n−1})`` (sizing on the bound keeps the promised power)."""
    sd = stderr * math.sqrt(n)
    return sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - confidence, n - 1)) if n > 1 else sd


@dataclass
class Comparison:
    """One (claim, column, depth) comparison and, once run, its verdict."""

    claim_id: str
    column: str
    experiment: str  # pairs | grid
    spec: NetworkSpec
    model: str  # path | real
    quantity: str
    depth: int
    predicted: float | None  # μ (a trend: the threshold 0)
    precision: Precision | None = None
    point: bool = True  # False: the claim is itself a band (a printed number, a noise band)
    kind: str = "value"  # value | trend (co-activation climbing) | exceeds (one-sided: above ``predicted``)
    direction: int = 0
    exact: float | None = None  # a printed-number comparison: the exact path value, reported beside
    label: str = ""  # a control: its description (a claim may have several)
    low_spec: NetworkSpec | None = None  # a depth exponent (kind "slope"): the shallower network; ``spec`` the deeper
    where: str = ""  # where the comparison is, when not at a depth (A1's covariance: the pair of grid points)
    budget: int = 1  # its claim's Observable.budget for a real-network group (the path model's groups keep 1)
    verdict: Verdict | None = None

    @property
    def group(self) -> tuple:
        return (self.experiment, self.spec, self.model)

    @property
    def low_group(self) -> tuple | None:
        return None if self.low_spec is None else (self.experiment, self.low_spec, self.model)

    @property
    def delta(self) -> float | None:
        return None if self.precision is None else self.precision.delta(self.predicted)


@lru_cache(maxsize=None)
def _layer_curves(spec: NetworkSpec) -> dict:
    return path_moments(spec)["layer_curves"]


@lru_cache(maxsize=None)
def _iw_layer_curves(spec: NetworkSpec, batch_size: int) -> dict:
    return infinite_width_moments(spec, c0=0.0, batch_size=batch_size)["layer_curves"]


def _layer_prediction(spec: NetworkSpec, quantity: str, depth: int) -> float:
    return float(_layer_curves(spec)[quantity][depth - 1])


def monte_carlo_controls(claim: Claim) -> list[Control]:
    """The claim's negative controls that have a perturbed Monte Carlo prediction (the registry's)."""
    return [k for k in claim.controls if k.perturb is not None]


GATE_QUANTITIES = {"activation": "active", "coactivation": "coactive"}
#: Fig. 4 on the 1-D grid, per block (:class:`montecarlo.observables.GridResult`)
FIG4_QUANTITIES = ("outer_share", "middle_share", "run_length")


def _scaled(precision: Precision, settings: Settings) -> Precision:
    return precision if settings.precision_scale == 1.0 else precision.tightened(settings.precision_scale)


def plan(claims: Sequence[Claim], settings: Settings) -> list[Comparison]:
    """Every comparison the claims ask for (controls included)."""
    out: list[Comparison] = []
    for claim in claims:
        obs = claim.observable
        if obs is None or obs.spec is None:
            continue
        if obs.quantity == DEPTH_EXPONENT:
            mine = _slope_comparisons(claim, settings)
        elif obs.experiment == "typical_pairs" and obs.quantity not in GATE_QUANTITIES:
            mine = _theorem_comparisons(claim, settings)
        elif obs.quantity == POINT_COVARIANCE:
            mine = _covariance_comparisons(claim, settings)
        elif obs.experiment in ("typical_pairs", "grid"):
            mine = _empirical_comparisons(claim, settings)
        else:
            continue
        for c in mine:
            if c.model == "real":
                c.budget = obs.budget
        out.extend(mine)
    return out


def group_scales(comparisons: Sequence[Comparison]) -> dict[tuple, int]:
    """Each group's budget scale (:func:`group_budget`): the largest ``budget`` of its comparisons (1 for
    a group without members: a depth exponent's)."""
    scales: dict[tuple, int] = {}
    for c in comparisons:
        for key in (c.group, c.low_group):
            if key is not None:
                scales[key] = max(scales.get(key, 1), c.budget if c.kind != "slope" else 1)
    return scales


def path_model_spec(spec: NetworkSpec, settings: Settings) -> NetworkSpec:
    """The network the path model is simulated on: ``spec`` at ``settings.path_width`` neurons
    (module doc: the path sums do not depend on the width)."""
    if settings.path_width is None or settings.path_width == spec.width:
        return spec
    return replace(spec, width=settings.path_width)


def _theorem_comparisons(claim: Claim, settings: Settings) -> list[Comparison]:
    obs = claim.observable
    precision = _scaled(obs.precision, settings)
    iw = _iw_layer_curves(obs.spec, 2 * settings.pairs)
    path_spec = path_model_spec(obs.spec, settings)
    out = []
    for d in obs.depths:
        exact = _layer_prediction(obs.spec, obs.quantity, d)
        out.append(Comparison(claim.id, PATH, "pairs", path_spec, "path", obs.quantity, d, exact, precision))
        if obs.printed is not None and d == obs.spec.depth:
            out.append(Comparison(claim.id, REAL, "pairs", obs.spec, "real", obs.quantity, d, obs.printed_value,
                                  printed_precision(obs.printed), point=False, exact=exact))
        else:
            out.append(Comparison(claim.id, REAL, "pairs", obs.spec, "real", obs.quantity, d, exact, precision))
        out.append(Comparison(claim.id, INFINITE_WIDTH, "pairs", obs.spec, "real", obs.quantity, d,
                              float(iw[obs.quantity][d - 1]), precision, point=False))
        for control in monte_carlo_controls(claim):
            out.append(Comparison(claim.id, CONTROL, "pairs", path_spec, "path", obs.quantity, d,
                                  control.perturb(exact, d), precision, label=control.description))
    return out


def exact_slope(curve: Callable[[NetworkSpec], float], spec: NetworkSpec, depths: tuple[int, int]) -> float:
    """``(log R(L₂) − log R(L₁)) / log(L₂/L₁)`` of a prediction ``curve`` (the path sum, the mean field)."""
    lo, hi = (curve(replace(spec, depth=d)) for d in depths)
    return (math.log(hi) - math.log(lo)) / math.log(depths[1] / depths[0])


def _path_correlation(spec: NetworkSpec) -> float:
    return float(_layer_curves(spec)["correlation"][spec.depth - 1])


def _slope_comparisons(claim: Claim, settings: Settings) -> list[Comparison]:
    """A depth exponent (Thm 3: ``R ∝ L^(−1/2)`` where ``β²L ≫ 1``) measured between separate networks
    of depths ``L₁ < L₂`` (the registry's ``depths``): the path model against the exact path sums'
    exponent over the same range, real networks against the stated exponent, and the real exponent
    against the mean field's (a band comparison, as every infinite-width one)."""
    obs = claim.observable
    d1, d2 = obs.depths
    deep, shallow = replace(obs.spec, depth=d2), replace(obs.spec, depth=d1)
    path_deep, path_shallow = path_model_spec(deep, settings), path_model_spec(shallow, settings)
    exact = exact_slope(_path_correlation, obs.spec, (d1, d2))
    iw = exact_slope(lambda s: float(_iw_layer_curves(s, 2 * settings.pairs)["correlation"][s.depth - 1]),
                     obs.spec, (d1, d2))

    def c(column: str, spec: NetworkSpec, low: NetworkSpec, model: str, predicted: float, **kw) -> Comparison:
        return Comparison(claim.id, column, "pairs", spec, model, "correlation", d2, predicted, obs.precision,
                          kind="slope", low_spec=low, **kw)
    out = [c(PATH, path_deep, path_shallow, "path", exact),
           c(REAL, deep, shallow, "real", float(claim.stated)),
           c(INFINITE_WIDTH, deep, shallow, "real", iw, point=False)]
    out += [c(CONTROL, path_deep, path_shallow, "path", k.perturb(exact, d2), label=k.description)
            for k in monte_carlo_controls(claim)]
    return out


def _covariance_comparisons(claim: Claim, settings: Settings) -> list[Comparison]:
    """A1's covariance: ``E[y(x_i) y(x_j)]`` at each pair of the covariance points against the claim's
    form at those points (a point claim per pair, ``depth`` = the pair's 1-based index in
    :func:`montecarlo.observables.covariance_pairs`), and the negative controls against the same samples.
    The form is exact at every width, so the infinite-width covariance is the same numbers (no column)."""
    obs = claim.observable
    spec = obs.spec
    grid = grid_points()
    x = grid[covariance_points(grid.size, spec.bias_std)]
    out = []
    for d, (i, j) in enumerate(covariance_pairs(len(x)), start=1):
        exact = float(claim.stated.subs({S.x: x[i], S.xp: x[j], S.sigma_b: spec.bias_std}))
        where = f"x, x' = {x[i]:.2f}, {x[j]:.2f}"
        out.append(Comparison(claim.id, REAL, "grid", spec, "real", obs.quantity, d, exact, obs.precision,
                              where=where))
        out += [Comparison(claim.id, CONTROL, "grid", spec, "real", obs.quantity, d, k.perturb(exact, d),
                           obs.precision, label=k.description, where=where) for k in monte_carlo_controls(claim)]
    return out


def _empirical_comparisons(claim: Claim, settings: Settings) -> list[Comparison]:
    """Real-network comparisons of an empirical claim: a value, a trend or a noise band."""
    obs = claim.observable
    experiment = "pairs" if obs.experiment == "typical_pairs" else "grid"

    def c(**kw) -> Comparison:
        return Comparison(claim.id, REAL, experiment, obs.spec, "real", obs.quantity, **kw)
    if obs.quantity in GATE_QUANTITIES and claim.stated is not None:  # "half", "a quarter": band claims
        return [c(depth=d, predicted=float(claim.stated), precision=obs.precision, point=False) for d in obs.depths]
    if obs.quantity == "coactivation":
        return [c(depth=obs.depths[-1], predicted=0.0, kind="trend", direction=+1)]
    if obs.quantity == "increment_gaussianity":  # A1: the exact finite-width form, pooled as measured
        exact = shallow_increment_gaussianity(obs.spec.width, obs.spec.bias_std, grid_points(), INCREMENT_WINDOW)
        return [c(depth=1, predicted=exact, precision=obs.precision)]
    if obs.quantity == "spectral_exponent" or obs.quantity in FIG4_QUANTITIES:
        depth = obs.spec.depth if obs.quantity == "spectral_exponent" else obs.depths[-1]
        if obs.above:
            return [c(depth=depth, predicted=obs.target, kind="exceeds", direction=+1)]
        return [c(depth=depth, predicted=obs.target, precision=obs.precision, point=False)]
    raise ValueError(f"no comparison for claim {claim.id!r} ({obs.experiment}.{obs.quantity})")


def _estimate_of(result: Any, cmp: Comparison) -> Estimate:
    """The estimate a value comparison decides on: a pairs or grid result's entry."""
    if cmp.quantity in GATE_QUANTITIES:
        return getattr(result, GATE_QUANTITIES[cmp.quantity])[cmp.depth - 1]
    if cmp.experiment == "pairs" or cmp.quantity in FIG4_QUANTITIES:
        return getattr(result, cmp.quantity)[cmp.depth - 1]
    if cmp.quantity == "increment_gaussianity":
        return result.increment_gaussianity
    if cmp.quantity == POINT_COVARIANCE:
        return result.point_covariance[cmp.depth - 1]
    return result.spectral_exponent  # the noise claims: one exponent per network


def _trend(result: Any, cmp: Comparison) -> tuple[float, float, int]:
    """(change, stderr, n) of co-activation from the first block to block ``depth`` (se conservative:
    ``sqrt(s1² + s2²)``, the layers of one network being positively correlated)."""
    first, last = result.coactive[0], result.coactive[cmp.depth - 1]
    return last.mean - first.mean, math.hypot(first.stderr, last.stderr), last.n


def decide_comparison(cmp: Comparison, result: Any, alpha: float) -> Verdict:
    """The verdict of one comparison on ``result`` at per-comparison rate ``alpha``."""
    if cmp.kind == "trend":
        change, se, n = _trend(result, cmp)
        first, last = result.coactive[0].mean, result.coactive[cmp.depth - 1].mean
        return decide_direction(change, se, n, alpha=alpha, direction=cmp.direction, depth=cmp.depth,
                                note=f"{first:.3f} → {last:.3f}")
    e = _estimate_of(result, cmp)
    if cmp.kind == "exceeds":
        return decide_direction(e.mean, e.stderr, e.n, alpha=alpha, direction=cmp.direction, threshold=cmp.predicted,
                                depth=cmp.depth)
    interval = e.interval(1 - alpha) if e.n >= 2 else None
    note = "Fieller interval (a ratio of means)" if e.ratio_moments is not None else ""
    return decide(cmp.predicted, e.mean, e.stderr, e.n, alpha=alpha, delta=cmp.delta, interval=interval,
                  point=cmp.point, depth=cmp.depth, note=note, where=cmp.where)


def networks_wanted(cmp: Comparison, result: Any, alpha: float, settings: Settings) -> int:
    """Networks this comparison wants (see the module doc: clear the band's edge; settle μ ∈ I)."""
    if cmp.kind == "trend":
        value, se, n = _trend(result, cmp)
    else:
        e = _estimate_of(result, cmp)
        value, se, n = e.mean, e.stderr, e.n
    if cmp.kind == "value":
        room = min(abs(value - (cmp.predicted - cmp.delta)), abs(value - (cmp.predicted + cmp.delta)))
    else:  # one-sided: the distance to the threshold
        room = abs(value - cmp.predicted)
    if not (math.isfinite(value) and math.isfinite(se)) or n < 2:
        return settings.max_nets
    sd = pilot_sd_upper(se, n)
    if room <= 0:
        return settings.max_nets
    want = networks_needed(sd, room, alpha, settings.power, start=n)
    if cmp.kind == "value" and cmp.point and se > 0:
        diff = abs(value - cmp.predicted)
        inside = cmp.predicted - cmp.delta < value < cmp.predicted + cmp.delta
        gap = abs(diff / se - critical_t(alpha, n))
        if inside and diff > 0 and gap < settings.ambiguity:
            want = max(want, math.ceil(((critical_t(alpha, n) + settings.ambiguity) * sd / diff) ** 2))
    if cmp.kind == "value" and e.ratio_moments is not None:
        want = max(want, _fieller_networks(e, alpha))
    return want


def _fieller_networks(e: Estimate, alpha: float) -> int:
    """Networks at which a ratio's denominator is significant at ``alpha`` — Fieller's interval is the whole
    line until ``mean_d² > t² Var(mean_d)`` — with the margin ``power`` asks of the edges (twice the
    networks that would just reach it; ``Var(mean_d)`` falls as 1/n).  The delta-method sd that sizes the
    rest can be 0 (a ratio that is constant network by network, the looks-linear correlation 1) while
    the denominator is not yet significant."""
    _, md, _, _, vdd = e.ratio_moments
    q = critical_t(alpha, e.n)
    if vdd <= 0 or md * md > 2 * q * q * vdd:
        return e.n
    return math.ceil(e.n * 2 * q * q * vdd / (md * md))


def _run_group(key: tuple, nets: int, settings: Settings, store: Any = None, executor: Any = None):
    """One Monte Carlo run through the chunk runner: stored chunks are reused (the earlier rounds'
    chunks serve the later ones), new ones written as they complete; bit-identical to an in-process run."""
    experiment, spec, model = key
    options = {"pairs": settings.pairs} if experiment == "pairs" else {}
    return estimate(spec, experiment, model=model, nets=nets, seed=settings.seed, chunk=8,
                    backend=settings.backend, store=store, executor=executor, **options)


def thread_count(settings: Settings) -> int:
    """Threads for the chunks of a run without an executor: ``settings.threads``, 0 meaning every
    core this process may use.  The kernels release the GIL; the count never changes a bit of the
    result (a chunk's networks are seeded by their index, results are combined in order)."""
    if settings.threads > 0:
        return settings.threads
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, len(cores))


def run(comparisons: list[Comparison], settings: Settings, alpha: float,
        progress: Callable[[str], None] | None = None, store: Any = None, executor: Any = None) -> list[dict]:
    """Sample every group until its comparisons are decided or its budget ends (module doc), decide
    each comparison in place; return one record per group.  ``alpha`` is each comparison's share of the
    run's family-wise rate; a group's intervals are at ``alpha / reachable_sizes`` (module doc), which
    its record states (``level``).

    Every quantity that steers the sampling is a count (networks, flops), never a time, so the
    same seed gives the same run on any machine.
    """
    if store is None:  # --no-store: a scratch store for this run only, so that a round reuses the last one's chunks
        with tempfile.TemporaryDirectory(prefix="shattered-gradients-run-") as scratch:
            with Store(Path(scratch) / "run.sqlite") as scratch_store:
                return run(comparisons, settings, alpha, progress, scratch_store, executor)
    if executor is None and thread_count(settings) > 1:
        with ThreadPoolExecutor(thread_count(settings), thread_name_prefix="montecarlo") as pool:
            return run(comparisons, settings, alpha, progress, store, pool)
    groups = group_comparisons(comparisons)
    slopes = [c for c in comparisons if c.kind == "slope"]
    scales = group_scales(comparisons)
    level = {key: alpha / reachable_sizes(key, settings, scales[key]) for key in groups}  # its intervals' level
    state = _sample_groups(groups, settings, level, scales, progress, store, executor)
    for c in slopes:  # then each slope: both groups grow together until it is decided (or their budget ends)
        low, high = state[c.low_group], state[c.group]
        slope_level = min(level[c.low_group], level[c.group])  # its two groups move up the grid together
        for _ in range(settings.max_rounds - 1):
            want = slope_networks_wanted(c, low["result"], high["result"], slope_level, settings)
            grown = False
            for g in (low, high):
                if want <= g["nets"] or g["rounds"] >= settings.max_rounds:   # every group: max_rounds sizes
                    continue
                target = next_size(g["nets"], min(want, g["nets"] * settings.growth), g["cap"])
                if target > g["nets"]:
                    g["nets"], g["rounds"], grown = target, g["rounds"] + 1, True
                    g["result"] = _run_group(g["key"], target, settings, store, executor)
                    g["wanted"] = max(g["wanted"], want)
            if not grown:
                break
        c.verdict = decide_slope(c, low["result"], high["result"], slope_level)
    runs = []
    for key, members in groups.items():
        g = state[key]
        for c in members:
            c.verdict = decide_comparison(c, g["result"], level[key])
        per_net = flops_per_network(key[0], key[1], settings)
        runs.append({"experiment": key[0], "spec": key[1].describe(), "model": key[2], "pilot": g["pilot"],
                     "budget": scales[key], "sizes": reachable_sizes(key, settings, scales[key]), "level": level[key],
                     "wanted": g["wanted"], "nets": g["nets"], "cap": g["cap"], "rounds": g["rounds"],
                     "capped": g["wanted"] > g["cap"], "flops": g["nets"] * per_net, "seconds": g["seconds"]})
    return runs


def group_comparisons(comparisons: list[Comparison]) -> dict[tuple, list[Comparison]]:
    """The Monte Carlo groups ``(experiment, spec, model)`` of a run, in order, with their members; a
    slope's shallow and deep networks are groups of their own (maybe without members)."""
    groups: dict[tuple, list[Comparison]] = {}
    for c in comparisons:
        if c.kind != "slope":
            groups.setdefault(c.group, []).append(c)
    for c in comparisons:
        if c.kind == "slope":
            groups.setdefault(c.low_group, [])
            groups.setdefault(c.group, [])
    return groups


#: groups sampled at the same time when their chunks go to a pool of threads: while one group waits for
#: the last chunk of a round (or decides its next one), the others keep every core busy
GROUPS_IN_FLIGHT = 4


def _sample_groups(groups: dict[tuple, list[Comparison]], settings: Settings, level: dict[tuple, float],
                   scales: dict[tuple, int], progress: Callable[[str], None] | None, store: Store,
                   executor: Any) -> dict[tuple, dict]:
    """:func:`_sample_group` for every group, up to :data:`GROUPS_IN_FLIGHT` at a time.

    A group's sampling depends on its own results only (counts, never times), and each chunk's
    networks on its index, so running groups side by side changes no bit of any result; the group
    threads share the store's one connection (:class:`~montecarlo.store.Store` serializes its use).
    Without a pool (one thread, or a caller's serial executor) the groups run one after the other.

    Groups start in the order of the most networks they may reach (:func:`largest_size`, a count fixed
    in advance), so that the longest chains of rounds — A1's shallow nets, up to 6144 networks in five
    rounds — run beside the rest instead of after it (measured 2026-12-01, both cores: the default run's
    Monte Carlo ended at 40 s, the shallow net alone on one core for its last 6; in this order 36 s).
    """
    stop = threading.Event()   # set when the run is abandoned (Ctrl-C, an error): no group starts another round

    def one(key: tuple) -> dict:
        if progress:
            progress(f"{key[0]}:{key[1].describe()} [{key[2]}]")
        return _sample_group(key, groups[key], settings, level[key], store, executor, stop, scales[key])
    concurrent = executor is not None and GROUPS_IN_FLIGHT > 1 and len(groups) > 1
    if not concurrent:
        return {key: one(key) for key in groups}
    pool = ThreadPoolExecutor(GROUPS_IN_FLIGHT, thread_name_prefix="group")
    try:
        order = sorted(groups, key=lambda k: -largest_size(k, settings, scales[k]))   # stable: ties keep the plan's order
        futures = {key: pool.submit(one, key) for key in order}
        wait(futures.values(), return_when=FIRST_EXCEPTION)   # whichever group fails first ends the run
        for future in futures.values():
            if future.done() and future.exception() is not None:
                raise future.exception()
        return {key: futures[key].result() for key in groups}
    except BaseException:
        stop.set()                                     # the groups in flight end with their current round,
        pool.shutdown(wait=False, cancel_futures=True)  # the others never start
        raise
    finally:
        pool.shutdown(wait=True)


def _sample_group(key: tuple, members: list[Comparison], settings: Settings, alpha: float, store: Any,
                  executor: Any, stop: threading.Event | None = None, scale: int = 1) -> dict:
    """Pilot, then grow to what every member wants (module doc); the group's state after sampling.
    ``alpha``: the level of this group's intervals (its share over :func:`reachable_sizes`)."""
    pilot, cap = group_budget(key, settings, scale)
    nets, rounds, t0 = pilot, 1, time.perf_counter()
    result = _run_group(key, nets, settings, store, executor)

    def wanted_now() -> int:
        done = rejected_controls(members, result, alpha)
        return max((networks_wanted(c, result, alpha, settings) for c in members
                    if not (c.column == CONTROL and (c.claim_id, c.label) in done)), default=nets)
    wanted = wanted_now()
    while rounds < settings.max_rounds and min(wanted, cap) > nets and not (stop is not None and stop.is_set()):
        nets = next_size(nets, min(wanted, nets * settings.growth), cap)
        result = _run_group(key, nets, settings, store, executor)
        rounds += 1
        wanted = wanted_now()
    return {"key": key, "result": result, "nets": nets, "rounds": rounds, "wanted": wanted, "cap": cap,
            "pilot": pilot, "seconds": round(time.perf_counter() - t0, 2)}


def next_size(nets: int, wanted: int, cap: int) -> int:
    """A group's networks in its next round (module doc): the smallest ``nets · 2^k`` (``k ≥ 1``) that covers
    ``wanted``, never above ``cap``; the caller bounds ``wanted`` by ``growth`` times ``nets``.  Sizes start
    at the pilot, so they stay on the grid ``pilot · 2^k`` (or the cap)."""
    size = 2 * nets
    while size < wanted:
        size *= 2
    return int(min(cap, size))


def largest_size(key: tuple, settings: Settings, scale: int = 1) -> int:
    """The most networks group ``key`` can reach: its cap, or what ``max_rounds`` rounds of ``growth`` allow."""
    pilot, cap = group_budget(key, settings, scale)
    return min(cap, pilot * settings.growth ** (settings.max_rounds - 1))


def reachable_sizes(key: tuple, settings: Settings, scale: int = 1) -> int:
    """How many sizes group ``key`` can end at (module doc): ``min(cap, pilot · 2^k)`` for
    ``k ≤ log2(growth) · (max_rounds − 1)`` — the count its comparisons' level is divided by."""
    pilot, cap = group_budget(key, settings, scale)
    top = int(round(math.log2(settings.growth))) * (settings.max_rounds - 1)
    return len({min(cap, pilot * 2 ** k) for k in range(top + 1)})


def rejected_controls(members: list[Comparison], result: Any, alpha: float) -> set[tuple[str, str]]:
    """``(claim id, label)`` of the negative controls among ``members`` already rejected at some depth
    (:func:`rejected`): their other depths need no more networks, a control being rejected as soon as
    one depth detects its difference."""
    verdicts: dict[tuple[str, str], list[Verdict]] = {}
    for c in members:
        if c.column == CONTROL:
            verdicts.setdefault((c.claim_id, c.label), []).append(decide_comparison(c, result, alpha))
    return {k for k, v in verdicts.items() if rejected(v)}


# ----------------------------------------------------------------------------- depth exponents
def _log_ends(interval: tuple[float, float]) -> tuple[float, float]:
    lo, hi = interval
    return (math.log(lo) if lo > 0 else -math.inf, math.log(hi) if hi > 0 else -math.inf)


def slope_estimate(low: Estimate, high: Estimate, depths: tuple[int, int], alpha: float
                   ) -> tuple[float, float, tuple[float, float]]:
    """The exponent ``s`` of ``R(L) ∝ L^s`` between two depths ``L₁ < L₂`` from independent networks:

        ŝ = (log R̂(L₂) − log R̂(L₁)) / log(L₂/L₁),

    its delta-method standard error ``sqrt((se₁/R̂₁)² + (se₂/R̂₂)²) / log(L₂/L₁)`` (reported, and used
    for sizing), and the interval that decides: each ``R``'s own ``(1 − α/2)`` interval (Fieller's, a
    correlation being a ratio of means) mapped through the logarithm, ends paired so that

        [ (log lo₂ − log hi₁) / Δ,  (log hi₂ − log lo₁) / Δ ]

    covers ``s`` whenever both cover, so with probability ≥ ``1 − α`` (Bonferroni over the two).
    An interval reaching 0 makes the end infinite (undecided).
    """
    span = math.log(depths[1] / depths[0])
    if low.mean > 0 and high.mean > 0:
        est = (math.log(high.mean) - math.log(low.mean)) / span
        se = math.hypot(low.stderr / low.mean, high.stderr / high.mean) / span
    else:
        est, se = math.nan, math.inf
    lo1, hi1 = _log_ends(low.interval(1 - alpha / 2))
    lo2, hi2 = _log_ends(high.interval(1 - alpha / 2))
    lo = (lo2 - hi1) / span if math.isfinite(hi1) else -math.inf
    hi = (hi2 - lo1) / span if math.isfinite(lo1) else math.inf
    return est, se, (lo, hi)


def _slope_inputs(c: Comparison, low_result: Any, high_result: Any) -> tuple[Estimate, Estimate]:
    return (getattr(low_result, c.quantity)[c.low_spec.depth - 1],
            getattr(high_result, c.quantity)[c.spec.depth - 1])


def decide_slope(c: Comparison, low_result: Any, high_result: Any, alpha: float) -> Verdict:
    """The verdict of a depth-exponent comparison (:func:`slope_estimate`'s interval, the claim's band)."""
    low, high = _slope_inputs(c, low_result, high_result)
    est, se, interval = slope_estimate(low, high, (c.low_spec.depth, c.spec.depth), alpha)
    n = min(low.n, high.n)
    if not math.isfinite(est):
        interval = (-math.inf, math.inf)
    return decide(c.predicted, est if math.isfinite(est) else 0.0, se, n, alpha=alpha, delta=c.delta,
                  interval=interval, point=c.point, depth=c.depth,
                  note=f"exponent of L between L = {c.low_spec.depth} and {c.spec.depth}")


def slope_networks_wanted(c: Comparison, low_result: Any, high_result: Any, alpha: float,
                          settings: Settings) -> int:
    """Networks per group for the slope's interval to clear its band's nearest edge with the run's
    power: the half-width shrinks as ``1/√n`` (both groups grow alike)."""
    v = decide_slope(c, low_result, high_result, alpha)
    if v.verdict != UNDECIDED:
        return v.n
    if v.needed is None or not math.isfinite(v.stderr or math.inf):
        return settings.max_nets
    zp = float(stats.norm.ppf((1 + settings.power) / 2))
    half = max(v.estimate - v.ci[0], v.ci[1] - v.estimate)
    room = min(abs(v.estimate - v.band[0]), abs(v.estimate - v.band[1]))
    return max(v.n + 1, math.ceil(v.n * ((half + zp * v.stderr) / room) ** 2)) if room > 0 else settings.max_nets


def _headline(verdicts: list[Verdict]) -> Verdict:
    """The depth a column's sentence names: the largest departure, else the first undecided, else the
    largest approximate difference, else the deepest."""
    for outcome in (DEPARTS, UNDECIDED, HOLDS_APPROXIMATELY):
        hits = [v for v in verdicts if v.verdict == outcome]
        if hits:
            return max(hits, key=lambda v: abs(v.z or 0.0)) if outcome != UNDECIDED else hits[0]
    return verdicts[-1]


def column_entry(verdicts: list[Verdict]) -> dict[str, Any]:
    """The JSON entry of one column: the combined verdict, the headline depth, every depth."""
    if not verdicts:
        return {"verdict": NOT_APPLICABLE, "predicted": None, "estimate": None, "ci": None, "n": 0, "z": None}
    head = _headline(verdicts).to_dict()
    keys = ("predicted", "estimate", "stderr", "ci", "band", "n", "z", "depth", "where", "delta", "alpha",
            "needed", "difference")
    entry = {"verdict": combine(verdicts), **{k: head[k] for k in keys}, "depths": [v.to_dict() for v in verdicts]}
    if head["delta"] is None and head["band"] is not None:  # a one-sided claim (a trend): show the levels
        entry["levels"] = head["note"]
    return entry


def rejected(verdicts: Sequence[Verdict]) -> bool:
    """A negative control is rejected when some depth detects its difference (holds approximately or
    departs); *holds* or *undecided* at every depth accepts it (a defect of the checker)."""
    return any(v.verdict in (HOLDS_APPROXIMATELY, DEPARTS) for v in verdicts)


def interval_text(entry: dict[str, Any]) -> str:
    """``d = 10: 0.0589 in [0.0571, 0.0607] vs 0.0563 ± 0.01``: the interval that decided, and the band."""
    if entry.get("estimate") is None:
        return ""
    if entry.get("levels"):  # a trend: the levels it moved between, then the change that decided
        text = f"block 1 → {entry['depth']}: {entry['levels']}, change {entry['estimate']:.3g}"
    else:
        text = f"{location(entry)}: {entry['estimate']:.4g}"
    if entry.get("ci"):
        text += f" in [{entry['ci'][0]:.4g}, {entry['ci'][1]:.4g}]"
    if entry.get("delta") is not None and entry.get("predicted") is not None:
        text += f" vs {entry['predicted']:.4g} ± {entry['delta']:.2g}"
    elif entry.get("predicted") is not None:
        text += f" vs > {entry['predicted']:.4g}" if (entry.get("band") or [None])[0] is not None else \
            f" vs < {entry['predicted']:.4g}"
    if entry["verdict"] == HOLDS_APPROXIMATELY and entry.get("difference") is not None:
        text += f" (a difference of {entry['difference']:+.3g}, smaller than δ)"
    if entry["verdict"] == DEPARTS and entry.get("difference") is not None and entry.get("delta") is not None:
        text += f" (a difference of {entry['difference']:+.3g}, larger than δ)"
    if entry["verdict"] == UNDECIDED and entry.get("needed"):
        text += f"; about {entry['needed']} networks would decide it"
    return text


def summarize(claim: Claim, path: dict[str, Any], real: dict[str, Any], infinite: dict[str, Any] | None = None,
              exact: float | None = None) -> str:
    """One sentence: does the claim hold for real networks, only under Assumption 1, or not at all?"""
    text = _summary(claim, path, real, exact)
    explain = real["verdict"] in (DEPARTS, HOLDS_APPROXIMATELY) or exact is not None
    if infinite and infinite.get("verdict") not in (None, NOT_APPLICABLE) and explain:
        same = [v for v in infinite.get("depths", []) if v["depth"] == real.get("depth")]
        # held everywhere: name the real column's depth; otherwise the depth that kept it from holding
        at = same[0] if same and infinite["verdict"] in SUPPORTED else infinite
        if infinite["verdict"] in SUPPORTED:
            text += (f" Explained at infinite width: the mean-field recursions predict {at['predicted']:.4g} "
                     f"at d = {at['depth']}, and against them the measurements {infinite['verdict'].replace('holds', 'hold')} "
                     "at every depth.")
        else:
            text += (f" The infinite-width prediction is {at['predicted']:.4g} at d = {at['depth']}; against it "
                     f"the measurements are {infinite['verdict']} (finite-width corrections, O(1/N)).")
    return text


def _summary(claim: Claim, path: dict[str, Any], real: dict[str, Any], exact: float | None) -> str:
    pv, rv = path["verdict"], real["verdict"]
    if pv in (DEPARTS, HOLDS_APPROXIMATELY):
        return f"DEFECT: the path-model simulation differs from the closed form ({interval_text(path)})."
    if claim.kind == "empirical":
        words = VERDICT_WORDS["empirical"]
        return f"{words[rv]} for real networks" + (f" ({interval_text(real)})." if rv != NOT_APPLICABLE else ".")
    obs = claim.observable
    if exact is not None and rv != NOT_APPLICABLE:
        lead = {HOLDS: f"the paper's {obs.printed} holds for real networks",
                DEPARTS: f"real networks depart from the paper's {obs.printed}",
                UNDECIDED: f"real networks undecided against the paper's {obs.printed}"}.get(rv, rv)
        diff = ""
        if real.get("ci"):
            lo, hi = (x - exact for x in real["ci"])
            diff = (f"; the exact path value {exact:.4g} is {'above' if exact > real['estimate'] else 'below'} "
                    f"the real value by {abs(real['estimate'] - exact):.3g} (interval of real − exact "
                    f"[{lo:+.3g}, {hi:+.3g}])")
        return f"{lead} ({interval_text(real)}){diff}."
    if rv == HOLDS:
        return f"holds for real networks too ({interval_text(real)})."
    if rv == HOLDS_APPROXIMATELY:
        return f"holds approximately for real networks ({interval_text(real)})."
    if rv == DEPARTS:
        lead = "holds under Assumption 1 only" if pv == HOLDS else f"path model {pv}"
        return f"{lead} — real networks depart from it ({interval_text(real)})."
    if rv == UNDECIDED:
        return f"path model {pv}; real networks undecided ({interval_text(real)})."
    return f"path model {pv}."
