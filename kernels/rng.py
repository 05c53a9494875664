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
64-bit words (:func:`fill_raw`), and its 8 normals ``8b … 8b+7`` (:func:`fill_normals`) come
from them by the Box–Muller transform: word ``w_i = 4b + i`` gives

    u = (hi32(w) + 1) / 2^32 ∈ (0, 1],   θ = (π/2)·(q + g),  q = top 2 bits of lo32(w),
    g = (low 30 bits of lo32(w) + 1/2)/2^30 − 1/2 ∈ (−1/2, 1/2),
    r = sqrt(−2 ln u),   z_{8b+i} = r cos θ,   z_{8b+4+i} = r sin θ        (i = 0..3),

(the four cosines of a block, then its four sines: the stores of the vectorized loop stay
contiguous).  The arithmetic is float32, 8 lanes wide, with our own truncated series (ln by
``2 atanh((m−1)/(m+1))`` on the mantissa ``m ∈ [√½, √2)`` — from ``u ≥ 1/√2`` on, with ``m − 1 =
−(1 − u)`` taken from the integer, so that ``ln u`` keeps its relative accuracy as ``u → 1`` —
and sin/cos by their Taylor series on ``|φ| ≤ π/4`` plus the quadrant; truncation errors
≤ 2.1e-9, below float32 rounding), so that the loop vectorizes (no libm calls).  Each output is
within 1e-6·max(1, |z|) of the exact transform of its word (worst case of ~15 float32 roundings;
4.5 float32 ulps and 2.6e-7 measured over 2 M normals against libm in float64; tested).  No
fast-math: every operation is a correctly rounded IEEE one (``+ − × ÷ √`` and integer↔float
conversions), so the vectorized loop, its scalar remainder and any CPU give the same bits for the
same word — which is what makes the output independent of where a chunk starts.  θ is uniform on
the circle (4 quadrants × 2^30 angles, resolved to float32) and independent of ``u``, so the
pair ``(r cos θ, r sin θ)`` are two independent N(0, 1) up to the 32-bit resolution of ``u``: the
largest possible |z| is ``sqrt(64 ln 2) = 6.66`` (N(0, 1) puts 2.7e-11 of its mass beyond; the
expected number of clipped draws per 2 M-normal network is 5e-5), and the far tail is discrete at
probability ~2^-32 per value.  No rejection, so exactly one word per two normals and draw ``j``
never depends on any other draw.  The statistics (mean, variance, Kolmogorov–Smirnov, lag
correlations, kurtosis, tails) are checked in ``tests/test_montecarlo_rng.py``.  (Until
2026-11-23 the transform ran in float64, 4 lanes, with normals ``2t, 2t+1`` from word ``t``: 4.9
ns per normal with Philox; float32 is ~1.3 ns faster.)

Keys come from ``numpy.random.SeedSequence`` (see :mod:`montecarlo.sampling`): the house rule
for seeds is unchanged, only the generator behind the key is.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from . import numba_cache
from .borrow import borrow

numba_cache.configure()   # before the first @njit(cache=True): see kernels.numba_cache

#: Philox4x64 round multipliers and key (Weyl) increments (Salmon et al. 2011, Random123)
M0 = np.uint64(0xD2E7470EE14C6C93)
M1 = np.uint64(0xCA5A826395121157)
W0 = np.uint64(0x9E3779B97F4A7C15)
W1 = np.uint64(0xBB67AE8584CAA73B)
ROUNDS = 10
NORMALS_PER_BLOCK = 8   # 4 words × 2 normals
_TILE = 256             # blocks per tile (2048 normals; 8 KiB of words, 16 KiB of float32 work space)

_U0 = np.uint64(0)
# float32 Box–Muller (:func:`_transform`): series cut where float32 rounding (6e-8) dominates:
# omitted terms (π/4)^11/11! = 1.7e-9 (sin), (π/4)^12/12! = 1.2e-10 (cos), s^11/11 < 2.1e-9 s (ln)
_F32 = np.float32
_S1, _S2, _S3, _S4 = (_F32((-1) ** k / math.factorial(2 * k + 1)) for k in range(1, 5))
_C1, _C2, _C3, _C4, _C5 = (_F32((-1) ** k / math.factorial(2 * k)) for k in range(1, 6))
_T3, _T5, _T7, _T9 = (_F32(1.0 / k) for k in (3, 5, 7, 9))
_LN2 = _F32(math.log(2.0))
_HALF_PI = _F32(math.pi / 2)
_SQRT2 = _F32(math.sqrt(2.0))
_2M32 = _F32(2.0 ** -32)
_2M30 = _F32(2.0 ** -30)
_2M31 = _F32(2.0 ** -31)
_ALL32 = np.uint32(0xFFFFFFFF)
_SQRT_HALF_HI = np.uint32(int(2 ** 32 * math.sqrt(0.5)))    # hi ≥ this ⇔ u ≳ 1/√2
_MASK30 = np.uint32((1 << 30) - 1)
_MANTISSA = np.uint32((1 << 23) - 1)
_ONE_BITS = np.uint32(0x3F800000)                             # bits of 1.0f
_ONE32 = np.uint32(1)
_U23 = np.uint32(23)
_U30 = np.uint32(30)


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


@intrinsic
def _as_f32(typingctx, u):
    """Reinterpret the bits of a uint32 as a float32."""
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


@intrinsic
def _as_u32(typingctx, x):
    """Reinterpret the bits of a float32 as a uint32."""
    sig = types.uint32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return sig, codegen


@njit(cache=True, nogil=True)
def _box_muller(words, count, tmp, z):
    """The 8 normals of each block of 4 words (module docstring): ``z[8b + i] = r_i cos θ_i``,
    ``z[8b + 4 + i] = r_i sin θ_i`` for word ``4b + i``; ``count`` words (a multiple of 4);
    ``tmp`` (≥ 2·count float32) holds the cosines, then the sines (:func:`_transform`, then
    :func:`_interleave`)."""
    _transform(words, count, tmp[:count], tmp[count:2 * count])
    _interleave(tmp[:count], tmp[count:2 * count], z[:2 * count])


@njit(cache=True, nogil=True, error_model="numpy")
def _transform(words, count, cosines, sines):
    """``cosines[t] = r_t cos θ_t`` and ``sines[t] = r_t sin θ_t`` of words ``0 … count−1`` (module
    docstring): float32 arithmetic, vectorized (16 lanes with 512-bit vectors).  The outputs are
    two arrays indexed by the loop counter alone, so that no store needs an index check."""
    half = words.view(np.uint32)            # little-endian: lo32(w_t) = half[2t], hi32(w_t) = half[2t+1]
    for t in range(count):
        lo = half[2 * t]
        hi = half[2 * t + 1]
        # ln u, u = (hi + 1)/2^32.  Below 1/√2: u to float32 (relative error 2^-24, |ln u| > 0.34),
        # exponent e and mantissa m ∈ [√½, √2) from its bits.  From 1/√2 up: u = 1 − v with
        # v = (2^32 − 1 − hi)/2^32 exact before its rounding to float32, e = 0 and m − 1 = −v, so
        # ln u keeps its relative accuracy as u → 1 (where 1 − u is lost in u itself).
        ua = (np.float32(hi) + np.float32(1.0)) * _2M32
        bits = _as_u32(ua)
        e = np.float32(np.int32(bits >> _U23) - np.int32(127))
        m = _as_f32((bits & _MANTISSA) | _ONE_BITS)
        big = m > _SQRT2
        m = m * np.float32(0.5) if big else m
        e = e + np.float32(1.0) if big else e
        v = np.float32(_ALL32 - hi) * _2M32
        upper = hi >= _SQRT_HALF_HI
        s = ((-v) if upper else (m - np.float32(1.0))) / ((np.float32(2.0) - v) if upper else (m + np.float32(1.0)))
        e = np.float32(0.0) if upper else e
        s2 = s * s
        # ln m = 2 atanh s = 2 Σ s^(2k+1)/(2k+1), |s| ≤ (√2−1)/(√2+1): omitted terms < 2.1e-9 relative
        ln_m = np.float32(2.0) * s * (np.float32(1.0) + s2 * (_T3 + s2 * (_T5 + s2 * (_T7 + s2 * _T9))))
        r = np.sqrt(max(np.float32(-2.0) * (e * _LN2 + ln_m), np.float32(0.0)))
        # θ = (π/2)(q + g): quadrant q from the top 2 bits of lo, g = (j + ½)/2^30 − ½ from the rest
        q = lo >> _U30
        g = np.float32(np.int32(lo & _MASK30) - np.int32(1 << 29)) * _2M30 + _2M31
        phi = g * _HALF_PI
        p2 = phi * phi
        sn = phi * (np.float32(1.0) + p2 * (_S1 + p2 * (_S2 + p2 * (_S3 + p2 * _S4))))
        cs = np.float32(1.0) + p2 * (_C1 + p2 * (_C2 + p2 * (_C3 + p2 * (_C4 + p2 * _C5))))
        # rotate (cos φ, sin φ) by q quarter turns: q=0 (c, s), 1 (−s, c), 2 (−c, −s), 3 (s, −c)
        swap = (q & _ONE32) == _ONE32
        a = sn if swap else cs
        b = cs if swap else sn
        a = -a if (((q + _ONE32) >> _ONE32) & _ONE32) == _ONE32 else a
        b = -b if (q >> _ONE32) == _ONE32 else b
        cosines[t] = r * a                  # contiguous stores: the loop stays vectorized
        sines[t] = r * b


@njit(cache=True, nogil=True)
def _interleave(cosines, sines, z):
    """The stream's order of the normals: ``z[8b + i] = cosines[4b + i]``, ``z[8b + 4 + i] =
    sines[4b + i]`` (``z`` holds ``2·len(cosines)``).  Every index counts from 0 within its own
    array (callers pass views), which the compiler turns into vector moves.  Until 2026-12-07 the
    tile was interleaved into the work space and then copied into the caller's buffer by numba's
    slice assignment, an element-by-element loop: one core, one 40,000-normal window (a BN
    resnet's ``Z_l``), 1.64 → 1.41 ns per normal without that copy, the same bits (measured in one
    process, alternating); an index with an offset (``z[o + …]``) was no faster than the copy."""
    for blk in range(cosines.size // 4):
        for i in range(4):
            z[8 * blk + i] = cosines[4 * blk + i]
            z[8 * blk + 4 + i] = sines[4 * blk + i]


@njit(cache=True, nogil=True)
def fill_normals(k0, k1, start, out):
    """``out[t]`` = normal ``start + t`` of the stream with key ``(k0, k1)``; float32, 1-D."""
    if out.size > 0:
        words, z = scratch()
        fill_normals_with(k0, k1, start, out, words, z)


@njit(cache=True, nogil=True)
def scratch():
    """Work space of :func:`fill_normals_with`: (raw words, normals) of one tile; the normals' array
    also holds the tile's cosines and sines (:func:`_transform`)."""
    return np.empty(4 * _TILE, dtype=np.uint64), np.empty(2 * NORMALS_PER_BLOCK * _TILE, dtype=np.float32)


@njit(cache=True, nogil=True)
def fill_normals_with(k0, k1, start, out, words, z):
    """:func:`fill_normals` in the caller's work space ``(words, z) = scratch()`` (no allocation).

    Tile by tile: the raw words (:func:`_blocks`), their cosines and sines (:func:`_transform`),
    and the blocks of 8 that lie wholly in the window interleaved straight into ``out``
    (:func:`_interleave`); a block cut by an end of the window (at most one at each end) goes
    through the work space.  The engine's windows (runs of whole columns of ``Z_l``) start and end
    on block boundaries, so they are written without any copy.
    """
    n = out.size
    if n == 0:
        return
    out, words, z = borrow(out), borrow(words), borrow(z)   # no reference counting per tile
    first = start // NORMALS_PER_BLOCK
    last = (start + n - 1) // NORMALS_PER_BLOCK          # inclusive
    whole_first = first if start % NORMALS_PER_BLOCK == 0 else first + 1
    whole_last = last if (start + n) % NORMALS_PER_BLOCK == 0 else last - 1
    cosines = z[NORMALS_PER_BLOCK * _TILE:(NORMALS_PER_BLOCK + 4) * _TILE]
    sines = z[(NORMALS_PER_BLOCK + 4) * _TILE:]
    b = first
    while b <= last:
        count = min(_TILE, last - b + 1)
        _blocks(k0, k1, np.uint64(b), count, words)
        _transform(words, 4 * count, cosines[:4 * count], sines[:4 * count])
        f = max(b, whole_first) - b                     # this tile's blocks f … e−1 are wholly in the window
        e = min(b + count - 1, whole_last) - b + 1
        if f < e:
            o = (b + f) * NORMALS_PER_BLOCK - start
            _interleave(cosines[4 * f:4 * e], sines[4 * f:4 * e], out[o:o + NORMALS_PER_BLOCK * (e - f)])
        for blk in (first, last):                       # the blocks cut by an end of the window
            if b <= blk < b + count and (blk < whole_first or blk > whole_last) and (blk == first or last != first):
                t = blk - b
                _interleave(cosines[4 * t:4 * t + 4], sines[4 * t:4 * t + 4], z[:NORMALS_PER_BLOCK])
                for i in range(NORMALS_PER_BLOCK):
                    j = blk * NORMALS_PER_BLOCK + i
                    if start <= j < start + n:
                        out[j - start] = z[i]
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
