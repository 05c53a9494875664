"""The counter-based generator of the weights (kernels/rng.py): Philox bits, normal statistics, determinism.

False-alarm rates: every statistical check below is a fixed-seed draw, so it either always
passes or always fails; the thresholds are set so that a correct N(0, 1) generator would fail
each one with probability at most 1e-4 (two-sided), i.e. a failure means a bug, not bad luck.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import stats

from kernels import rng
from montecarlo import sampling

ALPHA = 1e-4
Z_CRIT = float(stats.norm.ppf(1 - ALPHA / 2))          # 3.89
KEY = (np.uint64(0x0123456789ABCDEF), np.uint64(0xFEDCBA9876543210))
ALL_ONES = np.full(4, 2 ** 64 - 1, dtype=np.uint64)    # numpy increments first: wraps to block 0


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_philox_block_matches_numpy_philox(seed):
    """numpy.random.Philox(key=k, counter=c) outputs Philox4x64-10 of c+1, c+2, …: same bits."""
    g = np.random.default_rng(seed)
    key = g.integers(0, 2 ** 64, size=2, dtype=np.uint64)
    counter = g.integers(0, 2 ** 64, size=4, dtype=np.uint64)
    counter[0] = min(counter[0], np.uint64(2 ** 63))   # no carry into word 1 for 3 blocks
    expected = np.random.Philox(key=key, counter=counter).random_raw(12)
    out = np.empty(4, dtype=np.uint64)
    for b in range(3):
        c = counter.copy()
        c[0] += np.uint64(b + 1)
        rng.philox_block(c, key, out)
        assert np.array_equal(out, expected[4 * b:4 * b + 4])


def test_stream_words_are_numpys_philox_stream_from_block_zero():
    expected = np.random.Philox(key=np.array(KEY, dtype=np.uint64), counter=ALL_ONES).random_raw(4000)
    assert np.array_equal(rng.raw(KEY, 4000), expected)
    for start, count in ((1, 7), (5, 1000), (1023, 1030), (3999, 1)):   # any window, unaligned too
        assert np.array_equal(rng.raw(KEY, count, start), expected[start:start + count])


def _normals_from_words(words: np.ndarray) -> np.ndarray:
    """Box–Muller of the module docstring in plain numpy (libm log/cos/sin), float64."""
    u = ((words >> np.uint64(32)).astype(np.float64) + 1.0) / 2.0 ** 32
    lo = words & np.uint64(0xFFFFFFFF)
    q = (lo >> np.uint64(30)).astype(np.float64)
    g = ((lo & np.uint64(2 ** 30 - 1)).astype(np.float64) + 0.5) / 2.0 ** 30 - 0.5
    theta = np.pi / 2 * (q + g)
    r = np.sqrt(-2.0 * np.log(u))
    c, s = (r * np.cos(theta)).reshape(-1, 4), (r * np.sin(theta)).reshape(-1, 4)
    return np.concatenate([c, s], axis=1).ravel()        # per block of 4 words: 4 cosines, 4 sines


def test_normals_are_box_muller_of_the_philox_words():
    """The float32 polynomials agree with libm's log/cos/sin in float64 within the bound of the
    module docstring (1e-6·max(1, |z|): ~15 float32 roundings; 2.6e-7 measured)."""
    words = rng.raw(KEY, 500_000)
    z = rng.normals(KEY, 1_000_000)
    ref = _normals_from_words(words)
    assert np.max(np.abs(z - ref) / np.maximum(1.0, np.abs(ref))) < 1e-6
    # both branches of ln u, their boundary, u → 1 and u = 2^-32, every quadrant
    hi = np.array([0, 1, 2 ** 31 - 1, 2 ** 31, 0xB504F332, 0xB504F333, 0xB504F334, 2 ** 32 - 2, 2 ** 32 - 1,
                   0xFFFFF000, 0x00001000, 0x7FFFFFFF], dtype=np.uint64)
    lo = np.array([0, 2 ** 32 - 1, 2 ** 30, 2 ** 31 + 5, 3 * 2 ** 30 + 7, 2 ** 29, 0x40000000, 0x3FFFFFFF,
                   0xC0000000, 0x80000000, 12345, 0xFFFF0000], dtype=np.uint64)
    edge = (hi << np.uint64(32)) | lo
    zz = np.empty(2 * edge.size, dtype=np.float32)
    rng._box_muller(edge, edge.size, np.empty(2 * edge.size, dtype=np.float32), zz)
    want = _normals_from_words(edge)
    assert np.all(np.isfinite(zz))
    assert np.all(np.abs(zz - want) <= 1e-6 * np.maximum(1.0, np.abs(want)))
    near_one = want[[11, 15]]      # word 7 (block 1, i = 3), hi = 2^32 − 2: r = sqrt(−2 ln(1 − 2^-32)) ≈ 2e-5
    assert np.all(np.abs(near_one) < 1e-4)
    assert np.all(np.abs(zz[[11, 15]] - near_one) <= 1e-6 * np.abs(near_one))   # relative, not absolute


@pytest.fixture(scope="module")
def million():
    return rng.normals(sampling.weight_key(2026, 3), 1_000_000).astype(np.float64)


def test_normals_mean_variance_ks_and_lag1(million):
    z = million
    n = z.size
    assert abs(z.mean()) < Z_CRIT / np.sqrt(n)
    assert abs(z.var() - 1.0) < Z_CRIT * np.sqrt(2.0 / n)
    assert stats.kstest(z, "norm").pvalue > ALPHA
    for lag in (1, 2, 8):                       # 1: the two normals of one word; 2, 8: next word/block
        r = np.corrcoef(z[:-lag], z[lag:])[0, 1]
        assert abs(r) < Z_CRIT / np.sqrt(n)
    even, odd = z[0::2], z[1::2]               # the Box–Muller pair: uncorrelated in r² too
    assert abs(np.corrcoef(even ** 2, odd ** 2)[0, 1]) < Z_CRIT / np.sqrt(n / 2)
    assert abs(stats.kurtosis(z)) < Z_CRIT * np.sqrt(24.0 / n)


def test_tails_have_the_normal_mass(million):
    z = million
    for t in (2.0, 3.0, 4.0):
        expected = 2 * stats.norm.sf(t) * z.size
        assert abs(np.sum(np.abs(z) > t) - expected) < Z_CRIT * np.sqrt(expected)


def test_same_key_same_bits_for_any_chunking_or_threads():
    n = 123_457
    whole = rng.normals(KEY, n)
    cuts = [0, 1, 2, 7, 8, 9, 1000, 2047, 2048, 2049, 60_001, n]
    pieces = np.empty(n, dtype=np.float32)
    pairs = list(zip(cuts[:-1], cuts[1:]))

    def fill(ab):
        rng.fill_normals(KEY[0], KEY[1], ab[0], pieces[ab[0]:ab[1]])
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(fill, reversed(pairs)))
    assert np.array_equal(whole, pieces)
    assert np.array_equal(rng.normals(KEY, 10, start=n - 10), whole[-10:])


def test_windows_are_the_box_muller_blocks_of_the_raw_words():
    """fill_normals_with writes a tile that lands whole in the caller's buffer straight into it and
    copies the first and last tiles of a window through its work space: every window, on both
    paths, is the per-block definition (_box_muller of the raw words) bit for bit."""
    words, z = rng.scratch()
    tile = rng.NORMALS_PER_BLOCK * rng._TILE
    first_word = 4 * 1000
    raw = rng.raw(KEY, 4 * rng._TILE * 5, start=first_word)
    ref = np.empty(2 * raw.size, dtype=np.float32)
    rng._box_muller(raw, raw.size, np.empty(2 * raw.size, dtype=np.float32), ref)
    base = 2 * first_word                              # stream index of ref[0]
    for start, n in [(0, 4 * tile), (0, tile), (8, tile), (tile, 2 * tile + 8), (3, 1), (5, 3 * tile - 9),
                     (tile - 1, 2), (200, 40000 % (4 * tile))]:
        out = np.full(n, np.nan, dtype=np.float32)
        rng.fill_normals_with(KEY[0], KEY[1], base + start, out, words, z)
        assert out.tobytes() == ref[start:start + n].tobytes(), (start, n)


def test_sample_weights_do_not_depend_on_chunks_threads_or_order(monkeypatch):
    W, v = sampling.sample_weights(5, range(0, 6), 3, 17)
    for part in (range(4, 6), range(1, 2), range(0, 3)):
        Wp, vp = sampling.sample_weights(5, part, 3, 17)
        assert np.array_equal(W[part.start:part.stop], Wp) and np.array_equal(v[part.start:part.stop], vp)
    monkeypatch.setattr(sampling, "worker_count", lambda n: 1)
    W1, v1 = sampling.sample_weights(5, range(0, 6), 3, 17)
    monkeypatch.setattr(sampling, "worker_count", lambda n: 5)
    W5, v5 = sampling.sample_weights(5, range(0, 6), 3, 17)
    assert np.array_equal(W, W1) and np.array_equal(W, W5) and np.array_equal(v, v1) and np.array_equal(v, v5)


def test_weights_stream_layout_and_seedsequence_key():
    """v = stream indices 0..N−1, Z = N.. (each Z_l column-major); key = SeedSequence(K, spawn_key=(i, 0))."""
    seed, i, L, N = 11, 4, 2, 9
    W, v = sampling.sample_weights(seed, range(i, i + 1), L, N)
    child = np.random.SeedSequence(seed).spawn(i + 1)[i].spawn(3)[sampling.WEIGHTS]
    key = tuple(child.generate_state(2, np.uint64))
    assert key == sampling.weight_key(seed, i)
    z = rng.normals(key, N + L * N * N)
    assert np.array_equal(v[0], z[:N]) and np.array_equal(W[0].transpose(0, 2, 1).ravel(), z[N:])
    assert W[0, 1, 2, 0] == z[N + N * N + 0 * N + 2]        # Z_2[i=2, j=0]: column 0 comes first


def test_distinct_networks_seeds_and_streams_differ():
    keys = {sampling.weight_key(s, i) for s in range(3) for i in range(50)}
    keys |= {rng.key_of(np.random.SeedSequence(0, spawn_key=(i, w))) for i in range(50) for w in range(3)}
    assert len(keys) == 3 * 50 + 2 * 50       # (0, i, WEIGHTS) appears in both sets
    a = rng.normals(sampling.weight_key(0, 0), 10_000).astype(np.float64)
    b = rng.normals(sampling.weight_key(0, 1), 10_000).astype(np.float64)
    c = rng.normals(sampling.weight_key(1, 0), 10_000).astype(np.float64)
    for x, y in ((a, b), (a, c), (b, c)):
        assert not np.array_equal(x, y)
        assert abs(np.corrcoef(x, y)[0, 1]) < Z_CRIT / np.sqrt(x.size)
