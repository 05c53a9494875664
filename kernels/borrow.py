"""Array views without a reference count, for the hot loops of the compiled kernels.

Why.  numba counts references to every array it holds: each slice or view (``flat[a:b]``,
``xd[n0:n1]``, ``active[l]``) and each array handed to another compiled function increments and
later decrements its owner's count with an atomic instruction (``lock inc``/``lock dec``).  The
forward-mode pass makes ~10⁵ such views per network (a weight-column run, a block of four rows),
and perf on this project's Intel Xeon (one core, ff L = 50, N = 200, M = 256, 2026-12-07) put 7.9 %
of a network's time — 0.77 ms of 9.75 — in those two instructions, the largest item after the
products, the normals and the elementwise pass (1.0 % with the views borrowed; docs/benchmarks.md).
On two cores an array shared by both workers (the gates' array, viewed as ``active[k]``) has its
count touched from both cores as well.

:func:`borrow` returns a view of the same memory, shape and strides with no owner (a null
``meminfo``): numba skips the counting of such an array and of everything sliced from it.  The
caller must keep the original alive while the view is used — true of a compiled function's
arguments for the whole call, which is the only place the kernels borrow.  Nothing else changes:
the same memory is read and written in the same order, so results are the same bits.
"""
from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload


def borrow(array):
    """``array`` as an unowned view in compiled code (same data, shape, strides; null meminfo and
    parent).  Called from Python — and under ``NUMBA_DISABLE_JIT=1`` — it is ``array`` itself."""
    return array


@intrinsic
def _unowned(typingctx, array):
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        view = context.make_array(array)(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()
    return array(array), codegen


@overload(borrow)
def _borrow_compiled(array):
    if isinstance(array, types.Array):
        return lambda array: _unowned(array)
    return None
