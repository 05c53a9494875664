"""Relative effective rank of the gradients (§4, Fig. 5c) for fully connected nets: the typical-pairs
experiment with ``effective_rank=True`` (montecarlo.effective_rank, montecarlo.observables)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from montecarlo import cli
from montecarlo.effective_rank import (
    effective_rank,
    effective_ranks,
    white_effective_rank,
)
from montecarlo.observables import PairsExperiment, typical_pairs
from theory.specs import FeedforwardSpec, ResnetSpec, SpecError


def test_effective_rank_of_known_matrices():
    assert effective_rank(np.eye(7)) == pytest.approx(7.0)
    assert effective_rank(np.outer(np.arange(1.0, 6.0), np.ones(9))) == pytest.approx(1.0)
    assert effective_rank(np.diag([2.0, 1.0, 1.0])) == pytest.approx(1.5)
    stack = np.random.default_rng(0).standard_normal((5, 12, 30))
    assert np.allclose(effective_ranks(stack), [effective_rank(m) for m in stack], rtol=1e-12)
    assert np.allclose(effective_ranks(stack), effective_ranks(stack.transpose(0, 2, 1)), rtol=1e-10)
    # white noise of the same shape sits at its reference: relative rank ≈ 1 (Bai–Yin: ab/(√a+√b)²)
    w = white_effective_rank(64, 200)
    assert w == pytest.approx(64 * 200 / (8 + np.sqrt(200)) ** 2, rel=0.1)
    y = np.random.default_rng(1).standard_normal((50, 64, 200))
    assert abs(effective_ranks(y).mean() / w - 1) < 0.02


def test_shattering_raises_the_rank_with_depth_and_a_bn_resnet_keeps_it_low():
    ff = typical_pairs(FeedforwardSpec(depth=10, width=64), nets=16, pairs=8, effective_rank=True)
    res = typical_pairs(ResnetSpec(depth=10, width=64, beta=0.1, norm="bn"), nets=16, pairs=8, effective_rank=True)
    r_ff = [e.mean for e in ff.effective_rank]
    r_res = [e.mean for e in res.effective_rank]
    # feedforward: rank rises with depth as the gradients of different inputs decorrelate (d = 1 → 10)
    lo, hi = ff.effective_rank[0], ff.effective_rank[-1]
    assert hi.mean - lo.mean > 4 * np.hypot(lo.stderr, hi.stderr)
    # a BN resnet with β = 0.1 keeps its gradients aligned: the rank stays below the feedforward's at depth 10
    assert r_ff[-1] - r_res[-1] > 4 * np.hypot(ff.effective_rank[-1].stderr, res.effective_rank[-1].stderr)
    assert all(0 < r < 1.5 for r in r_ff + r_res)


def test_effective_rank_rows_do_not_depend_on_the_chunking_and_change_the_store_key():
    spec = FeedforwardSpec(depth=4, width=24)
    a = typical_pairs(spec, nets=6, pairs=4, effective_rank=True, batch=1)
    b = typical_pairs(spec, nets=6, pairs=4, effective_rank=True, batch=6)
    assert [e.mean for e in a.effective_rank] == [e.mean for e in b.effective_rank]
    assert typical_pairs(spec, nets=6, pairs=4).effective_rank is None
    on, off = PairsExperiment(spec, effective_rank=True), PairsExperiment(spec)
    assert on.observables != off.observables and on.options() != off.options()
    assert on.width() == 5 * spec.depth and off.width() == 4 * spec.depth
    with pytest.raises(SpecError, match="effective_rank"):
        PairsExperiment(spec, effective_rank="yes")


def test_cli_effective_rank(capsys):
    args = ["ff", "--depth", "3", "--width", "16", "--nets", "4", "--pairs", "4", "--no-store", "--json"]
    assert cli.main(args + ["--effective-rank"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["curves"]["effective_rank"]) == 3 and out["effective_rank"]["n"] == 4
    assert cli.main(args) == 0
    assert "effective_rank" not in json.loads(capsys.readouterr().out)
    assert cli.main(["ff", "--experiment", "grid", "--effective-rank", "--no-store"]) == 2
    assert "--effective-rank" in capsys.readouterr().err
