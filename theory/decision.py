"""The decision rule: four outcomes from an interval and a band, at a stated error rate.

One comparison is a Monte Carlo estimate from ``n`` independent networks against a claim with
value ``μ`` and a stated precision ``δ`` (from the claim's registry entry: the interval a printed
number rounds to, a stated relative precision of a closed form, …).  With ``I = [lo, hi]`` the
estimate's two-sided ``(1 − α)`` interval (Student ``t_{1−α/2, n−1}``; Fieller's interval for a
ratio such as a correlation, :meth:`montecarlo.estimators.Estimate.interval`) and the band
``B = [μ − δ, μ + δ]``:

* **holds** — ``I ⊂ B`` and ``μ ∈ I``: equivalent within ``δ``, and no difference is detected;
* **holds approximately** — ``I ⊂ B`` and ``μ ∉ I``: a real difference, smaller than ``δ``
  (its size and interval are reported);
* **departs** — ``I ∩ B = ∅``: a difference larger than ``δ`` (shown);
* **undecided** — ``I`` straddles an edge of ``B``: the data cannot tell (with the number of
  networks that would decide it, :func:`networks_to_decide`).

This is Schuirmann's two one-sided tests (TOST) for equivalence — ``I ⊂ B`` at two-sided level
``1 − α`` is TOST at level ``α/2`` — reported together with the test of equality (``μ ∈ I``) and
the minimum-effect test (``I ∩ B = ∅``), as Lakens (2017, "Equivalence tests", Soc. Psychol.
Personal. Sci. 8:355) recommends: equivalence and difference are separate questions, and both
answers are printed.  Its error guarantees, for an interval that covers with probability
``1 − α``:

* if the truth lies outside ``B`` (``|θ − μ| > δ``), "holds" or "holds approximately" happens with
  probability ≤ ``α/2`` (false equivalence);
* if the truth lies inside ``B``, "departs" happens with probability ≤ ``α`` (false departure:
  the interval misses the truth, on whichever side; ≤ ``α/2`` when the truth is on an edge);
* if the truth is ``μ`` exactly, anything but "holds" or "undecided" happens with probability
  ≤ ``α`` (a false "approximately").

``α`` is the run's family-wise rate divided by the number of comparisons (Bonferroni) and, for a
Monte Carlo comparison, by the number of sample sizes its sequential sampling may stop at
(:mod:`montecarlo.evidence`: the sizes lie on a grid fixed in advance), so these bounds hold for the
whole run at once whatever the stopping.

A claim stated as a printed number (``0.7``) *is* a band: the claim is ``θ ∈ [0.65, 0.75]``,
not a point, so there is no "approximately" (``point=False``): **holds** iff ``I ⊂ B``.

**Per-depth outcomes combine** into a column's verdict (:func:`combine`): *departs* if any depth
departs; else *undecided* if any is undecided; else *holds approximately* if any holds
approximately; else *holds*.  One-sided claims (a trend in a stated direction, an excess over a
margin) use :func:`decide_direction`: the band is the claimed side, so the outcomes are *holds*
(``I`` on the claimed side), *departs* (``I`` on the other) and *undecided*.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy import stats

HOLDS, HOLDS_APPROXIMATELY, DEPARTS, UNDECIDED = "holds", "holds approximately", "departs", "undecided"
NOT_APPLICABLE = "n/a"
OUTCOMES = (HOLDS, HOLDS_APPROXIMATELY, DEPARTS, UNDECIDED)
#: an outcome that says the claim is borne out (within its precision)
SUPPORTED = (HOLDS, HOLDS_APPROXIMATELY)


@dataclass(frozen=True)
class Verdict:
    """One decision, with everything needed to audit it: the interval that decided and the band."""

    verdict: str
    predicted: float | None  # μ (the claim's value; for a one-sided claim, the threshold)
    estimate: float | None
    stderr: float | None
    ci: tuple[float, float] | None  # I, the interval that decided
    n: int
    z: float | None  # (estimate − μ) / stderr
    delta: float | None  # δ; None for one-sided claims
    alpha: float | None  # the per-comparison rate
    band: tuple[float, float] | None = None  # B
    needed: int | None = None  # undecided: networks that would decide (same sd, same estimate)
    depth: int | None = None
    note: str = ""
    where: str = ""  # where the comparison is when not at a depth (a pair of grid points); see :func:`location`

    @property
    def difference(self) -> float | None:
        """``estimate − μ``."""
        if self.estimate is None or self.predicted is None:
            return None
        return self.estimate - self.predicted

    @property
    def difference_ci(self) -> tuple[float, float] | None:
        """The interval of ``θ − μ`` (the deciding interval shifted by ``μ``)."""
        if self.ci is None or self.predicted is None:
            return None
        return (self.ci[0] - self.predicted, self.ci[1] - self.predicted)

    def to_dict(self) -> dict:
        """JSON-able: intervals as lists, an unbounded end (a one-sided band, Fieller's whole line) as None."""
        d = asdict(self)
        d["ci"] = _ends(self.ci)
        d["band"] = _ends(self.band)
        d["difference"] = self.difference
        d["difference_ci"] = _ends(self.difference_ci)
        return d


def _ends(pair: tuple[float, float] | None) -> list[float | None] | None:
    return None if pair is None else [x if math.isfinite(x) else None for x in pair]


def critical_z(alpha: float) -> float:
    """Two-sided normal quantile ``Φ⁻¹(1 − α/2)``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} is not allowed: a probability in (0, 1)")
    return float(stats.norm.isf(alpha / 2))


def critical_t(alpha: float, n: int) -> float:
    """Two-sided Student-t quantile with ``n − 1`` degrees of freedom (networks are the units)."""
    critical_z(alpha)  # validates alpha
    return float(stats.t.isf(alpha / 2, max(n - 1, 1)))


def t_interval(estimate: float, stderr: float, n: int, alpha: float) -> tuple[float, float]:
    """``estimate ± t_{1−α/2, n−1} · stderr``."""
    half = critical_t(alpha, n) * stderr
    return (estimate - half, estimate + half)


def _z(estimate: float, predicted: float, stderr: float) -> float:
    if stderr > 0:
        return (estimate - predicted) / stderr
    return 0.0 if estimate == predicted else math.copysign(math.inf, estimate - predicted)


def classify(interval: tuple[float, float], band: tuple[float, float], value: float | None) -> str:
    """The outcome of interval ``I`` against band ``B`` (``value``: the point claim μ, or None)."""
    lo, hi = interval
    b_lo, b_hi = band
    if hi < b_lo or lo > b_hi:
        return DEPARTS
    if b_lo <= lo and hi <= b_hi:
        if value is None or lo <= value <= hi:
            return HOLDS
        return HOLDS_APPROXIMATELY
    return UNDECIDED


def networks_to_decide(estimate: float, interval: tuple[float, float], band: tuple[float, float],
                       n: int) -> int | None:
    """Networks that would decide an undecided comparison: the half-width shrinks as ``1/√n``
    until the interval around the same estimate clears the nearest edge of the band (inside
    or outside).  ``None`` when the estimate sits on an edge (no finite number decides)."""
    half = max(estimate - interval[0], interval[1] - estimate)
    room = min(abs(estimate - band[0]), abs(estimate - band[1]))
    if not (math.isfinite(half) and room > 0):
        return None
    return max(n + 1, math.ceil(n * (half / room) ** 2 * 1.0001))


def location(entry, compact: bool = False) -> str:
    """Where a verdict (or its JSON entry) was measured, as printed: its ``where`` (A1's pairs of grid
    points) or ``d = depth``; ``compact`` for table cells (``d=10``, ``x, x'=0.84, 0.84``)."""
    get = entry.get if isinstance(entry, dict) else lambda k: getattr(entry, k, None)
    text = get("where") or f"d = {get('depth')}"
    return text.replace(" = ", "=", 1) if compact else text


def decide(predicted: float, estimate: float, stderr: float, n: int, *, alpha: float, delta: float,
           interval: tuple[float, float] | None = None, point: bool = True, min_n: int = 8,
           depth: int | None = None, note: str = "", where: str = "") -> Verdict:
    """The outcome of one comparison (see the module docstring).

    ``interval``: the ``(1 − α)`` interval that decides, when it is not ``estimate ± t·stderr``
    (a ratio's Fieller interval); ``point=False`` for a claim that is itself a band (a printed
    number), which then has no "holds approximately".  Fewer than ``min_n`` networks or a
    non-finite estimate is undecided.
    """
    if not (delta >= 0 and math.isfinite(delta)):
        raise ValueError(f"delta={delta!r} is not allowed: a finite number >= 0 (the claim's precision)")
    band = (predicted - delta, predicted + delta)
    if n < min_n or not math.isfinite(estimate) or not math.isfinite(stderr):
        return Verdict(UNDECIDED, predicted, estimate, stderr, None, n, None, delta, alpha, band, None, depth,
                       note or f"n = {n} < {min_n} networks", where)
    ci = interval if interval is not None else t_interval(estimate, stderr, n, alpha)
    outcome = classify(ci, band, predicted if point else None)
    needed = networks_to_decide(estimate, ci, band, n) if outcome == UNDECIDED else None
    return Verdict(outcome, predicted, estimate, stderr, tuple(ci), n, _z(estimate, predicted, stderr), delta,
                   alpha, band, needed, depth, note, where)


def decide_direction(estimate: float, stderr: float, n: int, *, alpha: float, direction: int,
                     threshold: float = 0.0, interval: tuple[float, float] | None = None, min_n: int = 8,
                     depth: int | None = None, note: str = "") -> Verdict:
    """A one-sided claim: is the quantity above ``threshold`` (``direction = +1``) or below it (−1)?

    The band is the claimed side of ``threshold``: **holds** when the ``(1 − α)`` interval lies
    on it (a false "holds" has probability ≤ α/2), **departs** when it lies on the other side
    (probability ≤ α/2 if the claim is true), **undecided** otherwise.
    """
    if direction not in (-1, 1):
        raise ValueError(f"direction={direction!r} is not allowed: +1 (above) or -1 (below)")
    band = (threshold, math.inf) if direction > 0 else (-math.inf, threshold)
    if n < min_n or not math.isfinite(estimate) or not math.isfinite(stderr):
        return Verdict(UNDECIDED, threshold, estimate, stderr, None, n, None, None, alpha, band, None, depth,
                       note or f"n = {n} < {min_n}")
    ci = interval if interval is not None else t_interval(estimate, stderr, n, alpha)
    lo, hi = ci
    outcome = HOLDS if direction * (lo - threshold) > 0 and direction * (hi - threshold) > 0 else \
        DEPARTS if direction * (lo - threshold) < 0 and direction * (hi - threshold) < 0 else UNDECIDED
    needed = networks_to_decide(estimate, ci, band, n) if outcome == UNDECIDED else None
    return Verdict(outcome, threshold, estimate, stderr, tuple(ci), n, _z(estimate, threshold, stderr), None,
                   alpha, band, needed, depth, note)


def decide_exceeds(values, threshold: float, *, alpha: float, min_n: int = 8, depth: int | None = None,
                   note: str = "") -> Verdict:
    """Is the mean of i.i.d. ``values`` above ``threshold``?  (One-sample Student t.)

    :func:`decide_direction` on the sample mean: **holds** when ``I = v̄ ± t·s/√n`` lies above
    ``threshold``, **departs** when it lies below, **undecided** otherwise, or with fewer than
    ``min_n`` values or a non-finite one.  Used for paired differences (one value per minibatch),
    e.g. the Fig. 5 claims.
    """
    raw = list(values)
    v = [float(x) for x in raw if x is not None]
    n = len(v)
    if n < max(min_n, 2) or n != len(raw) or not all(math.isfinite(x) for x in v):
        mean = sum(v) / n if n and all(math.isfinite(x) for x in v) else None
        return Verdict(UNDECIDED, threshold, mean, None, None, n, None, None, alpha,
                       (threshold, math.inf), None, depth, note or f"n = {n} < {max(min_n, 2)} (or non-finite values)")
    mean = sum(v) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    return decide_direction(mean, sd / math.sqrt(n), n, alpha=alpha, direction=+1, threshold=threshold,
                            min_n=min_n, depth=depth, note=note)


def networks_needed(per_network_sd: float, delta: float, alpha: float, power: float = 0.9,
                    start: int = 2, sides: int = 2) -> int:
    """Networks ``n`` with power ``power`` to decide a comparison whose truth is ``μ`` (or is ``δ``
    away from it), planned with the quantile that decides: ``t_{1−α/2, n−1}``, not ``z``.

    Deciding needs the interval's half-width below ``δ`` with room for the estimate's own
    scatter: ``(t_{1−α/2, n−1} + z_p) · sd/√n ≤ δ`` with ``z_p = z_{(1+power)/2}`` when the
    estimate may scatter towards either edge of a band (``sides=2``) and ``z_power`` when only one
    threshold matters (``sides=1``: a one-sided claim; the CIFAR-10 minibatches, the per-seed
    training runs); the smallest such ``n ≥ start`` is found by a doubling search then bisection
    (t falls with ``n``, so the condition is monotone).  Every "how many would decide it" of the
    project is this function (networks, minibatches).
    """
    if per_network_sd <= 0:
        return max(2, start)
    if delta <= 0:
        raise ValueError(f"delta={delta!r} is not allowed: > 0 (a precision to plan for)")
    if sides not in (1, 2):
        raise ValueError(f"sides={sides!r} is not allowed: 1 (one threshold) or 2 (a band)")
    zp = float(stats.norm.ppf((1 + power) / 2 if sides == 2 else power))

    def ok(n: int) -> bool:
        return (critical_t(alpha, n) + zp) * per_network_sd / math.sqrt(n) <= delta

    lo = max(2, start)
    if ok(lo):
        return lo
    hi = lo * 2
    while not ok(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def combine(verdicts: list[Verdict]) -> str:
    """A column's verdict over its depths (module docstring): departs > undecided > approximately > holds."""
    if not verdicts:
        return NOT_APPLICABLE
    kinds = {v.verdict for v in verdicts}
    for outcome in (DEPARTS, UNDECIDED, HOLDS_APPROXIMATELY):
        if outcome in kinds:
            return outcome
    return HOLDS
