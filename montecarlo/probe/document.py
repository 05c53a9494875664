"""A probe run as one JSON document: estimates over initializations, baselines, theory, verdicts.

No torch: this turns the per-initialization numbers of :mod:`.measure` into the document that
``--json`` prints, the table shows and the report page (:mod:`reports.probe_page`) reads.  Every
number is ``{"mean", "stderr", "n", "ci"}`` with ``n`` the initializations it is averaged over
and ``ci`` its two-sided 95 % interval (Student t; Fieller's for a correlation, a ratio of means).

**Verdicts** (:mod:`theory.decision`, the verifier's rule), each at ``α = fwer / comparisons``
(Bonferroni over the run's comparisons, printed):

* every layer's correlation against the **white-noise band** ``[−δ, δ]`` with ``δ = 0.01``, the
  absolute precision of a closed-form correlation in the claims registry (the resolution of the
  paper's plots): a band claim, so *holds* (shattered: indistinguishable from white noise
  there), *departs* (correlated) or *undecided* (with the initializations that would decide);
* with a stated block structure (``--theory``), every layer's correlation against the path
  model's and the infinite-width model's value at its depth, within the registry's precision of a
  closed-form correlation (10 % of the value, at least 0.01);
* the path's spectral exponent against the **white** (0) and **brown** (2) noise bands (± 0.5,
  the registry's noise band).

The theory's depth ``d`` of a layer is the number of probed layers after it (see
:mod:`.measure`); the spec's depth is one less than the number of probed layers, and ``d = 0``
(the readout's input) is 1 under every model for ``f = Σ_p f_p``.
"""
from __future__ import annotations

import math
import platform
from typing import Any, Sequence

import numpy as np

from theory.claims import BROWN_EXPONENT, CORRELATION_FORM, NOISE_BAND, WHITE_EXPONENT
from theory.decision import DEPARTS, HOLDS, HOLDS_APPROXIMATELY, UNDECIDED, Verdict, decide
from theory.specs import SpecError, make_spec

from ..estimators import Estimate, StreamingMoments
from .baselines import ACTIVE, COACTIVE, noise_baseline, white_gradient_norm

KIND = "probe"
VERSION = 1
WHITE_BAND = CORRELATION_FORM.delta(0.0)
THEORY_ARCHS = ("ff", "resnet", "highway", "crelu-ll")
#: the spec fields a user may state with --theory (the rest are the spec's defaults)
THEORY_FIELDS = ("beta", "norm")


def number(est: Estimate, level: float = 0.95) -> dict[str, Any]:
    """``{"mean", "stderr", "n", "ci"}``; non-finite ends of an interval as None."""
    lo, hi = est.interval(level) if est.n >= 2 else (math.nan, math.nan)
    return {"mean": _finite(est.mean), "stderr": _finite(est.stderr), "n": est.n,
            "ci": [_finite(lo), _finite(hi)]}


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def mean_estimate(values: Sequence[float]) -> Estimate:
    """Mean and standard error (``sd/√n``) of the finite ``values``."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return Estimate(math.nan, math.nan, 0)
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return Estimate(float(v.mean()), se, int(v.size))


def check_theory(arch: str | None, fields: dict[str, Any]) -> None:
    """Validate a stated block structure before anything runs (raises :class:`SpecError`)."""
    if arch is None:
        if fields:
            name = next(iter(fields))
            raise SpecError(name, fields[name], "only with --theory ARCH (the block structure it describes)")
        return
    if arch not in THEORY_ARCHS:
        raise SpecError("theory", arch, "one of " + ", ".join(THEORY_ARCHS))
    make_spec(arch, depth=1, **fields)


def theory_curves(arch: str, fields: dict[str, Any], sites: int, batch: int, bn_backward: str,
                  c0: float, width: int = 200) -> dict[str, Any]:
    """Path-model and infinite-width correlations at ``d = 0..sites−1`` (:func:`theory.predict.predict`).

    ``width``: the units of the last probed layer, for the spec's description only (neither model's
    correlation depends on it)."""
    from theory.predict import predict
    depth = max(sites - 1, 1)
    spec = make_spec(arch, depth=depth, width=width, **fields)
    path = predict(spec, "path")["layer_curves"]["correlation"]
    doc = {"arch": arch, "spec": spec.to_dict(), "describe": spec.describe(), "c0": c0,
           "batch_size": batch, "bn_backward": bn_backward,
           "path": [1.0] + [float(v) for v in path][: sites - 1], "infinite_width": None}
    try:
        wide = predict(spec, "infinite-width", c0=c0, batch_size=batch, bn_backward=bn_backward)
    except SpecError as exc:  # a case the recursions do not model: said, not hidden
        doc["infinite_width_note"] = f"no infinite-width curve: {exc}"
        return doc
    doc["infinite_width"] = [1.0] + [float(v) for v in wide["layer_curves"]["correlation"]][: sites - 1]
    return doc


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _verdict(v: Verdict) -> dict[str, Any]:
    d = v.to_dict()
    return {k: d[k] for k in ("verdict", "predicted", "band", "ci", "n", "alpha", "needed", "note")}


def build_document(run: Any, *, target: str, command: Sequence[str], theory: str | None = None,
                   theory_fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The probe document of a :class:`.measure.ProbeRun` (module docstring)."""
    s = run.settings
    inits = run.inits
    sites = inits[0].sites
    gate_sites = inits[0].gate_sites
    K = len(sites)
    moments = StreamingMoments((K,), 2)
    for m in inits:
        moments.add(m.pair_moments)
    with np.errstate(invalid="ignore", divide="ignore"):  # a layer without gradient: NaN, shown as n/a
        correlation = moments.ratio(1, 0)
    correlation = correlation if isinstance(correlation, list) else [correlation]
    variance = moments.estimate(0)
    variance = variance if isinstance(variance, list) else [variance]
    c0 = 0.0 if run.gaussian_inputs else float(np.clip(np.mean([m.pair_input_cosine for m in inits]), -1.0, 1.0))
    curves = (theory_curves(theory, theory_fields or {}, K, s.batch_size, s.bn_backward, round(c0, 6),
                            width=sites[-1].units) if theory else None)

    exponents = [m.path_exponent for m in inits if m.path_exponent is not None]
    exponent = mean_estimate(exponents)
    models = [m for m in ("path", "infinite_width") if curves and curves[m] is not None]
    comparisons = K + len(models) * K + (2 if exponent.n >= 2 else 0)
    alpha = s.fwer / max(comparisons, 1)

    layers = []
    for k, site in enumerate(sites):
        d = K - 1 - k
        est = correlation[k]
        ci = est.interval(1 - alpha)
        row: dict[str, Any] = {
            "name": site.name, "type": site.kind, "units": site.units, "depth": d,
            "correlation": number(est), "variance": number(variance[k]),
            "white_band": _verdict(decide(0.0, est.mean, est.stderr, est.n, alpha=alpha, delta=WHITE_BAND,
                                          interval=ci, point=False, depth=d)),
        }
        if curves:
            row["theory"] = {}
            for model, point in (("path", True), ("infinite_width", False)):
                if model not in models:
                    continue
                mu = curves[model][d]
                row["theory"][model] = {"value": mu, **_verdict(decide(
                    mu, est.mean, est.stderr, est.n, alpha=alpha, delta=CORRELATION_FORM.delta(mu), interval=ci,
                    point=point, depth=d))}
        layers.append(row)

    gates = []
    for j, site in enumerate(gate_sites):
        values = np.array([m.gates[j] for m in inits])
        gates.append({"name": site.name, "type": site.kind, "units": site.units,
                      **{key: number(mean_estimate(values[:, i]))
                         for i, key in enumerate(("activation", "coactivation", "always_on", "always_off"))}})

    stats = np.array([m.input_stats for m in inits])
    white_rank = run.white_effective_rank
    input_gradients = {
        "dim": run.input_dim, "batch_size": s.batch_size,
        "effective_rank": number(mean_estimate(stats[:, 0])),
        "relative_effective_rank": number(mean_estimate(stats[:, 1])),
        "gradient_norm": number(mean_estimate(stats[:, 2])),
        "mean_correlation": number(mean_estimate(stats[:, 3])),
        "baselines": {"white_effective_rank": white_rank, "white_relative_effective_rank": 1.0,
                      "identical_relative_effective_rank": 1.0 / white_rank,
                      "white_gradient_norm": white_gradient_norm(s.batch_size), "identical_gradient_norm": 1.0},
    }

    path: dict[str, Any] | None = None
    if s.path != "none":
        acfs = np.array([m.path_acf for m in inits if m.path_acf is not None])
        constant = sum(m.path_constant for m in inits)
        path = {"kind": s.path, "points": s.path_points, "max_lag": s.max_lag, "constant_inits": constant,
                "acf": [number(mean_estimate(acfs[:, lag])) for lag in range(s.max_lag + 1)] if acfs.size else None,
                "exponent": number(exponent) if exponent.n else None, "baselines": {}}
        for kind in ("white", "brown"):
            base = noise_baseline(kind, s.path_points, s.max_lag)
            n = base["n"]
            path["baselines"][kind] = {
                "acf": [{"mean": float(mu), "stderr": float(se), "n": n} for mu, se in zip(*base["acf"])],
                "exponent": {"mean": base["exponent"][0], "stderr": base["exponent"][1], "n": n}}
        path["verdicts"] = {}
        if exponent.n >= 2:
            ci = exponent.interval(1 - alpha)
            for kind, mu in (("white", WHITE_EXPONENT), ("brown", BROWN_EXPONENT)):
                path["verdicts"][kind] = _verdict(decide(mu, exponent.mean, exponent.stderr, exponent.n,
                                                         alpha=alpha, delta=NOISE_BAND.delta(mu), interval=ci,
                                                         point=False))

    doc = {
        "kind": KIND, "version": VERSION, "target": target, "command": list(command),
        "settings": s.to_dict(), "inputs": run.inputs, "model": run.model, "device": run.device,
        "theory": curves, "alpha": {"fwer": s.fwer, "comparisons": comparisons, "each": alpha},
        "white_band": {"delta": WHITE_BAND, "why": CORRELATION_FORM.why},
        "noise_band": {"delta": NOISE_BAND.delta(0.0), "why": NOISE_BAND.why},
        "assumption_1": {"activation": ACTIVE, "coactivation": COACTIVE},
        "pair_input_cosine": c0,
        "layers": layers, "gates": gates, "input_gradients": input_gradients, "path": path,
        "timing": {"seconds": run.seconds, "per_init": [m.seconds for m in inits], "device": run.device,
                   "torch_threads": run.threads, "host": platform.node()},
        "notes": list(run.notes) + _notes(s, curves, run.model),
    }
    doc["summary"] = summary(doc)
    return json_safe(doc)


def _notes(s: Any, curves: dict | None, model: dict) -> list[str]:
    notes = []
    if curves and s.loss != "sum":
        notes.append("the theory curves are for f = sum of the outputs (--loss sum); with cross_entropy the "
                     "readout's gradient differs between inputs and d = 0 is not 1")
    if curves and model.get("batch_norm_modules") and s.bn_backward == "through":
        notes.append("the path model treats BN statistics as constants (--bn-backward constant); the "
                     "infinite-width curve follows --bn-backward through")
    if s.inits < 8:
        notes.append(f"{s.inits} initializations: a verdict needs at least 8 (every comparison is undecided)")
    return notes


def _fmt(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits; below 1e-3 in scientific notation; no "-0"."""
    if x is None:
        return "n/a"
    text = f"{x:.{digits}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.{max(digits - 1, 0)}e}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def interval_text(num: dict, verdict: dict | None = None) -> str:
    """``mean [lo, hi]``: the 95 % interval, or — with ``verdict`` — the ``(1 − α)`` interval that decided it."""
    lo, hi = (verdict or num)["ci"] or (math.nan, math.nan)
    return f"{_fmt(num['mean'])} [{_fmt(lo)}, {_fmt(hi)}]"


def summary(doc: dict) -> list[str]:
    """The run's findings in sentences: the white-noise band along the depth, the path, Fig. 5c–d."""
    out = []
    layers = doc["layers"]
    band = doc["white_band"]["delta"]
    by_depth = sorted(layers, key=lambda r: r["depth"])
    deepest = by_depth[-1]
    verdicts = [r["white_band"]["verdict"] for r in by_depth]
    white = [r for r, v in zip(by_depth, verdicts) if v == HOLDS]
    undecided = [r for r, v in zip(by_depth, verdicts) if v == UNDECIDED]
    need = [r["white_band"]["needed"] for r in undecided if r["white_band"]["needed"]]
    decide_text = f" (about {max(need)} initializations would decide)" if need else ""
    if white:
        first = white[0]
        beyond = [r for r in by_depth if r["depth"] > first["depth"]]
        leave = [r for r in beyond if r["white_band"]["verdict"] == DEPARTS]
        open_ = [r for r in beyond if r["white_band"]["verdict"] == UNDECIDED]
        text = (f"Gradients reach the white-noise band (|correlation| <= {band:g}) at {first['name']} "
                f"(d = {first['depth']}: {interval_text(first['correlation'], first['white_band'])})")
        if leave:
            text += (f", but {len(leave)} layer(s) farther from the output lie outside it (e.g. {leave[-1]['name']}, "
                     f"d = {leave[-1]['depth']}: {interval_text(leave[-1]['correlation'], leave[-1]['white_band'])})")
        elif beyond:
            text += (f"; of the {len(beyond)} layer(s) farther from the output none lies outside it"
                     + (f" ({len(open_)} undecided)" if open_ else ""))
        out.append(text + ".")
    elif not undecided:
        out.append(f"Gradients never reach the white-noise band (|correlation| <= {band:g}): every layer lies "
                   f"outside it, down to {deepest['name']} (d = {deepest['depth']}: "
                   f"{interval_text(deepest['correlation'], deepest['white_band'])}).")
    else:
        correlated = [r for r, v in zip(by_depth, verdicts) if v == DEPARTS]
        out.append(f"Gradients are not shown to reach the white-noise band (|correlation| <= {band:g}): "
                   + (f"they lie outside it up to d = {correlated[-1]['depth']}, " if correlated else "")
                   + f"{len(undecided)} layer(s) are undecided{decide_text}, down to {deepest['name']} "
                   f"(d = {deepest['depth']}: {interval_text(deepest['correlation'], deepest['white_band'])}).")
    if doc.get("theory"):
        th = doc["theory"]
        for model, label in (("path", "path model"), ("infinite_width", "infinite width")):
            if th[model] is None:
                out.append(f"Infinite width: {th.get('infinite_width_note', 'no curve')}.")
                continue
            kinds = [r["theory"][model]["verdict"] for r in layers]
            counts = ", ".join(f"{kinds.count(k)} {k}" for k in (HOLDS, HOLDS_APPROXIMATELY, DEPARTS, UNDECIDED)
                               if kinds.count(k))
            out.append(f"Against {label} ({th['describe']}): {counts} of {len(kinds)} layers.")
    path = doc.get("path")
    if path:
        if path["exponent"] is None:
            out.append(f"Along the {path['kind']} path df/dt is constant to rounding at {path['constant_inits']} "
                       "initialization(s): the model is linear there (no shattering at all).")
        else:
            v = path["verdicts"]
            looks = ("white noise" if v.get("white", {}).get("verdict") == HOLDS else
                     "brown noise" if v.get("brown", {}).get("verdict") == HOLDS else
                     "neither white nor brown noise" if all(x["verdict"] == DEPARTS for x in v.values()) else
                     "undecided between the noise bands")
            out.append(f"Along the {path['kind']} path the spectral exponent of df/dt is "
                       f"{interval_text(path['exponent'], v.get('white'))} (white noise 0, brown 2): {looks}.")
    ig = doc["input_gradients"]
    base = ig["baselines"]
    out.append(f"Input gradients over a minibatch of {ig['batch_size']}: relative effective rank "
               f"{interval_text(ig['relative_effective_rank'])} (white 1, identical "
               f"{_fmt(base['identical_relative_effective_rank'])}), normalized gradient norm "
               f"{interval_text(ig['gradient_norm'])} (white 1/sqrt(B) = {_fmt(base['white_gradient_norm'])}, "
               "identical 1).")
    return out
