"""Jobs that ``tests/test_kernels_cuda.py`` runs in a child process (not collected: no ``test_`` name).

``python -m tests.cuda_jobs simulate OUT.npz [MUTANT]`` — with ``NUMBA_ENABLE_CUDASIM=1`` set by
the parent *before* numba is imported: draws the cases of :data:`CASES` with the device kernels of
:mod:`kernels.cuda_rng` on numba's CUDA simulator and saves them; the parent compares them with the
CPU generator :mod:`kernels.rng`.  ``MUTANT`` perturbs the device code first (see :data:`MUTANTS`),
to show that the same comparison fails on a wrong generator.

``python -m tests.cuda_jobs ptx OUT.json`` — without the simulator: compiles the normals kernel to
PTX for sm_90 with libNVVM (no GPU needed, only the CUDA toolkit) and counts its instructions, and
compiles ``a·b + c`` written with plain operators, to show that libNVVM would contract it.

The two processes exist because the simulator replaces ``numba.cuda`` for the whole process, and
the rest of the suite uses the real one (numba's JIT kernels, and here the PTX compiler).
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter

import numpy as np

KEYS = {
    "a": (0x0123456789ABCDEF, 0xFEDCBA9876543210),
    "b": (7, 2 ** 64 - 1),
    "c": (2 ** 64 - 1, 2 ** 64 - 1),
    "seeded": None,                       # montecarlo.sampling.weight_key(2026, 3), filled by both sides
}
#: (name, kind, key, start, count, threads per thread block): windows that start at block 0 and
#: inside a block, counts that are not multiples of 8 (normals) / 4 (words) nor of the thread block
CASES = [
    ("raw_a_0", "raw", "a", 0, 1000, 128),
    ("raw_b_5", "raw", "b", 5, 37, 8),
    ("raw_seeded_far", "raw", "seeded", 2 ** 40 + 3, 61, 32),
    ("normals_a_0", "normals", "a", 0, 3000, 128),
    ("normals_b_13", "normals", "b", 13, 2001, 32),
    ("normals_c_7", "normals", "c", 7, 500, 64),
    ("normals_seeded_far", "normals", "seeded", 2 ** 41 + 5, 203, 16),
]
#: several streams in one launch (the 2-D grid): keys, start, count, threads
MULTI = (("a", "b", "seeded"), 11, 301, 32)
#: one chunk of networks: seed, networks, depth, width
NETWORKS = (5, (3, 4, 5), 2, 12)
#: Box–Muller words at the edges: both branches of ln u and their boundary, u → 1, u = 2^-32, quadrants
EDGE_HI = [0, 1, 2 ** 31 - 1, 2 ** 31, 0xB504F332, 0xB504F333, 0xB504F334, 2 ** 32 - 2, 2 ** 32 - 1,
           0xFFFFF000, 0x00001000, 0x7FFFFFFF]
EDGE_LO = [0, 2 ** 32 - 1, 2 ** 30, 2 ** 31 + 5, 3 * 2 ** 30 + 7, 2 ** 29, 0x40000000, 0x3FFFFFFF,
           0xC0000000, 0x80000000, 12345, 0xFFFF0000]
MUTANTS = ("multiplier", "weyl", "sincos", "float64")


def key_of(name: str) -> tuple[np.uint64, np.uint64]:
    if KEYS[name] is None:
        from montecarlo import sampling
        return sampling.weight_key(2026, 3)
    return tuple(np.uint64(k) for k in KEYS[name])


def edge_words() -> np.ndarray:
    return (np.array(EDGE_HI, dtype=np.uint64) << np.uint64(32)) | np.array(EDGE_LO, dtype=np.uint64)


def _mutate(cuda_rng, mutant: str) -> None:
    """Perturb the simulated device code (module globals are read when a simulated kernel runs)."""
    if mutant == "multiplier":                # one bit of the first Philox multiplier
        cuda_rng.M0 = np.uint64(int(cuda_rng.M0) ^ (1 << 17))
    elif mutant == "weyl":                    # a wrong key increment (the host key schedule)
        cuda_rng.W1 = np.uint64(int(cuda_rng.W1) + 2)
    elif mutant == "sincos":                  # the four sines of a block before its four cosines
        box_muller = cuda_rng._box_muller
        cuda_rng._box_muller = lambda w: box_muller(w)[::-1]
    elif mutant == "float64":                 # a Python float constant in the float32 arithmetic
        cuda_rng._FHALF = 0.5
    elif mutant:
        raise ValueError(f"mutant={mutant!r} is not allowed: one of {', '.join(MUTANTS)}")


def simulate(out_path: str, mutant: str = "") -> None:
    from numba import config, cuda
    if not config.ENABLE_CUDASIM:
        raise SystemExit("simulate needs NUMBA_ENABLE_CUDASIM=1 before numba is imported")
    from kernels import cuda_rng
    _mutate(cuda_rng, mutant)
    results = {}
    for name, kind, key, start, count, threads in CASES:
        draw = cuda_rng.raw if kind == "raw" else cuda_rng.normals
        results[name] = draw(key_of(key), count, start, threads=threads)
    names, start, count, threads = MULTI
    out = cuda.device_array((len(names), count), dtype=np.float32)
    cuda_rng.fill_normals(cuda_rng.round_keys([key_of(n) for n in names]), start, out, threads=threads)
    results["multi"] = out.copy_to_host()

    from montecarlo import sampling
    seed, nets, depth, width = NETWORKS
    readout, columns = cuda_rng.network_streams([sampling.weight_key(seed, i) for i in nets], depth, width)
    results["net_readout"] = readout.copy_to_host()
    results["net_columns"] = columns.copy_to_host()

    words = edge_words()
    pairs = np.array([cuda_rng._box_muller(w) for w in words], dtype=np.float32)   # device function, called here
    results["edge_cos"], results["edge_sin"] = pairs[:, 0], pairs[:, 1]
    np.savez(out_path, **results)


def ptx(out_path: str) -> None:
    from types import SimpleNamespace

    import numba.cuda.dispatcher
    from numba import config, cuda, types
    if config.ENABLE_CUDASIM:
        raise SystemExit("ptx needs the real numba.cuda: unset NUMBA_ENABLE_CUDASIM")
    # device functions ask the current device for its compute capability; there is none here
    numba.cuda.dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=(9, 0))
    from kernels import cuda_rng

    def count(text):
        return Counter(re.findall(r"^\s*(?:@!?%p\d+\s+)?([a-z][\w.]*)", text, re.MULTILINE))

    array = types.Array
    sig = (array(types.uint64, 3, "C", readonly=True), types.int64, types.int64, array(types.float32, 2, "C"))
    kernel, _ = cuda.compile_ptx(cuda_rng._normals_kernel.py_func, sig, cc=(9, 0))

    def plain(a, b, c):
        return a * b + c
    contracted, _ = cuda.compile_ptx(plain, (types.float32,) * 3, device=True, cc=(9, 0))
    with open(out_path, "w") as f:
        json.dump({"kernel": count(kernel), "plain": count(contracted)}, f)


if __name__ == "__main__":
    job, *args = sys.argv[1:]
    {"simulate": simulate, "ptx": ptx}[job](*args)
