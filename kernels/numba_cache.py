"""Where numba keeps the compiled kernels: a cache directory named by the source it was built from.

Why.  ``@njit(cache=True)`` keys each compiled function on *its own file's* timestamp only.  A
function that calls — and LLVM inlines — a jitted function of another file keeps its old machine
code when that other file changes: after an edit of :mod:`kernels.rng`, the cached forward pass of
:mod:`kernels.numba_kernel` still drew the old normals (seen here; numba does not track
dependencies between cached functions).  Silent stale code is not acceptable in a tool whose
results are stored by source version, so the cache lives in a directory named by the SHA-256 of
every jitted source file of this package and the numba/llvmlite versions: any edit of any of them
starts an empty cache, and old directories are simply never read again.

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
JITTED = ("numba_cache.py", "rng.py", "sgemm.py", "numba_kernel.py")


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


@functools.lru_cache(maxsize=1)
def configure() -> Path:
    """Point numba's cache at ``cache_base() / source_digest()``; returns that directory."""
    from numba.core import config
    folder = cache_base() / source_digest()
    config.CACHE_DIR = str(folder)
    return folder
