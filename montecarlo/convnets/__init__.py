"""CIFAR-10 convnets (§4, Fig. 5) and the looks-linear initialization (§5), in torch.

torch is imported only inside this package.  Modules: :mod:`.data` (loader),
:mod:`.models` (feedforward / resnet with BN), :mod:`.llinit` (CReLU, mirrored and orthogonal
kernels), :mod:`.probe` (statistics for any ``nn.Module``), :mod:`.experiments` (Fig. 5
measurements on BN nets and on LL-/He-init plain nets, k-means), :mod:`.cli`
(``python -m montecarlo.convnets``; stores each Fig. 5 run as a ``fig5-convnets`` document of the
results store, :mod:`montecarlo.convnet_documents`, read by ``theory.verify`` and
:func:`reports.figures_convnets.figure_5`), :mod:`.training` (Fig. 6: thin nets trained on CIFAR-10,
LL-init vs He-init vs resnet) and its CLI :mod:`.train` (``python -m montecarlo.convnets.train``;
figure: :func:`reports.figures_training.figure_6`).

Check your own architecture at initialization::

    import torch
    from montecarlo.convnets import load_cifar10, probe
    data = load_cifar10(split="train", limit=256)
    stats = probe(my_model, torch.from_numpy(data.images), torch.from_numpy(data.labels))
    stats["relative_effective_rank"], stats["gradient_norm"], stats["relus"]
"""
from .data import CIFAR10Error, load_cifar10
from .llinit import LLNet, build_ll, orthogonal_centre_kernel
from .models import ConvNet, build
from .probe import effective_rank, probe, white_effective_rank

__all__ = ["CIFAR10Error", "ConvNet", "LLNet", "build", "build_ll", "effective_rank",
           "load_cifar10", "orthogonal_centre_kernel", "probe", "white_effective_rank"]
