"""The Fig. 6 claim decided from stored training documents (no training here: documents are built)."""
from __future__ import annotations

import pytest

from montecarlo.convnets import training_evidence as TE
from theory.claims import get_claim
from theory.decision import DEPARTS, HOLDS, NOT_APPLICABLE, UNDECIDED

CLAIM = get_claim("fig6-llinit")


def _document(accuracies: dict[tuple[str, int], list[float | None]], preset: str = "reduced") -> dict:
    seeds = max(len(v) for v in accuracies.values())
    configs = []
    for (arch, depth), accs in accuracies.items():
        ok = [a for a in accs if a is not None]
        configs.append({"arch": arch, "depth": depth, "test_accuracy": {"mean": sum(ok) / len(ok), "stderr": None,
                                                                         "n": len(ok)},
                        "runs": [{"seed_index": k, "test_accuracy": a} for k, a in enumerate(accs)]})
    return {"kind": "fig6-training", "preset": preset, "configs": configs,
            "options": {"depths": sorted({d for _, d in accuracies}), "seeds": seeds, "epochs": 3,
                        "config": {"train_images": 1000}}, "command": "python -m montecarlo.convnets.train"}


def _entry(doc: dict, id_: int = 1) -> dict:
    return {"id": id_, "kind": "fig6-training", "document": doc, "code_version": "x", "current": True}


def _decide(accuracies, alpha=1e-3, **kw):
    return TE.claim_entry(CLAIM, [_entry(_document(accuracies, **kw))], alpha, "store.sqlite")


def test_reproduced_not_reproduced_undecided_from_paired_seeds():
    ll = [0.60, 0.62, 0.61, 0.63, 0.60, 0.62, 0.61, 0.62]
    he = [0.20, 0.22, 0.21, 0.20, 0.23, 0.19, 0.22, 0.21]
    e = _decide({("crelu-ll", 8): ll, ("crelu-he", 8): ll, ("crelu-ll", 50): ll, ("crelu-he", 50): he})
    assert e["verdict"] == HOLDS and e["depth"] == 50 and e["n"] == 8
    e = _decide({("crelu-ll", 50): he, ("crelu-he", 50): ll})  # a wrong direction is rejected
    assert e["verdict"] == DEPARTS
    e = _decide({("crelu-ll", 50): ll[:2], ("crelu-he", 50): [0.20, 0.40]})  # two seeds cannot decide at this rate
    assert e["verdict"] == UNDECIDED
    assert e["seeds_needed"] > 2 and f"about {e['seeds_needed']} seeds" in TE.summary(CLAIM, e)
    # and it names the registry's deciding run (a sample of two estimates its own spread poorly)
    assert (f"{TE.COMMAND} --archs crelu-ll,crelu-he --depths 50 --seeds {CLAIM.observable.rule.deciding_seeds}"
            in TE.summary(CLAIM, e))


def test_the_margin_is_the_claims_not_zero():
    """A small improvement (2 points) is not 'much deeper nets train': not reproduced against 5 points."""
    ll = [0.42, 0.421, 0.419, 0.42, 0.421, 0.42, 0.419, 0.42]
    he = [a - 0.02 for a in ll]
    assert _decide({("crelu-ll", 50): ll, ("crelu-he", 50): he})["verdict"] == DEPARTS


def test_reduced_runs_say_so_and_missing_runs_name_the_command():
    ll, he = [0.6, 0.61], [0.2, 0.21]
    e = _decide({("crelu-ll", 20): ll, ("crelu-he", 20): he})
    assert e["scale"].startswith("reduced reproduction") and "reduced reproduction" in TE.summary(CLAIM, e)
    assert _decide({("crelu-ll", 20): ll, ("crelu-he", 20): he}, preset="full")["scale"].startswith("full")
    e = TE.claim_entry(CLAIM, [_entry(_document({("relu-he", 20): ll}))], 1e-3, "s.sqlite")
    assert e["verdict"] == NOT_APPLICABLE and "python -m montecarlo.convnets.train --store s.sqlite" in e["note"]


def test_it_counts_one_test_when_decided():
    doc = _document({("crelu-ll", 20): [0.6, 0.6], ("crelu-he", 20): [0.2, 0.2]})
    assert TE.count_tests([CLAIM], [_entry(doc)]) == 1
    assert TE.count_tests([CLAIM], []) == 0


def test_diverged_runs_are_not_paired():
    e = _decide({("crelu-ll", 50): [0.6, None, 0.61], ("crelu-he", 50): [0.2, 0.21, 0.2]})
    assert e["verdict"] == UNDECIDED  # a diverged seed leaves a hole: decide_exceeds refuses non-finite sets


def test_the_prelu_claim_names_the_architectures_it_needs():
    claim = get_claim("sec5-prelu")
    e = TE.claim_entry(claim, [], 1e-3, "s.sqlite")
    assert e["verdict"] == NOT_APPLICABLE
    assert "python -m montecarlo.convnets.train --archs crelu-ll,prelu-ll --store s.sqlite" in e["note"]
    doc = _document({("crelu-ll", 20): [0.5, 0.52, 0.51], ("prelu-ll", 20): [0.3, 0.33, 0.31]})
    assert TE.claim_entry(claim, [_entry(doc)], 0.05, "s.sqlite")["verdict"] == HOLDS


def test_equal_architectures_refute_the_prelu_claim_through_its_margin():
    """Its margin is above 0: equal nets (a null) give 'not reproduced', not a permanent 'undecided'."""
    claim = get_claim("sec5-prelu")
    assert claim.observable.rule.margin > 0
    crelu = [0.500, 0.502, 0.499, 0.501, 0.500, 0.501, 0.499, 0.500]
    prelu = [a + e for a, e in zip(crelu, (0.001, -0.001, 0.0, 0.001, -0.001, 0.0, 0.001, -0.001))]
    assert TE.claim_entry(claim, [_entry(_document({("crelu-ll", 20): crelu, ("prelu-ll", 20): prelu}))],
                          1e-3, "s.sqlite")["verdict"] == DEPARTS
    # the same null against a margin of 0 could not be decided either way
    from dataclasses import replace
    zero = replace(claim, observable=replace(claim.observable, rule=replace(claim.observable.rule, margin=0.0)))
    assert TE.claim_entry(zero, [_entry(_document({("crelu-ll", 20): crelu, ("prelu-ll", 20): prelu}))],
                          1e-3, "s.sqlite")["verdict"] == UNDECIDED


def test_a_run_stored_by_older_code_still_decides_and_says_so(tmp_path):
    from montecarlo.convnets.documents import fig6_code_version
    from montecarlo.store import Store
    doc = _document({("crelu-ll", 50): [0.60, 0.62, 0.61, 0.63, 0.60, 0.62, 0.61, 0.62],
                     ("crelu-he", 50): [0.20, 0.22, 0.21, 0.20, 0.23, 0.19, 0.22, 0.21]})
    with Store(tmp_path / "s.sqlite") as st:
        st.put_document("fig6-training", {"run": 1}, doc, "0123456789abcdef")
        older = TE.stored_documents(st)
        st.put_document("fig6-training", {"run": 2}, doc, fig6_code_version())
        both = TE.stored_documents(st)
    assert [e["current"] for e in older] == [False]
    e = TE.claim_entry(CLAIM, older, 1e-3, "s.sqlite")
    assert e["verdict"] == HOLDS and "trained by older code" in TE.summary(CLAIM, e)
    e = TE.claim_entry(CLAIM, both, 1e-3, "s.sqlite")  # the current run is preferred
    assert e["current"] and "older code" not in TE.summary(CLAIM, e)
