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

The prediction at depth ``d`` is the path model's value for the gradient with respect to the
neuron ``d`` layers below the output of the claim's network (``layer_curves``): one backward pass
measures every depth.  Empirical claims are decided on real networks only: activation 1/2 and
co-activation 1/4 (§2) as values, co-activation climbing with depth as a one-sided trend, and on
the 1-D grid (§1.1) "resembles white/brown noise" as the spectral exponent of ``df/dx``
(:func:`montecarlo.observables.spectral_exponent`) in a band around 0 or 2 (the registry's
``target`` and precision), and "does not whiten" as the exponent above the white band (one-sided).

**Intervals.**  Every comparison is decided by the estimate's two-sided ``(1 − α)`` interval with
``α`` the run's family-wise rate divided by the number of comparisons (Bonferroni, controls and
the CIFAR-10 tests included: ``theory.verify`` counts them): Student ``t`` with ``n − 1``
degrees of freedom, Fieller's interval for a correlation (a ratio of means; the delta-method
interval under-covers, :mod:`montecarlo.estimators`).  The sentence prints that interval and ``δ``.

**Sequential sampling.**  A pilot of ``pilot_nets`` networks per group (experiment, spec, model);
then, up to ``max_rounds`` times, the group grows to the number of networks that every member
wants, capped by ``max_nets`` and a floating-point budget: a member wants enough networks that
its interval clears the nearest edge of its band with probability ``power`` (planned with the
same ``t`` quantile that decides, on an upper confidence bound of the per-network sd — Stein's
two-stage idea), and, when its difference from a point claim is within ``ambiguity`` of the
critical value (holds vs holds approximately hangs on the seed), enough that the difference is
either clearly significant or not.  Stored chunks are reused, so the rounds cost only the
networks they add.  When the cap binds the verdict may be *undecided* — with the number of
networks that would decide it — never *holds* without the precision.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

from theory.claims import VERDICT_WORDS, Claim, Control, Precision, printed_precision
from theory.decision import (DEPARTS, HOLDS, HOLDS_APPROXIMATELY, NOT_APPLICABLE, SUPPORTED, UNDECIDED, Verdict,
                             combine, critical_t, decide, decide_direction, networks_needed)
from theory.infinite_width import infinite_width_moments
from theory.pathsum import path_moments
from theory.specs import NetworkSpec

from .estimators import Estimate
from .runner import estimate

PATH, REAL, INFINITE_WIDTH, CONTROL = "path", "real", "infinite_width", "control"


@dataclass(frozen=True)
class Settings:
    """How hard a run looks.  ``alpha`` is the family-wise false-alarm rate of the whole run."""

    alpha: float = 1e-3
    power: float = 0.95  # of each comparison's interval clearing its band's nearest edge (sizing)
    ambiguity: float = 2.0  # |z| within this of the critical value: sample on (holds vs approximately)
    pilot_nets: int = 24
    max_nets: int = 3000
    flops_per_run: float = 1e11  # caps the networks of one group: nets <= flops_per_run / flops(net)
    grid_nets: int = 24
    max_rounds: int = 4
    precision_scale: float = 1.0  # every closed form's δ times this (--full: 0.5); printed numbers keep theirs
    pairs: int = 32
    seed: int = 0
    backend: str = "numba"


DEFAULT = Settings()
FULL = Settings(precision_scale=0.5, pilot_nets=48, max_nets=20000, flops_per_run=1e13, grid_nets=48,
                max_rounds=6)


def flops_per_network(experiment: str, spec: NetworkSpec, settings: Settings) -> float:
    """Forward + backward matrix products of one network: ``4 · inputs · N² · L``."""
    inputs = 2 * settings.pairs if experiment == "pairs" else 256
    return 4.0 * inputs * spec.width ** 2 * spec.depth


def pilot_sd_upper(stderr: float, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on the per-network sd from ``n`` networks:
    ``sd · sqrt((n − 1)/χ²_{1−confidence, n−1})`` (sizing on the bound keeps the promised power)."""
    from scipy import stats
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
    verdict: Verdict | None = None

    @property
    def group(self) -> tuple:
        return (self.experiment, self.spec, self.model)

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


def _scaled(precision: Precision, settings: Settings) -> Precision:
    return precision if settings.precision_scale == 1.0 else precision.tightened(settings.precision_scale)


def plan(claims: Sequence[Claim], settings: Settings) -> list[Comparison]:
    """Every comparison the claims ask for (controls included)."""
    out: list[Comparison] = []
    for claim in claims:
        obs = claim.observable
        if obs is None or obs.spec is None:
            continue
        if obs.experiment == "typical_pairs" and obs.quantity not in GATE_QUANTITIES:
            out.extend(_theorem_comparisons(claim, settings))
        elif obs.experiment in ("typical_pairs", "grid"):
            out.extend(_empirical_comparisons(claim, settings))
    return out


def _theorem_comparisons(claim: Claim, settings: Settings) -> list[Comparison]:
    obs = claim.observable
    precision = _scaled(obs.precision, settings)
    iw = _iw_layer_curves(obs.spec, 2 * settings.pairs)
    out = []
    for d in obs.depths:
        exact = _layer_prediction(obs.spec, obs.quantity, d)
        out.append(Comparison(claim.id, PATH, "pairs", obs.spec, "path", obs.quantity, d, exact, precision))
        if obs.printed is not None and d == obs.spec.depth:
            out.append(Comparison(claim.id, REAL, "pairs", obs.spec, "real", obs.quantity, d, obs.printed_value,
                                  printed_precision(obs.printed), point=False, exact=exact))
        else:
            out.append(Comparison(claim.id, REAL, "pairs", obs.spec, "real", obs.quantity, d, exact, precision))
        out.append(Comparison(claim.id, INFINITE_WIDTH, "pairs", obs.spec, "real", obs.quantity, d,
                              float(iw[obs.quantity][d - 1]), precision, point=False))
        for control in monte_carlo_controls(claim):
            out.append(Comparison(claim.id, CONTROL, "pairs", obs.spec, "path", obs.quantity, d,
                                  control.perturb(exact, d), precision, label=control.description))
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
    if obs.quantity == "spectral_exponent":
        if obs.above:
            return [c(depth=obs.spec.depth, predicted=obs.target, kind="exceeds", direction=+1)]
        return [c(depth=obs.spec.depth, predicted=obs.target, precision=obs.precision, point=False)]
    raise ValueError(f"no comparison for claim {claim.id!r} ({obs.experiment}.{obs.quantity})")


def _estimate_of(result: Any, cmp: Comparison) -> Estimate:
    """The estimate a value comparison decides on: a pairs or grid result's entry."""
    if cmp.quantity in GATE_QUANTITIES:
        return getattr(result, GATE_QUANTITIES[cmp.quantity])[cmp.depth - 1]
    if cmp.experiment == "pairs":
        return getattr(result, cmp.quantity)[cmp.depth - 1]
    return result.spectral_exponent  # the grid's one decided quantity (the registry's noise claims)


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
                  point=cmp.point, depth=cmp.depth, note=note)


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
    return want


def _run_group(key: tuple, nets: int, settings: Settings, store: Any = None, executor: Any = None):
    """One Monte Carlo run through the chunk runner: stored chunks are reused (the earlier rounds'
    chunks serve the later ones), new ones written as they complete; bit-identical to an in-process run."""
    experiment, spec, model = key
    options = {"pairs": settings.pairs} if experiment == "pairs" else {}
    return estimate(spec, experiment, model=model, nets=nets, seed=settings.seed, chunk=8,
                    backend=settings.backend, store=store, executor=executor, **options)


def run(comparisons: list[Comparison], settings: Settings, alpha: float,
        progress: Callable[[str], None] | None = None, store: Any = None, executor: Any = None) -> list[dict]:
    """Sample every group until its comparisons are decided or its budget ends (module doc), decide
    each comparison in place at per-comparison rate ``alpha``; return one record per group.

    Every quantity that steers the sampling is a count (networks, flops), never a time, so the
    same seed gives the same run on any machine.
    """
    runs: list[dict] = []
    groups: dict[tuple, list[Comparison]] = {}
    for c in comparisons:
        groups.setdefault(c.group, []).append(c)
    for key, members in groups.items():
        experiment, spec, model = key
        if progress:
            progress(f"{experiment}:{spec.describe()} [{model}]")
        pilot = settings.grid_nets if experiment == "grid" else settings.pilot_nets
        per_net = flops_per_network(experiment, spec, settings)
        cap = max(pilot, min(settings.max_nets, int(settings.flops_per_run // per_net)))
        nets, rounds, t0 = pilot, 1, time.perf_counter()
        result = _run_group(key, nets, settings, store, executor)
        wanted = max(networks_wanted(c, result, alpha, settings) for c in members)
        while rounds < settings.max_rounds and min(wanted, cap) > nets:
            nets = min(wanted, cap)
            result = _run_group(key, nets, settings, store, executor)
            rounds += 1
            wanted = max(networks_wanted(c, result, alpha, settings) for c in members)
        for c in members:
            c.verdict = decide_comparison(c, result, alpha)
        runs.append({"experiment": experiment, "spec": spec.describe(), "model": model, "pilot": pilot,
                     "wanted": wanted, "nets": nets, "cap": cap, "rounds": rounds, "capped": wanted > cap,
                     "flops": nets * per_net, "seconds": round(time.perf_counter() - t0, 2)})
    return runs


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
    keys = ("predicted", "estimate", "stderr", "ci", "band", "n", "z", "depth", "delta", "alpha", "needed",
            "difference")
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
        text = f"d = {entry['depth']}: {entry['estimate']:.4g}"
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
        at = same[0] if same else infinite
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
