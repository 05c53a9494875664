"""End-to-end tests of the CLIs: --json parses, values, exit codes 0 / 1 / 2."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from theory import predict, verify
from theory.claims import negative_controls

ROOT = Path(__file__).resolve().parents[1]


def run(*args, check_rc=None):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


@pytest.mark.parametrize("argv, key, expected", [
    (["ff", "--depth", "10"], "correlation", 2.0 ** -10),
    (["ff", "--depth", "10"], "variance", 1.0),
    (["resnet", "--depth", "12"], "variance", 2.0 ** 12),
    (["resnet", "--depth", "12"], "covariance", 1.5 ** 12),
    (["resnet", "--depth", "12", "--alpha", str(2 ** -0.5)], "variance", 1.0),
    (["resnet", "--depth", "99", "--beta", "0.1", "--norm", "bn"], "correlation", 0.7093221632440698),
    (["resnet", "--depth", "100", "--beta", "1", "--norm", "bn"], "variance", 101.0),
    (["highway", "--depth", "8", "--gamma1", "0.6"], "correlation", (0.36 + 0.32) ** 8),
    (["crelu-ll", "--depth", "30"], "correlation", 1.0),
])
def test_predict_json_values(capsys, argv, key, expected):
    assert predict.main(argv + ["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[key] == pytest.approx(expected, rel=1e-12)
    assert {"variance", "covariance", "correlation"} <= set(doc)


def test_predict_shallow_and_curves(capsys):
    assert predict.main(["shallow", "--x", "-0.5", "--x-prime", "0.5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert 0 < doc["correlation"] < 1
    assert predict.main(["resnet", "--depth", "5", "--curve", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["curves"]["depth"] == [1, 2, 3, 4, 5]
    assert doc["curves"]["correlation"][-1] == pytest.approx(0.75 ** 5)


@pytest.mark.parametrize("argv, fragment", [
    (["ff", "--depth", "-3"], "--depth: depth=-3 is not allowed"),
    (["ff", "--width", "0"], "--width: width=0 is not allowed"),
    (["highway", "--gamma1", "0.5", "--gamma2", "0.5"], "gamma1^2 + gamma2^2 = 1"),
    (["vgg"], "invalid choice: 'vgg'"),
    (["ff", "--model", "infinite-width", "--c0", "1.5"], "--c0: c0=1.5 is not allowed: a real number in [-1, 1]"),
    (["ff", "--c0", "0.5"], "--c0=0.5 is not allowed with --model path"),
    (["ff", "--norm", "layer"], "invalid choice: 'layer'"),
    (["ff", "--x", "0.3"], "apply only to ARCH shallow"),
])
def test_predict_bad_usage_exits_2_with_a_message(capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        predict.main(argv)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_predict_subprocess_json_is_the_only_stdout():
    proc = run("theory.predict", "resnet", "--depth", "3", "--json", check_rc=0)
    assert json.loads(proc.stdout)["variance"] == 8.0
    assert run("theory.predict", "--help", check_rc=0).stdout.startswith("usage:")


def test_verify_json_end_to_end_symbolic_only():
    proc = run("theory.verify", "--json", "--symbolic-only", check_rc=0)
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["seconds"] > 0
    by_id = {c["id"]: c for c in doc["claims"]}
    assert by_id["thm1b"]["symbolic"] == "pass"
    assert by_id["thm1b"]["monte_carlo"] == "not run yet"  # never "pass" without a measurement
    assert by_id["effrank-depth"]["symbolic"] == "n/a"
    assert all(c["rejected"] for c in doc["controls"]) and len(doc["controls"]) >= 3


def test_verify_with_monte_carlo_three_columns():
    """A small end-to-end run: the path model holds Thm 2's (3/4)^L, real networks depart
    (their correlation decays more slowly), the infinite-width column is filled, the Monte Carlo
    control (0.8^L) is rejected by the same samples."""
    proc = run("theory.verify", "--claims", "thm2c", "ll-correlation", "--json", check_rc=0)
    doc = json.loads(proc.stdout)
    thm2c = {c["id"]: c for c in doc["claims"]}["thm2c"]
    for column in ("path", "infinite_width", "real"):
        entry = thm2c[column]
        assert {"verdict", "predicted", "estimate", "ci", "n", "z"} <= set(entry)
    assert thm2c["path"]["verdict"] == "holds"
    assert thm2c["real"]["verdict"] == "departs" and thm2c["real"]["estimate"] > thm2c["real"]["predicted"]
    assert "holds under Assumption 1 only" in thm2c["summary"]
    controls = {c["id"]: c["rejected"] for c in doc["controls"]}
    assert controls["mc-control:thm2c:0.8^L instead of (3/4)^L"] is True
    assert doc["settings"]["alpha_family"] == 1e-3 and doc["runs"]


def test_verify_selection_and_bad_claim(capsys):
    assert verify.main(["--claims", "thm2c", "cor1-limit", "--json", "--symbolic-only"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in doc["claims"]] == ["thm2c", "cor1-limit"]
    with pytest.raises(SystemExit) as info:
        verify.main(["--claims", "nope"])
    assert info.value.code == 2
    assert "claim='nope' is not allowed" in capsys.readouterr().err


def test_verify_exits_1_when_a_check_fails(monkeypatch, capsys):
    """Feed the wrong forms in as if they were claims: the verifier must fail the run."""
    monkeypatch.setattr(verify, "CLAIMS", negative_controls())
    assert verify.main(["--symbolic-only"]) == 1
    assert "FAILED control:thm1b:0.55^L" in capsys.readouterr().out


def test_verify_latex_table_and_no_overwrite(tmp_path, capsys):
    target = tmp_path / "claims.tex"
    assert verify.main(["--claims", "thm1b", "thm3a", "--latex", str(target), "--symbolic-only"]) == 0
    tex = target.read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"2^{- L}" in tex
    assert tex.count(r"\\") == 3  # header + two rows
    before = target.read_text()
    with pytest.raises(SystemExit) as info:
        verify.main(["--claims", "thm1b", "--latex", str(target), "--symbolic-only"])
    assert info.value.code == 2 and target.read_text() == before
    if shutil.which("pdflatex"):
        doc = tmp_path / "doc.tex"
        doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
                       f"\\input{{{target}}}\n\\end{{document}}\n")
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", doc.name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-2000:]


def test_derive_prints_steps(capsys):
    from theory import derive
    assert derive.main(["thm3b"]) == 0
    out = capsys.readouterr().out
    assert "Exponent of L in the covariance" in out and "1/2" in out


def test_import_theory_does_not_import_torch():
    code = "import sys, theory, theory.claims, theory.verify, theory.predict; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


def test_verify_reuses_its_store_and_refuses_a_corrupt_one(tmp_path):
    store = tmp_path / "verify.sqlite"
    args = ("theory.verify", "--claims", "cor1b", "--json", "--store", str(store))
    first = json.loads(run(*args, check_rc=0).stdout)
    second = json.loads(run(*args, check_rc=0).stdout)
    assert first["claims"] == second["claims"] and first["store"] == str(store)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database" * 100)
    proc = run("theory.verify", "--claims", "cor1b", "--store", str(bad))
    assert proc.returncode == 2 and "--store" in proc.stderr and str(bad) in proc.stderr
    assert bad.read_bytes() == b"not a database" * 100


def test_the_symbolic_rows_are_the_same_from_the_spawned_process_and_from_a_thread():
    """verify computes the registry's symbolic checks, controls and mutants in a spawned process (SymPy then
    holds no GIL the Monte Carlo needs); a caller's own claims go to a thread.  Both give the same rows."""
    import dataclasses

    from theory import verify
    from theory.claims import get_claim, negative_controls
    claims = [get_claim("thm1a"), get_claim("a1-covariance")]
    controls = list(negative_controls())
    with verify._background_symbolic(claims, controls, None) as spawned:
        assert isinstance(spawned, verify._SymbolicProcess)
        from_process = spawned.result()
    own = [dataclasses.replace(c) for c in claims]          # equal, but not the registry's objects
    with verify._background_symbolic(own, controls, None) as threaded:
        assert not isinstance(threaded, verify._SymbolicProcess)
        from_thread = threaded.result()
    assert from_process == from_thread == verify._symbolic_rows(claims, controls, None)
