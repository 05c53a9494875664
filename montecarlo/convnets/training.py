"""Fig. 6 (§5.1): training thin CIFAR-10 convnets with and without the looks-linear init.

The paper trains thin rectifier convnets of depths up to 198 on CIFAR-10 and reports test
accuracy against depth (Fig. 6): a CReLU net with the orthogonal LL-init trains about as well
as a resnet, while He-initialized CReLU and ReLU nets get steadily worse with depth.  This
module is the experiment; :mod:`.train` is its CLI (``python -m montecarlo.convnets.train``).

Architecture (:class:`ThinNet`; the paper's appendix A4 with the exact layout is not available,
so this is our reading of §5.1, written once for all four architectures)
------------------------------------------------------------------------------------------
``depth`` ``D`` = the number of nonlinear conv modules after the stem (even, ``D >= 8``); the
net has ``D + 2`` weight layers (stem conv, ``D`` convs, classifier)::

    x (3×32×32)
    → stem: conv3×3 (3 → w₀, stride 1, zero padding 1, no bias)            [linear]
    → D modules  m(h) = conv3×3( ρ(h) )  (no bias, zero padding 1), grouped in D/2 blocks of two;
      the blocks are split over 4 stages, n_s = ⌊B/4⌋ + [s < B mod 4] blocks in stage s
      (B = D/2, earlier stages take the remainder).  The first module of stages 1, 2, 3 is a
      *reduction*: stride 2 (32→16→8→4 pixels) and w_{s−1} → w_s channels; all others are
      stride 1, w_s → w_s.
          feedforward:  h ← m₂(m₁(h))
          resnet:       h ← P(h) + β · m₂(m₁(h))     (a skip every two modules)
    → global average pool (w₃) → linear w₃ → 10 (logits)

Stage widths ``w = (8, 16, 32, 64)`` for the ReLU nets (:data:`STAGE_WIDTHS`): "the number of
filters per layer ... ranging from 8 at the input layer to 64, doubling with each spatial extent
reduction".  ``ρ`` per architecture (:data:`ARCHS`):

* ``crelu-ll``: CReLU ``ρ(h) = (relu(h), relu(−h))`` (so a conv reads ``2·w_in`` channels) with the
  LL-init: every kernel (stem and reductions included) is the paper's orthogonal centre-tap kernel
  ``K[:, :, 1, 1] = W``, ``WᵀW = I`` (:func:`.llinit.orthogonal_centre_kernel`), mirrored
  ``(W, −W)`` on the CReLU halves (:func:`.llinit.mirrored`).  At initialization every module is
  the linear map ``h ↦ W * h`` (for a reduction: ``W`` applied at every other pixel), so the whole
  net is linear: ``f(a x + b y) = a f(x) + b f(y)`` exactly (§5).
* ``crelu-he``: the same CReLU net, every kernel He-Gaussian ``N(0, 2/fan_in)``, ``fan_in = 9 ·
  2·w_in`` (:func:`.models.he_init_`), halves not mirrored.
* ``relu-he``: ``ρ = relu``, He-Gaussian kernels.
* ``resnet``: the ``relu-he`` net plus identity skips around every two modules (pre-activation
  order, He et al. 2016a).  ``β`` rescales the residual branch (Szegedy et al. 2016, the paper's
  eq. 2 with α = 1; default :data:`DEFAULT_BETA` = 0.1, the paper's Fig. 1/5 value).  At a
  reduction block the skip ``P`` is He et al.'s parameter-free option A: take every other pixel
  and zero-pad the channels ``w_{s−1} → w_s``; elsewhere ``P`` is the identity.

The CReLU nets use the widths ``round(w/√2)`` = (6, 11, 23, 45) (:func:`stage_widths`): "the
numbers of filters per layer of the CReLU models were adjusted by a factor of 1/√2 to achieve
parameter parity" (a CReLU conv has ``9·2w'·w'`` weights, ``= 9·w²`` when ``w' = w/√2``).  The
classifier is ``N(0, 1/w₃)`` with zero bias in every net.

**No batch norm anywhere.**  BN would make each output depend on the rest of the batch, and the
LL-init net would no longer be one linear map of its input (the object of §5); keeping the four
nets identical apart from ``ρ``, the init and the skips makes the comparison about shattering
only.  Without BN the resnet's forward variance grows like ``(1 + β²)^B`` (≈ 2.7 at D = 198 with
β = 0.1) instead of ``2^B`` for β = 1, which is why it is β-rescaled.

Training (§5.1)
---------------
Adam (Kingma & Ba 2015; ``lr``, β₁ = 0.9, β₂ = 0.999, ε = 1e-8, no weight decay), mean cross-entropy
over minibatches of ``batch_size`` images drawn without replacement from a fresh permutation of
the training images every epoch (the last minibatch of an epoch may be smaller).  Augmentation
(:func:`augment`): zero-pad 4 pixels, crop a random 32×32 window (translation by
``dx, dy ∈ {−4..4}``, uniform) and flip horizontally with p = 0.5, per image.  The learning rate
is set by :class:`AutoScheduler` (the paper's auto-scheduler, window/threshold/patience below),
fed with the mean training loss of every ``1/measurements_per_epoch`` of an epoch.

After each epoch: ``train_loss`` = mean minibatch loss over the epoch (augmented images, running,
as usual), ``test_accuracy`` and ``test_loss`` on the first ``test_images`` images of the test
batch (held out; never used for training or for the schedule), ``lr`` = learning rate at the end
of the epoch.  The *final* numbers are those of the last epoch.  Over seeds, each final number is
reported as mean ± standard error ``sd/√n`` (``n`` = seeds; NaN → ``null`` when ``n = 1``).

Seeds
-----
Everything derives from ``numpy.random.SeedSequence(seed)`` children by spawn key (as in
:mod:`.experiments`), never from global torch/numpy state: the network of (arch, depth, seed index
``s``) ← child ``(0, ARCHS.index(arch), depth, s)`` (first 63 bits → a private
``torch.Generator``); the data stream (epoch permutations and augmentation) of seed index ``s`` ←
child ``(1, s)``, a ``numpy.random.Generator`` shared by every architecture and depth (common
random numbers: differences between architectures are not confounded with data order).  A value
never depends on which other configurations are run.  Same seed, device and thread count →
identical numbers (on CPU; on CUDA, cuDNN may pick nondeterministic kernels, so runs agree only
to rounding there).

Checkpoints
-----------
With ``checkpoint_dir``, each run writes ``<dir>/<arch>-d<depth>-s<seed index>.pt`` after every
epoch (model, Adam state, scheduler state, the data generator's state, the curves so far),
atomically: ``torch.save`` to a temporary file in the same folder, then ``os.replace``.  The
folder is named by :func:`checkpoint_dir_for` from every option that determines the trajectory
(the number of epochs is *not* among them: the schedule does not depend on it, so a longer run
continues a shorter one, and a shorter run reads its numbers off a longer one's curves).  A rerun
resumes each run from its last completed epoch and gives the same numbers as an uninterrupted run.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .data import NUM_CLASSES
from .llinit import CReLU, mirrored, orthogonal_centre_kernel
from .models import conv3x3, he_init_

#: Architectures of Fig. 6.  The index in this tuple is part of the networks' seeds, so entries
#: are only ever appended.
ARCHS = ("crelu-ll", "crelu-he", "relu-he", "resnet")
ARCH_LABELS = {"crelu-ll": "CReLU, LL-init (orthogonal)", "crelu-he": "CReLU, He-init",
               "relu-he": "ReLU, He-init", "resnet": "resnet (ReLU, He-init, β-skips)"}
STAGE_WIDTHS = (8, 16, 32, 64)
CRELU_WIDTH_FACTOR = 1 / math.sqrt(2)
MIN_DEPTH = 2 * len(STAGE_WIDTHS)  # one block of two modules per stage
DEFAULT_BETA = 0.1
PAD = 4  # augmentation: translations of up to 4 pixels
CHECKPOINT_FORMAT = 1
DOCUMENT_KIND = "fig6-training"


# ----------------------------------------------------------------------------- architecture
def check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < MIN_DEPTH or depth % 2:
        raise ValueError(f"depth={depth!r} is not allowed: an even integer >= {MIN_DEPTH} "
                         f"(conv modules after the stem, two per block, at least one block per stage)")
    return depth


def check_arch(arch) -> str:
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r} is not allowed: one of {', '.join(ARCHS)}")
    return arch


def stage_widths(arch: str) -> tuple[int, ...]:
    """Channels per stage: :data:`STAGE_WIDTHS`, times 1/√2 (rounded) for the CReLU nets."""
    check_arch(arch)
    if arch.startswith("crelu"):
        return tuple(int(round(w * CRELU_WIDTH_FACTOR)) for w in STAGE_WIDTHS)
    return STAGE_WIDTHS


@dataclass(frozen=True)
class ModuleSpec:
    """One conv module ``conv(ρ(h))``: its stage, stride and in/out channels (in ``w`` units)."""

    stage: int
    stride: int
    c_in: int
    c_out: int


def module_layout(depth: int, widths: Sequence[int] = STAGE_WIDTHS) -> list[ModuleSpec]:
    """The ``depth`` modules after the stem, in order (see the module docstring)."""
    check_depth(depth)
    blocks = depth // 2
    stages = len(widths)
    out = []
    for s in range(stages):
        for b in range(blocks // stages + (s < blocks % stages)):
            for j in range(2):
                reduce = s > 0 and b == 0 and j == 0
                out.append(ModuleSpec(s, 2 if reduce else 1, widths[s - 1] if reduce else widths[s], widths[s]))
    return out


def _shortcut(h: torch.Tensor, channels: int) -> torch.Tensor:
    """He et al.'s option A: every other pixel, channels zero-padded to ``channels``."""
    h = h[:, :, ::2, ::2]
    return nn.functional.pad(h, (0, 0, 0, 0, 0, channels - h.shape[1]))


class ThinNet(nn.Module):
    """The thin Fig. 6 convnet of ``arch`` and ``depth`` (see the module docstring)."""

    def __init__(self, arch: str, depth: int, beta: float = DEFAULT_BETA, num_classes: int = NUM_CLASSES,
                 in_channels: int = 3, generator: torch.Generator | None = None):
        super().__init__()
        check_arch(arch)
        check_depth(depth)
        if not (isinstance(beta, (int, float)) and not isinstance(beta, bool) and math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta={beta!r} is not allowed: a positive finite number")
        self.arch, self.depth, self.beta = arch, depth, float(beta)
        self.crelu = arch.startswith("crelu")
        self.skips = arch == "resnet"
        self.widths = stage_widths(arch)
        self.layout = module_layout(depth, self.widths)
        self.stem = conv3x3(in_channels, self.widths[0])
        mult = 2 if self.crelu else 1
        layers = []
        for spec in self.layout:
            conv = nn.Conv2d(mult * spec.c_in, spec.c_out, kernel_size=3, stride=spec.stride, padding=1, bias=False)
            layers.append(nn.Sequential(CReLU() if self.crelu else nn.ReLU(), conv))
        self.layers = nn.ModuleList(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(self.widths[-1], num_classes)
        with torch.no_grad():
            if arch == "crelu-ll":
                self.stem.weight.copy_(orthogonal_centre_kernel(self.widths[0], in_channels, generator))
                for spec, conv in zip(self.layout, self.convs()):
                    conv.weight.copy_(mirrored(orthogonal_centre_kernel(spec.c_out, spec.c_in, generator)))
            else:
                he_init_(self.stem, generator)
                for conv in self.convs():
                    he_init_(conv, generator)
            self.classifier.weight.normal_(0.0, 1.0 / math.sqrt(self.widths[-1]), generator=generator)
            self.classifier.bias.zero_()

    def convs(self) -> list[nn.Conv2d]:
        """The ``depth`` conv layers after the stem, in order."""
        return [layer[1] for layer in self.layers]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv's output (before pooling), ``(n, w₃, 4, 4)`` for 32×32 inputs."""
        h = self.stem(x)
        if not self.skips:
            for layer in self.layers:
                h = layer(h)
            return h
        for first, second in zip(self.layers[0::2], self.layers[1::2]):
            branch = second(first(h))
            skip = h if branch.shape == h.shape else _shortcut(h, branch.shape[1])
            h = skip + self.beta * branch
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def build_thin(arch: str, depth: int, beta: float = DEFAULT_BETA, seed: int | None = None) -> ThinNet:
    """A freshly initialized :class:`ThinNet`; ``seed`` seeds a private ``torch.Generator``."""
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    return ThinNet(arch, depth, beta, generator=gen)


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


# ----------------------------------------------------------------------------- augmentation
def augment(images: np.ndarray, rng: np.random.Generator, pad: int = PAD) -> np.ndarray:
    """Random translation by up to ``pad`` pixels (zero padding, random crop) and horizontal flip.

    For image ``i`` draw ``dy_i, dx_i`` uniform in ``{0..2·pad}`` and ``flip_i ~ Bernoulli(1/2)``
    (in that order, vectorized: ``dy`` for all images, then ``dx``, then ``flip``); the output is
    ``padded[i, :, dy_i + r, dx_i + c]`` with ``c`` replaced by ``31 − c`` when flipped.  Zero is
    the per-channel mean after normalization.  Same generator state → same output.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images has shape {images.shape}: (n, channels, height, width) is needed")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad={pad!r} is not allowed: a non-negative integer")
    n, c, hgt, wid = images.shape
    dy = rng.integers(0, 2 * pad + 1, size=n)
    dx = rng.integers(0, 2 * pad + 1, size=n)
    flip = rng.random(n) < 0.5
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = dy[:, None] + np.arange(hgt)[None, :]
    cols_idx = np.where(flip[:, None], np.arange(wid)[::-1][None, :], np.arange(wid)[None, :])
    cols = dx[:, None] + cols_idx
    out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    return np.ascontiguousarray(out)


# ----------------------------------------------------------------------------- LR schedule
class AutoScheduler:
    """The automatic learning-rate drop of §5.1, as a small state machine.

    The paper: "an auto-scheduler that measures how quickly the loss on the training set has
    been decreasing over the last ten epochs, and drops the learning rate if a threshold remains
    crossed for five measurements in a row."  Our reading, with every constant a parameter:

    * a *measurement* is one training-loss value ``ℓ_t`` passed to :meth:`step` (the paper:
      one per epoch; short runs: one per ``1/k`` epoch, see :class:`TrainConfig`);
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


# ----------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one training trajectory (except arch, depth, seed index, epochs).

    ``lr_threshold`` is in units of relative training-loss decrease *per epoch*; the scheduler
    compares per measurement, with ``threshold = lr_threshold / measurements_per_epoch``.  The
    window and patience are counted in measurements (the paper: 10 and 5, one per epoch).
    """

    seed: int = 0
    train_images: int = 1000
    test_images: int = 500
    batch_size: int = 32
    lr: float = 3e-4
    beta: float = DEFAULT_BETA
    measurements_per_epoch: int = 4
    lr_window: int = 10
    lr_patience: int = 5
    lr_threshold: float = 0.0
    lr_factor: float = 0.1
    augment: bool = True
    device: str = "cpu"
    torch_threads: int = 1
    data_sha256: str = ""

    def scheduler(self) -> AutoScheduler:
        return AutoScheduler(self.lr, self.lr_window, self.lr_patience,
                             self.lr_threshold / self.measurements_per_epoch, self.lr_factor)

    def key(self) -> dict:
        return asdict(self)


def checkpoint_dir_for(root: str | os.PathLike, config: TrainConfig) -> Path:
    """``root/fig6-<16 hex digits>``: the SHA-256 of the config's canonical JSON and the format."""
    text = json.dumps({"format": CHECKPOINT_FORMAT, **config.key()}, sort_keys=True, separators=(",", ":"))
    return Path(root) / f"fig6-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _child(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key))


def torch_seed(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def network_seed(seed: int, arch: str, depth: int, seed_index: int) -> int:
    return torch_seed(_child(seed, 0, ARCHS.index(check_arch(arch)), depth, seed_index))


def data_generator(seed: int, seed_index: int) -> np.random.Generator:
    return np.random.default_rng(_child(seed, 1, seed_index))


def data_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 (16 hex digits) of the arrays' shapes and bytes: the data part of a key."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- one run
def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on the given images, no gradients."""
    model.eval()
    correct, total_loss = 0, 0.0
    with torch.no_grad():
        for start in range(0, labels.shape[0], batch_size):
            out = model(images[start:start + batch_size])
            y = labels[start:start + batch_size]
            total_loss += float(nn.functional.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(dim=1) == y).sum())
    model.train()
    n = int(labels.shape[0])
    return correct / n, total_loss / n


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def train_run(arch: str, depth: int, seed_index: int, epochs: int, config: TrainConfig,
              train_images: np.ndarray, train_labels: np.ndarray,
              test_images: np.ndarray, test_labels: np.ndarray,
              checkpoint: str | os.PathLike | None = None,
              progress: Callable[[dict], None] | None = None) -> dict:
    """Train one network for ``epochs`` epochs (resuming from ``checkpoint`` when it exists).

    Returns ``{"arch", "depth", "seed_index", "parameters", "epochs", "diverged",
    "final_train_loss", "test_accuracy", "test_loss", "lr_drops", "seconds", "resumed_from",
    "curves": {"epoch", "train_loss", "test_accuracy", "test_loss", "lr", "seconds"}}``; losses
    that are not finite are ``None`` (JSON ``null``).  ``progress`` is called after every epoch
    with ``{"epoch", "train_loss", "test_accuracy", "lr", "seconds", "resumed": bool}``.
    """
    check_arch(arch)
    check_depth(depth)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is not allowed: a positive integer")
    device = torch.device(config.device)
    model = build_thin(arch, depth, config.beta, network_seed(config.seed, arch, depth, seed_index)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = config.scheduler()
    rng = data_generator(config.seed, seed_index)
    curves: dict[str, list] = {"epoch": [], "train_loss": [], "test_accuracy": [], "test_loss": [], "lr": [],
                               "seconds": []}
    diverged = None
    start_epoch = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    ident = {"format": CHECKPOINT_FORMAT, "arch": arch, "depth": depth, "seed_index": seed_index,
             "config": config.key()}
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        meta = json.loads(state["meta"])
        if meta["ident"] != ident:
            raise ValueError(f"checkpoint {ckpt} belongs to another configuration ({meta['ident']}); "
                             f"expected {ident}: move it aside or pass another --checkpoints folder")
        curves, diverged, start_epoch = meta["curves"], meta["diverged"], meta["epoch"]
        if start_epoch < epochs and diverged is None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(meta["scheduler"])
            rng.bit_generator.state = meta["rng"]
    resumed_from = start_epoch
    x_test = torch.from_numpy(np.ascontiguousarray(test_images)).to(device)
    y_test = torch.from_numpy(np.asarray(test_labels, dtype=np.int64)).to(device)
    y_train_all = np.asarray(train_labels, dtype=np.int64)
    n = int(y_train_all.shape[0])
    batches = math.ceil(n / config.batch_size)
    # measurement boundaries: batch indices after which a measurement is taken
    bounds = sorted({math.ceil(batches * (k + 1) / config.measurements_per_epoch) - 1
                     for k in range(config.measurements_per_epoch)})
    model.train()
    epoch = start_epoch
    while epoch < epochs and diverged is None:
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        total, seen = 0.0, 0
        part, part_n = 0.0, 0
        for b in range(batches):
            idx = perm[b * config.batch_size:(b + 1) * config.batch_size]
            xb = train_images[idx]
            if config.augment:
                xb = augment(xb, rng)
            x = torch.from_numpy(np.ascontiguousarray(xb)).to(device)
            y = torch.from_numpy(y_train_all[idx]).to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                diverged = epoch + 1
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += value * len(idx)
            seen += len(idx)
            part += value * len(idx)
            part_n += len(idx)
            if b in bounds:
                if sched.step(part / part_n):
                    for group in opt.param_groups:
                        group["lr"] = sched.lr
                part, part_n = 0.0, 0
        acc, test_loss = evaluate(model, x_test, y_test)
        epoch += 1
        seconds = time.perf_counter() - t0
        curves["epoch"].append(epoch)
        curves["train_loss"].append(_finite_or_none(total / seen) if diverged is None and seen else None)
        curves["test_accuracy"].append(acc)
        curves["test_loss"].append(_finite_or_none(test_loss))
        curves["lr"].append(sched.lr)
        curves["seconds"].append(seconds)
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            meta = {"ident": ident, "epoch": epoch, "curves": curves, "diverged": diverged,
                    "scheduler": sched.state_dict(), "rng": rng.bit_generator.state}
            _atomic_save({"meta": json.dumps(meta), "model": model.state_dict(), "optimizer": opt.state_dict()}, ckpt)
        if progress:
            progress({"epoch": epoch, "train_loss": curves["train_loss"][-1], "test_accuracy": acc,
                      "lr": sched.lr, "seconds": seconds, "resumed": False})
    # the run's numbers at ``epochs`` (a checkpoint of a longer run holds them in its curves)
    upto = min(epochs, len(curves["epoch"]))
    curves = {k: v[:upto] for k, v in curves.items()}
    if diverged is not None and diverged > epochs:
        diverged = None
    return {"arch": arch, "depth": depth, "seed_index": seed_index, "parameters": parameter_count(model),
            "epochs": upto, "diverged": diverged,
            "final_train_loss": curves["train_loss"][-1] if upto else None,
            "test_accuracy": curves["test_accuracy"][-1] if upto else None,
            "test_loss": curves["test_loss"][-1] if upto else None,
            "lr_drops": [e for e, (a, b) in enumerate(zip([config.lr] + curves["lr"][:-1], curves["lr"]), start=1)
                         if b < a],
            "seconds": float(sum(curves["seconds"])), "resumed_from": min(resumed_from, upto), "curves": curves}


# ----------------------------------------------------------------------------- the experiment
def estimate(values: Sequence[float | None]) -> dict:
    """``{"mean", "stderr", "n"}`` over the finite values (stderr ``sd/√n``; None when undefined)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    mean = float(v.mean()) if v.size else None
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return {"mean": mean, "stderr": se, "n": int(v.size)}


def _curve_estimates(runs: list[dict], name: str) -> dict:
    length = max(len(r["curves"][name]) for r in runs)
    per_epoch = [estimate([r["curves"][name][e] if e < len(r["curves"][name]) else None for r in runs])
                 for e in range(length)]
    return {"mean": [p["mean"] for p in per_epoch], "stderr": [p["stderr"] for p in per_epoch],
            "n": [p["n"] for p in per_epoch]}


def run_cost(depth: int, epochs: int) -> float:
    """Relative cost of a run (∝ conv modules × epochs; every module costs about the same:
    channels double where the pixels quarter)."""
    return float((depth + 2) * epochs)


def fig6(archs: Sequence[str], depths: Sequence[int], seeds: int, epochs: int, config: TrainConfig,
         train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray,
         checkpoint_dir: str | os.PathLike | None = None,
         progress: Callable[[str], None] | None = None) -> dict:
    """Train every (arch, depth, seed index) and summarize (the document of :mod:`.train`)."""
    archs = [check_arch(a) for a in archs]
    depths = [check_depth(d) for d in depths]
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds={seeds!r} is not allowed: a positive integer")
    start = time.perf_counter()
    ckdir = checkpoint_dir_for(checkpoint_dir, config) if checkpoint_dir is not None else None
    jobs = [(a, d, s) for s in range(seeds) for d in depths for a in archs]
    total_cost = sum(run_cost(d, epochs) for _, d, _ in jobs)
    done_cost = 0.0
    computed_cost = 0.0   # cost actually trained in this process (resumed epochs excluded)
    runs: dict[tuple[str, int], list[dict]] = {(a, d): [] for a in archs for d in depths}
    for j, (arch, depth, s) in enumerate(jobs, start=1):
        def on_epoch(info: dict, arch=arch, depth=depth, s=s, j=j) -> None:
            nonlocal done_cost, computed_cost
            done_cost += run_cost(depth, 1)
            computed_cost += run_cost(depth, 1)
            if progress is None:
                return
            elapsed = time.perf_counter() - start
            rate = elapsed / computed_cost if computed_cost else 0.0
            eta = rate * (total_cost - done_cost)
            loss = info["train_loss"]
            progress(f"[{j}/{len(jobs)}] {arch:8s} depth {depth:3d} seed {s} epoch {info['epoch']}/{epochs}: "
                     f"train loss {loss if loss is None else round(loss, 4)}, test acc {info['test_accuracy']:.4f}, "
                     f"lr {info['lr']:.3g} ({info['seconds']:.1f} s; elapsed {_clock(elapsed)}, ETA {_clock(eta)})")
        path = ckdir / f"{arch}-d{depth}-s{s}.pt" if ckdir is not None else None
        r = train_run(arch, depth, s, epochs, config, train_images, train_labels, test_images, test_labels,
                      path, on_epoch)
        skipped = r["epochs"] if r["resumed_from"] >= r["epochs"] else r["resumed_from"]
        done_cost += run_cost(depth, skipped)
        if progress and r["resumed_from"]:
            progress(f"[{j}/{len(jobs)}] {arch:8s} depth {depth:3d} seed {s}: {r['resumed_from']} epoch(s) read "
                     f"from checkpoint {path}")
        runs[(arch, depth)].append(r)
    configs = []
    for arch in archs:
        for depth in depths:
            rs = runs[(arch, depth)]
            configs.append({
                "arch": arch, "depth": depth, "parameters": rs[0]["parameters"],
                "final_train_loss": estimate([r["final_train_loss"] for r in rs]),
                "test_accuracy": estimate([r["test_accuracy"] for r in rs]),
                "diverged": sum(r["diverged"] is not None for r in rs),
                "curves": {name: _curve_estimates(rs, name) for name in ("train_loss", "test_accuracy", "lr")},
                "runs": rs})
    return {"kind": DOCUMENT_KIND, "configs": configs, "seconds": time.perf_counter() - start,
            "checkpoints": str(ckdir) if ckdir is not None else None}


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"
