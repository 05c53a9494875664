"""Where numba keeps the compiled kernels: a cache directory named by the source it was built from.

Why.  ``@njit(cache=True)`` keys each compiled function on *its own file's* timestamp only.  A
function that calls — and LLVM inlines — a jitted function of another file keeps its old machine
code when that other file changes: after an edit of :mod:`kernels.rng`, the cached forward pass of
:mod:`kernels.numba_kernel` still drew the old normals (seen here; numba does not track
dependencies between cached functions).  Silent stale code is not acceptable in a tool whose
results are stored by source version, so the cache lives in a directory named by the SHA-256 of
every jitted source file of this package and the numba/llvmlite versions: any edit of any of them
starts an empty cache, and old directories are simply never read again.

**Vector width.**  On a CPU with AVX-512, LLVM's tuning for Intel server parts still prefers
256-bit vectors (the ``prefer-256-bit`` feature: older parts lowered their clock on 512-bit
code).  :func:`configure` drops that preference (``$NUMBA_CPU_FEATURES`` = the host's features +
``-prefer-256-bit``) unless ``$NUMBA_CPU_FEATURES`` or ``$NUMBA_CPU_NAME`` is already set (the
user's choice wins).  Measured 2026-12-01 on this project's Intel Xeon (AVX-512, one thread): the
weights stream's normals 2.05 → 1.79 ns each, a forward-mode block's elementwise work 0.46 → 0.35 ns
per element (ff) and 0.80 → 0.67 (BN), a whole network 7 % (ff) and 5 % (BN resnet) faster.  Every
float operation there is a correctly rounded IEEE one (or a fixed-order float64 sum), so the
results are the same bits at either width (checked: normals, grid df/dx and pair gradients of ff
and BN resnets, hashed at both widths).  numba keys its cache on the features, so the two never mix.

Base directory: ``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/shattered-gradients/numba``
(``~/.cache/...``).  :func:`configure` must run before the first ``@njit(cache=True)`` of a module
is decorated, so each jitted module calls it at the top; it is idempotent.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

#: the modules of this package that hold numba-compiled code (cached)
JITTED = ("numba_cache.py", "borrow.py", "rng.py", "sgemm.py", "numba_kernel.py", "contiguity.py", "summaries.py", "crelu.py")


def source_digest() -> str:
    """SHA-256 (16 hex digits) of the jitted sources and the numba and llvmlite versions."""
    import llvmlite
    import numba
    h = hashlib.sha256(f"numba {numba.__version__} llvmlite {llvmlite.__version__}\n".encode())
    here = Path(__file__).parent
    for name in JITTED:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()[:16]


def cache_base() -> Path:
    base = os.environ.get("NUMBA_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "shattered-gradients" / "numba"


def wide_vector_features() -> str | None:
    """The host's LLVM features without the 256-bit preference, on an AVX-512 CPU; else None."""
    import llvmlite.binding as ll
    features = ll.get_host_cpu_features().flatten()
    if "+avx512f" not in features.split(","):
        return None
    return ",".join(f for f in features.split(",") if f.lstrip("+-") != "prefer-256-bit") + ",-prefer-256-bit"


@functools.lru_cache(maxsize=1)
def configure() -> Path:
    """Point numba's cache at ``cache_base() / source_digest()`` and, on AVX-512, let LLVM use 512-bit
    vectors (module doc); returns the cache directory."""
    from numba.core import config
    if not os.environ.get("NUMBA_CPU_FEATURES") and not os.environ.get("NUMBA_CPU_NAME"):
        wide = wide_vector_features()
        if wide is not None:
            os.environ["NUMBA_CPU_FEATURES"] = wide   # numba re-reads its environment before each compile
            config.reload_config()
    folder = cache_base() / source_digest()
    config.CACHE_DIR = str(folder)
    return folder
