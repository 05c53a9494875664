"""The probe's settings: one validated frozen dataclass; the CLI's flags are derived from its fields.

No torch here: the settings are read back from a stored probe document by the report page.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from theory.options import BN_BACKWARD_HELP, BN_BACKWARDS, bn_backward, option, options_of
from theory.specs import SpecError

LOSSES = ("sum", "cross_entropy")
PATHS = ("line", "random", "none")


def _integer(name: str, value: Any, minimum: int, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(name, value, f"an integer >= {minimum} ({meaning})")
    return int(value)


@dataclass(frozen=True)
class ProbeSettings:
    """What one probe run measures (see :mod:`montecarlo.probe.measure` for the definitions)."""

    inits: int = option(16, "initializations (fresh models, the independent units of every standard error)",
                        metavar="S")
    batch_size: int = option(64, "inputs per initialization (an even number >= 4: B/2 typical pairs)", metavar="B")
    seed: int = option(0, "root of numpy.random.SeedSequence (initialization s: children (s, 0) model, "
                          "(s, 1) minibatch, (s, 2) path)", metavar="K")
    loss: str = option("sum", "what is differentiated: sum = the sum of every output (the paper's f = sum_p f_p), "
                              "cross_entropy = summed over the batch (labels: the data's, or uniform random)",
                       choices=LOSSES)
    layers: tuple[str, ...] = option((), "", cli=False)
    bn_backward: str = option("through", BN_BACKWARD_HELP + "; through leaves the model's BN modules as written",
                              parse=bn_backward, metavar="{" + ",".join(BN_BACKWARDS) + "}")
    device: str = option("cpu", "cpu or cuda[:k]")
    path: str = option("line", "1-D path through input space for the ACF and the scale exponent: line between "
                               "two inputs, random direction through one, or none", choices=PATHS)
    path_points: int = option(256, "points M along the path (the paper's grid: 256)", metavar="M")
    max_lag: int = option(20, "largest lag of the path's ACF")
    threads: int | None = option(None, "torch CPU threads during the run (restored after it)",
                                 default_text="torch's choice")
    fwer: float = option(0.05, "family-wise false-alarm rate of the run's verdicts, split over its comparisons "
                               "(Bonferroni)")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "inits", _integer("inits", self.inits, 2, "initializations; 8 or more decide a verdict"))
        batch = _integer("batch_size", self.batch_size, 4, "inputs per initialization")
        if batch % 2:
            raise SpecError("batch_size", batch, "an even integer >= 4 (the inputs form B/2 typical pairs)")
        set_(self, "batch_size", batch)
        set_(self, "seed", _integer("seed", self.seed, 0, "root of numpy.random.SeedSequence"))
        if self.loss not in LOSSES:
            raise SpecError("loss", self.loss, "one of " + ", ".join(LOSSES))
        layers = tuple(self.layers)
        if not all(isinstance(p, str) and p for p in layers):
            raise SpecError("layers", self.layers, "non-empty fnmatch patterns of module names or class names")
        set_(self, "layers", layers)
        try:
            set_(self, "bn_backward", bn_backward(self.bn_backward))
        except Exception as exc:
            raise SpecError("bn_backward", self.bn_backward, "one of " + ", ".join(BN_BACKWARDS)) from exc
        if not (self.device == "cpu" or self.device == "cuda" or
                (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise SpecError("device", self.device, "cpu, cuda or cuda:K")
        if self.path not in PATHS:
            raise SpecError("path", self.path, "one of " + ", ".join(PATHS))
        set_(self, "path_points", _integer("path_points", self.path_points, 16, "points along the path"))
        lag = _integer("max_lag", self.max_lag, 1, "largest ACF lag")
        if lag >= self.path_points:
            raise SpecError("max_lag", lag, f"an integer in [1, {self.path_points - 1}] (below --path-points)")
        set_(self, "max_lag", lag)
        if self.threads is not None:
            set_(self, "threads", _integer("threads", self.threads, 1, "torch CPU threads"))
        if isinstance(self.fwer, bool) or not isinstance(self.fwer, (int, float)) or not (0 < self.fwer < 1) \
                or not math.isfinite(self.fwer):
            raise SpecError("fwer", self.fwer, "a probability in (0, 1)")
        set_(self, "fwer", float(self.fwer))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProbeSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "layers" else v) for k, v in data.items() if k in names})


def probe_options():
    """The command-line options of :class:`ProbeSettings` (``--layers`` is added by the CLI: several patterns)."""
    return options_of([ProbeSettings])
