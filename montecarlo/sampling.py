"""Reproducible random networks: one ``numpy.random.SeedSequence`` child per network.

Network ``i`` of a run with seed ``K`` owns ``SeedSequence(K, spawn_key=(i,))`` — the same object
as ``SeedSequence(K).spawn(n)[i]`` — and three grandchildren, one per stream:

* ``(i, 0)`` weights: readout ``v`` (N values) then ``Z_1, …, Z_L`` (row-major N×N each);
* ``(i, 1)`` inputs: typical pairs ``x ~ N(0, I_N)`` (N×M, column ``m`` is input ``m``), or the
  grid's first-layer biases ``b`` (N values);
* ``(i, 2)`` gates of the path model: Bernoulli(1/2) bits, block 1 first, (N×M) per block.

Every stream is drawn by ``Generator(PCG64)`` in float32 (``standard_normal(dtype=float32)``,
a fast ziggurat) straight into preallocated arrays.  A network therefore depends only on
``(K, i)``: not on the chunk (``--batch``) it is computed in, nor on the backend.  All kernels
read these same float32 arrays (the numpy reference casts them to float64), so the fast
kernels are tested against the reference on bit-identical networks.

The weight draws (``L·N²`` normals per network, as many as the kernel's products take time)
are spread over one thread per core: numpy's ``Generator`` fills release the GIL, and every
network has its own generator, so the bits do not depend on the threading.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kernels.blas_threads import worker_count

WEIGHTS, INPUTS, GATES = 0, 1, 2


def stream(seed: int, network: int, which: int) -> np.random.Generator:
    """The generator of one stream of one network (see the module docstring)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(network, which))))


def orthogonal_from(z: np.ndarray) -> np.ndarray:
    """Haar-orthogonal ``Q`` from a Gaussian square matrix (QR with the sign of diag(R) fixed)."""
    q, r = np.linalg.qr(z.astype(np.float64))
    return (q * np.sign(np.diag(r))[None, :]).astype(np.float32)


def sample_weights(seed: int, networks: range, depth: int, width: int,
                   orthogonal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Standardized weights ``Z`` (S, L, N, N) float32 and readouts ``v`` (S, N) float32.

    ``Z_l`` has i.i.d. N(0, 1) entries (the plan multiplies by ``σ = sqrt(c/N)``), or is
    Haar-orthogonal when ``orthogonal`` (CReLU LL-init with ``init='orthogonal'``, ``W = sqrt(c) Q``).
    """
    S = len(networks)
    weights = np.empty((S, depth, width, width), dtype=np.float32)
    readout = np.empty((S, width), dtype=np.float32)

    def draw(ks: range) -> None:
        for k in ks:
            rng = stream(seed, networks[k], WEIGHTS)
            rng.standard_normal(out=readout[k], dtype=np.float32)
            rng.standard_normal(out=weights[k], dtype=np.float32)

    _over_threads(draw, S)
    if orthogonal:
        for k in range(S):
            for l in range(depth):
                weights[k, l] = orthogonal_from(weights[k, l])
    return weights, readout


def _over_threads(work, count: int) -> None:
    """``work(ks)`` on contiguous ranges of ``0..count−1``, one thread per core (GIL released)."""
    parts = worker_count(count)
    edges = np.linspace(0, count, parts + 1).astype(int)
    ranges = [range(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    if len(ranges) <= 1:
        work(range(count))
        return
    with ThreadPoolExecutor(len(ranges)) as pool:
        for done in [pool.submit(work, ks) for ks in ranges]:
            done.result()


def sample_pair_inputs(seed: int, networks: range, width: int, n_inputs: int) -> np.ndarray:
    """Typical inputs ``x ~ N(0, I_N)``: (S, N, M) float32; pairs are columns (2k, 2k+1)."""
    out = np.empty((len(networks), width, n_inputs), dtype=np.float32)
    for k, i in enumerate(networks):
        stream(seed, i, INPUTS).standard_normal(out=out[k], dtype=np.float32)
    return out


def grid_points(n_points: int = 256, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """The 1-D grid of the paper's §1.1 (M = 256 points in [−2, 2], endpoints included)."""
    return np.linspace(low, high, n_points)


def sample_grid_inputs(seed: int, networks: range, width: int, grid: np.ndarray,
                       bias_std: float) -> np.ndarray:
    """First layer on the grid: ``x_0[n, m] = t_m · v_n − b_n`` with ``v = 1``, ``b ~ N(0, bias_std²)``.

    Returns (S, N, M) float32 (computed in float64 from the float32 bias draws, then rounded).
    """
    out = np.empty((len(networks), width, grid.size), dtype=np.float32)
    b = np.empty(width, dtype=np.float32)
    for k, i in enumerate(networks):
        stream(seed, i, INPUTS).standard_normal(out=b, dtype=np.float32)
        out[k] = (grid[None, :] - bias_std * b.astype(np.float64)[:, None]).astype(np.float32)
    return out


def sample_gates(seed: int, networks: range, depth: int, width: int, n_inputs: int) -> np.ndarray:
    """Path-model gates: independent Bernoulli(1/2) per block, neuron and input, (S, L, N, M) bool."""
    S = len(networks)
    count = depth * width * n_inputs
    out = np.empty((S, depth, width, n_inputs), dtype=bool)
    for k, i in enumerate(networks):
        raw = np.frombuffer(stream(seed, i, GATES).bytes((count + 7) // 8), dtype=np.uint8)
        out[k] = np.unpackbits(raw, count=count).astype(bool).reshape(depth, width, n_inputs)
    return out
