"""Counter-based random numbers for the Monte Carlo engine: Philox4x64-10 + Box–Muller, in numba.

Why.  The engine draws ``L·N²`` standard normals per network (2 M for L = 50, N = 200): with
numpy's ``Generator(PCG64).standard_normal(dtype=float32)`` (a sequential ziggurat behind one
indirect call per draw) that took ~23 ms of CPU per network — as long as the network's 2 GFLOP of
products (DESIGN.md "Performance": random number generation is about half the cost of a naive
engine).  A *counter-based* generator makes every draw a pure function of ``(key, index)``, so a
stream can be cut into pieces that any number of threads fill in any order with bit-identical
results, and the arithmetic is straight-line code that the compiler pipelines and vectorizes.

The generator.  **Philox4x64-10** (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy
as 1, 2, 3", SC 2011): a 256-bit counter ``c`` and a 128-bit key ``k`` give four 64-bit words
through 10 rounds of ``(hi, lo) = mulhilo64(M, c)`` with the published multipliers
``0xD2E7470EE14C6C93, 0xCA5A826395121157`` and Weyl key increments
``0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B``.  It is the generator numpy ships as
``numpy.random.Philox``; :func:`philox_block` reproduces numpy's bit stream exactly (tested:
``numpy.random.Philox(key=k, counter=c)`` outputs block ``c + 1`` first, then ``c + 2``, …).
The 64×64→128-bit products are one native ``mul`` each (an LLVM ``i128`` multiply, see
:func:`_mulhilo`).  Philox passes BigCrush; its period per key is 2^256.

Streams.  A stream is a key; its draws are indexed by ``j = 0, 1, 2, …``.  Block ``b`` is the
Philox output for the counter ``(b, 0, 0, 0)``; its words ``4b … 4b+3`` are the stream's raw
64-bit words (:func:`fill_raw`), and normal ``j`` comes from word ``j // 2`` (:func:`fill_normals`):
each 64-bit word ``w`` gives two normals by the Box–Muller transform,

    u = (hi32(w) + 1) / 2^32 ∈ (0, 1],   θ = (π/2)·(q + g),  q = top 2 bits of lo32(w),
    g = (low 30 bits of lo32(w) + 1/2)/2^30 − 1/2 ∈ (−1/2, 1/2),
    r = sqrt(−2 ln u),   z_{2t} = r cos θ,   z_{2t+1} = r sin θ,

computed in float64 with our own truncated series (ln by ``2 atanh((m−1)/(m+1))`` on the mantissa
``m ∈ [√½, √2)``, sin/cos by their Taylor series on ``|φ| ≤ π/4`` plus the quadrant; errors
< 1e-11, far below float32 rounding) so that the loop vectorizes (no libm calls), then rounded
to float32.  No fast-math: every operation is a correctly rounded IEEE one (``+ − × ÷ √`` and
exact integer↔float conversions), so the vectorized loop, its scalar remainder and any CPU give
the same bits for the same word — which is what makes the output independent of where a chunk
starts.  θ is uniform on the circle (4 quadrants × 2^30 angles) and independent of ``u``, so
``(z_{2t}, z_{2t+1})`` are two independent N(0, 1) up to the 32-bit resolution of ``u``: the
largest possible |z| is ``sqrt(64 ln 2) = 6.66`` (N(0, 1) puts 2.7e-11 of its mass beyond; the
expected number of clipped draws per 2 M-normal network is 5e-5), and the far tail is discrete
at probability ~2^-32 per value.  No rejection, so exactly one word per two normals and draw
``j`` never depends on any other draw.  The statistics (mean, variance, Kolmogorov–Smirnov,
lag-1 correlation) are checked in ``tests/test_montecarlo_rng.py``.

Keys come from ``numpy.random.SeedSequence`` (see :mod:`montecarlo.sampling`): the house rule
for seeds is unchanged, only the generator behind the key is.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: Philox4x64 round multipliers and key (Weyl) increments (Salmon et al. 2011, Random123)
M0 = np.uint64(0xD2E7470EE14C6C93)
M1 = np.uint64(0xCA5A826395121157)
W0 = np.uint64(0x9E3779B97F4A7C15)
W1 = np.uint64(0xBB67AE8584CAA73B)
ROUNDS = 10
NORMALS_PER_BLOCK = 8   # 4 words × 2 normals
_TILE = 256             # blocks per tile (2048 normals, 16 KiB of float64 work space)

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U4 = np.uint64(4)
_U30 = np.uint64(30)
_U32 = np.uint64(32)
_U52 = np.uint64(52)
_MASK30 = np.uint64((1 << 30) - 1)
_MASK32 = np.uint64((1 << 32) - 1)
_MANTISSA = np.uint64((1 << 52) - 1)
_ONE_BITS = np.uint64(0x3FF0000000000000)      # bits of 1.0
_MAGIC_BITS = np.uint64(0x4330000000000000)    # bits of 2^52: (2^52 | n) as a double is 2^52 + n
_TWO52 = float(2 ** 52)
_SQRT2 = math.sqrt(2.0)
_LN2 = math.log(2.0)
_HALF_PI = math.pi / 2
# Taylor coefficients: sin φ = φ Σ S_k φ^2k, cos φ = Σ C_k φ^2k, |φ| ≤ π/4; the first omitted
# terms bound the truncation: (π/4)^13/13! = 7e-12 (sin), (π/4)^14/14! = 4e-13 (cos)
_S1, _S2, _S3, _S4, _S5 = ((-1) ** k / math.factorial(2 * k + 1) for k in range(1, 6))
_C1, _C2, _C3, _C4, _C5, _C6 = ((-1) ** k / math.factorial(2 * k) for k in range(1, 7))


@intrinsic
def _mulhilo(typingctx, a, b):
    """``(hi, lo)`` of the 128-bit product of two uint64 (one native multiply)."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        lo = builder.trunc(p, ir.IntType(64))
        hi = builder.trunc(builder.lshr(p, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, (hi, lo))
    return sig, codegen


@intrinsic
def _as_f64(typingctx, u):
    """Reinterpret the bits of a uint64 as a float64."""
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@intrinsic
def _as_u64(typingctx, x):
    """Reinterpret the bits of a float64 as a uint64."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _philox(c0, c1, c2, c3, k0, k1):
    """Philox4x64-10 of counter ``(c0, c1, c2, c3)`` under key ``(k0, k1)``: four uint64."""
    for r in range(ROUNDS):
        if r > 0:
            k0 += W0
            k1 += W1
        hi0, lo0 = _mulhilo(M0, c0)
        hi1, lo1 = _mulhilo(M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@njit(cache=True, nogil=True)
def philox_block(counter, key, out):
    """``out[0:4]`` = Philox4x64-10 of ``counter`` (4 uint64) under ``key`` (2 uint64)."""
    r0, r1, r2, r3 = _philox(counter[0], counter[1], counter[2], counter[3], key[0], key[1])
    out[0] = r0
    out[1] = r1
    out[2] = r2
    out[3] = r3


@njit(cache=True, nogil=True)
def _blocks(k0, k1, first, count, words):
    """Raw words of blocks ``first … first+count−1`` (counter ``(b, 0, 0, 0)``) into ``words``."""
    for t in range(count):
        r0, r1, r2, r3 = _philox(first + np.uint64(t), _U0, _U0, _U0, k0, k1)
        words[4 * t] = r0
        words[4 * t + 1] = r1
        words[4 * t + 2] = r2
        words[4 * t + 3] = r3


@njit(cache=True, nogil=True, error_model="numpy")
def _box_muller(words, count, z):
    """``z[2t], z[2t+1]`` = the two N(0, 1) of word ``t`` (module docstring), t < ``count``."""
    for t in range(count):
        w = words[t]
        # u = (hi + 1) / 2^32 in (0, 1]: x = hi + 1 exactly, then ln x by exponent and mantissa
        x = _as_f64(_MAGIC_BITS | ((w >> _U32) + _U1)) - _TWO52
        bits = _as_u64(x)
        e = (_as_f64(_MAGIC_BITS | (bits >> _U52)) - _TWO52) - 1023.0
        m = _as_f64((bits & _MANTISSA) | _ONE_BITS)
        big = m > _SQRT2
        m = m * 0.5 if big else m
        e = e + 1.0 if big else e
        s = (m - 1.0) / (m + 1.0)
        s2 = s * s
        # ln m = 2 atanh s = 2 Σ s^(2k+1)/(2k+1), |s| ≤ (√2−1)/(√2+1): omitted terms < 5e-13
        ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (
            1.0 / 9 + s2 * (1.0 / 11 + s2 * (1.0 / 13)))))))
        ln_u = (e - 32.0) * _LN2 + ln_m
        r = math.sqrt(max(-2.0 * ln_u, 0.0))
        # θ = (π/2)(q + g): quadrant q from the top 2 bits, φ = (π/2) g with |g| < 1/2
        lo = w & _MASK32
        q = lo >> _U30
        g = (_as_f64(_MAGIC_BITS | (lo & _MASK30)) - _TWO52 + 0.5) * (1.0 / (1 << 30)) - 0.5
        phi = g * _HALF_PI
        p2 = phi * phi
        sn = phi * (1.0 + p2 * (_S1 + p2 * (_S2 + p2 * (_S3 + p2 * (_S4 + p2 * _S5)))))
        cs = 1.0 + p2 * (_C1 + p2 * (_C2 + p2 * (_C3 + p2 * (_C4 + p2 * (_C5 + p2 * _C6)))))
        # rotate (cos φ, sin φ) by q quarter turns: q=0 (c, s), 1 (−s, c), 2 (−c, −s), 3 (s, −c)
        swap = (q & _U1) == _U1
        a = sn if swap else cs
        b = cs if swap else sn
        a = -a if (((q + _U1) >> _U1) & _U1) == _U1 else a
        b = -b if (q >> _U1) == _U1 else b
        z[2 * t] = np.float32(r * a)
        z[2 * t + 1] = np.float32(r * b)


@njit(cache=True, nogil=True)
def fill_normals(k0, k1, start, out):
    """``out[t]`` = normal ``start + t`` of the stream with key ``(k0, k1)``; float32, 1-D."""
    if out.size > 0:
        words, z = scratch()
        fill_normals_with(k0, k1, start, out, words, z)


@njit(cache=True, nogil=True)
def scratch():
    """Work space of :func:`fill_normals_with`: (raw words, normals) of one tile."""
    return np.empty(4 * _TILE, dtype=np.uint64), np.empty(NORMALS_PER_BLOCK * _TILE, dtype=np.float32)


@njit(cache=True, nogil=True)
def fill_normals_with(k0, k1, start, out, words, z):
    """:func:`fill_normals` in the caller's work space ``(words, z) = scratch()`` (no allocation)."""
    n = out.size
    if n == 0:
        return
    first = start // NORMALS_PER_BLOCK
    last = (start + n - 1) // NORMALS_PER_BLOCK          # inclusive
    b = first
    while b <= last:
        count = min(_TILE, last - b + 1)
        _blocks(k0, k1, np.uint64(b), count, words)
        _box_muller(words, 4 * count, z)
        j0 = b * NORMALS_PER_BLOCK                          # stream index of z[0]
        lo = max(start, j0)
        hi = min(start + n, j0 + NORMALS_PER_BLOCK * count)
        out[lo - start:hi - start] = z[lo - j0:hi - j0]
        b += count


@njit(cache=True, nogil=True)
def fill_raw(k0, k1, start, out):
    """``out[t]`` = raw 64-bit word ``start + t`` of the stream with key ``(k0, k1)``; uint64, 1-D."""
    n = out.size
    if n == 0:
        return
    words = np.empty(4 * _TILE, dtype=np.uint64)
    first = start // 4
    last = (start + n - 1) // 4
    b = first
    while b <= last:
        count = min(_TILE, last - b + 1)
        _blocks(k0, k1, np.uint64(b), count, words)
        j0 = b * 4
        lo = max(start, j0)
        hi = min(start + n, j0 + 4 * count)
        out[lo - start:hi - start] = words[lo - j0:hi - j0]
        b += count


@njit(cache=True, nogil=True)
def weight_column_start(width, layer, column):
    """Stream index of ``Z_{layer+1}[0, column]`` in a weights stream (0-based ``layer``).

    The layout (:mod:`montecarlo.sampling`): draws ``0 … N−1`` are the readout ``v``, then the
    ``N × N`` matrices ``Z_1, Z_2, …`` one after the other, each column by column, so that column
    ``j`` of ``Z_l`` — the weights leaving neuron ``j`` — is the ``N`` draws from this index on.
    """
    return width + layer * width * width + column * width


def key_of(seed_sequence: np.random.SeedSequence) -> tuple[np.uint64, np.uint64]:
    """The 128-bit Philox key of a stream: the first two uint64 of ``generate_state``."""
    k = seed_sequence.generate_state(2, np.uint64)
    return np.uint64(k[0]), np.uint64(k[1])


def normals(key: tuple, count: int, start: int = 0) -> np.ndarray:
    """``count`` float32 normals of stream ``key`` from index ``start`` (one thread)."""
    out = np.empty(count, dtype=np.float32)
    fill_normals(np.uint64(key[0]), np.uint64(key[1]), start, out)
    return out


def raw(key: tuple, count: int, start: int = 0) -> np.ndarray:
    """``count`` raw uint64 words of stream ``key`` from word ``start``."""
    out = np.empty(count, dtype=np.uint64)
    fill_raw(np.uint64(key[0]), np.uint64(key[1]), start, out)
    return out
