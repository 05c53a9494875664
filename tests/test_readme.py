"""The README's generated sections agree with their sources: the claims registry and the stored
verify run (docs/verify-example.json)."""
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
