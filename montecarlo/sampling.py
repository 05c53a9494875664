"""Reproducible random networks: one ``numpy.random.SeedSequence`` child per network.

Network ``i`` of a run with seed ``K`` owns ``SeedSequence(K, spawn_key=(i,))`` — the same object
as ``SeedSequence(K).spawn(n)[i]`` — and three grandchildren, one per stream:

* ``(i, 0)`` weights: readout ``v`` (N values) then ``Z_1, …, Z_L``, each N×N column by column
  (column-major: draw ``N + (l−1)·N² + j·N + i`` is ``Z_l[i, j]``);
* ``(i, 1)`` inputs: typical pairs ``x ~ N(0, I_N)`` (N×M, column ``m`` is input ``m``), or the
  grid's first-layer biases ``b`` (N values);
* ``(i, 2)`` gates of the path model: Bernoulli(1/2) bits, block 1 first, (N×M) per block.

The **weights** stream is drawn by a counter-based generator, :mod:`kernels.rng`
(Philox4x64-10, the generator of ``numpy.random.Philox``, bit for bit, then Box–Muller in
float32), keyed by ``SeedSequence(K, spawn_key=(i, 0)).generate_state(2,
uint64)``: stream index ``j < N`` is ``v[j]``, index ``N + t`` is entry ``t`` of ``Z`` flattened
(``Z_1`` first, each matrix column-major, so that a column — the weights leaving one neuron — is
one contiguous run of draws: the forward-mode kernel draws only the columns of neurons that are
active somewhere on the grid, :mod:`kernels.numba_kernel`; the layout is
:func:`kernels.rng.weight_column_start`).  Every draw is a pure function of ``(key, j)``, so the
``L·N²`` normals of a network (as many as the kernel's products take time: the previous
``Generator(PCG64)`` ziggurat took ~23 ms per network at L = 50, N = 200, about half the engine)
are cut into slices filled by one thread per core, in any order, with bit-identical results.
Why Philox and how the normals are made: the docstring of :mod:`kernels.rng`.

The **inputs** and **gates** streams (a few hundred thousand draws at most, ~0.2 ms per network)
are still drawn by ``Generator(PCG64)`` from the same ``SeedSequence`` children
(:func:`stream`: ``standard_normal(dtype=float32)`` and ``bytes``), as is the shallow 1-D net of
:mod:`montecarlo.observables`, which draws its own ``w`` and ``b`` through :func:`stream`.

A network therefore depends only on ``(K, i)``: not on the chunk (``--batch``) it is computed in,
nor on the backend, nor on the number of threads.  All kernels read these same float32 arrays
(the numpy reference casts them to float64), so the fast kernels are tested against the
reference on bit-identical networks.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kernels import rng
from kernels.blas_threads import worker_count

WEIGHTS, INPUTS, GATES = 0, 1, 2


def stream(seed: int, network: int, which: int) -> np.random.Generator:
    """The ``Generator(PCG64)`` of one stream of one network: inputs and gates (module docstring).

    The weights are not drawn from it any more but by :mod:`kernels.rng` under :func:`weight_key`.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(network, which))))


def weight_key(seed: int, network: int) -> tuple[np.uint64, np.uint64]:
    """The Philox key of network ``network``'s weights stream (see the module docstring)."""
    return rng.key_of(np.random.SeedSequence(seed, spawn_key=(network, WEIGHTS)))


def orthogonal_from(z: np.ndarray) -> np.ndarray:
    """Haar-orthogonal ``Q`` from a Gaussian square matrix (QR with the sign of diag(R) fixed)."""
    q, r = np.linalg.qr(z.astype(np.float64))
    return (q * np.sign(np.diag(r))[None, :]).astype(np.float32)


def sample_weights(seed: int, networks: range, depth: int, width: int,
                   orthogonal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Standardized weights ``Z`` (S, L, N, N) float32 and readouts ``v`` (S, N) float32.

    ``Z`` is a transposed view of the draws (each ``Z_l`` is stored column by column, the order of
    the weights stream): not C-contiguous.  Reordering it cost 0.55 ms per network of ``L = 10,
    N = 200`` (a sixth of a pairs chunk's time); the kernels multiply it as it is.

    ``Z_l`` has i.i.d. N(0, 1) entries (the plan multiplies by ``σ = sqrt(c/N)``), or is
    Haar-orthogonal when ``orthogonal`` (CReLU LL-init with ``init='orthogonal'``, ``W = sqrt(c) Q``).
    """
    S = len(networks)
    weights = np.empty((S, depth, width, width), dtype=np.float32)
    readout = np.empty((S, width), dtype=np.float32)

    keys = [weight_key(seed, i) for i in networks]
    flat = weights.reshape(S, -1)
    size = flat.shape[1]
    parts = worker_count(2 * S) if size else 1
    edges = [size * p // parts for p in range(parts + 1)]

    def draw(p: int) -> None:
        """Slice ``p`` of every network's ``Z``; slice 0 also draws the readouts."""
        for k, (k0, k1) in enumerate(keys):
            if p == 0:
                rng.fill_normals(k0, k1, 0, readout[k])
            rng.fill_normals(k0, k1, rng.weight_column_start(width, 0, 0) + edges[p],
                             flat[k, edges[p]:edges[p + 1]])

    if parts == 1:
        draw(0)
    else:
        with ThreadPoolExecutor(parts) as pool:
            for done in [pool.submit(draw, p) for p in range(parts)]:
                done.result()
    weights = weights.transpose(0, 1, 3, 2)  # drawn column by column: a view, not a copy (BLAS takes either order)
    if orthogonal:
        for k in range(S):
            for l in range(depth):
                weights[k, l] = orthogonal_from(weights[k, l])
    return weights, readout


class LazyWeights:
    """The weights of :func:`sample_weights`, drawn one ``Z_l`` at a time when a kernel asks.

    ``fill_layer(k, l, out)`` writes ``Z_{l+1}`` of the chunk's network ``k`` into ``out`` (N, N)
    float32 — the same bits as ``sample_weights(...)[0][k, l]`` (the weights stream is
    counter-based: entry ``t`` of ``Z`` is draw ``N + t`` wherever the drawing starts).  A
    forward-mode kernel uses each ``Z_l`` once, right after drawing it into a buffer that stays in
    cache, so the chunk's ``S·L·N²`` floats are never stored.  ``readout`` (S, N) is drawn at once.
    ``shape`` is (S, L, N, N), like the array it stands for; :meth:`materialize` draws that array.
    """

    def __init__(self, seed: int, networks: range, depth: int, width: int, orthogonal: bool = False):
        self.seed, self.networks, self.depth, self.width, self.orthogonal = seed, networks, depth, width, orthogonal
        self.shape = (len(networks), depth, width, width)
        self.keys = [weight_key(seed, i) for i in networks]
        self.readout = np.empty((len(networks), width), dtype=np.float32)
        for k, (k0, k1) in enumerate(self.keys):
            rng.fill_normals(k0, k1, 0, self.readout[k])

    def fill_layer(self, k: int, l: int, out: np.ndarray) -> None:
        k0, k1 = self.keys[k]
        n = self.width
        drawn = np.empty((n, n), dtype=np.float32)          # row j = column j of Z_{l+1}
        rng.fill_normals(k0, k1, rng.weight_column_start(n, l, 0), drawn.reshape(-1))
        out[:] = drawn.T
        if self.orthogonal:
            out[:] = orthogonal_from(out)

    def materialize(self) -> np.ndarray:
        return sample_weights(self.seed, self.networks, self.depth, self.width, self.orthogonal)[0]


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
    for k, i in enumerate(networks):
        grid_rows(seed, i, grid, bias_std, out[k])
    return out


def grid_rows(seed: int, network: int, grid: np.ndarray, bias_std: float, out: np.ndarray) -> None:
    """Network ``network``'s ``x_0`` on the grid into ``out`` (N, M) float32 (:func:`sample_grid_inputs`)."""
    b = np.empty(out.shape[0], dtype=np.float32)
    stream(seed, network, INPUTS).standard_normal(out=b, dtype=np.float32)
    out[...] = grid[None, :] - bias_std * b.astype(np.float64)[:, None]    # float64, rounded on the store


class LazyGridInputs:
    """The inputs of :func:`sample_grid_inputs`, computed one network at a time when a kernel asks.

    ``fill_network(k, out)`` writes the chunk's network ``k`` into ``out`` (N, M) float32 — the same bits as
    ``sample_grid_inputs(...)[k]``.  A kernel that takes them (``lazy_inputs``) calls it in its worker
    threads, beside the other networks' passes, instead of the caller computing every network's
    inputs before any pass starts while the other cores wait (~0.1 ms per network: a fiftieth of a
    feedforward network's pass on two cores, L = 50, N = 200, M = 256).  ``shape`` and ``ndim`` are
    those of the array it stands for; :meth:`materialize` computes that array.
    """

    ndim = 3

    def __init__(self, seed: int, networks: range, width: int, grid: np.ndarray, bias_std: float):
        self.seed, self.networks, self.grid, self.bias_std = seed, networks, grid, bias_std
        self.shape = (len(networks), width, grid.size)

    def fill_network(self, k: int, out: np.ndarray) -> None:
        grid_rows(self.seed, self.networks[k], self.grid, self.bias_std, out)

    def materialize(self) -> np.ndarray:
        return sample_grid_inputs(self.seed, self.networks, self.shape[1], self.grid, self.bias_std)


def sample_gates(seed: int, networks: range, depth: int, width: int, n_inputs: int) -> np.ndarray:
    """Path-model gates: independent Bernoulli(1/2) per block, neuron and input, (S, L, N, M) bool."""
    S = len(networks)
    count = depth * width * n_inputs
    out = np.empty((S, depth, width, n_inputs), dtype=bool)
    for k, i in enumerate(networks):
        raw = np.frombuffer(stream(seed, i, GATES).bytes((count + 7) // 8), dtype=np.uint8)
        out[k] = np.unpackbits(raw, count=count).astype(bool).reshape(depth, width, n_inputs)
    return out
