"""Fig. 5 documents: stored by ``python -m montecarlo.convnets``, decided by ``theory.verify``
(claims effrank-depth, gradnorm-depth), drawn by ``reports.figures_convnets.figure_5``."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from montecarlo.convnets import documents as CD
from montecarlo.convnets import evidence as CE
from montecarlo.store import Store
from theory.claims import get_claim
from theory.decision import DEPARTS, HOLDS, NOT_APPLICABLE, UNDECIDED

from .test_convnets_data import write_batch

TINY = ["--depths", "2,4", "--minibatches", "2", "--batch-size", "8", "--width", "4", "--threads", "1"]
DEPTHS = (2, 4, 10, 24, 50)


@pytest.fixture
def tiny_data(tmp_path):
    write_batch(tmp_path / "data_batch_1", n=24, seed=5)
    return tmp_path


# ----------------------------------------------------------------------------- synthetic documents
def _matrix(n: int, corr: float, rng) -> np.ndarray:
    """A covariance with two blocks of correlation ``corr`` (k-means order), diagonal in [1, 2]."""
    c = np.full((n, n), corr * 0.2)
    c[: n // 2, : n // 2] = c[n // 2:, n // 2:] = corr
    np.fill_diagonal(c, 1.0)
    s = np.sqrt(1 + rng.random(n))
    return c * np.outer(s, s)


def synthetic_document(ff_rank=(0.05, 0.1, 0.3, 0.45, 0.5), res_rank=(0.01, 0.012, 0.015, 0.02, 0.025),
                       ff_norm=(0.5, 0.3, 0.12, 0.07, 0.065), res_norm=(0.6, 0.55, 0.5, 0.45, 0.4),
                       noise=0.01, minibatches=8, loss="cross_entropy", bn_backward="through", n=16, seed=0,
                       depths=DEPTHS) -> dict:
    """A fig5-convnets document with the given per-depth means and Gaussian per-minibatch noise."""
    rng = np.random.default_rng(seed)
    configs = []
    for arch, rank, norm in (("feedforward", ff_rank, ff_norm), ("resnet", res_rank, res_norm)):
        for d, r, g in zip(depths, rank, norm):
            c = {"arch": arch, "depth": d}
            for q, mean, scale in (("effective_rank", r, noise), ("gradient_norm", g, noise * g)):
                v = np.abs(mean + scale * rng.standard_normal(minibatches))
                se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
                c[q] = {"mean": float(v.mean()), "stderr": se, "n": minibatches, "values": v.tolist()}
            c["mean_correlation"] = {"mean": 0.1, "stderr": 0.01, "n": minibatches, "values": [0.1] * minibatches}
            configs.append(c)
    covariances = {arch: {"order": rng.permutation(n), "depths": {d: _matrix(n, corr, rng)
                                                                   for d, corr in zip(depths, np.linspace(0.9, k, 5))}}
                   for arch, k in (("feedforward", 0.02), ("resnet", 0.7))}
    options = {"archs": ["feedforward", "resnet"], "depths": list(depths), "minibatches": minibatches, "beta": 0.1,
               "width": 4, "seed": seed, "batch_size": n, "bn_backward": bn_backward, "loss": loss,
               "torch_threads": 1, "split": "train", "data": "/nowhere", "files": ["data_batch_1"]}
    return CD.build_document({"options": options, "configs": configs, "seconds": 1.0}, covariances)


def store_documents(path, *docs) -> None:
    with Store(path) as store:
        for k, doc in enumerate(docs):
            key = CD.fig5_key(doc["options"], [{"file": "data_batch_1", "sha256": f"{k:064x}"}])
            assert store.put_document(CD.FIG5_KIND, key, doc, CD.fig5_code_version())


# ----------------------------------------------------------------------------- codec
def test_matrix_encoding_round_trip_is_compact_and_precise():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((256, 300))
    cov = a @ a.T / 300 * 1e-7  # tiny gradients: the scale keeps float16 in range
    enc = CD.encode_matrix(cov)
    json.dumps(enc)
    back = CD.decode_matrix(enc)
    np.testing.assert_allclose(back, back.T)
    assert np.max(np.abs(back - cov)) <= 1e-3 * np.max(np.abs(cov))
    assert len(enc["data"]) < 0.3 * 256 * 256 * 8  # under a third of the float64 bytes
    with pytest.raises(ValueError, match="encoding"):
        CD.decode_matrix(dict(enc, encoding="raw"))


def test_select_documents_prefers_current_version_then_more_minibatches():
    doc4, doc8 = synthetic_document(minibatches=4), synthetic_document(minibatches=8)
    other = synthetic_document(loss="sum", bn_backward="constant")
    entries = [{"id": 1, "code_version": "old", "document": synthetic_document(minibatches=30)},
               {"id": 2, "code_version": "new", "document": doc4},
               {"id": 3, "code_version": "new", "document": doc8},
               {"id": 4, "code_version": "new", "document": other}]
    chosen = CD.select_documents(entries, current_version="new")
    assert [e["id"] for e in chosen] == [3, 4]  # the CLI's default setting first
    assert all(e["current"] for e in chosen)


def test_documents_of_older_code_spelling_autograd_read_as_through():
    old = synthetic_document(bn_backward="autograd", minibatches=30)
    assert old["options"]["bn_backward"] == "autograd"  # as stored
    new = synthetic_document(bn_backward="through")
    assert CD.setting(old) == CD.setting(new) == ("cross_entropy", "through", 0.1)
    assert "BN backward through" in CD.describe_setting(old)
    assert "--bn-backward through" in CD.command_line(old["options"])
    chosen = CD.select_documents([{"id": 1, "code_version": "old", "document": old},
                                  {"id": 2, "code_version": "new", "document": new},
                                  {"id": 3, "code_version": "new", "document": synthetic_document(loss="sum")}],
                                 current_version="new")
    assert [e["id"] for e in chosen] == [2, 3]  # one setting: the current code wins; the default setting first


# ----------------------------------------------------------------------------- CLI round trip
def test_cli_stores_a_document_once_and_reads_it_back(tiny_data, tmp_path, capsys, monkeypatch):
    from montecarlo.convnets import cli
    store_path = tmp_path / "store.sqlite"
    assert cli.main(["--data", str(tiny_data), *TINY, "--store", str(store_path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["store"]["stored"] is True
    with Store(store_path) as store:
        docs = store.documents(CD.FIG5_KIND)
    assert len(docs) == 1
    entry = docs[0]
    assert entry["code_version"] == CD.fig5_code_version()
    key = entry["key"]
    assert key["depths"] == [2, 4] and key["minibatches"] == 2 and key["width"] == 4 and key["batch_size"] == 8
    assert key["loss"] == "cross_entropy" and key["bn_backward"] == "through" and key["torch_threads"] == 1
    assert key["data"][0]["file"] == "data_batch_1" and len(key["data"][0]["sha256"]) == 64
    doc = entry["document"]
    assert doc["configs"] == first["configs"]
    assert all(len(c["effective_rank"]["values"]) == 2 for c in doc["configs"])
    assert "--store" not in doc["command"] and doc["command"].startswith("python -m montecarlo.convnets --depths 2,4")
    cov = CD.decode_covariances(doc["covariances"])
    assert sorted(cov["resnet"]["order"]) == list(range(8)) and cov["feedforward"]["depths"][4].shape == (8, 8)

    # the same command again: read from the store, nothing computed, nothing written
    def boom(*a, **k):
        raise AssertionError("fig5 was run although the document is stored")
    monkeypatch.setattr("montecarlo.convnets.experiments.fig5", boom)
    npz = tmp_path / "cov.npz"
    assert cli.main(["--data", str(tiny_data), *TINY, "--store", str(store_path), "--save-cov", str(npz)]) == 0
    out = capsys.readouterr()
    assert "already stored" in out.err and "read from" in out.out
    with np.load(npz) as saved:
        np.testing.assert_allclose(saved["feedforward_depth4"], cov["feedforward"]["depths"][4])
    with Store(store_path) as store:
        assert len(store.documents(CD.FIG5_KIND)) == 1


def test_cli_no_store_writes_nothing_and_save_cov_still_works(tiny_data, tmp_path, capsys, monkeypatch):
    from montecarlo.convnets import cli
    monkeypatch.setenv("SHATTERED_GRADIENTS_STORE", str(tmp_path / "default.sqlite"))
    npz = tmp_path / "cov.npz"
    assert cli.main(["--data", str(tiny_data), *TINY, "--no-store", "--save-cov", str(npz), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "store" not in doc and "covariances" not in doc
    assert not (tmp_path / "default.sqlite").exists()
    with np.load(npz) as saved:
        assert saved["resnet_depth2"].shape == (8, 8)


def test_cli_unusable_store_exits_2(tiny_data, tmp_path, capsys):
    from montecarlo.convnets import cli
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 10)
    assert cli.main(["--data", str(tiny_data), *TINY, "--store", str(bad)]) == 2
    assert "bad.sqlite" in capsys.readouterr().err
    assert bad.read_bytes() == b"not a database at all" * 10


# ----------------------------------------------------------------------------- decision rule
ALPHA = 1e-3


def _decide(claim_id: str, doc: dict) -> str:
    return CE.decide_document(get_claim(claim_id).observable.rule, doc, ALPHA)["verdict"]


def test_rule_is_recorded_in_the_registry():
    for cid, quantity in (("effrank-depth", "effective_rank"), ("gradnorm-depth", "gradient_norm")):
        rule = get_claim(cid).observable.rule
        assert rule is not None and rule.quantity == quantity
        assert (rule.shallow, rule.deep) == (2, 50) and rule.min_minibatches >= 2
        assert "reproduced iff" in rule.describe()


def test_effrank_reproduced_when_feedforward_grows_much_faster():
    assert _decide("effrank-depth", synthetic_document()) == HOLDS


def test_effrank_not_reproduced_when_both_grow_alike_or_feedforward_is_flat():
    same = synthetic_document(res_rank=(0.05, 0.1, 0.3, 0.45, 0.5))
    assert _decide("effrank-depth", same) == DEPARTS
    flat = synthetic_document(ff_rank=(0.3,) * 5)
    assert _decide("effrank-depth", flat) == DEPARTS


def test_effrank_inconclusive_with_few_minibatches_or_large_errors():
    assert _decide("effrank-depth", synthetic_document(minibatches=3)) == UNDECIDED
    # excess 0.45 - 0.015 − 0.1 ≈ 0.34 but per-minibatch noise 0.5: the interval straddles 0.1
    assert _decide("effrank-depth", synthetic_document(noise=0.5, seed=3)) == UNDECIDED


def test_gradnorm_rule_uses_log_decay():
    assert _decide("gradnorm-depth", synthetic_document()) == HOLDS
    # feedforward already at the white level at depth 2 (no decay): not reproduced
    flat = synthetic_document(ff_norm=(0.0625,) * 5, res_norm=(0.03, 0.03, 0.035, 0.04, 0.045))
    assert _decide("gradnorm-depth", flat) == DEPARTS


def test_verify_decides_each_stored_setting_and_names_the_command_when_nothing_is_stored(tmp_path):
    from theory.verify import evaluate
    claims = [get_claim("effrank-depth"), get_claim("gradnorm-depth")]
    empty = Store(tmp_path / "empty.sqlite")
    try:
        doc = evaluate(claims, store=empty)
    finally:
        empty.close()
    for row in doc["claims"]:
        assert row["real"]["verdict"] == NOT_APPLICABLE
        assert "python -m montecarlo.convnets --store" in row["summary"]
    gradnorm = doc["claims"][1]["summary"]
    assert "--loss sum --bn-backward constant" in gradnorm

    path = tmp_path / "store.sqlite"
    store_documents(path,
                    synthetic_document(ff_norm=(0.0625,) * 5, res_norm=(0.03, 0.03, 0.035, 0.04, 0.045)),
                    synthetic_document(loss="sum", bn_backward="constant", seed=1))
    with Store(path) as store:
        doc = evaluate(claims, store=store)
    eff, grad = doc["claims"]
    assert eff["real"]["verdict"] == HOLDS and eff["real"]["agree_across_settings"]
    assert [s["verdict"] for s in grad["real"]["settings"]] == [DEPARTS, HOLDS]
    assert grad["real"]["verdict"] == DEPARTS  # the headline is the CLI's default setting
    assert "not reproduced with loss cross_entropy" in grad["summary"]
    assert "reproduced with loss sum, BN backward constant" in grad["summary"]
    assert "Depends on the setting" in grad["summary"]
    assert grad["real"]["alpha"] == pytest.approx(1e-3 / 8)  # one family: 2 claims x 2 settings x 2 tests
    assert doc["settings"]["split"]["cifar10_tests"] == 8 and doc["settings"]["comparisons"] == 8
    # the headline cell shows the test that rejected: feedforward's own log-decay (≈ 0 < log 2)
    assert grad["real"]["estimate"] == pytest.approx(0.0, abs=0.05) and "own" not in grad["real"]
    from theory.claims import claim_verdict as overall_verdict
    assert overall_verdict(grad) == ("does not hold (cross_entropy, BN through); "
                                     "holds (sum, BN constant)")
    assert overall_verdict(eff) == "holds"
    assert "reproduced iff" in grad["rule"]
    json.dumps(doc, allow_nan=False)


def test_report_tables_show_the_cifar_rows():
    from reports.tables import claims_markdown
    doc = {"claims": [{"id": "effrank-depth", "paper_ref": "§4, Fig. 5c", "kind": "empirical", "symbolic": "n/a",
                       "closed_form": "empirical", "real": {"verdict": HOLDS, "estimate": 0.4, "depth": 50,
                                                            "depths": [{"depth": 50, "stderr": 0.01}]}}]}
    md = claims_markdown(doc)
    assert "effrank-depth" in md and "0.400(10) (d=50) holds" in md and "| holds |" in md


# ----------------------------------------------------------------------------- figure
def test_figure_5_plots_the_stored_numbers(tmp_path):
    from reports.figures_convnets import absolute_correlation, figure_5
    a = synthetic_document()
    b = synthetic_document(loss="sum", bn_backward="constant", seed=2)
    fig = figure_5([{"id": 7, "document": a}, b], tmp_path)
    assert fig.png.stat().st_size > 5000 and fig.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(p.suffix == ".pdf" for p in fig.paths)
    cov = CD.decode_covariances(a["covariances"])
    assert set(fig.data["covariance"]) == {"feedforward", "resnet"}
    for arch in ("feedforward", "resnet"):
        assert sorted(fig.data["covariance"][arch]) == list(DEPTHS)
        np.testing.assert_allclose(fig.data["covariance"][arch][50], absolute_correlation(cov[arch]["depths"][50]))
    np.testing.assert_allclose(np.diag(fig.data["covariance"]["resnet"][2]), 1.0, rtol=1e-3)
    label = fig.data["settings"][0]
    d, m, s = fig.data["effective_rank"][(label, "feedforward")]
    assert list(d) == list(DEPTHS)
    np.testing.assert_allclose(m, [c["effective_rank"]["mean"] for c in a["configs"] if c["arch"] == "feedforward"])
    np.testing.assert_allclose(s, [c["effective_rank"]["stderr"] for c in a["configs"] if c["arch"] == "feedforward"])
    assert len(fig.data["settings"]) == 2 and (fig.data["settings"][1], "resnet") in fig.data["gradient_norm"]
    assert fig.data["white_gradient_norm"] == pytest.approx(1 / 4)  # n = 16
    assert "Fig. 5" in fig.caption and "8 minibatches" in fig.data["settings"][0]


def test_report_includes_fig5_and_never_runs_a_network(tmp_path, monkeypatch):
    from reports.cli import main as report_main

    def boom(*a, **k):
        raise AssertionError("the report ran an experiment")
    monkeypatch.setattr("montecarlo.convnets.experiments.fig5", boom)
    import importlib
    monkeypatch.setattr(importlib.import_module("montecarlo.convnets.probe"), "probe", boom)
    monkeypatch.setattr("montecarlo.convnets.experiments.probe", boom)
    path = tmp_path / "store.sqlite"
    store_documents(path, synthetic_document())
    out = tmp_path / "report"
    assert report_main(["--store", str(path), "--out", str(out)]) == 0
    png = out / "figures" / "fig5_convnets.png"
    assert png.stat().st_size > 5000
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="fig5_convnets"' in page
    assert "python -m montecarlo.convnets --depths 2,4,10,24,50" in page and f"--store {path}" in page


def _recorded_convnet_clis(monkeypatch):
    """reports.produce with the grid runs skipped and both convnet CLIs recording their argv."""
    import montecarlo.convnets.cli
    import montecarlo.convnets.train
    import reports.produce as P
    fig5, fig6 = [], []
    monkeypatch.setattr(P, "run_grid", lambda *a, **k: None)
    monkeypatch.setattr(P, "write_rasters", lambda *a, **k: None)
    monkeypatch.setattr(montecarlo.convnets.cli, "main", lambda argv: fig5.append(argv) or 0)
    monkeypatch.setattr(montecarlo.convnets.train, "main", lambda argv: fig6.append(argv) or 0)
    return P, fig5, fig6


def test_produce_workers_go_to_both_convnet_clis(tmp_path, monkeypatch, capsys):
    from montecarlo.convnets.workers import usable_cores
    P, fig5, fig6 = _recorded_convnet_clis(monkeypatch)
    store = str(tmp_path / "s.sqlite")
    assert P.main(["--store", store, "--skip-verify", "--workers", "2"]) == 0
    assert len(fig5) == 2 and all(argv[-2:] == ["--workers", "2"] for argv in fig5 + fig6) and len(fig6) == 1
    fig5.clear(), fig6.clear()
    assert P.main(["--store", store, "--skip-verify", "--workers", "auto"]) == 0
    cores = usable_cores()
    assert all(("--workers" in argv) == (cores > 1) for argv in fig5 + fig6)
    with pytest.raises(SystemExit) as info:
        P.main(["--store", store, "--workers", "0"])
    assert info.value.code == 2 and "--workers" in capsys.readouterr().err


def test_produce_runs_the_convnet_presets_before_verify(tmp_path, monkeypatch, capsys):
    import montecarlo.convnets.cli
    import reports.produce as P
    calls = []
    monkeypatch.setattr(P, "run_grid", lambda *a, **k: None)
    monkeypatch.setattr(P, "write_rasters", lambda *a, **k: None)
    monkeypatch.setattr(P, "run_training", lambda *a, **k: None)  # Fig. 6: tests/test_reports.py
    monkeypatch.setattr(montecarlo.convnets.cli, "main", lambda argv: calls.append(argv) or 0)
    store = str(tmp_path / "s.sqlite")
    assert P.main(["--store", store, "--skip-verify"]) == 0
    default = ["--loss", "cross_entropy", "--bn-backward", "through", "--minibatches", "8", "--seed", "0",
               "--store", store]
    assert calls == [default,
                     ["--loss", "sum", "--bn-backward", "constant", "--minibatches", "16", "--seed", "0",
                      "--store", store]]
    calls.clear()
    assert P.main(["--store", store, "--skip-verify", "--quick"]) == 0
    assert calls == [default]
    calls.clear()
    assert P.main(["--store", store, "--skip-verify", "--convnets", "skip"]) == 0
    assert calls == []

    def no_data(argv):
        raise SystemExit(2)  # what argparse does when the CIFAR-10 folder is missing
    monkeypatch.setattr(montecarlo.convnets.cli, "main", no_data)
    assert P.main(["--store", store, "--skip-verify", "--convnets", "quick"]) == 0
    assert "Fig. 5 run skipped" in capsys.readouterr().out


def test_the_claims_presets_are_the_registrys_deciding_runs(tmp_path, monkeypatch):
    """--convnets claims / --training claims run what the registry says decided each CIFAR-10 claim."""
    from theory.claims import CONVNET_SETTINGS, get_claim
    P, fig5, fig6 = _recorded_convnet_clis(monkeypatch)
    store = str(tmp_path / "s.sqlite")
    assert P.main(["--store", store, "--skip-verify", "--convnets", "claims", "--training", "claims"]) == 0
    counts = [argv[argv.index("--minibatches") + 1] for argv in fig5]
    assert counts == [str(s.deciding_minibatches) for s in CONVNET_SETTINGS]
    rule, prelu = (get_claim(name).observable.rule for name in ("fig6-llinit", "sec5-prelu"))
    tail = ["--seed", "0", "--store", store]
    assert fig6 == [tail, ["--archs", "crelu-ll,crelu-he", "--depths", str(rule.deciding_depth), "--seeds",
                           str(rule.deciding_seeds)] + tail,
                    ["--archs", "crelu-ll,prelu-ll", "--depths", str(prelu.deciding_depth), "--seeds",
                     str(prelu.deciding_seeds)] + tail]
    # a rule without a deciding run has none
    from dataclasses import replace
    assert replace(prelu, deciding_seeds=None).deciding_args() is None


def test_minibatches_needed_grows_as_the_effect_shrinks():
    base = {"estimate": 1.0, "stderr": 0.2, "n": 8}
    near = CE.minibatches_needed(dict(base, estimate=0.9), 0.7, 1e-3)
    far = CE.minibatches_needed(base, 0.7, 1e-3)
    assert far is not None and near is not None and 8 <= far < near
    assert CE.minibatches_needed(dict(base, estimate=0.7), 0.7, 1e-3) is None
