"""Reference values the probe's numbers are read against (numpy only, no torch).

* **White and brown noise along a path** (§1.1, Fig. 1–2).  A shattered gradient along a line
  through input space looks like white noise ``W_m ~ N(0, 1)`` (independent values: ACF ≈ 0 at
  every lag ≥ 1, spectral exponent 0); a one-hidden-layer net's derivative is a random walk,
  brown noise ``B_m = Σ_{s≤m} W_s`` (ACF falling slowly from 1, exponent 2).  The baselines are
  measured with the *same* estimators as the probe's path (:func:`montecarlo.observables.sample_acf`,
  :func:`montecarlo.observables.spectral_exponent`) on :data:`NOISE_SERIES` seeded series of the
  path's length, and reported as mean ± standard error — so a finite-length bias of an estimator
  (brown noise's exponent is 1.94, not 2, at 256 points) shows in the baseline too.
* **White Gaussian effective rank** (§4, Fig. 5c): ``r(Y)`` of a ``d × B`` matrix with i.i.d.
  N(0, 1) entries (:func:`montecarlo.effective_rank.white_effective_rank`); the relative effective
  rank ``r(Δ)/r(Y)`` is ≈ 1 for white gradients and ``1/r(Y)`` for identical ones.
* **Gradient norm of white gradients** (Fig. 5d): for ``B`` independent zero-mean gradients,
  ``E‖(1/B) Σ g_i‖² = (1/B) E‖g‖²``, so the normalized norm ``‖ḡ‖ / sqrt(mean ‖g_i‖²)`` is
  ``1/√B``; identical gradients give 1.
* **Assumption 1** (§3): a ReLU is active for half the inputs and co-active for a quarter of the
  pairs.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..effective_rank import white_effective_rank
from ..observables import sample_acf, spectral_exponent

NOISE_SERIES = 200
NOISE_SEED = 20170802  # fixed: a baseline is a property of the path's length, not of the run's seed
ACTIVE, COACTIVE = 0.5, 0.25  # Assumption 1: p = 1/2, q = 1/4


def _mean_stderr(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = values.shape[0]
    return values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(n)


def noise_series(kind: str, points: int, series: int = NOISE_SERIES, seed: int = NOISE_SEED) -> np.ndarray:
    """``series × points`` white (``"white"``, i.i.d. N(0, 1)) or brown (``"brown"``, their running sum) noise."""
    if kind not in ("white", "brown"):
        raise ValueError(f"kind={kind!r} is not allowed: 'white' or 'brown'")
    steps = np.random.default_rng([seed, points]).standard_normal((series, points))
    return steps if kind == "white" else np.cumsum(steps, axis=1)


@functools.lru_cache(maxsize=32)
def noise_baseline(kind: str, points: int, max_lag: int) -> dict:
    """ACF (lags ``0..max_lag``) and spectral exponent of white or brown noise of ``points`` values:
    ``{"acf": (mean, stderr) arrays, "exponent": (mean, stderr), "n": series}``."""
    y = noise_series(kind, points)
    acfs = np.array([sample_acf(row, max_lag) for row in y])
    exps = np.array([spectral_exponent(row) for row in y])
    acf_mean, acf_se = _mean_stderr(acfs)
    exp_mean, exp_se = _mean_stderr(exps[:, None])
    return {"acf": (acf_mean, acf_se), "exponent": (float(exp_mean[0]), float(exp_se[0])), "n": y.shape[0]}


def white_gradient_norm(batch: int) -> float:
    """``1/√B``: the normalized gradient norm of ``B`` independent zero-mean gradients."""
    return 1.0 / math.sqrt(batch)


def effective_rank_baselines(dim: int, batch: int) -> dict:
    """``r(Y)`` of a white ``dim × batch`` Gaussian matrix, and the relative rank of identical gradients."""
    white = white_effective_rank(dim, batch)
    return {"white_effective_rank": white, "rank_one_relative": 1.0 / white}
