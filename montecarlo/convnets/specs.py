"""Specifications of the CIFAR-10 convnet experiments: frozen, validated, and free of torch.

Two runs, each described by one frozen dataclass that validates itself at construction and
raises :class:`theory.specs.SpecError` (field, value, what is allowed):

* :class:`Fig5Config` — one ``python -m montecarlo.convnets`` run (§4, Fig. 5): input gradients
  of freshly initialized convnets, probed over minibatches.
* :class:`TrainingPlan` — one ``python -m montecarlo.convnets.train`` run (§5.1, Fig. 6): the
  architectures, depths, seeds and epochs trained, and the :class:`TrainConfig` that determines
  every trajectory.

Their fields are declared with :func:`theory.options.option`, so the command-line flags of both
CLIs, their help and the commands rebuilt from stored documents
(:mod:`montecarlo.convnets.documents`) are derived from these fields and cannot drift apart.
Readers (``theory.verify``, ``python -m reports``) import this module without torch.

The architecture names, one tuple per purpose:

* :data:`FIG5_BN_ARCHS` — the feedforward net and the resnet with batch norm of Fig. 5
  (:mod:`.models`; ``depth`` even, two conv layers per block);
* :data:`PLAIN_ARCHS` — plain nets without BN, LL-init or He-init (:mod:`.llinit`; any depth);
* :data:`FIG5_ARCHS` — everything ``python -m montecarlo.convnets`` can probe;
* :data:`TRAINING_ARCHS` — the thin nets trained for Fig. 6 (:mod:`.thin_nets`).

The index of an architecture in :data:`FIG5_ARCHS` and in :data:`TRAINING_ARCHS` is part of the
networks' seeds (:mod:`.seeds`), so entries are only ever appended.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from theory.claims import FIG5_DEPTHS
from theory.options import BN_BACKWARD_HELP, BN_BACKWARDS, Option, bn_backward, option, options_of
from theory.specs import SpecError

#: the paper's depths of Fig. 5 (§4)
PAPER_DEPTHS = FIG5_DEPTHS  # declared in the claims registry (theory.claims)
FIG5_BN_ARCHS = ("feedforward", "resnet")
PLAIN_ARCHS = ("crelu-ll", "prelu-ll", "crelu-he", "relu-he")
FIG5_ARCHS = FIG5_BN_ARCHS + PLAIN_ARCHS
TRAINING_ARCHS = ("crelu-ll", "crelu-he", "relu-he", "resnet", "prelu-ll")
#: the architectures a training run takes by default: Fig. 6's four (``prelu-ll`` is §5's comparison,
#: trained on request: ``--archs crelu-ll,prelu-ll``)
FIG6_TRAINING_ARCHS = TRAINING_ARCHS[:4]
#: ``cross_entropy`` (summed over the minibatch; Fig. 5) or ``sum`` (of the logits: §3's f = Σ_p f_p)
LOSSES = ("cross_entropy", "sum")
SPLITS = ("train", "test")
DEVICES = ("cpu", "cuda")
#: the resnet branch scale β of eq. (2) (with α = 1), the paper's Fig. 1/5 value
DEFAULT_BETA = 0.1
#: channels of the four stages of the Fig. 6 thin nets ("ranging from 8 at the input layer to 64,
#: doubling with each spatial extent reduction", §5.1); :mod:`.thin_nets` builds them
TRAINING_STAGE_WIDTHS = (8, 16, 32, 64)
#: the smallest Fig. 6 depth: one block of two conv modules in each stage
TRAINING_MIN_DEPTH = 2 * len(TRAINING_STAGE_WIDTHS)


# ----------------------------------------------------------------------------- field checks
def _integer(field: str, value: Any, minimum: int, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SpecError(field, value, f"an integer >= {minimum} ({meaning})")
    return int(value)


def _positive_real(field: str, value: Any, meaning: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise SpecError(field, value, f"a positive finite number ({meaning})")
    return float(value)


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SpecError(field, value, "one of " + ", ".join(choices))
    return value


def _names(field: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else None
    what = "one or more of " + ", ".join(allowed) + ", each once"
    if not names or any(n not in allowed for n in names) or len(set(names)) != len(names):
        raise SpecError(field, value, what)
    return names


def _depths(field: str, value: Any, minimum: int, even: bool, meaning: str) -> tuple[int, ...]:
    depths = tuple(value) if isinstance(value, (list, tuple)) else None
    what = (f"{'even ' if even else ''}integers >= {minimum}, each once ({meaning})")
    if not depths or len(set(depths)) != len(depths):
        raise SpecError(field, value, what)
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < minimum or (even and d % 2):
            raise SpecError(field, value, what + f"; {d!r} is not")
    return tuple(int(d) for d in depths)


def check_bn_depth(depth: Any) -> int:
    """A depth of the BN convnets of Fig. 5 (:data:`FIG5_BN_ARCHS`): an even integer >= 2."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 2 or depth % 2:
        raise SpecError("depth", depth, "an even integer >= 2 (conv layers after the stem, two per block)")
    return int(depth)


def check_training_depth(depth: Any) -> int:
    """A depth of the thin Fig. 6 nets: an even integer >= :data:`TRAINING_MIN_DEPTH`."""
    if (isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < TRAINING_MIN_DEPTH
            or depth % 2):
        raise SpecError("depth", depth, f"an even integer >= {TRAINING_MIN_DEPTH} (conv modules after the stem, "
                                        f"two per block, at least one block per stage)")
    return int(depth)


def check_training_arch(arch: Any) -> str:
    """An architecture of Fig. 6 (:data:`TRAINING_ARCHS`)."""
    return _choice("arch", arch, TRAINING_ARCHS)


def check_fig5_arch(arch: Any) -> str:
    """An architecture of Fig. 5 (:data:`FIG5_ARCHS`)."""
    return _choice("arch", arch, FIG5_ARCHS)


def canonical_bn_backward(value: Any, field: str = "bn_backward") -> str:
    """``constant`` or ``through`` (the older spelling ``autograd`` is read as ``through``)."""
    try:
        return bn_backward(value)
    except (TypeError, ValueError):
        raise SpecError(field, value, "one of " + ", ".join(BN_BACKWARDS) + " (autograd is read as through)") from None


# ----------------------------------------------------------------------------- list options
def int_list(text: str) -> tuple[int, ...]:
    """``"2,4,10"`` → ``(2, 4, 10)`` (an argparse ``type``: bad text is a usage error)."""
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: comma-separated integers") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: at least one integer")
    return values


def name_list(text: str) -> tuple[str, ...]:
    """``"feedforward, resnet"`` → ``("feedforward", "resnet")`` (an argparse ``type``)."""
    values = tuple(t.strip() for t in text.split(",") if t.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: at least one name")
    return values


# ----------------------------------------------------------------------------- Fig. 5
@dataclass(frozen=True)
class Fig5Config:
    """Every option that determines the numbers of one Fig. 5 run (§4), but the data.

    For each minibatch (one freshly initialized network per minibatch, architecture and depth)
    the relative effective rank of the input gradients and their normalized gradient norm are
    measured (:mod:`.experiments`).  The defaults are a reduced reproduction sized for a 2-core
    CPU: width 16 and 8 minibatches of 256 (the paper: 30 minibatches, full-size nets).
    ``threads`` ``None`` leaves torch's choice; a stored run records the count used
    (``torch_threads``: the last bits of a convolution can depend on it).
    """

    depths: tuple[int, ...] = option(PAPER_DEPTHS, "comma-separated depths (nonlinear conv layers after the stem; "
                                                   "even for feedforward/resnet)", parse=int_list, metavar="D,D,...")
    archs: tuple[str, ...] = option(FIG5_BN_ARCHS, "comma-separated: feedforward, resnet (BN, even depths), crelu-ll, "
                                                   "prelu-ll, crelu-he, relu-he (no BN, LL-init or He-init plain nets)",
                                    parse=name_list, metavar="ARCH,...")
    loss: str = option("cross_entropy", "cross_entropy (Fig. 5) or sum of the logits (the convention of §3)",
                       choices=LOSSES)
    minibatches: int = option(8, "minibatches (one network each) per configuration (paper: 30)")
    batch_size: int = option(256, "images per minibatch")
    beta: float = option(DEFAULT_BETA, "resnet branch scale beta")
    width: int = option(16, "channels per layer")
    bn_backward: str = option("through", BN_BACKWARD_HELP, parse=bn_backward,
                              metavar="{" + ",".join(BN_BACKWARDS) + "}")
    split: str = option("train", "images to draw minibatches from", choices=SPLITS)
    seed: int = option(0, "root of numpy.random.SeedSequence")
    threads: int | None = option(None, "torch CPU threads", default_text="torch's choice")

    def __post_init__(self) -> None:
        archs = _names("archs", self.archs, FIG5_ARCHS)
        bn = any(a in FIG5_BN_ARCHS for a in archs)
        depths = _depths("depths", self.depths, 2 if bn else 1, bn,
                         "conv layers after the stem" + ("; two per block in feedforward/resnet" if bn else ""))
        _set(self, "archs", archs)
        _set(self, "depths", depths)
        _choice("loss", self.loss, LOSSES)
        _set(self, "minibatches", _integer("minibatches", self.minibatches, 1, "one network each"))
        _set(self, "batch_size", _integer("batch_size", self.batch_size, 2, "images per minibatch"))
        _set(self, "beta", _positive_real("beta", self.beta, "resnet branch scale"))
        _set(self, "width", _integer("width", self.width, 1, "channels per layer"))
        _set(self, "bn_backward", canonical_bn_backward(self.bn_backward))
        _choice("split", self.split, SPLITS)
        _set(self, "seed", _integer("seed", self.seed, 0, "root of numpy.random.SeedSequence"))
        if self.threads is not None:
            _set(self, "threads", _integer("threads", self.threads, 1, "torch CPU threads"))

    def options(self) -> dict[str, Any]:
        """The options as a stored document holds them (``threads`` is ``torch_threads`` there)."""
        return {"archs": list(self.archs), "depths": list(self.depths), "minibatches": self.minibatches,
                "beta": self.beta, "width": self.width, "seed": self.seed, "batch_size": self.batch_size,
                "bn_backward": self.bn_backward, "loss": self.loss, "split": self.split,
                "torch_threads": self.threads}

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "Fig5Config":
        """The config of a stored document's ``options`` (older documents: ``autograd`` → ``through``,
        no ``split`` → ``train``)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"threads"}
        values = {k: options[k] for k in names if options.get(k) is not None}
        return cls(**values, threads=options.get("torch_threads"))


def fig5_options() -> list[Option]:
    """The command-line options of ``python -m montecarlo.convnets`` derived from :class:`Fig5Config`."""
    return options_of([Fig5Config])


# ----------------------------------------------------------------------------- Fig. 6
def _check_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise SpecError("lr_threshold", value, "a finite number (relative training-loss decrease per epoch)")
    return float(value)


def _check_factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise SpecError("lr_factor", value, "a number in (0, 1) (learning-rate multiplier at a drop)")
    return float(value)


def _check_flag(field: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise SpecError(field, value, "True or False")
        return value
    return check


def _check_sha(value: Any) -> str:
    if not isinstance(value, str):
        raise SpecError("data_sha256", value, "a string (hex digest of the loaded images and labels)")
    return value


#: one check per :class:`TrainConfig` field (a value → the normalized value, or SpecError)
TRAIN_CHECKS: dict[str, Callable[[Any], Any]] = {
    "seed": lambda v: _integer("seed", v, 0, "root of numpy.random.SeedSequence"),
    "train_images": lambda v: _integer("train_images", v, 1, "training images"),
    "test_images": lambda v: _integer("test_images", v, 1, "held-out test images"),
    "batch_size": lambda v: _integer("batch_size", v, 1, "minibatch size"),
    "lr": lambda v: _positive_real("lr", v, "Adam's initial learning rate"),
    "beta": lambda v: _positive_real("beta", v, "resnet branch scale"),
    "measurements_per_epoch": lambda v: _integer("measurements_per_epoch", v, 1, "loss measurements per epoch"),
    "lr_window": lambda v: _integer("lr_window", v, 2, "measurements; a slope needs two points"),
    "lr_patience": lambda v: _integer("lr_patience", v, 1, "consecutive crossed measurements"),
    "lr_threshold": _check_threshold,
    "lr_factor": _check_factor,
    "augment": _check_flag("augment"),
    "device": lambda v: _choice("device", v, DEVICES),
    "torch_threads": lambda v: _integer("torch_threads", v, 1, "torch CPU threads"),
    "data_sha256": _check_sha,
}


def check_train_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the given :class:`TrainConfig` fields one by one (``None`` = not given: skipped).

    The CLI calls this before it loads the data (which fixes ``train_images`` and the
    cross-field limits that :class:`TrainConfig` checks at construction).
    """
    return {k: TRAIN_CHECKS[k](v) for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one Fig. 6 training trajectory (but arch, depth, seed index, epochs).

    ``train_images`` and ``test_images`` are the numbers of images used (the first ones of each
    split), ``data_sha256`` a fingerprint of their bytes, ``torch_threads`` the thread count the
    run used (float sums may depend on it).  ``lr_threshold`` is in units of relative
    training-loss decrease *per epoch*; the scheduler compares per measurement (threshold divided
    by ``measurements_per_epoch``).  The window and the patience are counted in measurements
    (the paper: 10 and 5, one measurement per epoch).  The defaults are the reduced preset of
    ``python -m montecarlo.convnets.train``; :data:`TRAINING_FULL_PRESET` is the paper's.
    """

    seed: int = option(0, "root of numpy.random.SeedSequence")
    train_images: int = option(1000, "first N training images")
    test_images: int = option(500, "first N test images (held out)")
    batch_size: int = option(32, "minibatch size")
    #: Adam's initial learning rate (both presets; the paper does not give one).  Pilot runs (1 seed,
    #: 1,000-1,500 images): at 1e-3 the depth-50 LL-init net fell to chance within an epoch while the
    #: resnet trained; at 1e-4 and 3e-4 both trained; 3e-4 is the faster of the two for every arch.
    lr: float = option(3e-4, "Adam's initial learning rate")
    beta: float = option(DEFAULT_BETA, "resnet branch scale")
    measurements_per_epoch: int = option(4, "training-loss measurements fed to the LR scheduler per epoch")
    lr_window: int = option(10, "scheduler window, in measurements")
    lr_patience: int = option(5, "consecutive crossed measurements before a drop")
    lr_threshold: float = option(0.0, "drop when the relative training-loss decrease per epoch stays below this")
    lr_factor: float = option(0.1, "learning-rate multiplier at a drop")
    augment: bool = option(True, "no translation/flip augmentation")
    device: str = option("cpu", "torch device", choices=DEVICES)
    torch_threads: int = option(1, "torch CPU threads (part of the key: float sums depend on it)", flag="--threads",
                                metavar="N")
    data_sha256: str = option("", cli=False)

    def __post_init__(self) -> None:
        for name, value in check_train_fields(dataclasses.asdict(self)).items():
            _set(self, name, value)
        if self.batch_size > self.train_images:
            raise SpecError("batch_size", self.batch_size, f"at most the {self.train_images} training images")
        batches = math.ceil(self.train_images / self.batch_size)
        if self.measurements_per_epoch > batches:
            raise SpecError("measurements_per_epoch", self.measurements_per_epoch,
                            f"at most the {batches} minibatches of an epoch")

    def key(self) -> dict[str, Any]:
        """The fields as a dict: the ``config`` of a stored key (and of a checkpoint's identity)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainingPlan:
    """One Fig. 6 run (§5.1): every (arch, depth, seed index) trained for ``epochs`` under ``config``.

    The defaults are the reduced preset (depths 8, 20, 50; 2 seeds; 5 epochs).  A depth is the
    number of nonlinear conv modules after the stem (even, at least one block of two per stage).
    """

    archs: tuple[str, ...] = option(FIG6_TRAINING_ARCHS, "comma-separated, from " + ", ".join(TRAINING_ARCHS),
                                    parse=name_list, metavar="ARCH,...", default_text=",".join(FIG6_TRAINING_ARCHS))
    depths: tuple[int, ...] = option((8, 20, 50), f"comma-separated depths: conv modules after the stem, even "
                                                  f"integers >= {TRAINING_MIN_DEPTH}",
                                     parse=int_list, metavar="D,D,...")
    seeds: int = option(2, "trained networks per (arch, depth)")
    epochs: int = option(5, "epochs per run")
    config: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _set(self, "archs", _names("archs", self.archs, TRAINING_ARCHS))
        _set(self, "depths", _depths("depths", self.depths, TRAINING_MIN_DEPTH, True,
                                     "conv modules after the stem, two per block, at least one block per stage"))
        _set(self, "seeds", _integer("seeds", self.seeds, 1, "trained networks per (arch, depth)"))
        _set(self, "epochs", _integer("epochs", self.epochs, 1, "epochs per run"))
        if not isinstance(self.config, TrainConfig):
            raise SpecError("config", self.config, "a TrainConfig")

    def key(self) -> dict[str, Any]:
        """The store key of the run: ``{"archs", "depths", "seeds", "epochs", "config"}``."""
        return {"archs": list(self.archs), "depths": list(self.depths), "seeds": self.seeds, "epochs": self.epochs,
                "config": self.config.key()}

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "TrainingPlan":
        """The plan of a stored document's ``options`` (``{"archs", "depths", "seeds", "epochs", "config"}``)."""
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in options["config"].items() if k in names})
        return cls(archs=tuple(options["archs"]), depths=tuple(options["depths"]), seeds=options["seeds"],
                   epochs=options["epochs"], config=config)


#: ``--full``: the paper's configuration (depths up to 198, 10 seeds, all data; for a GPU) as
#: overrides of the defaults of :class:`TrainingPlan` and :class:`TrainConfig`; ``None`` means all
#: loaded images (``train_images``, ``test_images``) or torch's thread count (``torch_threads``)
TRAINING_FULL_PRESET: dict[str, Any] = {
    "depths": (10, 22, 50, 98, 198), "seeds": 10, "epochs": 100, "train_images": None, "test_images": None,
    "batch_size": 128, "measurements_per_epoch": 1, "lr_threshold": 0.01, "torch_threads": None}
#: the order of the options in ``--help`` and in the commands rebuilt from stored documents
TRAINING_OPTION_ORDER = ("archs", "depths", "seeds", "epochs", "train_images", "test_images", "batch_size", "lr",
                         "beta", "measurements_per_epoch", "lr_window", "lr_patience", "lr_threshold", "lr_factor",
                         "augment", "seed", "torch_threads", "device")


def training_options() -> list[Option]:
    """The command-line options of ``python -m montecarlo.convnets.train`` (plan and config fields)."""
    return options_of([TrainingPlan, TrainConfig], only=TRAINING_OPTION_ORDER)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)
