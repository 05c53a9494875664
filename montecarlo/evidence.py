"""Monte Carlo evidence for the claims: plan the comparisons, size the runs, measure, decide.

The claims and their closed forms live in :mod:`theory.claims`, the decision rule in
:mod:`theory.decision`; this module measures each claim's observable on sampled networks
(:func:`montecarlo.runner.estimate`) and applies the rule.  ``python -m theory.verify`` composes it.

For every claim with a typical-pairs observable, two columns are filled:

* ``path`` — the path-model simulation (Assumption 1's gate model) against the path sum of
  :mod:`theory.pathsum`.  This is the theorem's own model: it must confirm every theorem;
  a deviation here is a defect of the tool and fails the run.
* ``real`` — sampled ReLU networks at finite width against the same prediction.  A deviation
  is a *finding* (where real networks depart from the proofs), not a failure.
* ``infinite_width`` — the mean-field prediction (:mod:`theory.infinite_width`, same batch of
  ``2·pairs`` inputs, input correlation 0) against the *same* real-network samples: when it
  confirms where the theorem's prediction deviates, it explains the deviation.

The prediction at depth ``d`` is the path model's value for the gradient with respect to the
neuron ``d`` layers below the output of the claim's network (``layer_curves``): one backward
pass measures every depth.  At ``d = L`` it is exactly the theorem's formula.

Empirical claims are decided on real networks only: activation 1/2 and co-activation 1/4 (§2,
on typical pairs) as values, co-activation climbing with depth as a one-sided trend, and on
the 1-D grid (§1.1) "resembles white/brown noise" as the lag-1 autocorrelation of df/dx lying
within a stated band of 0 or 1.

Sizes: a pilot of ``pilot_nets`` networks estimates each comparison's per-network standard
deviation (its upper 95% bound); the run then uses the number of networks that gives power
``power`` against the minimum discrepancy ``δ`` — or against half the discrepancy the pilot
already shows, when that is larger — at the per-comparison false-alarm rate (Bonferroni over
all comparisons of the run), capped by ``max_nets`` and a floating-point budget per run.  When the cap binds, the verdict may be
"inconclusive" — never "confirmed" without the precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

from theory.claims import VERDICT_WORDS, Claim, Control
from theory.decision import (CONFIRMED, DEVIATES, INCONCLUSIVE, NOT_APPLICABLE, Tolerance, Verdict, combine,
                             decide, decide_trend, networks_needed)
from theory.infinite_width import infinite_width_moments
from theory.pathsum import path_moments
from theory.specs import NetworkSpec

from .runner import estimate

PATH, REAL, INFINITE_WIDTH, CONTROL = "path", "real", "infinite_width", "control"


@dataclass(frozen=True)
class Settings:
    """How hard a run looks.  ``alpha`` is the family-wise false-alarm rate of the whole run."""

    alpha: float = 1e-3
    tolerance: Tolerance = Tolerance(absolute=0.01, relative=0.10)  # correlations, proportions
    scale_tolerance: Tolerance = Tolerance(absolute=0.0, relative=0.20)  # variances, covariances
    band: float = 0.10  # white noise: |lag-1 ACF| <= band; brown noise: lag-1 ACF >= 1 - band
    power: float = 0.9
    pilot_nets: int = 24
    max_nets: int = 3000
    flops_per_run: float = 6e10  # caps the networks of one run: nets <= flops_per_run / flops(net)
    grid_flops_per_run: float = 1.2e11  # the same for a 1-D grid run (few of them, 256 inputs each)
    grid_nets: int = 24
    sizing_rounds: int = 2
    pairs: int = 32
    seed: int = 0
    backend: str = "numba"


DEFAULT = Settings()
FULL = Settings(tolerance=Tolerance(absolute=0.005, relative=0.0),  # ±0.005 on every correlation
                scale_tolerance=Tolerance(absolute=0.0, relative=0.05), pilot_nets=48, max_nets=20000,
                flops_per_run=1e13, grid_flops_per_run=2e12, grid_nets=48)


def flops_per_network(experiment: str, spec: NetworkSpec, settings: Settings) -> float:
    """Forward + backward matrix products of one network: ``4 · inputs · N² · L``."""
    inputs = 2 * settings.pairs if experiment == "pairs" else 256
    return 4.0 * inputs * spec.width ** 2 * spec.depth


def pilot_sd_upper(stderr: float, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on the per-network sd from a pilot of ``n`` networks.

    ``sd · sqrt((n − 1)/χ²_{1−confidence, n−1})``: sizing on the bound, not the point estimate,
    keeps the promised power although the pilot is small (Stein's two-stage idea).
    """
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
    predicted: float | None
    kind: str = "value"  # value | trend | band
    direction: int = 0
    band: float | None = None
    stated_tolerance: float | None = None
    verdict: Verdict | None = None

    @property
    def group(self) -> tuple:
        return (self.experiment, self.spec, self.model)

    def tolerance(self, settings: Settings) -> Tolerance:
        """The stated minimum discrepancy: a band for noise claims, relative for scales."""
        if self.kind == "band":
            return Tolerance(absolute=self.band, relative=0.0)
        if self.stated_tolerance is not None:
            return Tolerance(absolute=self.stated_tolerance, relative=0.0)
        if self.quantity in ("variance", "covariance"):
            return settings.scale_tolerance
        return settings.tolerance


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


def plan(claims: Sequence[Claim], settings: Settings) -> list[Comparison]:
    """Every comparison the claims ask for (controls included)."""
    out: list[Comparison] = []
    for claim in claims:
        obs = claim.observable
        if obs is None or obs.spec is None:
            continue
        if obs.experiment == "typical_pairs" and obs.quantity in GATE_QUANTITIES:
            out.extend(_empirical_comparisons(claim, settings))
        elif obs.experiment == "typical_pairs":
            for model, column in ((PATH, PATH), ("real", REAL)):
                for d in obs.depths:
                    out.append(Comparison(claim.id, column, "pairs", obs.spec, model, obs.quantity, d,
                                          _layer_prediction(obs.spec, obs.quantity, d),
                                          stated_tolerance=obs.tolerance))
            iw = _iw_layer_curves(obs.spec, 2 * settings.pairs)
            for d in obs.depths:
                out.append(Comparison(claim.id, INFINITE_WIDTH, "pairs", obs.spec, "real", obs.quantity, d,
                                      float(iw[obs.quantity][d - 1]), stated_tolerance=obs.tolerance))
            for control in monte_carlo_controls(claim):
                for d in obs.depths:
                    exact = _layer_prediction(obs.spec, obs.quantity, d)
                    out.append(Comparison(claim.id, CONTROL, "pairs", obs.spec, PATH, obs.quantity, d,
                                          control.perturb(exact, d)))
        elif obs.experiment == "grid":
            out.extend(_empirical_comparisons(claim, settings))
    return out


GATE_QUANTITIES = {"activation": "active", "coactivation": "coactive"}


def _empirical_comparisons(claim: Claim, settings: Settings) -> list[Comparison]:
    """Real-network comparisons of an empirical claim: a value, a trend or a noise band."""
    obs = claim.observable
    assert obs is not None and obs.spec is not None
    experiment = "pairs" if obs.experiment == "typical_pairs" else "grid"
    c = lambda **kw: Comparison(claim.id, REAL, experiment, obs.spec, "real", obs.quantity, **kw)  # noqa: E731
    if obs.quantity in ("activation", "coactivation") and claim.stated is not None:
        return [c(depth=d, predicted=float(claim.stated)) for d in obs.depths]
    if obs.quantity == "coactivation":
        return [c(depth=obs.depths[-1], predicted=None, kind="trend", direction=+1)]
    if obs.quantity == "acf":
        return [c(depth=obs.spec.depth, predicted=obs.target, kind="band", band=settings.band)]
    raise ValueError(f"no grid comparison for claim {claim.id!r} ({obs.quantity})")


def _extract(result: Any, cmp: Comparison) -> tuple[float, float, int]:
    """(estimate, stderr, n) of a comparison from a pairs or grid result."""
    if cmp.quantity in GATE_QUANTITIES:
        e = getattr(result, GATE_QUANTITIES[cmp.quantity])[cmp.depth - 1]
    elif cmp.experiment == "pairs":
        e = getattr(result, cmp.quantity)[cmp.depth - 1]
    else:
        e = result.acf[1]  # lag-1 autocorrelation of df/dx along the grid
    return e.mean, e.stderr, e.n


def _run_group(key: tuple, nets: int, settings: Settings, store: Any = None, executor: Any = None):
    """One Monte Carlo run through the chunk runner: stored chunks are reused (the pilot's chunks
    serve the sized run), new ones written as they complete; bit-identical to an in-process run."""
    experiment, spec, model = key
    options = {"pairs": settings.pairs} if experiment == "pairs" else {}
    return estimate(spec, experiment, model=model, nets=nets, seed=settings.seed, chunk=8,
                    backend=settings.backend, store=store, executor=executor, **options)


def run(comparisons: list[Comparison], settings: Settings,
        progress: Callable[[str], None] | None = None, store: Any = None, executor: Any = None) -> list[dict]:
    """Run every group of comparisons (pilot, then sized), decide each comparison in place;
    return one record per run (networks needed for the stated power, cap, networks used)."""
    runs: list[dict] = []
    tested = [c for c in comparisons if c.column != CONTROL]
    alpha = settings.alpha / max(len(tested), 1)
    groups: dict[tuple, list[Comparison]] = {}
    for c in comparisons:
        groups.setdefault(c.group, []).append(c)
    for key, members in groups.items():
        experiment, spec, model = key
        if progress:
            progress(f"{experiment}:{spec.describe()} [{model}]")
        pilot = settings.grid_nets if experiment == "grid" else settings.pilot_nets
        budget = settings.grid_flops_per_run if experiment == "grid" else settings.flops_per_run
        cap = max(pilot, min(settings.max_nets, int(budget // flops_per_network(experiment, spec, settings))))
        nets = pilot
        result = _run_group(key, nets, settings, store, executor)
        needed = pilot
        for _round in range(settings.sizing_rounds):
            # size on the current data: stage 1 on the pilot, stage 2 on the sized run (heavy tails)
            needed = max([nets] + [networks_needed(pilot_sd_upper(se, n), delta, alpha, settings.power)
                                   for se, n, delta in _sizing_inputs(members, result, settings)])
            if min(needed, cap) <= nets:
                break
            nets = min(needed, cap)
            result = _run_group(key, nets, settings, store, executor)
        runs.append({"experiment": experiment, "spec": spec.describe(), "model": model, "pilot": pilot,
                     "needed": needed, "nets": nets, "cap": cap})
        for c in members:
            est, se, n = _extract(result, c)
            if c.kind in ("value", "band"):
                note = f"lag-1 ACF within {c.band} of {c.predicted:g}" if c.kind == "band" else ""
                c.verdict = decide(c.predicted, est, se, n, alpha=alpha, tolerance=c.tolerance(settings),
                                   depth=c.depth, note=note)
            else:
                first = result.coactive[0]
                last = result.coactive[c.depth - 1]
                c.verdict = decide_trend((first.mean, first.stderr), (last.mean, last.stderr), n, alpha=alpha,
                                         direction=c.direction, depth=c.depth)
    return runs


def _sizing_inputs(members: list[Comparison], result: Any, settings: Settings):
    """(stderr, n, δ) per decidable comparison: δ is the stated discrepancy, or half the one seen."""
    for c in members:
        if c.kind == "trend" or c.column == CONTROL:
            continue
        est, se, n = _extract(result, c)
        yield se, n, max(c.tolerance(settings).delta(c.predicted), abs(est - c.predicted) / 2)


def _headline(verdicts: list[Verdict]) -> Verdict:
    deviating = [v for v in verdicts if v.verdict == DEVIATES]
    if deviating:
        return max(deviating, key=lambda v: abs(v.z or 0.0))
    return verdicts[-1]


def column_entry(verdicts: list[Verdict]) -> dict[str, Any]:
    """The JSON entry of one column: the combined verdict, the headline depth, every depth."""
    if not verdicts:
        return {"verdict": NOT_APPLICABLE, "predicted": None, "estimate": None, "ci": None, "n": 0, "z": None}
    head = _headline(verdicts)
    return {"verdict": combine(verdicts), "predicted": head.predicted, "estimate": head.estimate,
            "ci": list(head.ci) if head.ci else None, "n": head.n, "z": head.z, "depth": head.depth,
            "delta": head.delta, "precision": head.precision,
            "depths": [v.to_dict() for v in verdicts]}


def summarize(claim: Claim, path: dict[str, Any], real: dict[str, Any],
              infinite: dict[str, Any] | None = None) -> str:
    """One sentence: does the claim hold for real networks, only under Assumption 1, or not at all?"""
    text = _summary(claim, path, real)
    if infinite and infinite.get("verdict") not in (None, NOT_APPLICABLE) and real["verdict"] == DEVIATES:
        same = [v for v in infinite.get("depths", []) if v["depth"] == real["depth"]]
        at = same[0] if same else infinite
        if infinite["verdict"] == CONFIRMED:
            text += (f" Explained at infinite width: the mean-field recursions predict {at['predicted']:.4g} "
                     f"at d = {at['depth']} and agree with the measurements at every depth.")
        else:
            text += (f" The infinite-width prediction ({at['predicted']:.4g} at d = {at['depth']}) is closer but "
                     f"{infinite['verdict']} overall (finite-width corrections, O(1/N)).")
    return text


def _summary(claim: Claim, path: dict[str, Any], real: dict[str, Any]) -> str:
    pv, rv = path["verdict"], real["verdict"]

    def at(entry: dict[str, Any]) -> str:
        if entry.get("estimate") is None:
            return ""
        pred = "" if entry["predicted"] is None else f" vs predicted {entry['predicted']:.4g}"
        return f"d = {entry['depth']}: measured {entry['estimate']:.4g} ± {1.96 * _se(entry):.2g}{pred}"
    if pv == DEVIATES:
        return f"DEFECT: the path-model simulation disagrees with the closed form ({at(path)})."
    if claim.kind == "empirical":
        return f"{VERDICT_WORDS['empirical'][rv]} for real networks" \
            + (f" ({at(real)})." if rv != NOT_APPLICABLE else ".")
    if rv == CONFIRMED:
        return f"holds for real networks too ({at(real)})."
    if rv == DEVIATES:
        lead = "holds under Assumption 1 only" if pv == CONFIRMED else "path model " + pv
        return f"{lead} — real networks depart from it ({at(real)})."
    if rv == INCONCLUSIVE:
        return f"path model {pv}; real networks undecided with these samples ({at(real)})."
    return f"path model {pv}."


def _se(entry: dict[str, Any]) -> float:
    for d in entry.get("depths", []):
        if d["depth"] == entry["depth"] and d["stderr"] is not None:
            return d["stderr"]
    return float("nan")
