"""CIFAR-10 convnets (§4, Fig. 5) and the looks-linear initialization (§5), in torch.

Importing this package imports no torch: the names below are loaded on first use (PEP 562), so
readers of stored results (``theory.verify``, ``python -m reports``) can use :mod:`.specs`,
:mod:`.documents` and :mod:`.evidence` without it.

Modules, one idea each:

* :mod:`.specs` — the validated run configurations (:class:`.specs.Fig5Config`,
  :class:`.specs.TrainingPlan`, :class:`.specs.TrainConfig`), the architecture names and the
  paper's depths; the CLIs derive their flags from these fields.  No torch.
* :mod:`.seeds` — the ``SeedSequence`` children every random number comes from.
* :mod:`.data` — the CIFAR-10 loader (numpy only).
* :mod:`.models` (feedforward / resnet with BN), :mod:`.llinit` (CReLU, mirrored and orthogonal
  kernels), :mod:`.probe` (shattering statistics of any ``nn.Module``).
* :mod:`.experiments` — the Fig. 5 measurements and k-means; CLI :mod:`.cli`
  (``python -m montecarlo.convnets``), stored as ``fig5-convnets`` documents.
* :mod:`.thin_nets` (the thin Fig. 6 architectures), :mod:`.augment` (translations and flips),
  :mod:`.schedule` (the automatic learning-rate drop), :mod:`.training` (the training loop,
  checkpoints, the Fig. 6 experiment); CLI :mod:`.train` (``python -m montecarlo.convnets.train``),
  stored as ``fig6-training`` documents.
* :mod:`.documents` — the layout, key and code version of both kinds of stored document and the
  commands that reproduce them (no torch); :mod:`.evidence` — the verdicts of the CIFAR-10 claims
  decided from stored Fig. 5 documents (no torch).  Figures: :func:`reports.figures_convnets.figure_5`,
  :func:`reports.figures_training.figure_6`.

Check your own architecture at initialization::

    import torch
    from montecarlo.convnets import load_cifar10, probe
    data = load_cifar10(split="train", limit=256)
    stats = probe(my_model, torch.from_numpy(data.images), torch.from_numpy(data.labels))
    stats["relative_effective_rank"], stats["gradient_norm"], stats["relus"]
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: exported name -> the submodule that defines it (imported on first use)
_EXPORTS = {"CIFAR10Error": "data", "load_cifar10": "data",
            "LLNet": "llinit", "build_ll": "llinit", "orthogonal_centre_kernel": "llinit",
            "ConvNet": "models", "build": "models",
            "effective_rank": "probe", "probe": "probe", "white_effective_rank": "probe"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    value = getattr(module, name)
    setattr(sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """This package: an exported function keeps its name when its submodule of the same name loads.

    The import system binds a loaded submodule to its name in the package (``probe`` the module);
    the package exports the function ``probe`` under that name, as an eager ``from .probe import
    probe`` would have left it.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name
                and value.__name__ == f"{self.__name__}.{name}"):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
