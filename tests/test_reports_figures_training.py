"""reports.figures_training.figure_6 on small synthetic fig6-training documents."""
import math

import numpy as np
import pytest

from reports.figures_training import figure_6

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic_document(archs=("crelu-ll", "relu-he"), depths=(8, 20), seeds=3, epochs=4, seed=0, epochs_opt=None):
    """A fig6-training document in miniature, with the summary computed from per-seed runs."""
    rng = np.random.default_rng(seed)
    configs = []
    for a in archs:
        for d in depths:
            runs = []
            for s in range(seeds):
                loss = list(2.3 * np.exp(-0.1 * np.arange(1, epochs + 1) * (1 + rng.random())))
                runs.append({"seed_index": s, "final_train_loss": loss[-1], "test_accuracy": float(rng.uniform(0.1, 0.6)),
                             "curves": {"train_loss": loss}})
            accs = np.array([r["test_accuracy"] for r in runs])
            losses = np.array([r["curves"]["train_loss"] for r in runs])
            configs.append({
                "arch": a, "depth": d,
                "test_accuracy": {"mean": float(accs.mean()), "stderr": float(accs.std(ddof=1) / math.sqrt(seeds)),
                                  "n": seeds},
                "curves": {"train_loss": {"mean": losses.mean(0).tolist(),
                                          "stderr": (losses.std(0, ddof=1) / math.sqrt(seeds)).tolist(),
                                          "n": [seeds] * epochs}},
                "runs": runs})
    return {"kind": "fig6-training", "configs": configs,
            "options": {"seeds": seeds, "epochs": epochs_opt or epochs,
                        "config": {"train_images": 100, "test_images": 50, "lr": 1e-3}}}


def test_figure_6_draws_the_documents_numbers(tmp_path):
    doc = synthetic_document()
    fig = figure_6([{"document": doc, "id": 1}], tmp_path)   # a Store.documents row works too
    assert {p.suffix for p in fig.paths} == {".png", ".pdf"}
    assert fig.png.read_bytes()[:8] == PNG_MAGIC and fig.png.stat().st_size > 5000
    for c in doc["configs"]:
        acc = fig.data["accuracy"][c["arch"]]
        k = acc["depths"].index(c["depth"])
        assert acc["mean"][k] == c["test_accuracy"]["mean"] and acc["stderr"][k] == c["test_accuracy"]["stderr"]
        curve = fig.data["train_loss"][c["arch"]][c["depth"]]
        assert curve["mean"] == c["curves"]["train_loss"]["mean"] and curve["epoch"] == [1, 2, 3, 4]
    assert sorted(fig.data["accuracy"]) == ["crelu-ll", "relu-he"]


def test_figure_6_merges_comparable_documents_and_refuses_others(tmp_path):
    a = synthetic_document(archs=("crelu-ll",), depths=(8,), seed=1)
    b = synthetic_document(archs=("resnet",), depths=(8, 50), seed=2)
    fig = figure_6([a, b], tmp_path)
    assert fig.data["accuracy"]["resnet"]["depths"] == [8, 50] and fig.data["accuracy"]["crelu-ll"]["depths"] == [8]
    with pytest.raises(ValueError, match="epochs"):
        figure_6([a, synthetic_document(epochs_opt=9)], tmp_path)
    with pytest.raises(ValueError, match="fig6-training"):
        figure_6([{"kind": "fig5"}], tmp_path)
    with pytest.raises(ValueError, match="at least one"):
        figure_6([], tmp_path)


def test_figure_6_single_seed_has_no_error_bars(tmp_path):
    doc = synthetic_document(seeds=2)
    for c in doc["configs"]:
        c["test_accuracy"]["stderr"] = None
    fig = figure_6([doc], tmp_path, name="one_seed")
    assert all(math.isnan(v) for acc in fig.data["accuracy"].values() for v in acc["stderr"])
    assert fig.png.name == "one_seed.png"
