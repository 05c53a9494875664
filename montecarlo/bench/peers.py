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
import time
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
    skip, branch, norm = _block(spec)

    def total(t, W, v, b):                                 # Σ_m f(t_m) of one network
        x = t[None, :] - b[:, None]
        return (v @ _forward(W, x, skip, branch, norm)).sum()
    _vmap_stacks(total, spec, nets, grid, batch, seed, bias_std, sink, progress)


def _vmap_stacks(total, spec: NetworkSpec, nets: int, grid: np.ndarray, batch: int, seed: int, bias_std: float,
                 sink: Sink | None, progress) -> None:
    """``vmap(grad(total))`` over stacks of ``batch`` networks drawn with ``torch.randn``; ``sink`` per row."""
    torch = _torch()
    from torch.func import grad, vmap
    gen = torch.Generator().manual_seed(seed)
    t = torch.as_tensor(grid, dtype=torch.float32)
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


# ----------------------------------------------------------------------------- peers at their best
# Issue 16, item 1: what a strong engineer would write for the same quantity without this
# engine.  Forward mode (one JVP with dx_0/dt = 1 gives df/dx at every grid point: the grid's
# columns do not interact once the batch statistics are constants), whole stacks of networks per
# product, weights drawn per layer right before their product, buffers allocated once.
#
# Layout: per stack of B networks one array H (B, 2M, N): rows 0..M−1 hold x at the M grid points,
# rows M..2M−1 its tangent dx (row-major activations, so that one (2M × N) · (N × N) product per
# network and layer multiplies both; W_lᵀ is drawn directly, it has the law of W_l).  The branch
# factor b and sqrt(c/N) are folded into the drawn matrix.

def _numpy_normals(gen: np.random.Generator, out: np.ndarray, half: np.ndarray, radius: np.ndarray) -> None:
    """``out`` (flat float32, even size) ← standard normals by float32 Box–Muller from ``gen``'s
    uniforms (3 ns per normal here against 8.5 for numpy's float32 ziggurat, measured 2026-12-01);
    ``half``, ``radius``: work arrays of ``out.size // 2``."""
    h = out.size // 2
    u, w = out[:h], out[h:]
    gen.random(out=u, dtype=np.float32)
    gen.random(out=w, dtype=np.float32)
    np.subtract(np.float32(1.0), u, out=radius)            # (0, 1]: ln is finite
    np.log(radius, out=radius)
    np.multiply(radius, np.float32(-2.0), out=radius)
    np.sqrt(radius, out=radius)
    np.multiply(w, np.float32(2.0 * math.pi), out=half)
    np.cos(half, out=u)
    np.sin(half, out=w)
    np.multiply(u, radius, out=u)
    np.multiply(w, radius, out=w)


def numpy_forward_stack(fill, v: np.ndarray, bias: np.ndarray, t: np.ndarray, depth: int,
                        skip: float, branch: float, norm: str) -> np.ndarray:
    """df/dx (B, M) of a stack of networks by forward mode in numpy, float32.

    ``fill(l, out)`` writes the stack's ``b · W_lᵀ`` (B, N, N) into ``out``; ``v`` (B, N) readouts,
    ``bias`` (B, N) first-layer biases (``x_0 = t − b``), ``t`` (M,) the grid.
    """
    B, N = v.shape
    M = t.size
    H = np.empty((B, 2 * M, N), dtype=np.float32)
    H[:, :M] = t[None, :, None].astype(np.float32) - bias[:, None, :]
    H[:, M:] = 1.0
    both = np.empty_like(H)
    prod = np.empty_like(H)
    Wt = np.empty((B, N, N), dtype=np.float32)
    mask = np.empty((B, M, N), dtype=np.bool_)
    mean = np.empty((B, 1, N), dtype=np.float32)
    inv = np.empty((B, 1, N), dtype=np.float32)
    for l in range(depth):
        x, dx = H[:, :M], H[:, M:]
        u, du = both[:, :M], both[:, M:]
        if norm == "none":
            np.greater(x, 0.0, out=mask)
            np.maximum(x, 0.0, out=u)
            np.multiply(dx, mask, out=du)
        else:
            np.mean(x, axis=1, keepdims=True, out=mean)
            np.subtract(x, mean, out=u)
            if norm == "bn":
                np.multiply(u, u, out=du)
                np.mean(du, axis=1, keepdims=True, out=inv)
                np.sqrt(inv, out=inv)
                np.divide(np.float32(1.0), inv, out=inv)
                np.multiply(u, inv, out=u)
                np.multiply(dx, inv, out=du)
            else:
                du[...] = dx
            np.greater(u, 0.0, out=mask)
            np.maximum(u, 0.0, out=u)
            np.multiply(du, mask, out=du)
        fill(l, Wt)
        if skip == 0.0:
            np.matmul(both, Wt, out=H)
        else:
            np.matmul(both, Wt, out=prod)
            if skip != 1.0:
                np.multiply(H, np.float32(skip), out=H)
            np.add(H, prod, out=H)
    return np.matmul(H[:, M:], v[:, :, None])[:, :, 0]


def numpy_forward(spec: NetworkSpec, nets: int, grid: np.ndarray, *, batch: int = 16, workers: int = 2,
                  seed: int = 0, bias_std: float = 1.0, sink: Sink | None = None, progress=None) -> None:
    """Peer: batched forward mode in numpy (:func:`numpy_forward_stack`) on ``workers`` threads ×
    single-threaded OpenBLAS, each thread its own stacks of ``batch`` networks and its own PCG64
    stream (``SeedSequence(seed).spawn``), weights by float32 Box–Muller."""
    from concurrent.futures import ThreadPoolExecutor
    from kernels.blas_threads import pin_single_thread
    pin_single_thread()
    skip, branch, norm = _block(spec)
    N, L = spec.width, spec.depth
    scale = np.float32(branch * math.sqrt(spec.weight_gain / N))
    stacks = [min(batch, nets - a) for a in range(0, nets, batch)]
    streams = np.random.SeedSequence(seed).spawn(len(stacks))
    results: list = [None] * len(stacks)

    def one(i: int) -> None:
        gen = np.random.Generator(np.random.PCG64(streams[i]))
        B = stacks[i]
        half = np.empty(B * N * N // 2 + 1, dtype=np.float32)
        radius = np.empty_like(half)

        def fill(l, out):
            flat = out.reshape(-1)
            h = flat.size // 2
            _numpy_normals(gen, flat[:2 * h], half[:h], radius[:h])
            if flat.size % 2:
                flat[-1] = gen.standard_normal(dtype=np.float32)
            np.multiply(out, scale, out=out)
        v = gen.standard_normal((B, N), dtype=np.float32)
        bias = gen.standard_normal((B, N), dtype=np.float32) * np.float32(bias_std)
        results[i] = numpy_forward_stack(fill, v, bias, grid, L, skip, branch, norm)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for i, _ in enumerate(pool.map(one, range(len(stacks)))):
            if sink is not None:
                for row in results[i]:
                    sink(row)
            results[i] = None
            if progress is not None:
                progress(stacks[i])


def torch_forward_stack(fill, v, bias, t, depth: int, skip: float, branch: float, norm: str):
    """:func:`numpy_forward_stack` in torch (``torch.bmm``: MKL on the CPU build); tensors in, (B, M) out."""
    torch = _torch()
    B, N = v.shape
    M = t.numel()
    H = torch.empty(B, 2 * M, N)
    H[:, :M] = t[None, :, None] - bias[:, None, :]
    H[:, M:] = 1.0
    both = torch.empty_like(H)
    prod = torch.empty_like(H)
    Wt = torch.empty(B, N, N)
    for l in range(depth):
        x, dx = H[:, :M], H[:, M:]
        u, du = both[:, :M], both[:, M:]
        if norm == "none":
            torch.clamp_min(x, 0.0, out=u)
            torch.mul(dx, x > 0, out=du)
        else:
            mean = x.mean(dim=1, keepdim=True)
            torch.sub(x, mean, out=u)
            if norm == "bn":
                inv = u.square().mean(dim=1, keepdim=True).rsqrt_()
                u.mul_(inv)
                torch.mul(dx, inv, out=du)
            else:
                du.copy_(dx)
            du.mul_(u > 0)
            u.clamp_min_(0.0)
        fill(l, Wt)
        if skip == 0.0:
            torch.bmm(both, Wt, out=H)
        else:
            torch.bmm(both, Wt, out=prod)
            if skip != 1.0:
                H.mul_(skip)
            H.add_(prod)
    return torch.bmm(H[:, M:], v[:, :, None])[:, :, 0]


def torch_forward(spec: NetworkSpec, nets: int, grid: np.ndarray, *, batch: int = 16, seed: int = 0,
                  bias_std: float = 1.0, sink: Sink | None = None, progress=None) -> None:
    """Peer: :func:`torch_forward_stack` on stacks of ``batch`` networks, ``torch.randn`` weights
    drawn per layer into one buffer, torch's own intra-op threads."""
    torch = _torch()
    skip, branch, norm = _block(spec)
    N, L = spec.width, spec.depth
    scale = branch * math.sqrt(spec.weight_gain / N)
    gen = torch.Generator().manual_seed(seed)
    t = torch.as_tensor(grid, dtype=torch.float32)

    def fill(l, out):
        torch.randn(out.shape, generator=gen, out=out)
        out.mul_(scale)
    with torch.inference_mode():
        done = 0
        while done < nets:
            B = min(batch, nets - done)
            v = torch.randn(B, N, generator=gen)
            bias = torch.randn(B, N, generator=gen) * bias_std
            dfdx = torch_forward_stack(fill, v, bias, t, L, skip, branch, norm)
            if sink is not None:
                for row in dfdx.numpy():
                    sink(row)
            done += B
            if progress is not None:
                progress(B)


def _forward_rows(Wt, x, skip: float, branch: float, norm: str):
    """:func:`_forward` with row-major activations: ``x`` (M, N), ``x ← s x + b ρ(norm(x)) W_lᵀ``
    with ``Wt[l] = W_lᵀ``; statistics over the points (dim 0), detached."""
    torch = _torch()
    for l in range(Wt.shape[0]):
        z = x
        if norm != "none":
            z = z - z.mean(dim=0, keepdim=True).detach()
            if norm == "bn":
                z = z * z.detach().pow(2).mean(dim=0, keepdim=True).rsqrt()
        h = torch.relu(z) @ Wt[l]
        x = h * branch if skip == 0.0 else skip * x + branch * h
    return x


def vmap_rows(spec: NetworkSpec, nets: int, grid: np.ndarray, *, batch: int = 16, seed: int = 0,
              bias_std: float = 1.0, sink: Sink | None = None, progress=None) -> None:
    """:func:`vmap_grid` with row-major activations ``(M, N) @ W_lᵀ`` (the other layout; ``W_lᵀ`` has the
    law of ``W_l``, so the drawn matrix is used as the transpose)."""
    skip, branch, norm = _block(spec)

    def total(t, W, v, b):
        x = t[:, None] - b[None, :]
        return (_forward_rows(W, x, skip, branch, norm) @ v).sum()
    _vmap_stacks(total, spec, nets, grid, batch, seed, bias_std, sink, progress)


class CompiledLoop:
    """Peer: the autograd loop with the per-network function ``Σ_m f(t_m)`` under ``torch.compile``
    (inductor).  Compiled once per configuration (:attr:`compile_seconds`, reported apart from the
    rate); :attr:`error` holds why it did not compile, if it did not."""

    def __init__(self, spec: NetworkSpec, grid: np.ndarray, bias_std: float = 1.0):
        torch = _torch()
        self.spec, self.bias_std = spec, bias_std
        skip, branch, norm = _block(spec)
        self.t0 = torch.as_tensor(grid, dtype=torch.float32)

        def total(t, W, v, b):
            x = t[None, :] - b[:, None]
            return (v @ _forward(W, x, skip, branch, norm)).sum()
        self.error = None
        start = time.perf_counter()
        try:
            self.fn = torch.compile(total, dynamic=False)
            gen = torch.Generator().manual_seed(0)
            self._one(gen)                      # compiles here
        except Exception as err:               # noqa: BLE001 — any failure to compile is reported, not raised
            self.fn, self.error = None, f"{type(err).__name__}: {err}"[:300]
        self.compile_seconds = time.perf_counter() - start

    def _one(self, gen):
        torch = _torch()
        W, v = _sample(gen, self.spec, self.spec.depth)
        b = torch.randn(self.spec.width, generator=gen) * self.bias_std
        t = self.t0.clone().requires_grad_(True)
        (dfdx,) = torch.autograd.grad(self.fn(t, W, v, b), t)
        return dfdx

    def __call__(self, nets: int, *, seed: int = 0, sink: Sink | None = None, progress=None) -> None:
        torch = _torch()
        gen = torch.Generator().manual_seed(seed)
        for _ in range(nets):
            dfdx = self._one(gen)
            if sink is not None:
                sink(dfdx.numpy())
            if progress is not None:
                progress(1)
