"""512-bit vectors on AVX-512 hosts (kernels.numba_cache): the same bits as at LLVM's default 256."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kernels import numba_cache

PROBE = """
import hashlib, json
import numpy as np
from kernels import get_kernel, rng
from montecarlo import networks
from theory.specs import FeedforwardSpec, ResnetSpec
out = {"normals": hashlib.sha256(rng.normals((np.uint64(5), np.uint64(9)), 100_003, 17).tobytes()).hexdigest()}
for spec in (FeedforwardSpec(depth=6, width=64), ResnetSpec(depth=6, width=64, beta=0.1, norm="bn")):
    d, _ = networks.grid_derivative(networks.compile_spec(spec), get_kernel("numba"), 0, range(3), 64)
    out[spec.arch + "-" + spec.norm] = hashlib.sha256(d.tobytes()).hexdigest()
import os
out["features"] = os.environ.get("NUMBA_CPU_FEATURES", "")
print(json.dumps(out))
"""


def _probe(env_features: str | None, cache: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME")}
    env["NUMBA_CACHE_DIR"] = cache
    if env_features is not None:
        env["NUMBA_CPU_FEATURES"] = env_features
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_wide_vectors_are_asked_for_on_avx512_only():
    wide = numba_cache.wide_vector_features()
    import llvmlite.binding as ll
    host = ll.get_host_cpu_features().flatten().split(",")
    if "+avx512f" in host:
        assert wide.endswith(",-prefer-256-bit") and wide.count("prefer-256-bit") == 1
        assert set(wide.split(",")) - {"-prefer-256-bit"} <= set(host)
    else:
        assert wide is None


def test_512_and_256_bit_vectors_give_the_same_bits(tmp_path):
    wide = numba_cache.wide_vector_features()
    if wide is None:
        pytest.skip("no AVX-512 here: the kernels compile at the default width only")
    narrow = wide.replace(",-prefer-256-bit", ",+prefer-256-bit")
    default = _probe(None, str(tmp_path / "default"))       # configure() chooses: 512-bit vectors
    assert default.pop("features") == wide
    at_256 = _probe(narrow, str(tmp_path / "narrow"))         # the user's NUMBA_CPU_FEATURES wins
    assert at_256.pop("features") == narrow
    assert default == at_256
    assert np.all([len(v) == 64 for v in default.values()])
