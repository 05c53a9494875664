"""The thin convnets of Fig. 6 (§5.1): CReLU with the LL-init, CReLU and ReLU with He-init, resnet (and §5's PReLU LL-init).

The paper trains thin rectifier convnets of depths up to 198 on CIFAR-10 (its appendix A4 with the
exact layout is not available, so this is our reading of §5.1, written once for all four
architectures of :data:`.specs.TRAINING_ARCHS`).

``depth`` ``D`` = the number of nonlinear conv modules after the stem (even, ``D >= 8``,
:func:`.specs.check_training_depth`); the net has ``D + 2`` weight layers (stem conv, ``D`` convs,
classifier)::

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

Stage widths ``w = (8, 16, 32, 64)`` for the ReLU nets (:data:`.specs.TRAINING_STAGE_WIDTHS`): "the
number of filters per layer ... ranging from 8 at the input layer to 64, doubling with each spatial
extent reduction".  ``ρ`` per architecture:

* ``crelu-ll``: CReLU ``ρ(h) = (relu(h), relu(−h))`` (so a conv reads ``2·w_in`` channels) with the
  LL-init: every kernel (stem and reductions included) is the paper's orthogonal centre-tap kernel
  ``K[:, :, 1, 1] = W``, ``WᵀW = I`` (:func:`.llinit.orthogonal_centre_kernel`), mirrored
  ``(W, −W)`` on the CReLU halves (:func:`.llinit.mirrored`).  At initialization every module is
  the linear map ``h ↦ W * h`` (for a reduction: ``W`` applied at every other pixel), so the whole
  net is linear: ``f(a x + b y) = a f(x) + b f(y)`` exactly (§5).
* ``crelu-he``: the same CReLU net, every kernel He-Gaussian ``N(0, 2/fan_in)``, ``fan_in = 9 ·
  2·w_in`` (:func:`.models.he_init_`), halves not mirrored.
* ``relu-he``: ``ρ = relu``, He-Gaussian kernels.
* ``prelu-ll``: §5's alternative LL-init: ``ρ`` = PReLU with one learnable slope per module, ``a = 1``
  at initialization (the identity), every kernel the orthogonal centre-tap kernel (not mirrored:
  a PReLU conv reads ``w_in`` channels), the ReLU nets' widths.  Linear at initialization, as
  ``crelu-ll``; the paper reports it "less effective" than the CReLU net (§5, not shown there).
* ``resnet``: the ``relu-he`` net plus identity skips around every two modules (pre-activation
  order, He et al. 2016a).  ``β`` rescales the residual branch (Szegedy et al. 2016, the paper's
  eq. 2 with α = 1; default :data:`.specs.DEFAULT_BETA` = 0.1, the paper's Fig. 1/5 value).  At a
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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .data import NUM_CLASSES
from .llinit import CReLU, mirrored, orthogonal_centre_kernel
from .models import GlobalAveragePool, conv3x3, he_init_
from .specs import DEFAULT_BETA, TRAINING_STAGE_WIDTHS, check_training_arch, check_training_depth

CRELU_WIDTH_FACTOR = 1 / math.sqrt(2)


def stage_widths(arch: str) -> tuple[int, ...]:
    """Channels per stage: :data:`.specs.TRAINING_STAGE_WIDTHS`, times 1/√2 (rounded) for the CReLU nets."""
    check_training_arch(arch)
    if arch.startswith("crelu"):
        return tuple(int(round(w * CRELU_WIDTH_FACTOR)) for w in TRAINING_STAGE_WIDTHS)
    return TRAINING_STAGE_WIDTHS


@dataclass(frozen=True)
class ModuleSpec:
    """One conv module ``conv(ρ(h))``: its stage, stride and in/out channels (in ``w`` units)."""

    stage: int
    stride: int
    c_in: int
    c_out: int


def module_layout(depth: int, widths: Sequence[int] = TRAINING_STAGE_WIDTHS) -> list[ModuleSpec]:
    """The ``depth`` modules after the stem, in order (see the module docstring)."""
    check_training_depth(depth)
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
        check_training_arch(arch)
        check_training_depth(depth)
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
            rho = CReLU() if self.crelu else nn.PReLU(num_parameters=1, init=1.0) if arch == "prelu-ll" else nn.ReLU()
            layers.append(nn.Sequential(rho, conv))
        self.layers = nn.ModuleList(layers)
        self.pool = GlobalAveragePool()
        self.classifier = nn.Linear(self.widths[-1], num_classes)
        with torch.no_grad():
            if arch == "crelu-ll":
                self.stem.weight.copy_(orthogonal_centre_kernel(self.widths[0], in_channels, generator))
                for spec, conv in zip(self.layout, self.convs()):
                    conv.weight.copy_(mirrored(orthogonal_centre_kernel(spec.c_out, spec.c_in, generator)))
            elif arch == "prelu-ll":
                self.stem.weight.copy_(orthogonal_centre_kernel(self.widths[0], in_channels, generator))
                for spec, conv in zip(self.layout, self.convs()):
                    conv.weight.copy_(orthogonal_centre_kernel(spec.c_out, spec.c_in, generator))
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
        return self.classifier(self.pool(self.features(x)))


def build_thin(arch: str, depth: int, beta: float = DEFAULT_BETA, seed: int | None = None) -> ThinNet:
    """A freshly initialized :class:`ThinNet`; ``seed`` seeds a private ``torch.Generator``."""
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    return ThinNet(arch, depth, beta, generator=gen)


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
