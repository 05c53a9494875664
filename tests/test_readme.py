"""The README's generated sections agree with their sources (the claims registry)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from reports import readme
from theory.claims import CLAIMS


def test_the_readme_claims_table_is_the_registry():
    assert readme.main(["--check"]) == 0, "README.md is stale: run python -m reports.readme"


def test_every_claim_has_a_row():
    table = readme.claims_table()
    assert all(f"| {c.id} |" in table for c in CLAIMS)


def test_a_registry_change_makes_the_readme_stale(tmp_path, monkeypatch):
    page = tmp_path / "README.md"
    page.write_text(readme.README.read_text(encoding="utf-8"), encoding="utf-8")
    changed = (replace(CLAIMS[0], statement=CLAIMS[0].statement + " (edited)"),) + CLAIMS[1:]
    monkeypatch.setattr(readme, "CLAIMS", changed)
    monkeypatch.setattr(readme.claims_table, "__defaults__", (changed,))
    assert readme.main(["--check", "--readme", str(page)]) == 1
    assert readme.main(["--readme", str(page)]) == 0 and "(edited)" in page.read_text(encoding="utf-8")
    assert readme.main(["--check", "--readme", str(page)]) == 0


def test_a_readme_without_markers_is_an_error(tmp_path, capsys):
    page = tmp_path / "README.md"
    page.write_text("# nothing here\n", encoding="utf-8")
    assert readme.main(["--readme", str(page)]) == 2
    assert "claims:begin" in capsys.readouterr().err
    with pytest.raises(ValueError):
        readme.render("no markers")
