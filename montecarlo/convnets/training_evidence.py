"""Verdicts of the Fig. 6 claims (§5.1: LL-init trains deeper nets) from stored training documents.

A claim whose observable is ``cifar10-training`` carries a :class:`theory.claims.TrainingRule`;
this module applies it to the ``fig6-training`` documents of the results store (written by
``python -m montecarlo.convnets.train``, :mod:`montecarlo.convnets.documents`).  Nothing is trained
here: without a stored document holding both architectures the verdict is ``n/a`` ("not
measured") and the entry names the command.  Of several documents the one with the most seeds
(then the most epochs, then the newest) decides, its scale is stated, and a run that is not the
``--full`` preset is labelled a *reduced reproduction*.  One test per claim joins the run's
family-wise rate (``theory.verify`` counts it, :func:`count_tests`).

Reads stored JSON only: no torch.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from theory.claims import VERDICT_WORDS, Claim, TrainingRule
from theory.decision import NOT_APPLICABLE, UNDECIDED, decide_exceeds, networks_needed

from .documents import FIG6_KIND, fig6_code_version
from .evidence import fill_row
from .specs import FIG6_TRAINING_ARCHS

COMMAND = "python -m montecarlo.convnets.train"
WORDS = VERDICT_WORDS["reproduction"]


def is_training(claim: Claim) -> bool:
    return claim.observable is not None and claim.observable.experiment == "cifar10-training"


def _configs(document: dict) -> dict[tuple[str, int], dict]:
    return {(c["arch"], int(c["depth"])): c for c in document.get("configs", [])}


def deepest_common_depth(document: dict, rule: TrainingRule) -> int | None:
    """The deepest depth at which the document trained both the treatment and the control."""
    configs = _configs(document)
    depths = [d for (a, d) in configs if a == rule.treatment and (rule.control, d) in configs]
    return max(depths) if depths else None


def _accuracies(config: dict) -> dict[int, float | None]:
    return {int(r["seed_index"]): r.get("test_accuracy") for r in config.get("runs", [])}


def paired_differences(document: dict, rule: TrainingRule, depth: int) -> list[float | None]:
    """``acc_treatment − acc_control`` per seed index both trained (None where either is missing or diverged)."""
    configs = _configs(document)
    a, b = _accuracies(configs[(rule.treatment, depth)]), _accuracies(configs[(rule.control, depth)])
    return [None if a[k] is None or b[k] is None else a[k] - b[k] for k in sorted(set(a) & set(b))]


def scale(document: dict) -> str:
    """The run's scale in words (preset, depths, seeds, epochs, images)."""
    o = document.get("options", {})
    cfg = o.get("config", {})
    label = "full reproduction" if document.get("preset") == "full" else "reduced reproduction"
    return (f"{label}: depths {', '.join(map(str, o.get('depths', [])))}; {o.get('seeds')} seed(s); "
            f"{o.get('epochs')} epoch(s); {cfg.get('train_images')} training images")


def usable(document: dict, rule: TrainingRule) -> bool:
    return deepest_common_depth(document, rule) is not None


def _choose(stored: Sequence[dict], rule: TrainingRule) -> dict | None:
    entries = [e for e in stored if usable(e["document"], rule)]
    if not entries:
        return None
    o = lambda e: e["document"].get("options", {})  # noqa: E731
    return max(entries, key=lambda e: (e.get("current", True), o(e).get("seeds") or 0, o(e).get("epochs") or 0,
                                       e.get("id") or 0))


def claim_entry(claim: Claim, stored: Sequence[dict], alpha: float, store_path: str | None) -> dict[str, Any]:
    """The ``real`` column of a Fig. 6 claim (``stored``: entries of ``Store.documents``)."""
    rule: TrainingRule = claim.observable.rule
    entry = _choose(stored, rule)
    where = f" --store {store_path}" if store_path else ""
    if not {rule.treatment, rule.control} <= set(FIG6_TRAINING_ARCHS):  # not trained by default: name them
        where = f" --archs {rule.treatment},{rule.control}" + where
    if entry is None:
        note = (f"not measured: no {FIG6_KIND} document with {rule.treatment} and {rule.control} "
                + (f"in {store_path}" if store_path else "(no results store was read)")
                + f"; run `{COMMAND}{where}` (about 10 min on 2 CPU cores), then verify again")
        return {"verdict": NOT_APPLICABLE, "predicted": None, "estimate": None, "ci": None, "n": 0, "z": None,
                "note": note, "commands": [COMMAND + where], "rule": rule.describe()}
    doc = entry["document"]
    depth = deepest_common_depth(doc, rule)
    diffs = paired_differences(doc, rule, depth)
    v = decide_exceeds(diffs, rule.margin, alpha=alpha, min_n=rule.min_seeds, depth=depth,
                       note=f"{rule.treatment} − {rule.control} test accuracy at depth {depth}, per seed")
    configs = _configs(doc)
    levels = {a: configs[(a, depth)].get("test_accuracy") for a in (rule.treatment, rule.control)}
    seeds_needed = None
    if v.verdict == UNDECIDED and v.stderr and v.n >= 2 and v.estimate != rule.margin:
        seeds_needed = networks_needed(v.stderr * math.sqrt(v.n), abs(v.estimate - rule.margin), alpha, 0.9,
                                       start=v.n, sides=1)
    out = {**v.to_dict(), "rule": rule.describe(), "scale": scale(doc), "levels": levels, "seeds_needed": seeds_needed,
           "document": entry.get("id"), "code_version": entry.get("code_version"),
           "current": entry.get("current", True), "command": doc.get("command"), "depths": [v.to_dict()]}
    return out


def summary(claim: Claim, entry: dict[str, Any]) -> str:
    if entry["verdict"] == NOT_APPLICABLE:
        return entry["note"][0].upper() + entry["note"][1:] + "."
    rule: TrainingRule = claim.observable.rule
    lv = entry["levels"]
    acc = "; ".join(f"{a} {lv[a]['mean']:.3f}" + (f" ± {lv[a]['stderr']:.2g}" if lv[a].get("stderr") else "")
                    for a in (rule.treatment, rule.control) if lv.get(a))
    text = (f"{WORDS[entry['verdict']].capitalize()} ({entry['scale']}): test accuracy at depth {entry['depth']} "
            f"{acc}; difference {entry['estimate']:.3g}")
    if entry.get("ci"):
        lo, hi = entry["ci"]
        text += f", interval [{lo:.3g}, {hi if hi is not None else float('inf'):.3g}] vs required > {rule.margin:g}"
    if entry["verdict"] == UNDECIDED:
        more = f"about {entry['seeds_needed']} seeds" if entry.get("seeds_needed") else "more seeds"
        text += f" ({entry['n']} seed(s): {more}, `--seeds`, would decide it with power 0.9"
        deciding = rule.deciding_args()
        if deciding is not None and entry["n"] < rule.deciding_seeds:
            text += (f"; the run that decided it when measured: `{COMMAND} {' '.join(deciding)}`, "
                     "or `python -m reports.produce --training claims`")
        text += ")"
    if not entry.get("current", True):
        text += "; trained by older code"
    return text + "."


def stored_documents(store: Any) -> list[dict]:
    """The store's training documents, each marked ``current`` when its code version is today's
    (:func:`.documents.fig6_code_version`): a run trained by older code still decides, and says so."""
    if store is None:
        return []
    version = fig6_code_version()
    return [dict(e, current=e.get("code_version") == version) for e in store.documents(FIG6_KIND)]


def count_tests(claims: Sequence[Claim], stored: Sequence[dict]) -> int:
    """One test per Fig. 6 claim with a usable stored document."""
    return sum(1 for c in claims if is_training(c) and _choose(stored, c.observable.rule) is not None)


def attach(rows: list[dict], claims: Sequence[Claim], stored: Sequence[dict], alpha: float,
           store_path: str | None) -> None:
    """Fill the ``real`` column, ``monte_carlo`` and ``summary`` of every Fig. 6 claim's row in place."""
    for row, claim in zip(rows, claims):
        if not is_training(claim):
            continue
        entry = claim_entry(claim, stored, alpha, store_path)
        fill_row(row, entry, summary(claim, entry))
