"""End-to-end: ``python -m montecarlo`` — JSON contract, exit codes, error messages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "montecarlo", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


SMALL = ("--depth", "3", "--width", "12", "--nets", "6", "--pairs", "3", "--seed", "5")


def test_json_document_has_the_contracted_keys():
    out = _run("ff", *SMALL, "--model", "path", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in ("variance", "covariance", "correlation"):
        assert set(doc[key]) == {"mean", "stderr", "n"} and doc[key]["n"] == 6
        assert len(doc["curves"][key]) == 3
    assert doc["curves"]["depth"] == [1, 2, 3]
    assert doc["spec"] == {"arch": "ff", "depth": 3, "width": 12, "weight_gain": 2.0, "norm": "none"}
    assert doc["seed"] == 5 and doc["model"] == "path"
    assert doc["exact"]["correlation"][-1] == pytest.approx(0.125)
    assert out.stderr == ""


def test_same_seed_bit_identical_json_for_any_batch():
    a = _run("resnet", *SMALL, "--norm", "bn", "--beta", "0.1", "--batch", "1", "--json")
    b = _run("resnet", *SMALL, "--norm", "bn", "--beta", "0.1", "--batch", "4", "--json")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


def test_human_table_and_grid_experiment():
    out = _run("shallow", "--width", "20", "--nets", "3", "--experiment", "grid", "--points", "32",
               "--max-lag", "4")
    assert out.returncode == 0, out.stderr
    assert "ACF" in out.stdout
    table = _run("highway", *SMALL)
    assert table.returncode == 0 and "correlation" in table.stdout


@pytest.mark.parametrize("args,needle", [
    (("ff", "--depth", "-3"), "depth=-3 is not allowed: an integer >= 1"),
    (("ff", "--width", "0"), "width=0 is not allowed: an integer >= 1"),
    (("mlp",), "arch='mlp' is not allowed: one of ff, resnet, highway, shallow, crelu-ll"),
    (("highway", "--gamma1", "0.5", "--gamma2", "0.5"), "gamma1^2 + gamma2^2 = 1"),
    (("ff", "--norm", "layer"), "argument --norm: invalid choice: 'layer' (choose from 'none', 'center', 'bn')"),
    (("ff", "--model", "exact"), "argument --model: invalid choice: 'exact' (choose from 'real', 'path')"),
    (("ff", "--backend", "tpu"), "argument --backend: invalid choice: 'tpu'"),
    (("ff", "--bn-backward", "sideways"), "bn_backward='sideways' is not allowed: one of constant, through"),
    (("ff", "--nets", "1"), "nets=1 is not allowed: an integer >= 2"),
    (("highway", "--norm", "bn"), "not a field of highway"),
    (("ff", "--depth", "ten"), "argument --depth: invalid int value: 'ten'"),
])
def test_bad_usage_exits_2_naming_argument_value_and_allowed(args, needle, capsys):
    from montecarlo.cli import main
    try:
        code = main([*args, "--json"])
    except SystemExit as stop:  # argparse's own errors (e.g. a non-integer --depth)
        code = stop.code
    captured = capsys.readouterr()
    assert code == 2
    assert needle in captured.err
    assert captured.out == ""


def test_bad_usage_exit_code_in_a_real_process():
    out = _run("ff", "--depth", "-3", "--json")
    assert out.returncode == 2 and "depth=-3 is not allowed" in out.stderr and out.stdout == ""
