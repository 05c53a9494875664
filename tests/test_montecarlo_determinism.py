"""Same seed → bit-identical results whatever the chunking (--batch); networks depend on (seed, i) only."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kernels import rng
from montecarlo import sampling
from montecarlo.observables import grid, typical_pairs
from theory.specs import FeedforwardSpec, ResnetSpec, ShallowSpec


def _dump(result) -> str:
    return json.dumps(result.to_dict())


def test_network_i_does_not_depend_on_its_chunk():
    whole_w, whole_v = sampling.sample_weights(7, range(0, 6), 3, 10)
    part_w, part_v = sampling.sample_weights(7, range(2, 5), 3, 10)
    assert np.array_equal(whole_w[2:5], part_w) and np.array_equal(whole_v[2:5], part_v)
    assert np.array_equal(sampling.sample_pair_inputs(7, range(6), 10, 4)[3],
                          sampling.sample_pair_inputs(7, range(3, 4), 10, 4)[0])
    assert np.array_equal(sampling.sample_gates(7, range(6), 3, 10, 4)[5],
                          sampling.sample_gates(7, range(5, 6), 3, 10, 4)[0])


def test_network_i_is_the_ith_spawned_child():
    """SeedSequence(K, spawn_key=(i,)) is SeedSequence(K).spawn(n)[i]: the documented contract."""
    child = np.random.SeedSequence(7).spawn(4)[2]
    assert child.spawn_key == (2,) and child.entropy == 7
    # the weights stream is Philox keyed by the child's generate_state (kernels/rng.py)
    expected_v = rng.normals(tuple(child.spawn(3)[sampling.WEIGHTS].generate_state(2, np.uint64)), 10)
    assert np.array_equal(sampling.sample_weights(7, range(2, 3), 1, 10)[1][0], expected_v)


@pytest.mark.parametrize("backend", ["numpy", "numba", "torch"])
@pytest.mark.parametrize("model,spec", [
    ("real", FeedforwardSpec(depth=4, width=12, norm="bn")),
    ("real", ResnetSpec(depth=4, width=12, beta=0.5)),
    ("path", ResnetSpec(depth=4, width=12, norm="bn")),
])
def test_typical_pairs_bit_identical_for_any_batch(backend, model, spec):
    runs = {b: _dump(typical_pairs(spec, model=model, nets=7, seed=3, batch=b, backend=backend, pairs=3))
            for b in (1, 3, 7)}
    assert runs[1] == runs[3] == runs[7]


def test_grid_bit_identical_for_any_batch():
    spec = FeedforwardSpec(depth=3, width=10, norm="center")
    a = grid(spec, nets=5, seed=2, batch=1, points=32, max_lag=8)
    b = grid(spec, nets=5, seed=2, batch=4, points=32, max_lag=8)
    assert _dump(a) == _dump(b)
    assert np.array_equal(a.covariance_matrix, b.covariance_matrix)
    assert np.array_equal(a.run_length_counts, b.run_length_counts)
    s1 = grid(ShallowSpec(width=20), nets=4, seed=2, batch=1, points=32, max_lag=8)
    s2 = grid(ShallowSpec(width=20), nets=4, seed=2, batch=3, points=32, max_lag=8)
    assert _dump(s1) == _dump(s2)


def test_another_seed_gives_other_networks():
    spec = FeedforwardSpec(depth=2, width=8)
    a = typical_pairs(spec, nets=4, seed=0, pairs=2)
    b = typical_pairs(spec, nets=4, seed=1, pairs=2)
    assert a.variance[-1].mean != b.variance[-1].mean


def test_backends_agree_on_the_estimates():
    """float32 kernels vs the float64 reference on the same networks: estimates agree to ~1e-5."""
    spec = ResnetSpec(depth=5, width=16, beta=0.3, norm="bn")
    ref = typical_pairs(spec, nets=6, seed=4, backend="numpy", pairs=4)
    for backend in ("numba", "torch"):
        fast = typical_pairs(spec, nets=6, seed=4, backend=backend, pairs=4)
        for e_ref, e_fast in zip(ref.correlation + ref.variance, fast.correlation + fast.variance):
            assert abs(e_ref.mean - e_fast.mean) <= 1e-4 * max(1.0, abs(e_ref.mean))
