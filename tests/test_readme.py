"""The README's generated sections agree with their sources: the claims registry, the stored
verify run (docs/verify-example.json) and the stored bench run (docs/bench-example.json)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reports import readme
from theory.claims import CLAIMS


def test_the_readme_is_the_registry_and_the_stored_run():
    assert readme.main(["--check"]) == 0, "README.md is stale: run python -m reports.readme"


def test_the_stored_run_is_of_this_registry():
    doc = readme.load_example()
    assert readme.registry_mismatches(doc) == []
    assert [c["id"] for c in doc["claims"]] == [c.id for c in CLAIMS]


def test_every_claim_has_a_row():
    table = readme.claims_table()
    assert all(f"| {c.id} |" in table for c in CLAIMS)


def _copies(tmp_path):
    page, example = tmp_path / "README.md", tmp_path / "verify.json"
    page.write_text(readme.README.read_text(encoding="utf-8"), encoding="utf-8")
    example.write_text(readme.EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return page, example


def test_a_registry_change_makes_the_readme_stale(tmp_path, monkeypatch):
    page, example = _copies(tmp_path)
    changed = (replace(CLAIMS[0], statement=CLAIMS[0].statement + " (edited)"),) + CLAIMS[1:]
    monkeypatch.setattr(readme, "CLAIMS", changed)
    monkeypatch.setattr(readme.claims_table, "__defaults__", (changed,))
    monkeypatch.setattr(readme.registry_mismatches, "__defaults__", (changed,))
    args = ["--readme", str(page), "--example", str(example)]
    assert readme.main(["--check", *args]) == 1
    assert readme.main(args) == 0 and "(edited)" in page.read_text(encoding="utf-8")
    # the table is current now, but the stored run still states the old claim: still stale
    assert readme.main(["--check", *args]) == 1
    doc = json.loads(example.read_text(encoding="utf-8"))
    doc["claims"][0]["statement"] += " (edited)"
    example.write_text(json.dumps(doc), encoding="utf-8")
    assert readme.main(args) == 0 and readme.main(["--check", *args]) == 0


def test_a_stored_run_without_a_claim_is_refused(tmp_path, capsys):
    page, example = _copies(tmp_path)
    doc = json.loads(example.read_text(encoding="utf-8"))
    doc["claims"] = doc["claims"][1:]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc), encoding="utf-8")
    assert readme.main(["--readme", str(page), "--example", str(example), "--verify", str(other)]) == 2
    assert f"claim {CLAIMS[0].id} is not in the stored run" in capsys.readouterr().err
    assert json.loads(example.read_text(encoding="utf-8"))["claims"][0]["id"] == CLAIMS[0].id  # kept


def test_a_readme_without_markers_or_a_bad_document_is_an_error(tmp_path, capsys):
    page = tmp_path / "README.md"
    page.write_text("# nothing here\n", encoding="utf-8")
    assert readme.main(["--readme", str(page)]) == 2
    assert "claims:begin" in capsys.readouterr().err
    with pytest.raises(ValueError):
        readme.render("no markers")
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="not a python -m theory.verify --json document"):
        readme.load_example(bad)


def _bench_copies(tmp_path):
    page, example = _copies(tmp_path)
    bench = tmp_path / "bench.json"
    bench.write_text(readme.BENCH_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return page, ["--readme", str(page), "--example", str(example), "--bench-example", str(bench)], bench


def test_the_benchmark_section_is_the_stored_bench_run(tmp_path):
    """Every figure of the README's benchmark table comes from the stored run: change one in the
    document and the README is stale until it is written again."""
    page, args, bench = _bench_copies(tmp_path)
    assert readme.main(["--check", *args]) == 0
    doc = json.loads(bench.read_text(encoding="utf-8"))
    ff = doc["configs"][0]
    chunk = ff["rows"]["engine_numba"]["variant"]     # the engine's tuned networks per call, beside its rate
    assert f"| {ff['engine_nets_per_s']:.1f} ({chunk}) |" in page.read_text(encoding="utf-8")
    ff["pct_of_gemm_executed_paired"] += 10.0
    bench.write_text(json.dumps(doc), encoding="utf-8")
    assert readme.main(["--check", *args]) == 1
    assert readme.main(args) == 0 and readme.main(["--check", *args]) == 0
    assert f"| {ff['pct_of_gemm_executed_paired']:.1f} % |" in page.read_text(encoding="utf-8")


def test_a_bench_run_without_the_paired_shares_is_refused(tmp_path, capsys):
    page, args, bench = _bench_copies(tmp_path)
    doc = json.loads(bench.read_text(encoding="utf-8"))
    for c in doc["configs"]:
        del c["pct_of_gemm_executed_paired"]
    old = tmp_path / "old-bench.json"
    old.write_text(json.dumps(doc), encoding="utf-8")
    assert readme.main([*args, "--bench", str(old)]) == 2
    assert "missing: pct_of_gemm_executed_paired" in capsys.readouterr().err
    assert "pct_of_gemm_executed_paired" in json.loads(bench.read_text(encoding="utf-8"))["configs"][0]  # kept
