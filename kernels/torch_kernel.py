"""PyTorch kernel (CPU or CUDA): the reference's math on a whole chunk of networks at once,
with batched matrix products (``torch.bmm``) over the network axis.

torch is imported inside the functions, so ``import kernels`` never imports it.  ``device`` is
``"cpu"`` or ``"cuda"`` (or ``"cuda:1"`` …); ``dtype`` float32 (default) or float64.  Results
come back as numpy arrays.  No autograd: the backward pass is written out, exactly as in
:mod:`kernels.reference`, so it runs under ``torch.inference_mode``.

On CUDA, forward mode (:func:`input_derivative`) given the lazy weights of the 1-D grid draws them on
the device with the counter-based generator of :mod:`kernels.cuda_rng` — the same bits as the host
would draw — so no ``S·L·N²`` floats cross the bus (:func:`drawn_on_device`).
"""
from __future__ import annotations

import numpy as np

from .plan import LayerPlan, check_plan_inputs, check_shapes, dense_weights, raise_if_nonfinite

name = "torch"


def _torch():
    import torch
    return torch


def _dtype(dtype: str):
    torch = _torch()
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r} is not allowed: float32 or float64")
    return getattr(torch, dtype)


def _seed_columns(readout, M):
    return readout[:, :, None].expand(-1, -1, M).clone()


def real_gradients(plan: LayerPlan, weights: np.ndarray, readout: np.ndarray, inputs: np.ndarray,
                   *, keep: str = "all", want_active: bool = False, device: str = "cpu",
                   dtype: str = "float32"):
    """Same contract as :func:`kernels.reference.real_gradients`, computed with torch on ``device``."""
    torch = _torch()
    S, L, N, M = check_shapes(plan, weights, readout, inputs)
    td = _dtype(dtype)
    with torch.inference_mode():
        W = torch.as_tensor(np.ascontiguousarray(weights)).to(device=device, dtype=td)
        x = torch.as_tensor(np.ascontiguousarray(inputs)).to(device=device, dtype=td)
        v = torch.as_tensor(np.ascontiguousarray(readout)).to(device=device, dtype=td)
        cache = []
        forward_ok = torch.empty((S, L), dtype=torch.bool, device=device)
        for l in range(L):
            inv_std = y = None
            norm = plan.norm_at(l)
            if norm == "none":
                u = x
            else:
                u = x - x.mean(dim=2, keepdim=True)
                if norm == "bn":
                    inv_std = torch.rsqrt((u * u).mean(dim=2, keepdim=True))
                    u = u * inv_std
                    y = u
            active = u > 0
            phi = u * active if plan.gated else u
            x = float(plan.skip[l]) * x + float(plan.branch[l]) * torch.bmm(W[:, l], phi)
            forward_ok[:, l] = torch.isfinite(x).flatten(1).all(dim=1)
            if inv_std is not None:
                forward_ok[:, l] &= torch.isfinite(inv_std).flatten(1).all(dim=1)
            cache.append((active, inv_std, y))
        g = _seed_columns(v, M)
        out = []
        for l in range(L - 1, -1, -1):
            active, inv_std, y = cache[l]
            h = torch.bmm(W[:, l].transpose(1, 2), g)
            if plan.gated:
                h = h * active
            h = _norm_backward(h, plan.norm_at(l), plan.bn_backward, inv_std, y)
            g = float(plan.skip[l]) * g + float(plan.branch[l]) * h
            if keep == "all":
                out.append(g)
        grads = torch.stack(out if keep == "all" else [g], dim=1)
        active_np = torch.stack([c[0] for c in cache], dim=1).cpu().numpy() if want_active else None
        grads_np = grads.cpu().numpy()
        ok_np = forward_ok.cpu().numpy()
    raise_if_nonfinite(grads_np, ok_np, keep)
    return grads_np, active_np


def input_derivative(plan: LayerPlan, weights, readout: np.ndarray, inputs: np.ndarray,
                     tangent: np.ndarray, *, want_active: bool = False, device: str = "cpu",
                     dtype: str = "float32"):
    """Same contract as :func:`kernels.reference.input_derivative` (forward mode): per block one
    ``torch.bmm`` of ``Z_l`` with ``[φ(u) | φ'(u) ⊙ du]`` over the chunk."""
    torch = _torch()
    S, L, N, M = check_plan_inputs(plan, weights, readout, inputs, tangent)
    td = _dtype(dtype)
    with torch.inference_mode():
        W = _weights_on(weights, device, td)
        x = torch.as_tensor(np.ascontiguousarray(inputs)).to(device=device, dtype=td)
        dx = torch.as_tensor(np.ascontiguousarray(tangent)).to(device=device, dtype=td)
        v = torch.as_tensor(np.ascontiguousarray(readout)).to(device=device, dtype=td)
        forward_ok = torch.empty((S, L), dtype=torch.bool, device=device)
        actives = []
        for l in range(L):
            norm = plan.norm_at(l)
            u, du, inv_std = x, dx, None
            if norm != "none":
                u = x - x.mean(dim=2, keepdim=True)
                if norm == "bn":
                    inv_std = torch.rsqrt((u * u).mean(dim=2, keepdim=True))
                    u, du = u * inv_std, dx * inv_std
            active = u > 0
            both = torch.cat([u, du], dim=2)
            if plan.gated:
                both = both * torch.cat([active, active], dim=2)
            prod = torch.bmm(W[:, l], both)
            x = float(plan.skip[l]) * x + float(plan.branch[l]) * prod[:, :, :M]
            dx = float(plan.skip[l]) * dx + float(plan.branch[l]) * prod[:, :, M:]
            forward_ok[:, l] = torch.isfinite(x).flatten(1).all(dim=1) & torch.isfinite(dx).flatten(1).all(dim=1)
            if inv_std is not None:
                forward_ok[:, l] &= torch.isfinite(inv_std).flatten(1).all(dim=1)
            if want_active:
                actives.append(active)
        out = torch.einsum("sn,snm->sm", v.double(), dx.double()).cpu().numpy()
        ok_np = forward_ok.cpu().numpy()
        active_np = torch.stack(actives, dim=1).cpu().numpy() if want_active else None
    raise_if_nonfinite(out[:, None, None, :], ok_np, "input")  # forward failures are reported first
    return out, active_np


def drawn_on_device(weights, device: str) -> bool:
    """True when ``weights`` is a lazy Gaussian source (:class:`montecarlo.sampling.LazyWeights`) and
    ``device`` is numba's current CUDA device: the weights are then drawn there
    (:func:`kernels.cuda_rng.torch_weights`, the same bits as the host's) instead of on the host
    and copied.  Orthogonal weights are made on the host (a QR per matrix)."""
    return (device in ("cuda", "cuda:0") and hasattr(weights, "fill_layer")
            and hasattr(weights, "keys") and not weights.orthogonal)


def _weights_on(weights, device: str, td):
    """The (S, L, N, N) weights as a tensor of dtype ``td`` on ``device``."""
    torch = _torch()
    if drawn_on_device(weights, device):
        from . import cuda_rng
        _, L, N, _ = weights.shape
        W, _ = cuda_rng.torch_weights(weights.keys, L, N, device)
        return W.contiguous().to(dtype=td)   # the host path's layout, so the products' bits match it too
    return torch.as_tensor(np.ascontiguousarray(dense_weights(weights))).to(device=device, dtype=td)


def _norm_backward(h, norm, bn_backward, inv_std, y):
    if norm == "none":
        return h
    if norm == "center":
        return h if bn_backward == "constant" else h - h.mean(dim=2, keepdim=True)
    if bn_backward == "constant":
        return h * inv_std
    return inv_std * (h - h.mean(dim=2, keepdim=True) - y * (h * y).mean(dim=2, keepdim=True))


def path_gradients(plan: LayerPlan, weights: np.ndarray, readout: np.ndarray,
                   gates: np.ndarray | None, *, n_inputs: int | None = None, keep: str = "all",
                   device: str = "cpu", dtype: str = "float32"):
    """Same contract as :func:`kernels.reference.path_gradients`, computed with torch on ``device``."""
    torch = _torch()
    L = weights.shape[1]
    M = gates.shape[-1] if gates is not None else int(n_inputs)
    if gates is not None:
        check_shapes(plan, weights, readout, gates)
    td = _dtype(dtype)
    with torch.inference_mode():
        W = torch.as_tensor(np.ascontiguousarray(weights)).to(device=device, dtype=td)
        v = torch.as_tensor(np.ascontiguousarray(readout)).to(device=device, dtype=td)
        G = torch.as_tensor(np.ascontiguousarray(gates)).to(device=device) if plan.gated else None
        g = _seed_columns(v, M)
        out = []
        for l in range(L - 1, -1, -1):
            h = torch.bmm(W[:, l].transpose(1, 2), g)
            if plan.gated:
                h = h * G[:, l]
            g = float(plan.skip[l]) * g + float(plan.branch[l]) * h
            if keep == "all":
                out.append(g)
        grads_np = torch.stack(out if keep == "all" else [g], dim=1).cpu().numpy()
    raise_if_nonfinite(grads_np, None, keep)
    return grads_np
