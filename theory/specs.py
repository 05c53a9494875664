"""Architecture specifications: one frozen, validated object per network of the paper.

A spec describes an architecture *once*; the symbolic theory (:mod:`theory.pathsum`), the
Monte Carlo samplers and the reports all read the same object, nothing re-declares its
parameters.  Every spec validates itself at construction and raises :class:`SpecError`,
which names the field, the value and what is allowed.

Conventions shared by every spec (the paper's §3):

* ``depth`` is ``L``, the number of layers (blocks) that separate the neuron we differentiate
  with respect to from the output.  Theorems 1, 2 and Cor. 1 use this ``L`` directly; the
  paper's Thm 3 writes the variance as ``β²(L−1)+1``, i.e. its ``L`` counts ``L−1`` blocks —
  see :data:`theory.pathsum.PAPER_THM3_OFFSET`.
* ``width`` is ``N``, neurons per hidden layer.
* ``weight_gain`` is ``c`` in the weight variance ``σ² = c/N`` (He et al. 2015: ``c = 2``;
  Glorot & Bengio 2010: ``c = 1``).

Architectures (ARCH names used by every CLI):

``ff``        feedforward ReLU, ``x_l = W_l ρ(norm(x_{l−1}))``, norm ∈ none | center | bn (Thm 1)
``resnet``    ``x_l = α (x_{l−1} + β W_l ρ(norm(x_{l−1})))`` (eq. 2, Thm 2, §3.3, Thm 3)
``highway``   ``x_l = γ1 x_{l−1} + γ2 W_l ρ(x_{l−1})`` with ``γ1² + γ2² = 1`` (§3.4, Cor. 1)
``shallow``   ``f(x) = wᵀ ρ(x v − b)`` on a scalar input, ``v = 1`` (§1.1, Fig. 1a)
``crelu-ll``  CReLU layers ``x ↦ (W, −W)(ρ(x); ρ(−x)) = W x`` — looks-linear init (§5)
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

from kernels.plan import NORMS  # declared with the kernels that implement them

from .options import Option, command_args, option, options_of

CRELU_INITS = ("gaussian", "orthogonal")
GAMMA_TOLERANCE = 1e-9


class SpecError(ValueError):
    """A spec field holds a value outside its allowed range.

    The message names the field, the offending value and what is allowed, e.g.
    ``depth=-3 is not allowed: an integer >= 1 (L, the number of layers)``.
    """

    def __init__(self, field: str, value: Any, allowed: str):
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}={value!r} is not allowed: {allowed}")


def _integer(field: str, value: Any, minimum: int, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(field, value, f"an integer >= {minimum} ({meaning})")
    if value < minimum:
        raise SpecError(field, value, f"an integer >= {minimum} ({meaning})")
    return int(value)


def _real(field: str, value: Any, *, low: float, low_open: bool, high: float = math.inf,
          high_open: bool = True, meaning: str) -> float:
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    allowed = f"a finite real number in {lo}{low:g}, {high:g}{hi} ({meaning})"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(field, value, allowed)
    v = float(value)
    if not math.isfinite(v):
        raise SpecError(field, value, allowed)
    if v < low or (low_open and v == low) or v > high or (high_open and v == high):
        raise SpecError(field, value, allowed)
    return v


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(field, value, "one of " + ", ".join(choices))
    return value


def _norm_option() -> Any:
    """The ``norm`` field of ff and resnet (one declaration for both)."""
    return option("none", "ff/resnet normalization: none | center (subtract the batch mean) | bn "
                  "(batch normalization)", choices=NORMS)


@dataclass(frozen=True)
class NetworkSpec:
    """Fields common to every architecture: depth ``L``, width ``N``, gain ``c`` (σ² = c/N)."""

    depth: int = option(10, "L, the number of layers between the neuron and the output")
    width: int = option(200, "N, neurons per layer (the path model is exact at any N)")
    weight_gain: float = option(2.0, "c in the weight variance sigma^2 = c/N (2 = He, 1 = Glorot)",
                                aliases=("--gain",))

    arch: ClassVar[str] = ""
    #: the gradient's second moments (and A1's increment kurtosis) are exact at every width ``N``, so no
    #: finite-width bias separates a measurement from the closed form (the shallow net, A1)
    exact_at_every_width: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._set("depth", _integer("depth", self.depth, 1, "L, the number of layers"))
        self._set("width", _integer("width", self.width, 1, "N, neurons per layer"))
        self._set("weight_gain", _real("weight_gain", self.weight_gain, low=0.0, low_open=True,
                                       meaning="c in the weight variance sigma^2 = c/N"))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def weight_variance(self) -> float:
        """σ² = c/N, the variance of each weight."""
        return self.weight_gain / self.width

    def with_depth(self, depth: int) -> "NetworkSpec":
        """The same architecture at another depth (validated)."""
        return dataclasses.replace(self, depth=depth)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able description, ``arch`` first."""
        return {"arch": self.arch, **dataclasses.asdict(self)}

    def describe(self) -> str:
        """One line for tables and logs, e.g. ``resnet(L=50, N=200, c=2, alpha=1, beta=0.1, norm=bn)``."""
        parts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            key = {"depth": "L", "width": "N", "weight_gain": "c"}.get(f.name, f.name)
            parts.append(f"{key}={v:g}" if isinstance(v, float) else f"{key}={v}")
        return f"{self.arch}(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class FeedforwardSpec(NetworkSpec):
    """Feedforward ReLU net ``x_l = W_l ρ(norm(x_{l−1}))`` (paper §3.1, Thm 1).

    ``norm``: ``none``; ``center`` (subtract the batch mean of each neuron);
    ``bn`` (batch normalization: centre and divide by the batch standard deviation).
    """

    norm: str = _norm_option()
    arch: ClassVar[str] = "ff"

    def __post_init__(self) -> None:
        super().__post_init__()
        _choice("norm", self.norm, NORMS)


@dataclass(frozen=True)
class ResnetSpec(NetworkSpec):
    """Resnet of eq. (2): ``x_l = α (x_{l−1} + β W_l ρ(norm(x_{l−1})))`` (§3.2–3.3, Thm 2–3).

    ``alpha``: the rescaling α > 0 of each block (§3.3 uses α = 1/√2);
    ``beta``: the branch scale β >= 0 (Szegedy et al. 2016; Thm 3 uses 0.1 and 1);
    ``norm``: ``none`` (Thm 2), ``center`` or ``bn`` (Thm 3).
    """

    alpha: float = option(1.0, "resnet block rescaling alpha > 0 of eq. (2)")
    beta: float = option(1.0, "resnet branch rescaling beta >= 0 of eq. (2)")
    norm: str = _norm_option()
    arch: ClassVar[str] = "resnet"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("alpha", _real("alpha", self.alpha, low=0.0, low_open=True,
                                 meaning="the block rescaling alpha of eq. (2)"))
        self._set("beta", _real("beta", self.beta, low=0.0, low_open=False,
                                meaning="the branch rescaling beta of eq. (2)"))
        _choice("norm", self.norm, NORMS)


@dataclass(frozen=True)
class HighwaySpec(NetworkSpec):
    """Modified highway net ``x_l = γ1 x_{l−1} + γ2 W_l ρ(x_{l−1})``, ``γ1² + γ2² = 1`` (§3.4, Cor. 1).

    Give ``gamma1`` or ``gamma2`` or both (then they must satisfy γ1² + γ2² = 1 to within
    1e-9); give neither for the paper's depth-dependent choice ``γ1² = 1 − 1/L``,
    ``γ2² = 1/L``.  Read the resolved values from :attr:`gamma1_sq` and :attr:`gamma2_sq`.
    """

    gamma1: float | None = option(None, "highway skip gate gamma1 in [0, 1], gamma1^2 + gamma2^2 = 1",
                                  default_text="sqrt(1 - 1/L), Cor. 1")
    gamma2: float | None = option(None, "highway branch gate gamma2 in [0, 1]",
                                  default_text="sqrt(1 - gamma1^2)")
    arch: ClassVar[str] = "highway"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("gamma1", "gamma2"):
            value = getattr(self, name)
            if value is not None:
                self._set(name, _real(name, value, low=0.0, low_open=False, high=1.0,
                                      high_open=False, meaning="a highway gate scale, 0 <= gamma <= 1"))
        if self.gamma1 is not None and self.gamma2 is not None:
            total = self.gamma1 ** 2 + self.gamma2 ** 2
            if abs(total - 1.0) > GAMMA_TOLERANCE:
                raise SpecError("gamma1, gamma2", (self.gamma1, self.gamma2),
                                f"gamma1^2 + gamma2^2 = 1 (got {total:.12g})")

    def describe(self) -> str:
        how = " = 1 - 1/L" if self.uses_default_gates else ""
        return (f"highway(L={self.depth}, N={self.width}, c={self.weight_gain:g}, "
                f"gamma1^2={self.gamma1_sq:.6g}{how})")

    @property
    def uses_default_gates(self) -> bool:
        """True when γ1² = 1 − 1/L is chosen from the depth (Cor. 1's limit case)."""
        return self.gamma1 is None and self.gamma2 is None

    @property
    def gamma1_sq(self) -> float:
        """γ1², resolved from the given fields or the default ``1 − 1/L``."""
        if self.gamma1 is not None:
            return self.gamma1 ** 2
        if self.gamma2 is not None:
            return 1.0 - self.gamma2 ** 2
        return 1.0 - 1.0 / self.depth

    @property
    def gamma2_sq(self) -> float:
        """γ2² = 1 − γ1²."""
        return 1.0 - self.gamma1_sq


@dataclass(frozen=True)
class ShallowSpec(NetworkSpec):
    """One hidden layer on a scalar input: ``f(x) = wᵀ ρ(x·v − b)``, ``v = (1, …, 1)`` (§1.1, Fig. 1a).

    Output weights ``w ~ N(0, c/N)`` (Glorot: ``c = 1``); biases ``b ~ N(0, bias_std²)``.
    The paper samples ``b`` with the same variance ``1/N`` as ``w``; read literally, every kink
    of ``df/dx`` would then lie within about ``±3/√N`` of 0 and the gradient would be flat over
    most of the grid [−2, 2].  The default ``bias_std = 1`` spreads the kinks over the grid, as
    Fig. 1a shows; the literal reading is ``bias_std = 1/sqrt(width)``.
    """

    depth: int = 1
    weight_gain: float = 1.0
    bias_std: float = option(1.0, "shallow net / 1-D grid: standard deviation of the first-layer biases")
    arch: ClassVar[str] = "shallow"
    exact_at_every_width: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.depth != 1:
            raise SpecError("depth", self.depth, "1 (a shallow net has exactly one hidden layer)")
        self._set("bias_std", _real("bias_std", self.bias_std, low=0.0, low_open=True,
                                    meaning="standard deviation of the first-layer biases"))


@dataclass(frozen=True)
class CReLULLSpec(NetworkSpec):
    """CReLU layers with the mirrored "looks-linear" initialization (§5).

    Each layer maps ``x ∈ R^N`` to ``(W, −W) (ρ(x); ρ(−x)) = W x``; ``W`` is ``N × N`` with
    i.i.d. ``N(0, c/N)`` entries (``init = gaussian``) or a scaled orthogonal matrix
    (``init = orthogonal``, ``W = sqrt(c) Q``).  At initialization the network is linear.
    """

    weight_gain: float = 1.0
    init: str = option("gaussian", "crelu-ll weights: gaussian | orthogonal", choices=CRELU_INITS)
    arch: ClassVar[str] = "crelu-ll"

    def __post_init__(self) -> None:
        super().__post_init__()
        _choice("init", self.init, CRELU_INITS)


SPEC_CLASSES: dict[str, type[NetworkSpec]] = {
    cls.arch: cls for cls in (FeedforwardSpec, ResnetSpec, HighwaySpec, ShallowSpec, CReLULLSpec)
}
ARCHS = tuple(SPEC_CLASSES)

#: the spec fields as command-line options (``--depth``, ``--beta``, …), shared by every CLI
SPEC_OPTIONS: list[Option] = options_of(SPEC_CLASSES.values(), label=lambda cls: cls.arch)


def spec_command_args(spec: NetworkSpec) -> list[str]:
    """The flags that rebuild ``spec`` on a command line (fields at their defaults are left out)."""
    return command_args(spec, SPEC_OPTIONS)


def make_spec(arch: str, **fields: Any) -> NetworkSpec:
    """Build the spec for ``arch`` from keyword fields; ``None`` values take the defaults.

    Unknown architectures and fields that ``arch`` does not have raise :class:`SpecError`.
    """
    if arch not in SPEC_CLASSES:
        raise SpecError("arch", arch, "one of " + ", ".join(ARCHS))
    cls = SPEC_CLASSES[arch]
    names = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in fields.items() if v is not None}
    for key, value in given.items():
        if key not in names:
            raise SpecError(key, value, f"not a field of {arch}; its fields are " + ", ".join(sorted(names)))
    return cls(**given)


def spec_from_dict(data: dict[str, Any]) -> NetworkSpec:
    """Inverse of :meth:`NetworkSpec.to_dict`."""
    data = dict(data)
    arch = data.pop("arch", None)
    return make_spec(arch, **data)
