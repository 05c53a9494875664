"""Small models whose answers are known, as probe targets (tests, README, a first try).

    python -m montecarlo.probe montecarlo.probe.examples:mlp(depth=20) --input-shape 200
    python -m montecarlo.probe "montecarlo.probe.examples:mlp(depth=20, beta=0.1)" --input-shape 200

* :func:`mlp` — the fully connected nets of §3 with batch norm: feedforward
  ``x_l = W_l ρ(BN(x_{l−1}))`` (Thm 1: correlation ``2^−d`` at ``d`` layers from the output, with
  BN statistics treated as constants) or, with ``beta``, the resnet of eq. (2)
  ``x_l = x_{l−1} + β W_l ρ(BN(x_{l−1}))`` (Thm 3: with β = 0.1 the gradients stay correlated).
  He-initialized (``N(0, 2/N)``), no biases, a Gaussian linear readout ``N(0, 1/N)``.
* :func:`shallow` — one hidden ReLU layer (§1.1): its derivative along a line is a sum of
  steps, a random walk (brown noise, spectral exponent ≈ 2).
* :func:`mixed` — LayerNorm, GELU and dropout (no claim: the probe must run and stay finite).
* :func:`looks_linear` — the LL-initialized CReLU convnet of §5 (:class:`..convnets.llinit.LLNet`):
  a linear map at initialization, so every input has the same gradient (correlation 1).

Every factory draws its parameters from torch's global generator, which the probe seeds once
per initialization.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class Block(nn.Module):
    """``ρ(BN(x))`` through a He-initialized linear layer; with ``beta``: ``x + β · that``."""

    def __init__(self, width: int, bn: bool, beta: float | None):
        super().__init__()
        self.beta = beta
        self.norm = nn.BatchNorm1d(width) if bn else nn.Identity()
        self.relu = nn.ReLU()
        self.linear = nn.Linear(width, width, bias=False)
        with torch.no_grad():
            self.linear.weight.normal_(0.0, math.sqrt(2.0 / width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.linear(self.relu(self.norm(x)))
        return branch if self.beta is None else x + self.beta * branch


class MLP(nn.Module):
    """``depth`` :class:`Block` s of width ``width`` on a ``width``-dimensional input, then a
    Gaussian readout to ``outputs`` values."""

    def __init__(self, depth: int = 10, width: int = 200, bn: bool = True, beta: float | None = None,
                 outputs: int = 1):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth={depth!r} is not allowed: a positive integer")
        self.blocks = nn.Sequential(*[Block(width, bn, beta) for _ in range(depth)])
        self.readout = nn.Linear(width, outputs, bias=False)
        with torch.no_grad():
            self.readout.weight.normal_(0.0, 1.0 / math.sqrt(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.blocks(x))


def mlp(depth: int = 10, width: int = 200, bn: bool = True, beta: float | None = None, outputs: int = 1) -> MLP:
    """Feedforward (``beta=None``) or resnet (``beta``) ReLU net with BN; input dimension ``width``."""
    return MLP(depth, width, bn, beta, outputs)


def shallow(width: int = 200, inputs: int = 200) -> nn.Module:
    """``f(x) = vᵀ ρ(W x + b)``: one hidden ReLU layer (torch's default uniform initialization)."""
    return nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, 1))


def mixed(depth: int = 4, width: int = 64, inputs: int = 32, dropout: float = 0.1) -> nn.Module:
    """Linear → LayerNorm → GELU → Dropout blocks and a linear readout to 10 logits."""
    layers: list[nn.Module] = [nn.Linear(inputs, width)]
    for _ in range(depth):
        layers += [nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout), nn.Linear(width, width)]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def looks_linear(depth: int = 6, width: int = 8) -> nn.Module:
    """The LL-initialized CReLU convnet of §5 (mirrored orthogonal centre-tap kernels), input ``3 × H × W``."""
    from ..convnets.llinit import LLNet
    return LLNet(depth, width, nonlinearity="crelu", init="ll")
