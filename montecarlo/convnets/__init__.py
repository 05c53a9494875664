"""CIFAR-10 convnets (§4, Fig. 5) and the looks-linear initialization (§5), in torch.

torch is imported only inside this package.  Modules: :mod:`.data` (loader),
:mod:`.models` (feedforward / resnet with BN), :mod:`.llinit` (CReLU, mirrored and orthogonal
kernels), :mod:`.probe` (statistics for any ``nn.Module``), :mod:`.experiments` (Fig. 5
measurements on BN nets and on LL-/He-init plain nets, k-means), :mod:`.cli`
(``python -m montecarlo.convnets``).  Not yet here: the Fig. 6 training experiment (issue 7,
item 4), writing to the results store, report panels.

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
