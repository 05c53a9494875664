"""The probe's measurements: one forward and one backward pass per initialization (torch).

For initialization ``s = 0..S−1`` (the independent units, as networks are in the engine) the
probe seeds torch's generators from ``SeedSequence(seed, spawn_key=(s, 0))``, calls the factory
once (a fresh model, never ``reset_parameters``) and draws its inputs from
``SeedSequence(seed, spawn_key=(s, 1))`` (the minibatch) and ``(s, 2)`` (the path).  The model's
forward runs under the same seeded generators (dropout masks are reproducible); the caller's
global generator state is restored afterwards.  Same seed → same numbers.

**Minibatch pass.**  ``B`` inputs ``x_1..x_B`` (i.i.d. N(0, I) of ``--input-shape``, or ``B``
distinct CIFAR-10 images) go through the model as one batch; ``f`` is the loss (``sum``: the sum
of every output, the paper's ``f = Σ_p f_p`` with the model's own linear readout;
``cross_entropy``: summed over the batch, with the images' labels or uniform random labels).
Forward hooks on the selected modules keep each call's output ``h`` (a clone is passed on, so a
later in-place operation cannot change what was kept), and ``torch.autograd.grad`` returns
``∂f/∂x`` and every ``g = ∂f/∂h`` from the *one* backward pass.  Per site and initialization,
with the inputs paired as ``(x_1, x_2), (x_3, x_4), …`` (typical pairs, the paper's Definition 1)
and ``g, g'`` the gradients of a pair,

    A = mean over units and pairs of (g² + g'²)/2,     C = mean over units and pairs of g g',

and the correlation is ``C̄/Ā`` over initializations (ratio of means, Fieller's interval:
:mod:`montecarlo.estimators`).  A site's *depth* ``d`` is the number of selected sites after
it: with one site per layer (or block), the last one feeds the readout (``d = 0``, correlation 1
for ``f = Σ_p f_p``), the one before it is one layer away (Thm 1: ``1/2``), and so on.

From the same pass: the input gradients' relative effective rank and normalized norm (Fig.
5c–d, :func:`montecarlo.convnets.probe.gradient_stats`), and for every rectifier-like module
(forward pre-hooks; gate = its input > 0; a unit = one coordinate of one example) the share of
(unit, input) pairs active, of (unit, distinct pair of inputs) co-active (Fig. 3), and of units
on for every input / off for every input of the minibatch.

**Path pass** (Fig. 1–2).  ``M`` points ``x(t)`` along a line between two further inputs
(``line``: ``x_a + t (x_b − x_a)``, ``t ∈ [0, 1]``) or along a random direction through one
(``random``: ``x_a + t u``, ``u`` Gaussian at the inputs' scale, ``t ∈ [−1, 1]``), as one batch;
the series is the directional derivative ``df/dt = ⟨∂f/∂x(t), dx/dt⟩`` of ``f = Σ_p f_p`` —
for a 1-D input exactly the paper's ``df/dx`` on its grid.  Its sample ACF and spectral scale
exponent (:mod:`montecarlo.observables`) are read against white and brown noise
(:mod:`.baselines`).  A series constant to rounding (a linear model: no shattering at all) has
neither; it is counted, not measured.

**Batch norm** (DESIGN.md, "two honest derivatives"): ``bn_backward="through"`` leaves every BN
module as it is (autograd differentiates through the batch mean and variance); ``"constant"``
makes each BN module that normalizes with batch statistics treat them as constants (the
theorems' model: BN rescales the path-weights).  BN modules in eval mode use running statistics,
constants already.

Failures of the model (the factory raises or returns no ``nn.Module``, an output without a batch
dimension, a non-finite loss or gradient) raise :class:`ProbeError` naming the initialization and
what failed.
"""
from __future__ import annotations

import fnmatch
import time
import types
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..convnets.probe import gradient_stats
from ..convnets.seeds import child, torch_seed
from ..observables import sample_acf, spectral_exponent
from .settings import ProbeSettings

#: rectifier-like activations by class; leaf modules whose class name contains one of
#: :data:`RECTIFIER_NAMES` count too (CReLU, transformers' GELUActivation, …)
RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU,
              nn.SiLU, nn.Mish, nn.Hardswish)
RECTIFIER_NAMES = ("relu", "gelu", "silu", "swish", "mish", "elu")
#: a path series whose standard deviation is below this fraction of its RMS is constant to rounding
CONSTANT_PATH = 1e-5


class ProbeError(ValueError):
    """The model or its inputs cannot be probed; the message names the initialization and the cause."""


def is_rectifier(module: nn.Module) -> bool:
    if isinstance(module, RECTIFIERS):
        return True
    name = type(module).__name__.lower()
    return not any(True for _ in module.children()) and any(k in name for k in RECTIFIER_NAMES)


def _matches(name: str, module: nn.Module, patterns: Sequence[str]) -> bool:
    kind = type(module).__name__
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(kind, p) for p in patterns)


def selected_modules(model: nn.Module, patterns: Sequence[str]) -> list[tuple[str, nn.Module]]:
    """The modules a probe hooks: names or class names matching a pattern, else every rectifier."""
    named = [(n, m) for n, m in model.named_modules() if n]
    if patterns:
        return [(n, m) for n, m in named if _matches(n, m, patterns)]
    return [(n, m) for n, m in named if is_rectifier(m)]


@dataclass(frozen=True)
class Site:
    """One call of a hooked module: ``name`` (``#k`` for its k-th call), class, units per example."""

    name: str
    kind: str
    units: int


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


class _Hooks:
    """Forward hooks that keep each selected call's output, and pre-hooks that record every
    rectifier's gates (reduced on the device to four numbers per call)."""

    def __init__(self, model: nn.Module, patterns: Sequence[str], batch: int):
        self.batch = batch
        self.sites: list[Site] = []
        self.tensors: list[torch.Tensor] = []
        self.gate_sites: list[Site] = []
        self.gate_stats: list[torch.Tensor] = []
        self._calls: Counter = Counter()
        self._gate_calls: Counter = Counter()
        self.handles = []
        for name, module in selected_modules(model, patterns):
            self.handles.append(module.register_forward_hook(self._keep(name)))
        for name, module in model.named_modules():
            if name and is_rectifier(module):
                self.handles.append(module.register_forward_pre_hook(self._gates(name)))

    @staticmethod
    def _label(counter: Counter, name: str) -> str:
        k = counter[name]
        counter[name] += 1
        return name if k == 0 else f"{name}#{k + 1}"

    def _keep(self, name: str):
        def hook(module, inputs, output):
            t = _first_tensor(output)
            if t is None or not t.requires_grad or not t.is_floating_point() or t.shape[:1] != (self.batch,):
                return None
            self.sites.append(Site(self._label(self._calls, name), type(module).__name__, int(t[0].numel())))
            self.tensors.append(t)
            passed = t.clone()
            return passed if isinstance(output, torch.Tensor) else type(output)([passed, *output[1:]])
        return hook

    def _gates(self, name: str):
        def hook(module, inputs):
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            if x is None or x.shape[:1] != (self.batch,) or self.batch < 2:
                return None
            with torch.no_grad():
                active = (x > 0).reshape(self.batch, -1).to(torch.float64)
                k = active.sum(dim=0)
                n = float(self.batch)
                stats = torch.stack([k.mean() / n, (k * (k - 1)).mean() / (n * (n - 1)),
                                     (k == n).to(torch.float64).mean(), (k == 0).to(torch.float64).mean()])
            self.gate_sites.append(Site(self._label(self._gate_calls, name), type(module).__name__,
                                        int(active.shape[1])))
            self.gate_stats.append(stats)
            return None
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _bn_uses_batch_stats(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and (module.training or module.running_mean is None)


def _constant_bn_forward(self, x: torch.Tensor) -> torch.Tensor:
    """Batch norm with the batch's mean and variance computed, then treated as constants."""
    dims = [0] + list(range(2, x.ndim))
    with torch.no_grad():
        var, mean = torch.var_mean(x, dim=dims, unbiased=False)
    return nn.functional.batch_norm(x, mean, var, self.weight, self.bias, training=False, eps=self.eps)


def apply_bn_backward(model: nn.Module, bn_backward: str) -> int:
    """Make ``model``'s batch norms follow ``bn_backward``; the number of BN modules using batch statistics.

    torch's BN modules get an instance ``forward`` (:func:`_constant_bn_forward`) for ``"constant"``;
    a module with its own ``bn_backward`` attribute (this project's :class:`..convnets.models.BatchNorm2d`)
    is told the mode.
    """
    count = 0
    for module in model.modules():
        if _bn_uses_batch_stats(module):
            count += 1
            if bn_backward == "constant":
                module.forward = types.MethodType(_constant_bn_forward, module)
        elif isinstance(getattr(module, "bn_backward", None), str):
            count += 1
            module.bn_backward = bn_backward
    return count


@dataclass
class Inputs:
    """Where the inputs come from: i.i.d. N(0, I) of ``shape``, or rows of ``images`` with ``labels``."""

    shape: tuple[int, ...]
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    description: str = ""

    @property
    def scale(self) -> float:
        return 1.0 if self.images is None else float(self.images.std())

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.images is None:
            return rng.standard_normal((n, *self.shape), dtype=np.float32), None
        idx = rng.choice(self.images.shape[0], size=n, replace=False)
        return self.images[idx], self.labels[idx]


def path_points(inputs: Inputs, kind: str, points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``M`` points along the path and its direction ``dx/dt`` (module docstring)."""
    ends, _ = inputs.draw(rng, 2)
    if kind == "line":
        t = np.linspace(0.0, 1.0, points, dtype=np.float32)
        direction = ends[1] - ends[0]
    else:
        t = np.linspace(-1.0, 1.0, points, dtype=np.float32)
        direction = (rng.standard_normal(ends[0].shape) * inputs.scale).astype(np.float32)
    x = ends[0][None] + t.reshape(-1, *([1] * ends[0].ndim)) * direction[None]
    return x.astype(np.float32), direction


def model_output(out: Any, where: str) -> torch.Tensor:
    """The tensor the loss is taken of: the output itself, its ``.logits`` (transformers) or its first element."""
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    first = _first_tensor(out)
    if first is not None:
        return first
    raise ProbeError(f"{where}: the model returned a {type(out).__name__}; a tensor of shape (batch, ...) "
                     "(or an object with .logits, or a tuple whose first element is one) is needed")


@dataclass
class InitMeasurement:
    """The numbers of one initialization (float64 numpy)."""

    pair_moments: np.ndarray          # (sites, 2): A, C
    gates: np.ndarray                 # (gate sites, 4): active, co-active, always on, always off
    input_stats: np.ndarray           # (4,): effective rank, relative effective rank, gradient norm, mean correlation
    pair_input_cosine: float          # mean cosine of the two inputs of a pair (c0 of the infinite-width model)
    path_acf: np.ndarray | None       # (max_lag + 1,), None when no path or constant along it
    path_exponent: float | None
    path_constant: bool
    sites: list[Site]
    gate_sites: list[Site]
    seconds: float


@dataclass
class ProbeRun:
    """Every initialization's numbers, the sites, and what was run (turned into a document by :mod:`.document`)."""

    settings: ProbeSettings
    inits: list[InitMeasurement]
    input_dim: int
    white_effective_rank: float
    model: dict[str, Any]
    inputs: str
    seconds: float
    device: str
    threads: int
    gaussian_inputs: bool = True  # i.i.d. N(0, I): the pair correlation is 0 by construction
    notes: list[str] = field(default_factory=list)


def _check_finite(t: torch.Tensor, what: str, where: str) -> None:
    if not bool(torch.isfinite(t).all()):
        raise ProbeError(f"{where}: {what} is not finite (nan or inf): the model's gradients at initialization "
                         "overflow or are undefined")


def _loss(out: torch.Tensor, loss: str, labels: np.ndarray | None, rng: np.random.Generator,
          device: torch.device, where: str) -> torch.Tensor:
    if loss == "sum":
        return out.sum()
    if out.ndim != 2 or out.shape[1] < 2:
        raise ProbeError(f"{where}: --loss cross_entropy needs logits of shape (batch, classes >= 2), the model "
                         f"returned {tuple(out.shape)}; use --loss sum")
    classes = out.shape[1]
    if labels is None:
        labels = rng.integers(0, classes, size=out.shape[0])
    elif int(labels.max()) >= classes:
        raise ProbeError(f"{where}: the data has label {int(labels.max())} but the model has {classes} outputs")
    target = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=device)
    return nn.functional.cross_entropy(out, target, reduction="sum")


def _input_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating parameter (float32 for a model without one)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _gradients(value: torch.Tensor, inputs: list[torch.Tensor], where: str) -> tuple:
    try:
        return torch.autograd.grad(value, inputs, allow_unused=True)
    except RuntimeError as exc:  # e.g. an output detached from the graph
        raise ProbeError(f"{where}: differentiating the output failed: {exc}") from exc


def _build(factory: Callable[[], Any], where: str) -> nn.Module:
    try:
        model = factory()
    except Exception as exc:  # the user's code
        raise ProbeError(f"{where}: calling the factory failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ProbeError(f"{where}: the factory returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _forward(model: nn.Module, x: torch.Tensor, where: str) -> torch.Tensor:
    try:
        out = model_output(model(x), where)
    except ProbeError:
        raise
    except Exception as exc:  # the user's model on inputs of the stated shape
        raise ProbeError(f"{where}: the forward pass on inputs of shape {tuple(x.shape)} failed: "
                         f"{type(exc).__name__}: {exc}") from exc
    if out.ndim < 1 or out.shape[0] != x.shape[0] or not out.is_floating_point():
        raise ProbeError(f"{where}: the model's output has shape {tuple(out.shape)} ({out.dtype}); a floating "
                         f"tensor with the batch dimension first ({x.shape[0]}, ...) is needed")
    return out


def measure_init(model: nn.Module, inputs: Inputs, settings: ProbeSettings, index: int,
                 device: torch.device) -> InitMeasurement:
    """One initialization's minibatch and path passes (module docstring); torch generators already seeded."""
    t0 = time.perf_counter()
    where = f"initialization {index}"
    B = settings.batch_size
    rng = np.random.default_rng(child(settings.seed, index, 1))
    x_np, labels = inputs.draw(rng, B)
    x = torch.from_numpy(x_np).to(device=device, dtype=_input_dtype(model)).requires_grad_(True)
    hooks = _Hooks(model, settings.layers, B)
    try:
        out = _forward(model, x, where)
    finally:
        hooks.close()
    if not hooks.sites:
        names = [n for n, _ in model.named_modules() if n][:12]
        what = (f"no module matches --layers {' '.join(settings.layers)}" if settings.layers else
                "the model has no rectifier-like module (ReLU, GELU, CReLU, …) whose output is on the gradient path")
        raise ProbeError(f"{where}: {what}; name the layers to probe with --layers PATTERN (fnmatch on module "
                         f"names or class names; this model's modules: {', '.join(names) or 'none'})")
    value = _loss(out, settings.loss, labels, rng, device, where)
    _check_finite(value.detach(), "the loss", where)
    grads = _gradients(value, [x, *hooks.tensors], where)
    gx = grads[0]
    if gx is None:
        raise ProbeError(f"{where}: the output does not depend on the input")
    _check_finite(gx, "the input gradient", where)
    P = B // 2
    moments, sites = [], []
    for site, g in zip(hooks.sites, grads[1:]):
        if g is None:  # not on the way from the input to f (an unused head): no gradient to correlate
            continue
        sites.append(site)
        _check_finite(g, f"the gradient w.r.t. {site.name}", where)
        g = g.reshape(B, -1).to(torch.float64)
        a, b = g[0:2 * P:2], g[1:2 * P:2]
        moments.append(torch.stack([((a * a + b * b) / 2).mean(), (a * b).mean()]))
    pair_moments = torch.stack(moments).cpu().numpy()
    gates = (torch.stack(hooks.gate_stats).cpu().numpy() if hooks.gate_stats else np.zeros((0, 4)))
    g_np = gx.reshape(B, -1).to(torch.float64).cpu().numpy()
    stats = gradient_stats(g_np)
    input_stats = np.array([stats["effective_rank"], stats["relative_effective_rank"], stats["gradient_norm"],
                            stats["mean_correlation"]])
    flat = x_np.reshape(B, -1).astype(np.float64)
    first, second = flat[0:2 * P:2], flat[1:2 * P:2]
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    cosine = float(np.mean(np.sum(first * second, axis=1) / np.where(norms > 0, norms, 1.0)))
    if not sites:
        raise ProbeError(f"{where}: none of the probed layers ({', '.join(s.name for s in hooks.sites)}) lies on "
                         "the way from the input to the output; choose others with --layers")
    gate_sites = hooks.gate_sites
    del grads, hooks
    acf, exponent, constant = None, None, False
    if settings.path != "none":
        acf, exponent, constant = _path(model, inputs, settings, index, device, where)
    return InitMeasurement(pair_moments, gates, input_stats, cosine, acf, exponent, constant,
                           sites, gate_sites, time.perf_counter() - t0)


def _path(model: nn.Module, inputs: Inputs, settings: ProbeSettings, index: int, device: torch.device,
          where: str) -> tuple[np.ndarray | None, float | None, bool]:
    rng = np.random.default_rng(child(settings.seed, index, 2))
    points, direction = path_points(inputs, settings.path, settings.path_points, rng)
    xp = torch.from_numpy(points).to(device=device, dtype=_input_dtype(model)).requires_grad_(True)
    out = _forward(model, xp, f"{where}, path")
    (gp,) = _gradients(out.sum(), [xp], f"{where}, path")
    _check_finite(gp, "the input gradient along the path", where)
    u = torch.from_numpy(direction).to(device=device, dtype=torch.float64).reshape(-1)
    series = (gp.reshape(gp.shape[0], -1).to(torch.float64) @ u).cpu().numpy()
    rms = float(np.sqrt(np.mean(series ** 2)))
    if rms == 0.0 or float(series.std()) <= CONSTANT_PATH * rms:
        return None, None, True
    try:
        return sample_acf(series, settings.max_lag), spectral_exponent(series), False
    except FloatingPointError:
        return None, None, True


def describe_model(model: nn.Module, bn_count: int) -> dict[str, Any]:
    return {"class": f"{type(model).__module__}.{type(model).__qualname__}",
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "training_mode": bool(model.training), "batch_norm_modules": bn_count,
            "rectifier_modules": sum(1 for _, m in model.named_modules() if is_rectifier(m))}


def resolve_device(name: str) -> torch.device:
    """``cpu`` or ``cuda[:k]``; a CUDA request without a usable device is a :class:`ProbeError`."""
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ProbeError(f"--device {name}: no CUDA device is available (torch {torch.__version__}"
                             f"{', built without CUDA' if torch.version.cuda is None else ''}); use --device cpu")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ProbeError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
        return device
    return torch.device("cpu")


def run_probe(factory: Callable[[], Any], inputs: Inputs, settings: ProbeSettings,
              progress: Callable[[int], None] | None = None) -> ProbeRun:
    """Probe ``settings.inits`` fresh initializations of ``factory()`` (module docstring)."""
    t0 = time.perf_counter()
    device = resolve_device(settings.device)
    threads = torch.get_num_threads()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    try:
        return _run(factory, inputs, settings, device, progress, t0)
    finally:
        torch.set_num_threads(threads)


def _run(factory, inputs: Inputs, settings: ProbeSettings, device: torch.device,
         progress: Callable[[int], None] | None, t0: float) -> ProbeRun:
    run_threads = torch.get_num_threads()
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    measured: list[InitMeasurement] = []
    model_info: dict[str, Any] = {}
    reference: tuple[list[Site], list[Site]] | None = None
    for index in range(settings.inits):
        where = f"initialization {index}"
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(torch_seed(child(settings.seed, index, 0)))
            model = _build(factory, where)
            bn_count = apply_bn_backward(model, settings.bn_backward)
            try:
                model = model.to(device)
            except Exception as exc:
                raise ProbeError(f"{where}: moving the model to {device} failed: {exc}") from exc
            m = measure_init(model, inputs, settings, index, device)
        if reference is None:
            reference = (m.sites, m.gate_sites)
            model_info = describe_model(model, bn_count)
        elif (m.sites, m.gate_sites) != reference:
            raise ProbeError(f"{where}: the model's hooked layers differ from initialization 0's "
                             f"({len(m.sites)} sites vs {len(reference[0])}); the probe needs the same "
                             "architecture at every initialization")
        measured.append(m)
        del model
        if progress is not None:
            progress(index + 1)
    dim = int(np.prod(inputs.shape))
    from ..effective_rank import white_effective_rank
    return ProbeRun(settings, measured, dim, white_effective_rank(dim, settings.batch_size), model_info,
                    inputs.description, time.perf_counter() - t0, str(device), run_threads,
                    gaussian_inputs=inputs.images is None)

