"""Statistical decisions: ``confirmed`` / ``deviates`` / ``inconclusive`` from a stated error rate.

One comparison is a Monte Carlo estimate ``m ± s`` (``n`` independent networks) against a
prediction ``μ``, with a stated *minimum discrepancy to detect*
``δ(μ) = max(δ_abs, δ_rel·|μ|)`` and a per-comparison false-alarm rate ``α`` (the run's
family-wise rate divided by the number of comparisons: Bonferroni).  With ``z*`` the two-sided
Student-t quantile ``t_{1−α/2, n−1}`` and the interval ``I = m ± z*·s``:

* **confirmed** — ``I ⊂ [μ − δ, μ + δ]``: the data show agreement within the stated precision
  (two one-sided tests; if ``|truth − μ| ≥ δ`` this happens with probability ≤ α);
* **deviates** — otherwise, if ``μ ∉ I``: a significant discrepancy (if ``truth = μ`` this happens
  with probability ≤ α — the false-alarm rate);
* **inconclusive** — otherwise: too few samples to tell (never reported as confirmed).

The number of networks that gives power ``1 − β`` to confirm when the prediction is right (and
at least that power to detect a discrepancy ``δ``) is ``n ≥ ((z* + z_{1−β/2}) · sd / δ)²`` with ``sd`` the per-network standard deviation (estimated
by a pilot run): :func:`networks_needed`.  TFP's ``statistical_testing`` uses the same logic.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import stats

CONFIRMED, DEVIATES, INCONCLUSIVE, NOT_APPLICABLE = "confirmed", "deviates", "inconclusive", "n/a"


@dataclass(frozen=True)
class Tolerance:
    """Minimum discrepancy to detect: ``δ(μ) = max(absolute, relative·|μ|)``."""

    absolute: float = 0.01
    relative: float = 0.10

    def delta(self, predicted: float) -> float:
        return max(self.absolute, self.relative * abs(predicted))


@dataclass(frozen=True)
class Verdict:
    """One decision, with everything needed to audit it."""

    verdict: str
    predicted: float | None
    estimate: float | None
    stderr: float | None
    ci: tuple[float, float] | None
    n: int
    z: float | None
    delta: float | None
    alpha: float | None
    precision: float | None  # certified: max |I − μ| when confirmed, else the interval half-width
    depth: int | None = None
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = list(self.ci) if self.ci is not None else None
        return d


def critical_z(alpha: float) -> float:
    """Two-sided normal quantile ``Φ⁻¹(1 − α/2)``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} is not allowed: a probability in (0, 1)")
    return float(stats.norm.isf(alpha / 2))


def critical_t(alpha: float, n: int) -> float:
    """Two-sided Student-t quantile with ``n − 1`` degrees of freedom (networks are the units)."""
    critical_z(alpha)  # validates alpha
    return float(stats.t.isf(alpha / 2, max(n - 1, 1)))


def decide(predicted: float, estimate: float, stderr: float, n: int, *, alpha: float,
           tolerance: Tolerance, min_n: int = 8, depth: int | None = None, note: str = "") -> Verdict:
    """The verdict for one comparison (see the module docstring)."""
    delta = tolerance.delta(predicted)
    if n < min_n or not math.isfinite(estimate) or not math.isfinite(stderr):
        return Verdict(INCONCLUSIVE, predicted, estimate, stderr, None, n, None, delta, alpha, None, depth,
                       note or f"n = {n} < {min_n} networks")
    zc = critical_t(alpha, n)
    half = zc * stderr
    lo, hi = estimate - half, estimate + half
    z = (estimate - predicted) / stderr if stderr > 0 else (0.0 if estimate == predicted else math.copysign(math.inf, estimate - predicted))
    if predicted - delta <= lo and hi <= predicted + delta:
        verdict, precision = CONFIRMED, max(abs(lo - predicted), abs(hi - predicted))
    elif not lo <= predicted <= hi:
        verdict, precision = DEVIATES, half
    else:
        verdict, precision = INCONCLUSIVE, half
    return Verdict(verdict, predicted, estimate, stderr, (lo, hi), n, z, delta, alpha, precision, depth, note)


def decide_trend(first: tuple[float, float], last: tuple[float, float], n: int, *, alpha: float,
                 direction: int, depth: int | None = None, note: str = "") -> Verdict:
    """One-sided trend: is ``last − first`` significantly of sign ``direction`` (+1 up, −1 down)?

    ``first``/``last`` are (estimate, stderr) pairs; their difference's standard error is taken
    as ``sqrt(s1² + s2²)`` (conservative when the two are positively correlated across networks,
    as layers of one network are).  confirmed: significant in the claimed direction; deviates:
    significant in the other; inconclusive otherwise.
    """
    diff = last[0] - first[0]
    se = math.hypot(first[1], last[1])
    zc = critical_z(alpha)
    lo, hi = diff - zc * se, diff + zc * se
    z = diff / se if se > 0 else math.copysign(math.inf, diff) if diff else 0.0
    if direction * lo > 0 and direction * hi > 0:
        verdict = CONFIRMED  # the whole interval lies on the claimed side of 0
    elif direction * lo < 0 and direction * hi < 0:
        verdict = DEVIATES
    else:
        verdict = INCONCLUSIVE
    return Verdict(verdict, None, diff, se, (lo, hi), n, z, None, alpha, zc * se, depth,
                   note or f"change from first to last layer, claimed {'increase' if direction > 0 else 'decrease'}")


def networks_needed(per_network_sd: float, delta: float, alpha: float, power: float = 0.9) -> int:
    """``n`` with power ``power`` to tell a discrepancy ``δ`` apart at false-alarm rate ``α``."""
    if per_network_sd <= 0:
        return 2
    # confirming needs the whole interval inside ±δ: both tails, hence Φ⁻¹((1 + power)/2);
    # detecting a discrepancy δ needs only one tail, so the same n has at least that power
    z = critical_z(alpha) + float(stats.norm.ppf((1 + power) / 2))
    return max(2, math.ceil((z * per_network_sd / delta) ** 2))


def combine(verdicts: list[Verdict]) -> str:
    """A claim's verdict over its depths: deviates if any deviates, confirmed if all confirm."""
    if not verdicts:
        return NOT_APPLICABLE
    kinds = {v.verdict for v in verdicts}
    if DEVIATES in kinds:
        return DEVIATES
    if kinds == {CONFIRMED}:
        return CONFIRMED
    return INCONCLUSIVE


def decide_exceeds(values, threshold: float, *, alpha: float, min_n: int = 8, depth: int | None = None,
                   note: str = "") -> Verdict:
    """Is the mean of i.i.d. ``values`` above ``threshold``?  (One-sample Student-t, both sides.)

    With ``t* = t_{1−α/2, n−1}`` and ``I = v̄ ± t*·s/√n``: **confirmed** — ``I`` lies above
    ``threshold`` (if the true mean is ≤ threshold this happens with probability ≤ α/2);
    **deviates** — ``I`` lies below it (probability ≤ α/2 if the true mean is ≥ threshold);
    **inconclusive** — ``threshold ∈ I``, fewer than ``min_n`` values, or a non-finite value.
    Used for paired differences (one value per minibatch), e.g. the Fig. 5 claims.
    """
    v = [float(x) for x in values if x is not None]
    n = len(v)
    if n < max(min_n, 2) or n != len(list(values)) or not all(math.isfinite(x) for x in v):
        mean = sum(v) / n if n and all(math.isfinite(x) for x in v) else None
        return Verdict(INCONCLUSIVE, threshold, mean, None, None, n, None, None, alpha, None, depth,
                       note or f"n = {n} < {max(min_n, 2)} (or non-finite values)")
    mean = sum(v) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    se = sd / math.sqrt(n)
    half = critical_t(alpha, n) * se
    lo, hi = mean - half, mean + half
    z = (mean - threshold) / se if se > 0 else (0.0 if mean == threshold else math.copysign(math.inf, mean - threshold))
    verdict = CONFIRMED if lo > threshold else DEVIATES if hi < threshold else INCONCLUSIVE
    return Verdict(verdict, threshold, mean, se, (lo, hi), n, z, None, alpha, half, depth, note)
