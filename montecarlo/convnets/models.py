"""Convnets at initialization for §4 / Fig. 5: feedforward and resnets with batch norm.

Architecture (reduced, CPU-sized; "equivalent size" = the feedforward net and the resnet of a
depth have exactly the same layers and parameters, the resnet only adds the skips):

    x (3×32×32)
    → stem: conv3×3 (3 → W channels, stride 1, zero padding 1, no bias) → BN     [linear]
    → depth/2 blocks, each: conv3×3(W→W) → BN → ReLU → conv3×3(W→W) → BN → ReLU
          feedforward:  h ← branch(h)
          resnet:       h ← h + β · branch(h)          (one skip per two conv layers)
    → global average pool (W) → linear W → 10 (logits)

``depth`` = number of conv+BN+ReLU layers after the stem (even, ≥ 2); the paper's depths are
2, 4, 10, 24, 50.  The width ``W`` is the same at every layer (no striding, so the skips are
plain identities); the default ``W = 16`` is a CPU-budget reduction of the paper's nets (whose
exact layout, a "slight modification of the bottleneck design", is in its appendix, which we
do not have).

Initialization: He (``N(0, 2/fan_in)``) for every conv kernel, the classifier ``N(0, 1/W)``
with zero bias; BN scale 1 and shift 0.

Batch norm always uses the statistics of the current batch (training mode at initialization,
as in the paper).  ``bn_backward`` (:data:`theory.options.BN_BACKWARDS`): ``"through"``
differentiates through the batch mean and variance (what autograd does in training mode; the
backward signal is re-centred across the batch; the older spelling ``"autograd"`` is accepted),
``"constant"`` treats them as constants (the theorems' model: BN only rescales
path-weights).  See DESIGN.md, "Batch-norm has two honest derivatives".
"""
from __future__ import annotations

import math

import torch
from torch import nn

from theory.options import bn_backward as canonical_bn_backward

from .specs import FIG5_BN_ARCHS, check_bn_depth


class _ConstantStatistics(torch.autograd.Function):
    """Batch norm whose batch statistics are constants of the backward pass.

    Forward: ``y = γ (x − μ_B) · s + b`` with ``s = 1 / sqrt(σ²_B + ε)``, computed by the same
    kernel as training-mode batch norm (``torch.native_batch_norm``, which also returns ``μ_B`` and
    ``s``), so the forward values are those of ``"through"`` bit for bit.  Backward, with ``μ_B``
    and ``s`` held fixed: ``∂y/∂x = γ s`` (a per-channel rescaling, the theorems' model of BN),
    ``∂y/∂γ = (x − μ_B) s``, ``∂y/∂b = 1``.

    The former spelling (``torch.var_mean`` and then eval-mode ``batch_norm`` with those
    statistics) is the same map, but its strided ``var_mean`` and eval-mode backward made a
    depth-50 probe about 1.4× as slow as ``"through"`` (3.1 vs 2.1 s per feedforward net, one core);
    in float64 the two agree to 1e-12 (tested).  In float32 they round differently, and a deep
    feedforward BN net amplifies that, so documents stored by the former code differ in their
    last digits (their code version says so).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, mean, scale = torch.native_batch_norm(x, weight, bias, None, None, True, 0.0, eps)
        ctx.save_for_backward(x, weight, mean, scale)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, scale = ctx.saved_tensors
        per_channel = (1, -1) + (1,) * (x.ndim - 2)
        reduce = (0,) + tuple(range(2, x.ndim))
        gx = grad * (weight * scale).view(per_channel) if ctx.needs_input_grad[0] else None
        gw = ((grad * (x - mean.view(per_channel))).sum(reduce) * scale if ctx.needs_input_grad[1] else None)
        gb = grad.sum(reduce) if ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


class _GradientInInputLayout(torch.autograd.Function):
    """The identity, whose backward hands the gradient on in the memory format of its input.

    Pooling's backward writes its gradient in the standard (channels-first) format whatever the
    layout of the pooled tensor.  In a resnet that gradient then travels down the skips, and every
    elementwise backward that meets a channels-last activation reads one of its two operands with
    large strides: a ReLU backward took 12.8 ms instead of 3.2 ms per layer at width 16, batch 256,
    32×32 (depth 50, one core), which cancelled what channels-last saves on the convolutions.
    Converting the gradient once, at the pool, keeps the whole backward pass in one layout.  For a
    channels-first input this is a no-op (``contiguous`` returns the tensor itself).
    """

    @staticmethod
    def forward(ctx, x):
        ctx.channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


class GlobalAveragePool(nn.Module):
    """``(n, c, h, w) → (n, c)``: the mean over positions (``adaptive_avg_pool2d(·, 1)``, flattened),
    whose gradient keeps the layout of the pooled activations (:class:`_GradientInInputLayout`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(_GradientInInputLayout.apply(x), 1).flatten(1)


class BatchNorm2d(nn.Module):
    """Batch norm with batch statistics always (training-mode BN at initialization).

    ``y = γ (x − μ_B) / sqrt(σ²_B + ε) + b`` per channel, μ_B and σ²_B (biased) over batch and
    spatial positions.  ``bn_backward="constant"`` holds μ_B and σ²_B fixed in the backward pass
    (:class:`_ConstantStatistics`); ``"through"`` (alias ``"autograd"``) differentiates through them.
    The forward values of the two are the same, bit for bit.
    """

    def __init__(self, channels: int, bn_backward: str = "through", eps: float = 1e-5):
        super().__init__()
        self.bn_backward = canonical_bn_backward(bn_backward)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn_backward == "through":
            return nn.functional.batch_norm(x, None, None, self.weight, self.bias, training=True,
                                            eps=self.eps)
        return _ConstantStatistics.apply(x, self.weight, self.bias, self.eps)


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)


def he_init_(conv: nn.Conv2d, generator: torch.Generator | None = None) -> nn.Conv2d:
    """He et al. (2015): ``N(0, 2 / fan_in)``, ``fan_in = in_channels · kh · kw``."""
    fan_in = conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]
    with torch.no_grad():
        conv.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
    return conv


class Block(nn.Module):
    """Two conv3×3 → BN → ReLU layers; ``skip=True``: ``h + β · branch(h)``.

    The ReLUs run in place on the BN outputs, which nothing else reads (BN's backward needs its
    input, not its output), and the skip's sum is written into ``β · branch(h)``'s tensor (IEEE
    addition commutes): the same bits (tested), and a smaller heap.  Out of place, every freed
    16 MiB temporary left a hole that the next activation could not take (glibc's 64-byte-aligned
    allocations ask for a little more than the hole), so a depth-50 feedforward probe's heap peaked
    at 2607 MiB for 1632 MiB of saved activations; now 1807–1823 MiB (the resnet's 3423 → 2319 MiB;
    batch 256, width 16).  On this project's VM a process backs fresh pages slowly, so the Fig. 5
    run of ``make report`` got faster (measured 2026-12-02, docs/benchmarks.md).
    """

    def __init__(self, width: int, skip: bool, beta: float, bn_backward: str):
        super().__init__()
        self.skip = skip
        self.beta = float(beta)
        self.branch = nn.Sequential(conv3x3(width, width), BatchNorm2d(width, bn_backward), nn.ReLU(inplace=True),
                                    conv3x3(width, width), BatchNorm2d(width, bn_backward), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if not self.skip:
            return out
        return (self.beta * out).add_(x)  # x + β·out in the product's tensor: no hole; IEEE addition commutes


class ConvNet(nn.Module):
    """Feedforward or resnet convnet of §4 (see the module docstring for the layout)."""

    def __init__(self, depth: int, arch: str = "feedforward", width: int = 16, beta: float = 0.1,
                 bn_backward: str = "through", num_classes: int = 10, in_channels: int = 3,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_bn_depth(depth)
        if arch not in FIG5_BN_ARCHS:
            raise ValueError(f"arch={arch!r} is not allowed: one of {', '.join(FIG5_BN_ARCHS)}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width={width!r} is not allowed: a positive integer")
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta={beta!r} is not allowed: a positive finite number")
        self.depth, self.arch, self.width, self.beta = depth, arch, width, float(beta)
        self.stem = nn.Sequential(conv3x3(in_channels, width), BatchNorm2d(width, bn_backward))
        self.blocks = nn.Sequential(*[Block(width, arch == "resnet", beta, bn_backward)
                                      for _ in range(depth // 2)])
        self.pool = GlobalAveragePool()
        self.classifier = nn.Linear(width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                he_init_(m, generator)
        with torch.no_grad():
            self.classifier.weight.normal_(0.0, 1.0 / math.sqrt(width), generator=generator)
            self.classifier.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))
        return self.classifier(self.pool(h))

    def conv_layers(self) -> list[nn.Conv2d]:
        """The conv layers after the stem, in order (``depth`` of them)."""
        return [m for m in self.blocks.modules() if isinstance(m, nn.Conv2d)]


def build(arch: str, depth: int, width: int = 16, beta: float = 0.1, bn_backward: str = "through",
          seed: int | None = None) -> ConvNet:
    """A freshly initialized :class:`ConvNet`; ``seed`` seeds a private torch generator."""
    gen = None
    if seed is not None:
        gen = torch.Generator().manual_seed(int(seed))
    return ConvNet(depth, arch, width, beta, bn_backward, generator=gen)
