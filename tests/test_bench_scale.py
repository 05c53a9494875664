"""``python -m montecarlo.bench.scale``: the plan arithmetic and the report (no timing assertions)."""
import json

import pytest

from montecarlo import evidence
from montecarlo.bench import scale
from theory.specs import FeedforwardSpec


def _fake_cost(experiment, spec, model, nets, pairs=32):
    return 1e-12 * evidence.flops_per_network(experiment, spec, evidence.DEFAULT)


def test_plan_totals_are_pilot_and_cap_times_the_cost(monkeypatch, capsys):
    monkeypatch.setattr(scale, "cost_per_network", _fake_cost)
    monkeypatch.setattr(scale, "SIZES", ((3, 8),))
    assert scale.main(["--nets", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for name, settings in (("default", evidence.DEFAULT), ("--full", evidence.FULL)):
        plan = doc["plans"][name]
        comparisons = evidence.plan(scale.CLAIMS, settings)
        groups, scales = evidence.group_comparisons(comparisons), evidence.group_scales(comparisons)
        assert len(plan["groups"]) == len(groups)
        for row, key in zip(plan["groups"], groups):
            pilot, cap = evidence.group_budget(key, settings)[0], evidence.largest_size(key, settings, scales[key])
            assert (row["pilot"], row["cap"]) == (pilot, cap)
            assert pilot <= cap <= evidence.group_budget(key, settings, scales[key])[1]
            assert row["cap_s"] == pytest.approx(cap * _fake_cost(key[0], key[1], key[2], 0))
        assert plan["cap_s"] == pytest.approx(sum(r["cap_s"] for r in plan["groups"]))
    assert doc["plans"]["--full"]["cap_s"] > doc["plans"]["default"]["cap_s"]
    assert {(r["experiment"], r["model"]) for r in doc["sizes"]} == {("pairs", "real"), ("pairs", "path"),
                                                                     ("grid", "real")}


def test_report_and_bad_arguments(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(scale, "cost_per_network", _fake_cost)
    monkeypatch.setattr(scale, "SIZES", ((3, 8),))
    verify = tmp_path / "v.json"
    verify.write_text(json.dumps({"runs": [{"experiment": "pairs", "spec": "x", "model": "real", "nets": 5,
                                            "seconds": 1.5}]}))
    assert scale.main(["--nets", "4", "--verify", str(verify)]) == 0
    out = capsys.readouterr().out
    assert "verify default:" in out and "verify --full:" in out and "every group at its cap" in out
    assert scale.main(["--nets", "1"]) == 2
    assert "--nets=1" in capsys.readouterr().err
    assert scale.main(["--verify", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_a_real_cost_is_measured():
    import math
    cost = scale.cost_per_network("pairs", FeedforwardSpec(depth=2, width=8), "real", 4, pairs=2)
    assert cost > 0 and math.isfinite(cost)
