"""The peers of the benchmark: what a researcher would write with PyTorch, in its idiomatic form.

Both peers compute the same thing as the engine — ``df/dx`` of ``f = vᵀ x_L`` at every point of
the 1-D grid, for whole random networks — from the same block

    x_l = s · x_{l−1} + b · W_l ρ(norm(x_{l−1})),       W_l ~ N(0, c/N),  l = 1..L,

written once from :func:`theory.pathsum.block_of` (``s, b, norm`` of the spec), on the
*unscaled* network (the engine's exact rescaling only changes df/dx by a constant factor, which
the ACF does not see).  Batch statistics (centering / BN over the ``M`` inputs of a network) are
``.detach()``-ed: that is the engine's default ``bn_backward='constant'`` (the theorems'
model); without it autograd would differentiate through the mean and variance.

* :func:`autograd_loop` — one network at a time: sample ``W`` with ``torch.randn``, forward the
  batch of ``M`` grid points, ``torch.autograd.grad(f.sum(), t)``.
* :func:`vmap_grid` — ``torch.func.vmap`` over a stack of networks of
  ``torch.func.grad`` of the per-network scalar ``Σ_m f(t_m)`` with respect to the grid ``t``.
* :func:`autograd_pairs_at_depth` — the peers' way to get one point of the correlation-vs-depth
  curve: a network of depth ``L`` per point, autograd to its input.

Each network of a peer is drawn with ``torch.randn`` from a ``torch.Generator`` seeded per run:
peers sample their own, independent networks, and their sampling time is part of their time
(as the engine's is part of its).  torch is imported inside the functions.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from theory.pathsum import block_of
from theory.specs import NetworkSpec

Sink = Callable[[np.ndarray], None]


def _torch():
    import torch
    return torch


def _block(spec: NetworkSpec) -> tuple[float, float, str]:
    block = block_of(spec)
    if block.unit != "relu":
        raise ValueError(f"arch={spec.arch!r} is not allowed in the peers: ReLU blocks only")
    return float(block.skip), float(block.branch), block.norm


def _normalize(x, norm: str):
    """``norm(x)`` over the batch axis (last), statistics detached (constant when differentiating)."""
    if norm == "none":
        return x
    centred = x - x.mean(dim=-1, keepdim=True).detach()
    if norm == "center":
        return centred
    inv_std = centred.detach().pow(2).mean(dim=-1, keepdim=True).rsqrt()
    return centred * inv_std


def _forward(W, x, skip: float, branch: float, norm: str):
    """``x_L`` from ``x_0`` (N, M) through the blocks of ``W`` (L, N, N)."""
    torch = _torch()
    for l in range(W.shape[0]):
        h = W[l] @ torch.relu(_normalize(x, norm))
        x = h * branch if skip == 0.0 else skip * x + branch * h
    return x


def _sample(gen, spec: NetworkSpec, depth: int, nets: int | None = None):
    """``W`` (L, N, N) or (S, L, N, N) with variance c/N, and readouts ``v`` (N) or (S, N)."""
    torch = _torch()
    N = spec.width
    lead = () if nets is None else (nets,)
    W = torch.randn(lead + (depth, N, N), generator=gen).mul_(math.sqrt(spec.weight_gain / N))
    v = torch.randn(lead + (N,), generator=gen)
    return W, v


def autograd_loop(spec: NetworkSpec, nets: int, grid: np.ndarray, *, seed: int = 0,
                  bias_std: float = 1.0, sink: Sink | None = None, progress=None) -> None:
    """``nets`` networks, one ``torch.autograd.grad`` each; ``sink(df/dx)`` per network (M,)."""
    torch = _torch()
    skip, branch, norm = _block(spec)
    gen = torch.Generator().manual_seed(seed)
    t0 = torch.as_tensor(grid, dtype=torch.float32)
    for _ in range(nets):
        W, v = _sample(gen, spec, spec.depth)
        b = torch.randn(spec.width, generator=gen) * bias_std
        t = t0.clone().requires_grad_(True)
        x = t[None, :] - b[:, None]                       # first layer x·1 − b, (N, M)
        f = v @ _forward(W, x, skip, branch, norm)         # f(t_m) for every grid point, (M,)
        (dfdx,) = torch.autograd.grad(f.sum(), t)
        if sink is not None:
            sink(dfdx.numpy())
        if progress is not None:
            progress(1)


def vmap_grid(spec: NetworkSpec, nets: int, grid: np.ndarray, *, batch: int = 8, seed: int = 0,
              bias_std: float = 1.0, sink: Sink | None = None, progress=None) -> None:
    """``torch.func.vmap`` over stacks of ``batch`` networks of ``torch.func.grad`` w.r.t. the grid."""
    torch = _torch()
    from torch.func import grad, vmap
    skip, branch, norm = _block(spec)
    gen = torch.Generator().manual_seed(seed)
    t = torch.as_tensor(grid, dtype=torch.float32)

    def total(t, W, v, b):                                 # Σ_m f(t_m) of one network
        x = t[None, :] - b[:, None]
        return (v @ _forward(W, x, skip, branch, norm)).sum()

    per_network = vmap(grad(total), in_dims=(None, 0, 0, 0))
    done = 0
    while done < nets:
        S = min(batch, nets - done)
        W, v = _sample(gen, spec, spec.depth, S)
        b = torch.randn(S, spec.width, generator=gen) * bias_std
        dfdx = per_network(t, W, v, b)                     # (S, M)
        if sink is not None:
            for row in dfdx.numpy():
                sink(row)
        done += S
        if progress is not None:
            progress(S)


def autograd_pairs_at_depth(spec: NetworkSpec, depth: int, nets: int, pairs: int, *,
                            gen, sink: Sink | None = None) -> None:
    """Networks of depth ``depth``, typical pairs ``x, x' ~ N(0, I)``, gradient w.r.t. ``x_0``.

    ``sink`` receives each network's ``(A, C)``: mean over neurons and pairs of
    ``(g(x)² + g(x')²)/2`` and ``g(x) g(x')`` (as :func:`montecarlo.observables.pair_summary`).
    """
    torch = _torch()
    skip, branch, norm = _block(spec)
    for _ in range(nets):
        W, v = _sample(gen, spec, depth)
        x0 = torch.randn(spec.width, 2 * pairs, generator=gen).requires_grad_(True)
        f = v @ _forward(W, x0, skip, branch, norm)
        (g,) = torch.autograd.grad(f.sum(), x0)
        if sink is not None:
            g = g.double()
            ga, gb = g[:, 0::2], g[:, 1::2]
            sink(np.array([float((0.5 * (ga * ga + gb * gb)).mean()), float((ga * gb).mean())]))
