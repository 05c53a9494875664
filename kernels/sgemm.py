"""fp32 GEMM callable from numba-compiled code, through numpy's own OpenBLAS.

Why.  The numba kernel's forward mode runs a whole network — draw ``Z_l``, multiply, the
elementwise work — inside one compiled, GIL-free function per network.  numba's ``np.dot``
works there but goes through SciPy's OpenBLAS build, which multiplies our ``200 × 200 × 512``
products ~25 % slower than numpy's (measured on this machine: 56 vs 71-74 GFLOP/s, one thread).
numpy's wheels ship OpenBLAS with the 64-bit-integer CBLAS entry ``scipy_cblas_sgemm64_``; this
module finds it in the loaded library and calls it by address (:func:`gemm`).  Where it is not
found (another BLAS, another platform), :data:`ADDRESS` is 0 and :func:`gemm` falls back to
numba's ``np.dot``.  Both compute the same product; their float32 roundings may differ.

**Which BLAS** (:func:`choice`): on Intel CPUs the engine calls MKL's Fortran ``sgemm_`` instead,
from the MKL that the pinned torch wheel links into ``libtorch_cpu.so`` (loaded with ``ctypes``,
without importing torch: 0.15-0.2 s).  Measured 2026-12-01 on this project's 2-core Intel Xeon
(AVX-512), one thread, the engine's ``200 × K × 512`` products: MKL 169-173 GFLOP/s, numpy's
OpenBLAS 138-148.  On other vendors OpenBLAS stays (not measured here).  The choice is a
deterministic function of the machine and of ``$SHATTERED_GRADIENTS_BLAS`` (``auto``, ``mkl``,
``openblas``), never of a timing; it enters the results store's code version, since the two
libraries round differently (same law, other last bits).  MKL's single-threaded sgemm gives the
same bits whatever the alignment of its operands (checked: operands at six offsets) and the thread
(``tests/test_kernels_forward_mode.py``).

Threads: the caller pins OpenBLAS to one thread first (:mod:`kernels.blas_threads`), which
covers every loaded OpenBLAS, this one included, and sets MKL's thread-local count to 1 for each
part of a call while it runs (:func:`one_mkl_thread`, restored after it).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
from typing import Iterator

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from . import numba_cache

numba_cache.configure()   # before the first @njit(cache=True): see kernels.numba_cache

SYMBOL = "scipy_cblas_sgemm64_"
MKL_SYMBOL = "sgemm_"
ENV_VAR = "SHATTERED_GRADIENTS_BLAS"
CHOICES = ("auto", "mkl", "openblas")
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def _cpu_vendor() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def mkl_library() -> str | None:
    """Path of torch's ``libtorch_cpu.so`` when it is installed (found without importing torch)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "lib", "libtorch_cpu.so")
    return path if os.path.exists(path) else None


@functools.lru_cache(maxsize=1)
def choice() -> str:
    """``"mkl"`` or ``"openblas"``: the library the forward-mode kernel multiplies with (module doc).

    ``$SHATTERED_GRADIENTS_BLAS``: ``auto`` (default: MKL on a GenuineIntel CPU when torch's MKL is
    there, else OpenBLAS), ``mkl`` (an error when it is not there) or ``openblas``.
    """
    wanted = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if wanted not in CHOICES:
        raise ValueError(f"${ENV_VAR}={wanted!r} is not allowed: one of {', '.join(CHOICES)}")
    if wanted == "openblas":
        return "openblas"
    found = _mkl() is not None
    if wanted == "mkl" and not found:
        raise ValueError(f"${ENV_VAR}=mkl: MKL's sgemm_ was not found (it comes with torch's "
                         f"libtorch_cpu.so; torch is {'installed' if mkl_library() else 'not installed'})")
    return "mkl" if found and (wanted == "mkl" or _cpu_vendor() == "GenuineIntel") else "openblas"


@functools.lru_cache(maxsize=1)
def _mkl():
    """(sgemm_ address, thread-local setter) from torch's MKL, or None."""
    from numba.core import config
    path = mkl_library()
    if path is None or config.DISABLE_JIT:
        return None
    try:
        lib = ctypes.CDLL(path)
        fn = getattr(lib, MKL_SYMBOL)
        setter = getattr(lib, "mkl_set_num_threads_local_")   # Fortran style: the count by reference
    except (OSError, AttributeError):
        return None
    setter.restype, setter.argtypes = ctypes.c_int, [ctypes.POINTER(ctypes.c_int)]
    return ctypes.cast(fn, ctypes.c_void_p).value or 0, setter


@contextlib.contextmanager
def one_mkl_thread() -> Iterator[None]:
    """Within the block, MKL's thread-local count is 1 for the calling thread (when the engine
    multiplies with MKL); after it, the thread's count is what it was (``mkl_set_num_threads_local``
    returns the previous one; 0 is "the global count").

    Scoped, not pinned: a kernel call with one part runs in the caller's thread, and until
    2026-12-07 that left the caller's MKL at one thread for good, so every later torch product of
    that thread ran on one core (found in the bench: after a one-network warm-up in the main thread,
    its torch peers and its GEMM measurements ran at one core's rate, 150 against 330 GFLOP/s).
    """
    if choice() != "mkl":
        yield
        return
    setter = _mkl()[1]
    previous = setter(ctypes.byref(ctypes.c_int(1)))
    try:
        yield
    finally:
        setter(ctypes.byref(ctypes.c_int(previous)))


def routine() -> tuple[int, bool]:
    """``(address, fortran)`` of the chosen sgemm (:func:`choice`): what the kernel passes to
    :func:`gemm_at_b`.  ``(0, False)`` when no routine was found or numba runs as plain Python."""
    return _routine(choice())


@functools.lru_cache(maxsize=None)
def _routine(name: str) -> tuple[int, bool]:
    from numba.core import config
    if config.DISABLE_JIT:
        return 0, False
    if name == "mkl" and _mkl() is not None and _mkl()[0]:
        return _mkl()[0], True
    return openblas_address(), False


def address() -> int:
    """Address of the chosen sgemm (:func:`routine`): MKL's ``sgemm_`` or numpy's
    ``scipy_cblas_sgemm64_`` (ILP64 CBLAS); 0 when it is not there (or when numba runs as plain
    Python, ``NUMBA_DISABLE_JIT=1``: an address cannot be called there)."""
    return routine()[0]


@functools.lru_cache(maxsize=1)
def openblas_address() -> int:
    """Address of numpy's ``scipy_cblas_sgemm64_``, or 0."""
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
def _call_f77(typingctx, addr, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``C = alpha A op(B) + beta C`` (column major, ``transa = 'N'``, ``transb = 'T'`` when ``trans_b``
    else ``'N'``) by the Fortran sgemm at ``addr``: every argument by reference, ints as 32 bits (LP64)."""
    sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64, types.float32, types.voidptr,
                     types.int64, types.voidptr, types.int64, types.float32, types.voidptr, types.int64)

    def codegen(context, builder, signature, args):
        i8, i32, f32 = ir.IntType(8), ir.IntType(32), ir.FloatType()
        ptr = i8.as_pointer()
        ip, fp = i32.as_pointer(), f32.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [ptr, ptr, ip, ip, ip, fp, ptr, ip, ptr, ip, fp, ptr, ip])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        _, tb_, m_, n_, k_, alpha_, a_, lda_, b_, ldb_, beta_, c_, ldc_ = args

        def slot(ty, value):
            where = cgutils.alloca_once(builder, ty)
            builder.store(value, where)
            return where

        def int32(value):
            return slot(i32, builder.trunc(value, i32))
        op_b = builder.select(builder.icmp_unsigned("!=", tb_, ir.Constant(ir.IntType(64), 0)),
                              ir.Constant(i8, ord("T")), ir.Constant(i8, ord("N")))
        builder.call(fn, [slot(i8, ir.Constant(i8, ord("N"))), slot(i8, op_b),
                          int32(m_), int32(n_), int32(k_), slot(f32, alpha_), a_, int32(lda_), b_,
                          int32(ldb_), slot(f32, beta_), c_, int32(ldc_)])
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
def gemm_at_b(addr, a, k, b, out, alpha=1.0, beta=0.0, fortran=False):
    """``out = alpha a[:k]ᵀ b[:k] + beta out``: ``a`` (≥k, N) and ``b`` (≥k, P) C-contiguous float32,
    ``out`` (N, P) C-contiguous; ``alpha``, ``beta`` are rounded to float32 (BLAS's own arithmetic).

    ``k = 0`` gives ``beta out``.  ``addr`` is :func:`address` (0: numba's ``np.dot`` instead);
    ``fortran`` says how it is called (:func:`routine`: CBLAS row major with 64-bit ints for
    OpenBLAS; Fortran, every argument by reference, 32-bit ints for MKL's LP64 ``sgemm_``): row major ``out = aᵀ b`` is column major
    ``outᵀ = bᵀ (aᵀ)ᵀ``, i.e. ``sgemm('N', 'T', P, N, k, alpha, b, P_b, a, N_a, beta, out, P)``.
    """
    n, p = out.shape
    al = np.float32(alpha)
    be = np.float32(beta)
    if k == 0:
        if be == 0:
            out[:] = 0.0
        else:
            out *= be
    elif addr != 0 and fortran:
        _call_f77(addr, 1, p, n, k, al, _voidptr(b), b.shape[1], _voidptr(a), a.shape[1], be, _voidptr(out), p)
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


@njit(cache=True, nogil=True)
def gemm_ab(addr, a, b, out, alpha=1.0, beta=0.0, fortran=False):
    """``out = alpha a b + beta out``: ``a`` (N, K), ``b`` (K, P), ``out`` (N, P), all C-contiguous
    float32 (:func:`gemm_at_b` without the transpose; Fortran: ``sgemm('N', 'N', P, N, K, alpha, b, P,
    a, K, beta, out, P)``)."""
    n, p = out.shape
    k = a.shape[1]
    al = np.float32(alpha)
    be = np.float32(beta)
    if addr != 0 and fortran:
        _call_f77(addr, 0, p, n, k, al, _voidptr(b), b.shape[1], _voidptr(a), k, be, _voidptr(out), p)
    elif addr != 0:
        _call(addr, NO_TRANS, n, p, k, al, _voidptr(a), k, _voidptr(b), b.shape[1], be, _voidptr(out), p)
    else:
        prod = np.dot(a, b)
        for i in range(n):
            for j in range(p):
                out[i, j] = al * prod[i, j] + (be * out[i, j] if be != 0 else np.float32(0.0))
