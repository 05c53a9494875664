"""The hot loops: forward pass through ``L`` blocks and one backward pass giving the gradient of
``f = vᵀ x_L`` with respect to every layer ``x_{L−d}``, ``d = 1..L``, for a chunk of networks.

One interface, three implementations (``get_kernel(name)``):

``numpy``  :mod:`kernels.reference` — plain numpy, float64, one network at a time; the oracle.
``numba``  :mod:`kernels.numba_kernel` — float32 BLAS products, fused @njit elementwise loops.
``torch``  :mod:`kernels.torch_kernel` — torch.bmm over the chunk, CPU; ``cuda`` the same on GPU.

Each kernel module provides

* ``real_gradients(plan, weights, readout, inputs, *, keep='all', want_active=False)
  -> (grads, active)``: real networks (forward + backward);
* ``path_gradients(plan, weights, readout, gates, *, n_inputs=None, keep='all') -> grads``:
  the path model of Assumption 1 (random gates, backward only);
* ``input_derivative(plan, weights, readout, inputs, tangent, *, want_active=False)
  -> (D, active)``: forward mode, ``D[m] = Σ_n v_n (dx_L)[n, m]`` for ``dx_0 = tangent``, batch
  statistics constant — the 1-D grid's ``df/dx`` in one pass (``weights`` may be a lazy source
  that draws each ``Z_l`` when it is needed, :class:`montecarlo.sampling.LazyWeights`).

Shapes: ``weights (S, L, N, N)`` standardized, ``readout (S, N)``, ``inputs (S, N, M)``,
``gates (S, L, N, M)`` bool; ``grads (S, L, N, M)`` with ``grads[:, d−1]`` = ∂f/∂x_{L−d}.
The scalars live in a :class:`kernels.plan.LayerPlan`.  Every kernel consumes the same float32
sampled arrays, so fast kernels are tested against the reference on identical networks.

Importing this package imports neither numba nor torch; :func:`get_kernel` loads them lazily.
"""
from __future__ import annotations

import functools
import importlib
from types import SimpleNamespace

from .plan import LayerPlan, NonFiniteError

BACKENDS = ("numpy", "numba", "torch", "cuda")

_MODULES = {"numpy": "kernels.reference", "numba": "kernels.numba_kernel",
            "torch": "kernels.torch_kernel", "cuda": "kernels.torch_kernel"}


def get_kernel(name: str) -> SimpleNamespace:
    """The kernel called ``name`` (one of :data:`BACKENDS`), with its two entry points.

    ``cuda`` is the torch kernel bound to ``device='cuda'``; asking for it without a CUDA device
    raises ``ValueError`` naming the backend.
    """
    if name not in _MODULES:
        raise ValueError(f"backend={name!r} is not allowed: one of {', '.join(BACKENDS)}")
    module = importlib.import_module(_MODULES[name])
    if name in ("torch", "cuda"):
        device = "cuda" if name == "cuda" else "cpu"
        if device == "cuda":
            import torch
            if not torch.cuda.is_available():
                raise ValueError("backend='cuda' is not allowed here: torch.cuda.is_available() is "
                                 "False (use numpy, numba or torch)")
        return SimpleNamespace(
            name=name, dtype="float32",
            real_gradients=functools.partial(module.real_gradients, device=device),
            path_gradients=functools.partial(module.path_gradients, device=device),
            input_derivative=functools.partial(module.input_derivative, device=device))
    return SimpleNamespace(name=name, dtype=module.dtype.__name__,
                           real_gradients=module.real_gradients,
                           path_gradients=module.path_gradients,
                           input_derivative=module.input_derivative)


__all__ = ["BACKENDS", "LayerPlan", "NonFiniteError", "get_kernel"]
