"""CLI ``python -m montecarlo.convnets`` and the Fig. 5 experiment on a tiny synthetic data set."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from montecarlo.convnets.cli import main
from montecarlo.convnets.experiments import cluster_order, fig5, kmeans

from .test_convnets_data import write_batch

REPO = Path(__file__).resolve().parents[1]
TINY = ["--depths", "2,4", "--minibatches", "2", "--batch-size", "8", "--width", "4", "--threads", "1"]


@pytest.fixture
def tiny_data(tmp_path):
    write_batch(tmp_path / "data_batch_1", n=24, seed=5)
    return tmp_path


def test_cli_json_on_tiny_config(tiny_data):
    proc = subprocess.run([sys.executable, "-m", "montecarlo.convnets", "--data", str(tiny_data), *TINY, "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout holds exactly one JSON document
    assert [(c["arch"], c["depth"]) for c in doc["configs"]] == [
        ("feedforward", 2), ("feedforward", 4), ("resnet", 2), ("resnet", 4)]
    for c in doc["configs"]:
        for q in ("effective_rank", "gradient_norm"):
            assert set(c[q]) >= {"mean", "stderr", "n"} and c[q]["n"] == 2
            assert 0 < c[q]["mean"] <= 1 and c[q]["stderr"] >= 0
    assert doc["seconds"] > 0
    assert "minibatch 2/2" in proc.stderr


def test_cli_is_reproducible_and_human_table(tiny_data, capsys):
    assert main(["--data", str(tiny_data), *TINY, "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(["--data", str(tiny_data), *TINY, "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["configs"] == b["configs"]
    assert main(["--data", str(tiny_data), *TINY]) == 0
    out = capsys.readouterr().out
    assert "relative effective rank" in out and "resnet" in out and "time:" in out


@pytest.mark.parametrize("args, name", [
    (["--depths", "0"], "--depths"), (["--depths", "2,3"], "--depths"), (["--depths", "x"], "--depths"),
    (["--archs", "densenet"], "--archs"), (["--minibatches", "0"], "--minibatches"),
    (["--width", "0"], "--width"), (["--beta", "-1"], "--beta"),
    (["--batch-size", "100"], "--batch-size"), (["--workers", "0"], "--workers"),
])
def test_cli_bad_usage_exits_2_naming_the_argument(tiny_data, capsys, args, name):
    with pytest.raises(SystemExit) as info:
        main(["--data", str(tiny_data), *args])
    assert info.value.code == 2
    assert name in capsys.readouterr().err


def test_cli_missing_data_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--data", str(tmp_path / "missing"), "--json"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--data" in err and "missing" in err


def test_fig5_values_do_not_depend_on_other_configs(tiny_data):
    from montecarlo.convnets.data import load_cifar10
    d = load_cifar10(tiny_data)
    both = fig5(d.images, d.labels, depths=[2, 4], minibatches=2, width=4, batch_size=8)
    alone = fig5(d.images, d.labels, depths=[4], minibatches=2, width=4, batch_size=8, archs=["resnet"])
    pick = [c for c in both["configs"] if (c["arch"], c["depth"]) == ("resnet", 4)]
    assert pick[0]["effective_rank"] == alone["configs"][0]["effective_rank"]
    cov = fig5(d.images, d.labels, depths=[2, 4], minibatches=1, width=4, batch_size=8,
               keep_covariances=True)["covariances"]
    assert sorted(cov["feedforward"]["order"]) == list(range(8))
    assert cov["resnet"]["depths"][4].shape == (8, 8)


def test_fig5_in_worker_processes_gives_the_same_numbers(tiny_data):
    """Minibatches measured in two spawned processes: every per-minibatch value and minibatch 0's
    ordered covariance matrices equal the single-process run's, bit for bit."""
    from montecarlo.convnets.data import load_cifar10
    d = load_cifar10(tiny_data)
    lines = []
    kw = dict(depths=[2, 4], minibatches=3, width=4, batch_size=8, keep_covariances=True)
    here = fig5(d.images, d.labels, **kw)
    there = fig5(d.images, d.labels, workers=2, progress=lines.append, **kw)
    assert there["configs"] == here["configs"] and there["options"] == here["options"]
    for arch, c in here["covariances"].items():
        np.testing.assert_array_equal(there["covariances"][arch]["order"], c["order"])
        for depth, m in c["depths"].items():
            np.testing.assert_array_equal(there["covariances"][arch]["depths"][depth], m)
    assert len(lines) == 3 * 4 and {line.split(" ")[1] for line in lines} == {"1/3", "2/3", "3/3"}


def test_cli_workers_record_one_thread_and_the_same_configs(tiny_data, capsys):
    args = ["--data", str(tiny_data), *TINY[:-2], "--json", "--no-store"]
    assert main([*args, "--threads", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main([*args, "--workers", "2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert two["options"]["torch_threads"] == 1 and two["configs"] == one["configs"]


def test_kmeans_recovers_separated_clusters():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 5)) * 20
    truth = rng.integers(0, 3, size=60)
    x = centres[truth] + rng.standard_normal((60, 5))
    labels = kmeans(x, k=3, seed=1)
    # same partition up to relabelling
    for j in range(3):
        assert len(set(labels[truth == j])) == 1
    assert len(set(labels)) == 3
    order = cluster_order(labels)
    ordered = labels[order]
    assert np.all(np.diff(np.flatnonzero(np.diff(ordered) != 0)) > 0)  # contiguous groups
    assert sorted(order) == list(range(60))
    np.testing.assert_array_equal(kmeans(x, k=3, seed=1), labels)  # seeded


def test_fig5_on_ll_init_nets_keeps_gradients_identical(tiny_data):
    """Item 3 of issue 7: with the LL-init and the §3 loss (sum of logits) nothing shatters."""
    from montecarlo.convnets.data import load_cifar10
    from montecarlo.convnets.probe import white_effective_rank
    d = load_cifar10(tiny_data)
    out = fig5(d.images, d.labels, depths=[1, 3], minibatches=2, width=4, batch_size=8,
               archs=["crelu-ll", "prelu-ll", "relu-he"], loss="sum")
    by = {(c["arch"], c["depth"]): c for c in out["configs"]}
    for arch in ("crelu-ll", "prelu-ll"):
        for depth in (1, 3):
            c = by[(arch, depth)]
            assert c["gradient_norm"]["mean"] == pytest.approx(1.0, abs=1e-5)
            assert c["mean_correlation"]["mean"] == pytest.approx(1.0, abs=1e-5)
            assert c["effective_rank"]["mean"] == pytest.approx(1 / white_effective_rank(3072, 8), rel=1e-4)
    assert by[("relu-he", 3)]["mean_correlation"]["mean"] < 0.99


def test_cli_ll_archs_accept_odd_depths(tiny_data, capsys):
    assert main(["--data", str(tiny_data), "--archs", "crelu-ll", "--depths", "1,3", "--minibatches", "2",
                 "--batch-size", "8", "--width", "4", "--loss", "sum", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["depth"] for c in doc["configs"]] == [1, 3] and doc["options"]["loss"] == "sum"


def test_a_longer_run_continues_a_stored_shorter_one_with_the_same_bits(tiny_data, tmp_path, capsys):
    """--minibatches 3 after a stored 2: minibatches 0-1 read back, 2 measured; the document equals a
    3-minibatch run from scratch (values, estimates, covariances), and says what it continues."""
    from montecarlo.store import Store
    three = [*TINY[:3], "3", *TINY[4:]]
    assert TINY[2] == "--minibatches"
    grown, fresh = str(tmp_path / "grown.sqlite"), str(tmp_path / "fresh.sqlite")
    assert main(["--data", str(tiny_data), *TINY, "--store", grown]) == 0
    capsys.readouterr()
    assert main(["--data", str(tiny_data), *three, "--store", grown]) == 0
    err = capsys.readouterr().err
    assert "continues fig5-convnets document #1" in err and "minibatch 1/3" not in err and "minibatch 3/3" in err
    assert main(["--data", str(tiny_data), *three, "--store", fresh]) == 0
    with Store(grown) as a, Store(fresh) as b:
        (g,) = [e for e in a.documents("fig5-convnets") if e["key"]["minibatches"] == 3]
        (f,) = b.documents("fig5-convnets")
    assert g["key"] == f["key"] and g["document"]["extends"] == 1
    assert g["document"]["configs"] == f["document"]["configs"]
    assert g["document"]["covariances"] == f["document"]["covariances"]
    # a different option (here the width) is not continued
    other = [*three[:7], "3", *three[8:]]
    assert other[6] == "--width"
    capsys.readouterr()
    assert main(["--data", str(tiny_data), *other, "--store", grown]) == 0
    err = capsys.readouterr().err
    assert "continues fig5-convnets document" not in err and "minibatch 1/3" in err


def test_fig5_refuses_a_prior_that_does_not_extend_the_run(tiny_data):
    from montecarlo.convnets.data import load_cifar10
    from montecarlo.convnets.experiments import stored_values
    data = load_cifar10(tiny_data)
    short = fig5(data.images, data.labels, depths=[2], minibatches=2, batch_size=8, width=4)
    prior = stored_values(short["configs"])
    with pytest.raises(ValueError, match="prior does not extend"):
        fig5(data.images, data.labels, depths=[2, 4], minibatches=3, batch_size=8, width=4, prior=prior)
    with pytest.raises(ValueError, match="fewer than 2"):
        fig5(data.images, data.labels, depths=[2], minibatches=2, batch_size=8, width=4, prior=prior)
    longer = fig5(data.images, data.labels, depths=[2], minibatches=3, batch_size=8, width=4, prior=prior)
    direct = fig5(data.images, data.labels, depths=[2], minibatches=3, batch_size=8, width=4)
    assert longer["configs"] == direct["configs"]
