"""The "looks linear" initialization (§5): CReLU with mirrored weights, orthogonal centre taps.

**CReLU** (Shang et al. 2016): ``x ↦ (ρ(x), ρ(−x))`` (channels concatenated).  A conv kernel
on the ``2C`` CReLU channels with the mirrored block structure ``K = (W, −W)`` gives

    K * CReLU(h) = W * ρ(h) − W * ρ(−h) = W * h,

so at initialization the whole network is the linear map obtained by deleting the
nonlinearities and keeping ``W``: every input has the same input gradient (correlation 1 at
every depth).  **PReLU** with ``a = 1`` is the alternative LL-init (the identity at init).

**Orthogonal kernel** ``A × B × 3 × 3`` (``A`` = out ≥ ``B`` = in channels): all zeros, then
``K[:, :, 1, 1] := W`` (the centre tap; the paper's 1-based ``[2, 2]``) with ``W`` an ``A × B``
matrix with orthonormal columns (``WᵀW = I_B``), from the QR decomposition of a Gaussian
matrix with the signs of ``diag(R)`` fixed (Haar distributed).  Stride 1, zero padding 1.

Network (:class:`LLNet`), CPU-sized like :mod:`.models`:

    x → stem conv3×3 (3 → W) → depth × [ nonlinearity → conv3×3 ] → global avg pool → linear 10

``nonlinearity``: ``"crelu"`` (conv ``2W → W``), ``"prelu"`` or ``"relu"`` (conv ``W → W``).
``init``: ``"ll"`` (orthogonal centre-tap kernels, mirrored for CReLU; PReLU slope 1) or
``"he"`` (every kernel He-Gaussian, independently, CReLU halves not mirrored; PReLU slope
0.25, torch's default).  No batch norm (``bn=False`` by default): batch statistics would make
each output depend on the rest of the batch, and the network would not be a linear map of each
input.  ``bn=True`` inserts a training-mode BN after each conv.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .models import BatchNorm2d, GlobalAveragePool, conv3x3, he_init_

NONLINEARITIES = ("crelu", "prelu", "relu")
INITS = ("ll", "he")


class _CompiledCReLU(torch.autograd.Function):
    """CReLU of a channels-last CPU tensor by :mod:`kernels.crelu` (one pass forward, one backward;
    the same bits as the torch spelling of :class:`CReLU`, tested).  Saves only ``x``."""

    @staticmethod
    def forward(ctx, x):
        from kernels.crelu import crelu_forward
        n, c, h, w = x.shape
        out = torch.empty((n, 2 * c, h, w), dtype=x.dtype, memory_format=torch.channels_last)
        crelu_forward(_rows(x), _rows(out))
        ctx.save_for_backward(x)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        from kernels.crelu import crelu_backward
        (x,) = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        out = torch.empty_like(x, memory_format=torch.channels_last)
        crelu_backward(_rows(x), _rows(grad), _rows(out))
        return out


def _rows(t: torch.Tensor):
    """The ``(n·h·w, c)`` row-major numpy view of a channels-last ``(n, c, h, w)`` tensor's memory
    (a view, never a copy: setting ``shape`` raises where ``reshape`` would copy silently, and the
    kernels write into these arrays)."""
    rows = t.detach().permute(0, 2, 3, 1).numpy().view()
    rows.shape = (-1, t.shape[1])
    return rows


class CReLU(nn.Module):
    """``x ↦ cat(ρ(x), ρ(−x))`` along the channel dimension.

    A channels-last float CPU tensor (the Fig. 5 probes and the Fig. 6 training) goes through the
    compiled loops of :mod:`kernels.crelu` (:class:`_CompiledCReLU`; at batch 32, 6 channels, 32×32,
    forward and backward 3.0 → 0.75 ms, one core); anything else through torch operations.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.dim() == 4
                and x.is_contiguous(memory_format=torch.channels_last)):
            return _CompiledCReLU.apply(x)
        return torch.cat([torch.relu(x), torch.relu(-x)], dim=1)


def orthonormal_columns(rows: int, cols: int, generator: torch.Generator | None = None,
                        dtype=torch.float32) -> torch.Tensor:
    """A Haar-random ``rows × cols`` matrix with orthonormal columns (needs ``rows ≥ cols``)."""
    if cols > rows:
        raise ValueError(f"cols={cols} > rows={rows} is not allowed: orthonormal columns need "
                         f"A (out channels) >= B (in channels)")
    g = torch.randn(rows, cols, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))
    return q.to(dtype)


def orthogonal_centre_kernel(out_channels: int, in_channels: int,
                             generator: torch.Generator | None = None,
                             dtype=torch.float32) -> torch.Tensor:
    """The paper's orthogonal kernel: zeros except ``K[:, :, 1, 1] = W``, ``WᵀW = I``."""
    k = torch.zeros(out_channels, in_channels, 3, 3, dtype=dtype)
    k[:, :, 1, 1] = orthonormal_columns(out_channels, in_channels, generator, dtype)
    return k


def mirrored(kernel: torch.Tensor) -> torch.Tensor:
    """``(W, −W)`` along the input-channel dimension: an ``A × 2B × kh × kw`` kernel."""
    return torch.cat([kernel, -kernel], dim=1)


class LLNet(nn.Module):
    """Plain convnet with CReLU / PReLU / ReLU layers, LL- or He-initialized (see module doc)."""

    def __init__(self, depth: int, width: int = 16, nonlinearity: str = "crelu", init: str = "ll",
                 bn: bool = False, num_classes: int = 10, in_channels: int = 3,
                 generator: torch.Generator | None = None):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth={depth!r} is not allowed: a positive integer")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity={nonlinearity!r} is not allowed: one of {', '.join(NONLINEARITIES)}")
        if init not in INITS:
            raise ValueError(f"init={init!r} is not allowed: one of {', '.join(INITS)}")
        if init == "ll" and nonlinearity == "relu":
            raise ValueError("init='ll' with nonlinearity='relu' is not allowed: a ReLU net cannot "
                             "look linear; use crelu or prelu")
        if width < in_channels and init == "ll":
            raise ValueError(f"width={width} is not allowed with init='ll': the stem's orthogonal "
                             f"kernel needs width >= {in_channels} input channels")
        self.depth, self.width, self.nonlinearity, self.init = depth, width, nonlinearity, init
        fan = 2 * width if nonlinearity == "crelu" else width
        self.stem = conv3x3(in_channels, width)
        layers: list[nn.Module] = []
        for _ in range(depth):
            if nonlinearity == "crelu":
                act: nn.Module = CReLU()
            elif nonlinearity == "prelu":
                act = nn.PReLU(num_parameters=1, init=1.0 if init == "ll" else 0.25)
            else:
                act = nn.ReLU()
            layers += [act, conv3x3(fan, width)]
            if bn:
                layers.append(BatchNorm2d(width))
        self.layers = nn.Sequential(*layers)
        self.pool = GlobalAveragePool()
        self.classifier = nn.Linear(width, num_classes)
        with torch.no_grad():
            if init == "ll":
                self.stem.weight.copy_(orthogonal_centre_kernel(width, in_channels, generator))
                for conv in self.convs():
                    w = orthogonal_centre_kernel(width, width, generator)
                    conv.weight.copy_(mirrored(w) if nonlinearity == "crelu" else w)
            else:
                he_init_(self.stem, generator)
                for conv in self.convs():
                    he_init_(conv, generator)
            self.classifier.weight.normal_(0.0, 1.0 / math.sqrt(width), generator=generator)
            self.classifier.bias.zero_()

    def convs(self) -> list[nn.Conv2d]:
        """The conv layers after the stem (``depth`` of them)."""
        return [m for m in self.layers if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.layers(self.stem(x))))

    def linear_equivalent(self, x: torch.Tensor) -> torch.Tensor:
        """The network with the nonlinearities removed and each CReLU kernel ``(W, −W)`` → ``W``.

        For an LL-initialized net without BN this *is* the network (to float rounding).
        """
        h = self.stem(x)
        for conv in self.convs():
            w = conv.weight[:, : self.width] if self.nonlinearity == "crelu" else conv.weight
            h = nn.functional.conv2d(h, w, padding=1)
        return self.classifier(self.pool(h))


def build_ll(depth: int, width: int = 16, nonlinearity: str = "crelu", init: str = "ll",
             bn: bool = False, seed: int | None = None) -> LLNet:
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    return LLNet(depth, width, nonlinearity, init, bn, generator=gen)
