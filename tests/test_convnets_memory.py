"""montecarlo.convnets.memory: freed blocks stay in the heap (glibc), and the numbers do not change."""
import subprocess
import sys

import pytest

from montecarlo.convnets import memory

# a child process (fresh malloc state): allocate and free 16 MiB once, then again; glibc's mallinfo2
# says whether the second block came from mmap (hblkhd) and whether the freed one stayed in the heap
CHILD = r"""
import ctypes, sys
from montecarlo.convnets.memory import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 16 << 20
p = libc.malloc(size); mapped = libc.mallinfo2().hblkhd; libc.free(p)
print(mapped >= size, libc.mallinfo2().fordblks >= size)
"""


def _glibc_with_mallinfo2() -> bool:
    lib = memory._libc()
    return lib is not None and hasattr(lib, "mallinfo2")


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc >= 2.33 (mallinfo2) only")
def test_keep_freed_memory_serves_large_blocks_from_the_heap_and_keeps_them():
    def run(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                              check=True).stdout.split()
    # glibc's default: a 16 MiB block is mmapped, and nothing of it stays after free
    assert run("default") == ["True", "False"]
    # kept: it comes from the heap, and after free the heap keeps it for the next tensor
    assert run("keep") == ["False", "True"]


def test_keep_freed_memory_is_idempotent_and_leaves_a_probe_unchanged():
    import numpy as np
    import torch

    from montecarlo.convnets.models import build
    from montecarlo.convnets.probe import probe
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    before = probe(build("feedforward", 4, width=4, seed=1), x, torch.arange(8), keep_gradients=True)
    first = memory.keep_freed_memory()
    assert memory.keep_freed_memory() is first
    after = probe(build("feedforward", 4, width=4, seed=1), x, torch.arange(8), keep_gradients=True)
    np.testing.assert_array_equal(after["gradients"], before["gradients"])
