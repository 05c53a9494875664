"""kernels.borrow: unowned views for the compiled hot loops — the same memory, no reference counting."""
from __future__ import annotations

import re

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from kernels.borrow import borrow


@njit(nogil=True)
def _scale_rows(block, factor):
    for i in range(block.shape[0]):
        for j in range(block.shape[1]):
            block[i, j] *= factor


@njit(nogil=True)
def _rows_in_pairs(a):
    """Scale rows 2k, 2k+1 by k through a view per pair, the pattern of the kernels' hot loops."""
    b = borrow(a)
    for k in range(b.shape[0] // 2):
        _scale_rows(b[2 * k:2 * k + 2], np.float32(k))


def _rows_in_pairs_owned(a):
    """The mutant: the same loop on the owned array."""
    for k in range(a.shape[0] // 2):
        _scale_rows(a[2 * k:2 * k + 2], np.float32(k))


@njit(nogil=True)
def _sum_borrowed(a):
    b = borrow(a)
    total = 0.0
    for i in range(b.shape[0]):
        total += b[i:i + 1].sum()
    return total


def _expected(a):
    out = a.copy()
    for k in range(a.shape[0] // 2):
        out[2 * k:2 * k + 2] *= np.float32(k)
    return out


@pytest.mark.parametrize("make", [lambda r: r, lambda r: r[:, ::2], lambda r: np.asfortranarray(r)],
                         ids=["C", "strided", "F"])
def test_a_borrowed_view_reads_and_writes_the_callers_memory(make):
    rng = np.random.default_rng(0)
    a = make(rng.standard_normal((10, 12)).astype(np.float32))
    want = _expected(a)
    _rows_in_pairs(a)
    np.testing.assert_array_equal(a, want)     # written through the view, in place
    v = rng.standard_normal(33)
    assert _sum_borrowed(v) == pytest.approx(v.sum(), rel=1e-12)


def test_borrow_takes_arrays_only():
    with pytest.raises(TypingError):
        njit(lambda x: borrow(x))(3.0)


def _atomic_counting_calls(fn, *args) -> int:
    """Calls of NRT_incref/NRT_decref in the compiled body of ``fn`` (not its Python wrapper)."""
    fn(*args)
    asm = fn.inspect_asm(fn.signatures[-1]).splitlines()
    name = fn.py_func.__name__
    start = next(i for i, line in enumerate(asm)
                 if line.endswith(":") and name in line and "cpython" not in line and line.startswith("_ZN"))
    end = next(i for i in range(start, len(asm)) if asm[i].lstrip().startswith(".size"))
    return sum(bool(re.search(r"NRT_(?:incref|decref)", line)) for line in asm[start:end])


def test_views_of_a_borrowed_array_are_not_reference_counted():
    """The views handed to the callee are counted (atomic increments and decrements in the loop)
    unless the array is borrowed: then the compiled loop has no counting call left at all."""
    a = np.ones((8, 4), dtype=np.float32)
    assert _atomic_counting_calls(njit(nogil=True)(_rows_in_pairs_owned), a) > 0   # the mutant counts
    assert _atomic_counting_calls(_rows_in_pairs, a) == 0
