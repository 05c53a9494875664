"""Probe any ``torch.nn.Module`` at a batch of inputs: the shattering statistics of §4.

Let ``g_i = ∂ℓ/∂x_i`` be the gradient of the loss with respect to input ``i`` of a minibatch
of ``n`` inputs of dimension ``d`` (flattened), and ``Δ = (g_1 … g_n)`` the ``d × n`` matrix with
the gradients as columns.  :func:`probe` returns:

* ``covariance`` — the ``n × n`` matrix ``ΔᵀΔ / d`` (uncentered second moments over input
  coordinates: the paper's "covariance of gradients", Thm. 1, Fig. 5a–b) and ``correlation``,
  its normalization by the diagonal; ``mean_correlation`` = mean off-diagonal correlation.
* ``effective_rank`` ``r(Δ) = tr(ΔᵀΔ) / ‖Δ‖₂²`` (Vershynin 2012; §4) — between 1 (rank 1,
  e.g. all gradients equal) and ``rank Δ``; ``white_effective_rank`` = the mean of ``r(Y)`` over
  :data:`WHITE_DRAWS` seeded draws of a ``d × n`` matrix ``Y`` with i.i.d. N(0, 1) entries;
  ``relative_effective_rank = r(Δ) / r(Y)`` (Fig. 5c): ≈ 1 for white gradients, ``1/r(Y)`` for
  rank 1.
* ``gradient_norm`` — the normalized average gradient norm of Fig. 5d,

      ‖ (1/n) Σ_i g_i ‖₂ / sqrt( (1/n) Σ_i ‖g_i‖₂² ),

  i.e. the per-coordinate RMS of the minibatch-mean gradient divided by the minibatch's
  standard deviation of gradient entries, taken about 0 (uncentered).  It lies in [0, 1]: 1 iff
  all gradients are equal (no shattering), ≈ 1/√n for independent zero-mean (white) gradients:
  "the noise within minibatches overwhelms the signal".  ``gradient_norm_centered`` uses the
  ordinary (centered) standard deviation of all ``d·n`` entries instead; the two differ by the
  grand mean of the entries, which is ≈ 0 for these nets.
* ``relus`` — for every ``nn.ReLU``, ``nn.PReLU``, ``nn.LeakyReLU`` and :class:`.llinit.CReLU`
  module (forward hooks; gate = its input > 0; a unit = one channel at one position):
  ``activation`` = proportion of (unit, input) pairs active, ``coactivation`` = proportion of
  (unit, distinct pair of inputs) active for both (Fig. 3), averaged over units.  ``gates=False``
  records none (``relus`` is ``None``): the hooks cost about a third of a deep BN convnet's probe
  on the CPU (a float64 copy of every gate), and Fig. 5 (:mod:`.experiments`) does not use them;
  every other statistic is the same, bit for bit (the hooks only read the activations).
* ``acf`` (when ``path`` is given: inputs ordered along a path) — the sample ACF of the
  gradients along the path, ``ρ(k) = Σ_t ⟨g̃_t, g̃_{t+k}⟩ / Σ_t ⟨g̃_t, g̃_t⟩`` with ``g̃_t = g_t − ḡ``
  (for 1-D inputs, the scalar ACF of Fig. 2).

``loss``: ``"cross_entropy"`` (summed over the batch; needs ``targets``) or ``"sum"`` (the sum
of all outputs, the §3 convention ``f = Σ_p f_p``).  All statistics are scale invariant, so the
sum/mean reduction does not matter.  The model's train/eval mode is left as it is (BN in
training mode uses batch statistics, so ``g_i`` then depends on the rest of the batch).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..effective_rank import (  # noqa: F401
    WHITE_DRAWS,
    WHITE_SEED,
    effective_rank,
    white_effective_rank,
)
from .llinit import CReLU
from .specs import LOSSES
GATED = (nn.ReLU, nn.PReLU, nn.LeakyReLU, CReLU)


def gradient_stats(grads: np.ndarray) -> dict:
    """The matrix statistics of :func:`probe` for ``grads`` of shape ``(n, d)`` (one row each)."""
    g = np.asarray(grads, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] < 2:
        raise ValueError(f"grads has shape {g.shape}: (n, d) with n >= 2 examples is needed")
    n, d = g.shape
    cov = g @ g.T / d
    diag = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(diag, diag)
    off = corr[~np.eye(n, dtype=bool)]
    r = effective_rank(g.T)
    r_white = white_effective_rank(d, n)
    mean_grad = g.mean(axis=0)
    rms = np.sqrt(np.mean(g * g))
    std = g.std()
    return {
        "n": n, "dim": d,
        "covariance": cov, "correlation": corr,
        "mean_correlation": float(np.mean(off)),
        "effective_rank": r, "white_effective_rank": r_white,
        "relative_effective_rank": r / r_white,
        "gradient_norm": float(np.sqrt(np.mean(mean_grad ** 2)) / rms) if rms > 0 else float("nan"),
        "gradient_norm_centered": float(np.sqrt(np.mean(mean_grad ** 2)) / std) if std > 0 else float("inf"),
    }


def path_acf(grads: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """ACF of a sequence of gradient vectors ``grads (M, d)`` along a path, lags ``0..max_lag``."""
    g = np.asarray(grads, dtype=np.float64)
    g = g.reshape(g.shape[0], -1)
    m = g.shape[0]
    max_lag = m - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < m:
        raise ValueError(f"max_lag={max_lag} is not allowed: 0 <= max_lag < {m} path points")
    z = g - g.mean(axis=0)
    denom = float(np.sum(z * z))
    if denom == 0.0:
        return np.full(max_lag + 1, np.nan)  # constant gradient along the path (e.g. LL-init)
    return np.array([float(np.sum(z[: m - k] * z[k:])) / denom for k in range(max_lag + 1)])


class _GateRecorder:
    def __init__(self, model: nn.Module):
        self.stats: list[dict] = []
        self.handles = []
        for name, module in model.named_modules():
            if isinstance(module, GATED):
                self.handles.append(module.register_forward_hook(self._hook(name, type(module).__name__)))

    def _hook(self, name: str, kind: str):
        def hook(module, inputs, output):
            with torch.no_grad():
                x = inputs[0]
                n = x.shape[0]
                active = (x > 0).reshape(n, -1).to(torch.float64)
                k = active.sum(dim=0)
                act = float(k.mean() / n)
                coact = float((k * (k - 1)).mean() / (n * (n - 1))) if n > 1 else float("nan")
                self.stats.append({"name": name, "type": kind, "activation": act, "coactivation": coact})
        return hook

    def close(self):
        for h in self.handles:
            h.remove()


def input_gradients(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None,
                    loss: str = "cross_entropy") -> tuple[torch.Tensor, float]:
    """``∂ℓ/∂x`` for every input (same shape as ``inputs``) and the loss value."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not allowed: one of {', '.join(LOSSES)}")
    if loss == "cross_entropy" and targets is None:
        raise ValueError("targets=None is not allowed with loss='cross_entropy': pass class "
                         "indices, or loss='sum'")
    x = inputs.detach().clone().requires_grad_(True)
    out = model(x)
    if loss == "cross_entropy":
        value = nn.functional.cross_entropy(out, targets, reduction="sum")
    else:
        value = out.sum()
    (grad,) = torch.autograd.grad(value, x)
    return grad.detach(), float(value.detach())


def probe(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None = None,
          loss: str = "cross_entropy", *, path: torch.Tensor | None = None,
          path_targets: torch.Tensor | None = None, max_lag: int | None = None,
          keep_gradients: bool = False, gates: bool = True) -> dict:
    """Shattering statistics of ``model`` at the minibatch ``inputs`` (see the module doc).

    ``inputs``: a tensor ``(n, ...)`` with ``n ≥ 2``.  ``path``: optional inputs ``(M, ...)``
    ordered along a path in input space; their gradients (loss ``loss`` with ``path_targets``,
    or ``"sum"`` when no targets are given) give ``acf`` (lags ``0..max_lag``).
    Returns a dict of floats and numpy arrays; ``gradients`` (``(n, d)``) only when
    ``keep_gradients``; ``relus`` is ``None`` when not ``gates``.
    """
    if not isinstance(inputs, torch.Tensor) or inputs.ndim < 2 or inputs.shape[0] < 2:
        raise ValueError(f"inputs must be a tensor of shape (n, ...) with n >= 2, got "
                         f"{getattr(inputs, 'shape', type(inputs).__name__)}")
    recorder = _GateRecorder(model) if gates else None
    try:
        grad, value = input_gradients(model, inputs, targets, loss)
    finally:
        if recorder is not None:
            recorder.close()
    g = grad.reshape(grad.shape[0], -1).to(torch.float64).numpy()
    result = gradient_stats(g)
    result["loss"] = value
    result["relus"] = recorder.stats if recorder is not None else None
    if keep_gradients:
        result["gradients"] = g
    result["acf"] = None
    if path is not None:
        ploss = loss if path_targets is not None else "sum"
        pgrad, _ = input_gradients(model, path, path_targets, ploss)
        result["acf"] = path_acf(pgrad.to(torch.float64).numpy(), max_lag)
    return result
