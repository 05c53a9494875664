"""The 1-D grid (§1.1, Fig. 1–4): ACF, activation statistics, contiguity; helpers on known inputs."""
from __future__ import annotations

import numpy as np
import pytest

from montecarlo.observables import grid, run_lengths, sample_acf
from theory.specs import FeedforwardSpec, ResnetSpec, ShallowSpec


def test_run_lengths_and_acf_helpers():
    assert run_lengths(np.array([1, 1, 0, 0, 0, 1], dtype=bool)).tolist() == [2, 3, 1]
    assert run_lengths(np.zeros(5, dtype=bool)).tolist() == [5]
    y = np.array([1.0, -1.0, 1.0, -1.0])
    np.testing.assert_allclose(sample_acf(y, 2), [1.0, -0.75, 0.5])
    white = np.random.default_rng(0).standard_normal(4096)
    assert abs(sample_acf(white, 1)[1]) < 4.4 / np.sqrt(4096)
    with pytest.raises(FloatingPointError, match="constant along the grid"):
        sample_acf(np.ones(8), 1)


def test_shallow_gradient_is_brown_and_deep_bn_feedforward_is_shattered():
    """Fig. 2: shallow ACF resembles brown noise; deep BN feedforward nets whiten; BN resnets
    with β = 0.1 keep the structure (measured: lag-1 ACF 0.98, 0.33, 0.98 at L = 10, N = 64)."""
    shallow = grid(ShallowSpec(width=200), nets=8, seed=0, max_lag=4)
    ff = grid(FeedforwardSpec(depth=10, width=64, norm="bn"), nets=8, seed=0, max_lag=4,
              backend="torch")
    res = grid(ResnetSpec(depth=10, width=64, beta=0.1, norm="bn"), nets=8, seed=0, max_lag=4,
               backend="torch")
    assert shallow.acf[0].mean == pytest.approx(1.0)
    assert shallow.acf[1].mean > 0.95
    assert ff.acf[1].mean + 4.4 * ff.acf[1].stderr < res.acf[1].mean - 4.4 * res.acf[1].stderr
    assert res.acf[1].mean > 0.9
    # BN: neurons active on half the grid on average; the contiguity of activations is shattered
    assert all(abs(a.mean - 0.5) < 0.05 for a in ff.active)
    runs = ff.to_dict()["gates"]["mean_run_length"]
    assert runs[-1] < runs[0] / 3
    assert ff.covariance_matrix.shape == (256, 256)
    np.testing.assert_allclose(np.diag(ff.covariance_matrix).mean(), 1.0)


def test_grid_rejects_bad_arguments():
    from theory.specs import SpecError
    with pytest.raises(SpecError, match="max_lag=300 is not allowed"):
        grid(ShallowSpec(), nets=2, max_lag=300)
    with pytest.raises(SpecError, match="model='path' is not allowed: real for the shallow net"):
        grid(ShallowSpec(), nets=2, model="path")


def test_spectral_exponent_tells_white_brown_and_smoother_noise_apart():
    """200 synthetic series of 256 points each: white noise 0, brown noise (a random walk) 2, an
    integrated random walk 4 — each mean within 0.15 (its standard error is about 0.02), so the
    ±0.5 noise bands of the registry separate them."""
    import numpy as np

    from montecarlo.observables import spectral_exponent
    rng = np.random.default_rng(0)
    white = [spectral_exponent(rng.standard_normal(256)) for _ in range(200)]
    brown = [spectral_exponent(np.cumsum(rng.standard_normal(256))) for _ in range(200)]
    smooth = [spectral_exponent(np.cumsum(np.cumsum(rng.standard_normal(256)))) for _ in range(200)]
    for values, target in ((white, 0.0), (brown, 2.0), (smooth, 4.0)):
        assert abs(np.mean(values) - target) < 0.15, (target, np.mean(values))
    # invariant to scale and to an added line (both removed before the spectrum)
    y = np.cumsum(rng.standard_normal(256))
    assert abs(spectral_exponent(3.0 * y + 0.2 * np.arange(256) + 5.0) - spectral_exponent(y)) < 1e-9


def test_compiled_run_counts_equal_the_row_by_row_reference():
    """kernels.contiguity gives the counts of observables.run_lengths row by row, on random and on
    constant rows (one run of length M), and a wrong reference (runs cut one short) is told apart."""
    from kernels.contiguity import run_length_counts
    from montecarlo.observables import run_lengths
    rng = np.random.default_rng(8)
    for M in (1, 2, 7, 64):
        active = rng.random((3, 5, M)) < 0.3
        active[0, 0] = True
        active[1, 1] = False
        want = np.zeros((3, M), dtype=np.int64)
        for l in range(3):
            for n in range(5):
                np.add.at(want[l], run_lengths(active[l, n]) - 1, 1)
        got = np.zeros((3, M), dtype=np.int64)
        run_length_counts(active, got)
        assert np.array_equal(got, want)
        assert got[0, M - 1] >= 1 and (np.arange(1, M + 1) * got).sum() == 3 * 5 * M
    shifted = np.zeros_like(want)
    shifted[:, :-1] = want[:, 1:]
    assert not np.array_equal(got, shifted)


def test_the_shallow_nets_derivative_is_the_batched_sum_bit_for_bit():
    """df/dx = sum_i sigma w_i 1[t > sigma_b b_i], computed network by network, equals the batched einsum over
    the chunk (the form it replaced) bit for bit, whatever the chunk."""
    import numpy as np

    from montecarlo import observables, sampling
    from theory.specs import ShallowSpec
    t = sampling.grid_points(256)
    for spec in (ShallowSpec(width=200), ShallowSpec(width=50, weight_gain=2.0, bias_std=0.5)):
        dfdx, active = observables._shallow_grid(spec, 3, range(5, 45), t, spec.bias_std)
        w = np.stack([sampling.stream(3, i, sampling.WEIGHTS).standard_normal(spec.width, dtype=np.float32)
                      for i in range(5, 45)])
        batched = np.einsum("sn,snm->sm", np.sqrt(spec.weight_gain / spec.width) * w.astype(np.float64),
                            active[:, 0].astype(np.float64))
        assert np.array_equal(dfdx, batched)
        part, _ = observables._shallow_grid(spec, 3, range(20, 28), t, spec.bias_std)
        assert np.array_equal(part, dfdx[15:23])


def test_compiled_gate_summary_equals_numpy_at_every_count():
    """kernels.contiguity.layer_gate_counts: the shares, numpy's level histogram and the run counts of the
    numpy reference exactly, for every active count 0..M (the histogram's bin edges are where an index
    rule could slip) at several grid sizes and bin counts; a histogram one bin off is told apart."""
    from montecarlo.observables import layer_activation_summary, layer_activation_summary_numpy
    rng = np.random.default_rng(0)
    for M in (2, 3, 7, 10, 30, 64, 256, 257):
        for bins in (3, 7, 10):
            a = np.zeros((2, M + 6, M), dtype=bool)
            for n in range(M + 1):
                a[0, n, rng.permutation(M)[:n]] = True
            a[1] = rng.random((M + 6, M)) < rng.random((M + 6, 1))
            got, want = layer_activation_summary(a, bins), layer_activation_summary_numpy(a, bins)
            for g, w in zip(got, want):
                assert g.shape == w.shape and np.array_equal(g, w), (M, bins)
    assert not np.array_equal(np.roll(got[1], 1, axis=1), want[1])


def test_accumulators_add_a_chunk_as_they_added_its_rows_one_by_one():
    """StreamingMoments.add_rows and running_mean_outer: the same bits as the one-row-at-a-time numpy
    updates they replaced (written out here), whatever the rows' scale."""
    from kernels.summaries import running_mean_outer
    from montecarlo.estimators import StreamingMoments
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((13, 3, 2)) * np.array([1.0, 1e6])
    one, many = StreamingMoments((3,), 2), StreamingMoments((3,), 2)
    for r in rows:
        one.add(r)
    many.add_rows(rows[:5])
    many.add_rows(rows[5:])
    assert one.n == many.n == 13
    assert np.array_equal(one.mean, many.mean) and np.array_equal(one.comoment, many.comoment)
    z, zz = rng.standard_normal((6, 9)), rng.random(6) + 0.5
    want, got = np.zeros((9, 9)), np.zeros((9, 9))
    for r in range(6):
        want += (np.outer(z[r], z[r]) / zz[r] - want) / (r + 1)
    running_mean_outer(got, z[:2], zz[:2], 0)
    running_mean_outer(got, z[2:], zz[2:], 2)
    assert np.array_equal(got, want)
    with pytest.raises(FloatingPointError, match="not finite"):
        many.add_rows(np.full((1, 3, 2), np.nan))
    assert many.n == 13
