"""fp32 GEMM callable from numba-compiled code, through numpy's own OpenBLAS.

Why.  The numba kernel's forward mode runs a whole network — draw ``Z_l``, multiply, the
elementwise work — inside one compiled, GIL-free function per network.  numba's ``np.dot``
works there but goes through SciPy's OpenBLAS build, which multiplies our ``200 × 200 × 512``
products ~25 % slower than numpy's (measured on this machine: 56 vs 71-74 GFLOP/s, one thread).
numpy's wheels ship OpenBLAS with the 64-bit-integer CBLAS entry ``scipy_cblas_sgemm64_``; this
module finds it in the loaded library and calls it by address (:func:`gemm`).  Where it is not
found (another BLAS, another platform), :data:`ADDRESS` is 0 and :func:`gemm` falls back to
numba's ``np.dot``.  Both compute the same product; their float32 roundings may differ.

Threads: the caller pins OpenBLAS to one thread first (:mod:`kernels.blas_threads`), which
covers every loaded OpenBLAS, this one included.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from . import numba_cache

numba_cache.configure()   # before the first @njit(cache=True): see kernels.numba_cache

SYMBOL = "scipy_cblas_sgemm64_"
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


@functools.lru_cache(maxsize=1)
def address() -> int:
    """Address of numpy's ``scipy_cblas_sgemm64_`` (ILP64 CBLAS), or 0 when it is not there (or
    when numba runs as plain Python, ``NUMBA_DISABLE_JIT=1``: an address cannot be called there)."""
    from numba.core import config
    if config.DISABLE_JIT:
        return 0
    folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "*openblas64*.so*"))):
        try:
            fn = getattr(ctypes.CDLL(path), SYMBOL)
        except (OSError, AttributeError):
            continue
        return ctypes.cast(fn, ctypes.c_void_p).value or 0
    return 0


@intrinsic
def _call(typingctx, addr, trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``C = alpha op(A) B + beta C`` (row major) by the CBLAS sgemm at ``addr`` (int64 ints)."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64, types.float32,
                     types.voidptr, types.int64, types.voidptr, types.int64, types.float32, types.voidptr,
                     types.int64)

    def codegen(context, builder, signature, args):
        i32, i64, f32 = ir.IntType(32), ir.IntType(64), ir.FloatType()
        ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, f32, ptr, i64, ptr, i64,
                                               f32, ptr, i64])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        _, ta, m_, n_, k_, alpha_, a_, lda_, b_, ldb_, beta_, c_, ldc_ = args
        builder.call(fn, [ir.Constant(i32, ROW_MAJOR), builder.trunc(ta, i32), ir.Constant(i32, NO_TRANS),
                          m_, n_, k_, alpha_, a_, lda_, b_, ldb_, beta_, c_, ldc_])
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def _voidptr(typingctx, arr):
    """The data pointer of a C-contiguous array, as ``void*``."""
    if not isinstance(arr, types.Array):
        return None
    sig = types.voidptr(arr)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.bitcast(ary.data, ir.IntType(8).as_pointer())
    return sig, codegen


@njit(cache=True, nogil=True)
def gemm_at_b(addr, a, k, b, out, alpha=1.0, beta=0.0):
    """``out = alpha a[:k]ᵀ b[:k] + beta out``: ``a`` (≥k, N) and ``b`` (≥k, P) C-contiguous float32,
    ``out`` (N, P) C-contiguous; ``alpha``, ``beta`` are rounded to float32 (BLAS's own arithmetic).

    ``k = 0`` gives ``beta out``.  ``addr`` is :func:`address` (0: numba's ``np.dot`` instead).
    """
    n, p = out.shape
    al = np.float32(alpha)
    be = np.float32(beta)
    if k == 0:
        if be == 0:
            out[:] = 0.0
        else:
            out *= be
    elif addr != 0:
        _call(addr, TRANS, n, p, k, al, _voidptr(a), a.shape[1], _voidptr(b), b.shape[1], be, _voidptr(out), p)
    elif be == 0:
        np.dot(a[:k].T, b[:k], out)
        if al != 1:
            out *= al
    else:
        prod = np.dot(a[:k].T, b[:k])
        for i in range(n):
            for j in range(p):
                out[i, j] = al * prod[i, j] + be * out[i, j]
