"""The weights stream of :mod:`kernels.rng`, drawn on a CUDA device (numba.cuda): same key, same bits.

Why.  A network's weights are ``L·N²`` normals (2 M at L = 50, N = 200).  Copying them from the
host would cost more than the GPU's products, so the device draws them itself — and because the
generator is counter-based, it draws *the same* normals as the CPU engine: a network sampled on the
GPU is bit-identical to the one the numba and numpy kernels see, and every check of the CPU engine
against the reference carries over.

What is computed.  Exactly the stream of :mod:`kernels.rng` (read its docstring for the maths):
block ``b`` of the stream with key ``k`` is Philox4x64-10 (Salmon, Moraes, Dror, Shaw, "Parallel
random numbers: as easy as 1, 2, 3", SC 2011) of the counter ``(b, 0, 0, 0)``; its four 64-bit words
``w_i`` give the normals ``8b + i = r_i cos θ_i`` and ``8b + 4 + i = r_i sin θ_i`` by the float32
Box–Muller transform with the truncated ln / sin / cos series of :func:`kernels.rng._transform`.
One device thread computes one block (8 normals); a 2-D grid covers (blocks, networks), so a whole
chunk of networks is drawn by one launch (:func:`fill_normals`).

How the bits are kept.
* **Integers.**  numba.cuda has no 128-bit integer, so the 64×64→128 products of Philox are built
  from 32-bit halves (:func:`_mulhilo`): with ``a = 2³²a₁ + a₀``, ``b = 2³²b₁ + b₀``,
  ``ab = 2⁶⁴a₁b₁ + 2³²(a₁b₀ + a₀b₁) + a₀b₀``; every partial product and partial sum is below 2⁶⁴,
  so the same code is exact on the device and in numba's CUDA simulator (whose numpy uint64 scalars
  would warn on a wrapping multiply).  ``libdevice.umul64hi`` would give the high word in one
  instruction on a GPU, but the simulator does not implement libdevice, and the portable form is
  the code the simulator tests.  The Weyl key schedule ``k_r = k + r·W (mod 2⁶⁴)`` is computed on
  the host (:func:`round_keys`), so the kernel has no wrapping additions either.
* **Floats.**  libNVVM contracts ``a·b + c`` into one fused multiply-add by default (``-fma=1``;
  numba.cuda passes no option to turn it off unless ``fastmath``, which makes it worse), and a fused
  product rounds once instead of twice: the Horner series and ``e·ln 2 + ln m`` would then differ
  from the CPU in the last bit.  On the device every float32 ``+ − × ÷ √`` is therefore an explicit
  round-to-nearest libdevice intrinsic (``__nv_fadd_rn``, ``__nv_fmul_rn``, …; CUDA guarantees
  these are never merged into an FMA), the same correctly rounded IEEE operations, in the same
  order, as the CPU code.  The simulator has no libdevice, so there the same names are numpy
  float32 operations (also correctly rounded), which additionally refuse any operand that is not a
  ``numpy.float32`` — a Python float slipping into the arithmetic would silently compute in
  float64 — see :func:`_f32`.  Integer↔float conversions are round-to-nearest on both, and the
  float32↔uint32 bit reinterpretations are ``__nv_float_as_int`` / ``__nv_int_as_float`` (values
  below 2³¹, so the signed intrinsics are exact).

What is tested where (``tests/test_kernels_cuda.py``).  On the CPU, in a subprocess with
``NUMBA_ENABLE_CUDASIM=1``: raw words and normals equal :func:`kernels.rng.raw` /
:func:`kernels.rng.normals` bit for bit for several keys, unaligned windows and counts that are not
multiples of the thread-block size, and a network's weights equal
:func:`montecarlo.sampling.sample_weights`'s; mutants (a wrong Philox multiplier, the cosines and
sines of a block swapped, one FMA in the series) are caught by the same comparison.  The simulator
runs the integer code as written, but the float side through its numpy stand-ins; that the
libdevice intrinsics give the same bits — and that libNVVM compiles the integer halves without
surprises — is checked by the ``cuda``-marked tests on a real device (skipped without one;
``python -m montecarlo.bench.gpu_check`` runs them).

Importing this module imports ``numba.cuda`` (no device is needed until a kernel is launched);
torch only inside :func:`torch_weights`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import config, cuda

from . import rng

#: Philox4x64-10 constants: the very objects of the CPU generator (one source of truth)
M0, M1, W0, W1, ROUNDS = rng.M0, rng.M1, rng.W0, rng.W1, rng.ROUNDS
NORMALS_PER_BLOCK = rng.NORMALS_PER_BLOCK
WORDS_PER_BLOCK = 4
#: device threads per thread block (one Philox block, i.e. 8 normals, per thread)
THREADS = 128

_U0 = np.uint64(0)
_LO32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

# Box–Muller constants: the float32 values of the CPU code (kernels.rng), not recomputed
_S1, _S2, _S3, _S4 = rng._S1, rng._S2, rng._S3, rng._S4
_C1, _C2, _C3, _C4, _C5 = rng._C1, rng._C2, rng._C3, rng._C4, rng._C5
_T3, _T5, _T7, _T9 = rng._T3, rng._T5, rng._T7, rng._T9
_LN2, _HALF_PI, _SQRT2 = rng._LN2, rng._HALF_PI, rng._SQRT2
_2M32, _2M30, _2M31 = rng._2M32, rng._2M30, rng._2M31
_ALL32, _SQRT_HALF_HI, _MASK30 = rng._ALL32, rng._SQRT_HALF_HI, rng._MASK30
_MANTISSA, _ONE_BITS = rng._MANTISSA, rng._ONE_BITS
_ONE32, _U23, _U30 = rng._ONE32, rng._U23, rng._U30
_I127 = np.int32(127)
_I2P29 = np.int32(1 << 29)
_F0, _F1, _F2, _FM2, _FHALF = (np.float32(x) for x in (0.0, 1.0, 2.0, -2.0, 0.5))

SIMULATED = bool(config.ENABLE_CUDASIM)

if SIMULATED:
    def _f32(x):
        """``x`` itself, after checking it is a numpy float32 (simulator only: see the docstring)."""
        if type(x) is not np.float32:
            raise TypeError(f"float32 arithmetic got {type(x).__name__} {x!r}: a non-float32 operand "
                            "would compute in float64 in the simulator")
        return x

    def _fadd(a, b):
        return _f32(a) + _f32(b)

    def _fsub(a, b):
        return _f32(a) - _f32(b)

    def _fmul(a, b):
        return _f32(a) * _f32(b)

    def _fdiv(a, b):
        return _f32(a) / _f32(b)

    def _fsqrt(a):
        return np.sqrt(_f32(a))

    def _float_bits(x):
        return _f32(x).view(np.int32)

    def _bits_float(i):
        return np.int32(i).view(np.float32)
else:                                    # the device: IEEE round-to-nearest, never contracted
    from numba.cuda import libdevice
    _fadd, _fsub, _fmul, _fdiv, _fsqrt = (libdevice.fadd_rn, libdevice.fsub_rn, libdevice.fmul_rn,
                                          libdevice.fdiv_rn, libdevice.fsqrt_rn)
    _float_bits, _bits_float = libdevice.float_as_int, libdevice.int_as_float


@cuda.jit(device=True)
def _mulhilo(a, b):
    """``(hi, lo)`` of the 128-bit product of two uint64, from 32-bit halves (no overflow anywhere)."""
    a0 = a & _LO32
    a1 = a >> _S32
    b0 = b & _LO32
    b1 = b >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _LO32) + (p10 & _LO32)          # < 3·2³²
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)     # the exact high word
    lo = ((mid & _LO32) << _S32) | (p00 & _LO32)
    return hi, lo


@cuda.jit(device=True)
def _philox(c0, keys, k):
    """Philox4x64-10 of the counter ``(c0, 0, 0, 0)`` under the round keys ``keys[k]`` (ROUNDS, 2)."""
    c1 = _U0
    c2 = _U0
    c3 = _U0
    for r in range(ROUNDS):
        hi0, lo0 = _mulhilo(M0, c0)
        hi1, lo1 = _mulhilo(M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ keys[k, r, 0], lo1, hi0 ^ c3 ^ keys[k, r, 1], lo0
    return c0, c1, c2, c3


@cuda.jit(device=True)
def _box_muller(w):
    """``(r cos θ, r sin θ)`` of one 64-bit word: the operations of :func:`kernels.rng._transform`,
    one for one and in its order (the comments there give the maths)."""
    lo = np.uint32(w & _LO32)
    hi = np.uint32(w >> _S32)
    # ln u, u = (hi + 1)/2^32: exponent and mantissa from the bits below 1/√2, 1 − u from the integer above
    ua = _fmul(_fadd(np.float32(hi), _F1), _2M32)
    bits = np.uint32(_float_bits(ua))
    e = np.float32(np.int32(bits >> _U23) - _I127)
    m = _bits_float(np.int32((bits & _MANTISSA) | _ONE_BITS))
    big = m > _SQRT2
    m = _fmul(m, _FHALF) if big else m
    e = _fadd(e, _F1) if big else e
    v = _fmul(np.float32(_ALL32 - hi), _2M32)
    upper = hi >= _SQRT_HALF_HI
    s = _fdiv((-v) if upper else _fsub(m, _F1), _fsub(_F2, v) if upper else _fadd(m, _F1))
    e = _F0 if upper else e
    s2 = _fmul(s, s)
    series = _fadd(_T7, _fmul(s2, _T9))
    series = _fadd(_T5, _fmul(s2, series))
    series = _fadd(_T3, _fmul(s2, series))
    series = _fadd(_F1, _fmul(s2, series))
    ln_m = _fmul(_fmul(_F2, s), series)
    r2 = _fmul(_FM2, _fadd(_fmul(e, _LN2), ln_m))
    # max(r2, 0) with the CPU's semantics (r2 itself unless 0 > r2, so −0.0 stays −0.0); numba.cuda
    # fails to compile max() of two float32 here, hence the conditional
    r = _fsqrt(_F0 if r2 < _F0 else r2)  # noqa: FURB136
    # θ = (π/2)(q + g): the quadrant q from the top 2 bits of lo, g from the other 30
    q = lo >> _U30
    g = _fadd(_fmul(np.float32(np.int32(lo & _MASK30) - _I2P29), _2M30), _2M31)
    phi = _fmul(g, _HALF_PI)
    p2 = _fmul(phi, phi)
    sn = _fadd(_S3, _fmul(p2, _S4))
    sn = _fadd(_S2, _fmul(p2, sn))
    sn = _fadd(_S1, _fmul(p2, sn))
    sn = _fmul(phi, _fadd(_F1, _fmul(p2, sn)))
    cs = _fadd(_C4, _fmul(p2, _C5))
    cs = _fadd(_C3, _fmul(p2, cs))
    cs = _fadd(_C2, _fmul(p2, cs))
    cs = _fadd(_C1, _fmul(p2, cs))
    cs = _fadd(_F1, _fmul(p2, cs))
    # rotate (cos φ, sin φ) by q quarter turns: q=0 (c, s), 1 (−s, c), 2 (−c, −s), 3 (s, −c)
    swap = (q & _ONE32) == _ONE32
    a = sn if swap else cs
    b = cs if swap else sn
    a = -a if (((q + _ONE32) >> _ONE32) & _ONE32) == _ONE32 else a
    b = -b if (q >> _ONE32) == _ONE32 else b
    return _fmul(r, a), _fmul(r, b)


@cuda.jit(device=True)
def _put(out, k, j, value):
    if 0 <= j < out.shape[1]:
        out[k, j] = value


@cuda.jit
def _normals_kernel(keys, first_block, start, out):
    """``out[k, t]`` = normal ``start + t`` of stream ``k``: thread (x, y) = block ``first_block + x``
    of stream ``y`` writes the (up to 8) normals of that block that fall in the window."""
    x, k = cuda.grid(2)
    b = first_block + x
    if k >= out.shape[0] or b * NORMALS_PER_BLOCK >= start + out.shape[1]:
        return
    w0, w1, w2, w3 = _philox(np.uint64(b), keys, k)
    j = b * NORMALS_PER_BLOCK - start                      # index in out of normal 8b
    c, s = _box_muller(w0)
    _put(out, k, j, c)
    _put(out, k, j + 4, s)
    c, s = _box_muller(w1)
    _put(out, k, j + 1, c)
    _put(out, k, j + 5, s)
    c, s = _box_muller(w2)
    _put(out, k, j + 2, c)
    _put(out, k, j + 6, s)
    c, s = _box_muller(w3)
    _put(out, k, j + 3, c)
    _put(out, k, j + 7, s)


@cuda.jit
def _raw_kernel(keys, first_block, start, out):
    """``out[k, t]`` = raw word ``start + t`` of stream ``k`` (thread = one Philox block)."""
    x, k = cuda.grid(2)
    b = first_block + x
    if k >= out.shape[0] or b * WORDS_PER_BLOCK >= start + out.shape[1]:
        return
    w0, w1, w2, w3 = _philox(np.uint64(b), keys, k)
    j = b * WORDS_PER_BLOCK - start
    _put(out, k, j, w0)
    _put(out, k, j + 1, w1)
    _put(out, k, j + 2, w2)
    _put(out, k, j + 3, w3)


def round_keys(keys) -> np.ndarray:
    """The Philox key schedule of each stream: ``(S, ROUNDS, 2)`` uint64 with
    ``[s, r] = (k0 + r·W0, k1 + r·W1) mod 2⁶⁴`` for the key ``keys[s] = (k0, k1)``."""
    keys = [(int(k0), int(k1)) for k0, k1 in keys]
    out = np.empty((len(keys), ROUNDS, 2), dtype=np.uint64)
    for s, (k0, k1) in enumerate(keys):
        for r in range(ROUNDS):
            out[s, r, 0] = (k0 + r * int(W0)) % 2 ** 64
            out[s, r, 1] = (k1 + r * int(W1)) % 2 ** 64
    return out


def _launch(kernel, per_block, keys, start, out, threads):
    """Launch ``kernel`` over the blocks that cover ``start … start + out.shape[1] − 1`` × streams."""
    S, n = out.shape
    if start < 0:
        raise ValueError(f"start={start} is not allowed: a stream index >= 0")
    if keys.shape != (S, ROUNDS, 2):
        raise ValueError(f"keys shape {keys.shape} is not allowed: ({S}, {ROUNDS}, 2) from round_keys")
    if threads < 1:
        raise ValueError(f"threads={threads} is not allowed: >= 1 threads per thread block")
    if S == 0 or n == 0:
        return
    first = start // per_block
    blocks = (start + n - 1) // per_block - first + 1
    kernel[(math.ceil(blocks / threads), S), (threads, 1)](keys, np.int64(first), np.int64(start), out)


def fill_normals(keys, start: int, out, *, threads: int = THREADS) -> None:
    """``out[s, t]`` = float32 normal ``start + t`` of stream ``s``, on the device.

    ``keys``: ``round_keys(...)`` of the S streams (a device array, or a host array that is copied
    for the launch); ``out``: (S, n) float32 device (or host) array.  Bit for bit
    :func:`kernels.rng.normals` of each key, whatever ``start`` and ``threads``.
    """
    _launch(_normals_kernel, NORMALS_PER_BLOCK, keys, int(start), out, threads)


def fill_raw(keys, start: int, out, *, threads: int = THREADS) -> None:
    """``out[s, t]`` = raw 64-bit word ``start + t`` of stream ``s`` (uint64, (S, n)): :func:`kernels.rng.raw`."""
    _launch(_raw_kernel, WORDS_PER_BLOCK, keys, int(start), out, threads)


def normals(key: tuple, count: int, start: int = 0, *, threads: int = THREADS) -> np.ndarray:
    """``count`` normals of stream ``key`` from ``start``, drawn on the device, returned to the host."""
    out = cuda.device_array((1, count), dtype=np.float32)
    fill_normals(cuda.to_device(round_keys([key])), start, out, threads=threads)
    return out.copy_to_host()[0]


def raw(key: tuple, count: int, start: int = 0, *, threads: int = THREADS) -> np.ndarray:
    """``count`` raw words of stream ``key`` from word ``start``, drawn on the device, to the host."""
    out = cuda.device_array((1, count), dtype=np.uint64)
    fill_raw(cuda.to_device(round_keys([key])), start, out, threads=threads)
    return out.copy_to_host()[0]


def network_streams(keys, depth: int, width: int, *, threads: int = THREADS):
    """The weights streams of S networks drawn on the device, in stream order.

    Returns ``(readout, columns)`` device arrays: ``readout`` (S, N) float32 is draws ``0 … N−1``
    (the readout ``v``) and ``columns`` (S, L, N, N) float32 holds draws ``N + l·N² + j·N + i`` at
    ``[s, l, j, i]`` — row ``j`` is column ``j`` of ``Z_{l+1}`` (the layout of
    :func:`kernels.rng.weight_column_start`).  So ``columns[s, l].T`` is the CPU engine's
    ``weights[s, l]`` of :func:`montecarlo.sampling.sample_weights` (Gaussian weights; the
    orthogonal ones are made from these on the host), and a consumer reads the transpose as a
    strided view, without copying (:func:`torch_weights`).  ``keys``: the networks' ``(k0, k1)``.
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth={depth}, width={width} are not allowed: both >= 1")
    S = len(keys)
    schedule = cuda.to_device(round_keys(keys))
    readout = cuda.device_array((S, width), dtype=np.float32)
    columns = cuda.device_array((S, depth * width * width), dtype=np.float32)
    fill_normals(schedule, 0, readout, threads=threads)
    fill_normals(schedule, width, columns, threads=threads)   # (the block across index N is drawn twice)
    return readout, columns.reshape(S, depth, width, width)

def torch_weights(keys, depth: int, width: int, device: str = "cuda"):
    """``(W, v)`` as torch tensors on ``device`` without a host copy: ``W`` (S, L, N, N) is the
    transposed view of :func:`network_streams`' columns (so ``W[s, l] = Z_{l+1}``, the CPU engine's
    weights bit for bit) and ``v`` (S, N) the readouts; both share the numba device memory through
    ``__cuda_array_interface__`` (numba's launch is synchronized first)."""
    import torch
    readout, columns = network_streams(keys, depth, width)
    cuda.synchronize()
    v = torch.as_tensor(readout, device=device)
    W = torch.as_tensor(columns, device=device).transpose(2, 3)
    return W, v
