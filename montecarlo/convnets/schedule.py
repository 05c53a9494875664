"""The automatic learning-rate drop of the Fig. 6 training (§5.1), as a small state machine.

:class:`AutoScheduler` holds the learning rate; the training loop (:mod:`.training`) feeds it
training-loss measurements and sets the optimizer's rate when it drops.  numpy only.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


class AutoScheduler:
    """The automatic learning-rate drop of §5.1, as a small state machine.

    The paper: "an auto-scheduler that measures how quickly the loss on the training set has
    been decreasing over the last ten epochs, and drops the learning rate if a threshold remains
    crossed for five measurements in a row."  Our reading, with every constant a parameter:

    * a *measurement* is one training-loss value ``ℓ_t`` passed to :meth:`step` (the paper:
      one per epoch; short runs: one per ``1/k`` epoch, see :class:`.specs.TrainConfig`);
    * once the last ``window`` measurements since the last drop are available, the *rate* is
      the relative decrease per measurement of a least-squares line through them,

          rate_t = −slope(ℓ_{t−window+1..t}) / mean(ℓ_{t−window+1..t});

    * the threshold is *crossed* when ``rate_t < threshold`` (the loss is decreasing too slowly,
      or increasing); after ``patience`` consecutive crossed measurements the learning rate is
      multiplied by ``factor``, and the history and the count are cleared (the window refills at
      the new rate, so two drops are at least ``window + patience − 1`` measurements apart).

    A NaN or infinite ``ℓ_t`` raises ``ValueError`` (the caller handles divergence).
    """

    def __init__(self, lr: float, window: int = 10, patience: int = 5, threshold: float = 1e-3,
                 factor: float = 0.1):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr={lr!r} is not allowed: a positive finite number")
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window={window!r} is not allowed: an integer >= 2 (a slope needs two points)")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience={patience!r} is not allowed: a positive integer")
        if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
            raise ValueError(f"threshold={threshold!r} is not allowed: a finite number")
        if not (isinstance(factor, (int, float)) and 0 < factor < 1):
            raise ValueError(f"factor={factor!r} is not allowed: a number in (0, 1)")
        self.lr = float(lr)
        self.window, self.patience = window, patience
        self.threshold, self.factor = float(threshold), float(factor)
        self.history: list[float] = []
        self.crossed = 0
        self.measurements = 0
        self.drops: list[int] = []  # measurement indices (0-based) at which the lr dropped

    @staticmethod
    def relative_rate(losses: Sequence[float]) -> float:
        """``−slope / mean`` of the least-squares line through ``losses`` (index as abscissa)."""
        y = np.asarray(losses, dtype=np.float64)
        t = np.arange(y.size, dtype=np.float64)
        t -= t.mean()
        slope = float(t @ (y - y.mean()) / (t @ t))
        mean = float(y.mean())
        return -slope / mean if mean != 0 else (math.inf if slope < 0 else -math.inf)

    def rate(self) -> float | None:
        """The current rate, or None while fewer than ``window`` measurements are available."""
        if len(self.history) < self.window:
            return None
        return self.relative_rate(self.history[-self.window:])

    def step(self, loss: float) -> bool:
        """Record one measurement; True when the learning rate was dropped by it."""
        loss = float(loss)
        if not math.isfinite(loss):
            raise ValueError(f"loss={loss!r} is not allowed: a finite training loss")
        self.history.append(loss)
        self.history = self.history[-self.window:]
        index = self.measurements
        self.measurements += 1
        rate = self.rate()
        if rate is None:
            return False
        self.crossed = self.crossed + 1 if rate < self.threshold else 0
        if self.crossed < self.patience:
            return False
        self.lr *= self.factor
        self.history.clear()
        self.crossed = 0
        self.drops.append(index)
        return True

    def state_dict(self) -> dict:
        return {"lr": self.lr, "window": self.window, "patience": self.patience, "threshold": self.threshold,
                "factor": self.factor, "history": list(self.history), "crossed": self.crossed,
                "measurements": self.measurements, "drops": list(self.drops)}

    def load_state_dict(self, state: dict) -> None:
        for name in ("window", "patience", "threshold", "factor"):
            if state[name] != getattr(self, name):
                raise ValueError(f"scheduler state has {name}={state[name]!r}, this scheduler {getattr(self, name)!r}")
        self.lr = float(state["lr"])
        self.history = [float(v) for v in state["history"]]
        self.crossed = int(state["crossed"])
        self.measurements = int(state["measurements"])
        self.drops = [int(v) for v in state["drops"]]
