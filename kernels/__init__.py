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
  that draws each ``Z_l`` when it is needed, :class:`montecarlo.sampling.LazyWeights`);
* optionally (the numba kernel) ``real_pair_moments`` / ``path_pair_moments``: the typical pairs'
  per-layer moments of those gradients (:mod:`kernels.summaries`), taken as each layer is computed,
  the same bits as the moments of ``real_gradients`` / ``path_gradients``; None where not provided.

Shapes: ``weights (S, L, N, N)`` standardized, ``readout (S, N)``, ``inputs (S, N, M)``,
``gates (S, L, N, M)`` bool; ``grads (S, L, N, M)`` with ``grads[:, d−1]`` = ∂f/∂x_{L−d}.
The scalars live in a :class:`kernels.plan.LayerPlan`.  Every kernel consumes the same float32
sampled arrays, so fast kernels are tested against the reference on identical networks.

Importing this package imports neither numba nor torch; :func:`get_kernel` loads them lazily.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
from types import SimpleNamespace

from .plan import LayerPlan, NonFiniteError

BACKENDS = ("numpy", "numba", "torch", "cuda")

_MODULES = {"numpy": "kernels.reference", "numba": "kernels.numba_kernel",
            "torch": "kernels.torch_kernel", "cuda": "kernels.torch_kernel"}


#: the third-party package each backend needs beyond numpy
_PACKAGES = {"numpy": None, "numba": "numba", "torch": "torch", "cuda": "torch"}


class BackendUnavailable(ValueError):
    """A backend this machine cannot run: its package is not installed, or (``cuda``) there is no
    CUDA device.  The message names the backend, the reason and the backends to use instead; the
    command-line interfaces report it as a usage error (exit 2)."""


def check_backend(name: str) -> None:
    """Raise :class:`BackendUnavailable` unless backend ``name`` can run here (``ValueError`` for an
    unknown name).  Cheap: it looks for the package without importing a kernel (``cuda`` imports
    torch to ask for a device)."""
    if name not in _MODULES:
        raise ValueError(f"backend={name!r} is not allowed: one of {', '.join(BACKENDS)}")
    package = _PACKAGES[name]
    if package is not None and importlib.util.find_spec(package) is None:
        others = ", ".join(b for b in BACKENDS if b != name and _PACKAGES[b] != package)
        raise BackendUnavailable(f"backend={name!r} is not allowed here: it needs {package}, which is not "
                                 f"installed (install it: pip install {package}; or use {others})")
    if name == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise BackendUnavailable("backend='cuda' is not allowed here: no CUDA device is available "
                                     "(torch.cuda.is_available() is False; use numpy, numba or torch)")


def get_kernel(name: str) -> SimpleNamespace:
    """The kernel called ``name`` (one of :data:`BACKENDS`), with its two entry points.

    ``cuda`` is the torch kernel bound to ``device='cuda'``; a backend that cannot run here (no
    CUDA device, its package not installed) raises :class:`BackendUnavailable` naming it.
    """
    check_backend(name)
    module = importlib.import_module(_MODULES[name])
    if name in ("torch", "cuda"):
        device = "cuda" if name == "cuda" else "cpu"
        return SimpleNamespace(
            name=name, dtype="float32",
            real_gradients=functools.partial(module.real_gradients, device=device),
            path_gradients=functools.partial(module.path_gradients, device=device),
            input_derivative=functools.partial(module.input_derivative, device=device))
    return SimpleNamespace(name=name, dtype=module.dtype.__name__,
                           real_gradients=module.real_gradients,
                           path_gradients=module.path_gradients,
                           input_derivative=module.input_derivative,
                           lazy_weights=getattr(module, "lazy_weights", False),
                           lazy_inputs=getattr(module, "lazy_inputs", False),
                           real_pair_moments=getattr(module, "real_pair_moments", None),
                           path_pair_moments=getattr(module, "path_pair_moments", None))


__all__ = ["BACKENDS", "BackendUnavailable", "LayerPlan", "NonFiniteError", "check_backend", "get_kernel"]
