"""Verdicts of the CIFAR-10 convnet claims (§4, Fig. 5c–d) from stored Fig. 5 documents.

The claims ``effrank-depth`` and ``gradnorm-depth`` carry their decision rule in the registry
(:class:`theory.claims.ExcessTrendRule`); this module applies it to the ``fig5-convnets``
documents of the results store (written by ``python -m montecarlo.convnets``,
:mod:`montecarlo.convnets.documents`).  Nothing is computed here: without a stored document the
verdict is ``n/a`` ("not measured") and the entry names the command to run.

One verdict per stored *setting* (loss, BN backward, β): the best document of each (current code
version, most minibatches, widest) is used.  The results differ between settings — with the
cross-entropy and BN differentiated through its statistics, the resnet's normalized gradient norm sits below
the white level 1/√n, so Fig. 5d's trend is not what the measurement shows; with the sum of the
logits and BN statistics treated as constants (the theorems' model) it is — so every verdict
names its setting, and the headline is the CLI's default setting (cross-entropy, ``through``) when
it is stored (documents that spell it ``autograd`` are read as ``through``).  ``α`` for each
test: the run's per-comparison rate (its one family-wise rate divided over every comparison of the
run, these tests included — two per claim and setting, :func:`count_tests`).

This is montecarlo's evidence for a claim of :mod:`theory.claims` (it reads stored measurements;
``theory.verify`` composes it), so it lives here and imports neither torch nor the samplers.
"""
from __future__ import annotations

import math
import re
from typing import Any, Sequence

from theory.claims import THEOREM_SETTING, VERDICT_WORDS, Claim, ExcessTrendRule
from theory.decision import DEPARTS, HOLDS, NOT_APPLICABLE, UNDECIDED, decide_exceeds, networks_needed

from .documents import FIG5_KIND, config, describe_setting, select_documents, setting

COMMAND = "python -m montecarlo.convnets"
#: extra options of the registry's second setting, worth storing for gradnorm-depth (the theorems'
#: model; see the module doc and :data:`theory.claims.THEOREM_SETTING`)
THEOREM_OPTIONS = " ".join(THEOREM_SETTING.command_args())
WORDS = VERDICT_WORDS["reproduction"]  # a verdict in words: reproduced, not reproduced, …


def is_cifar(claim: Claim) -> bool:
    return claim.observable is not None and claim.observable.experiment == "cifar10"


def _per_minibatch(document: dict, rule: ExcessTrendRule, arch: str) -> list[float | None] | None:
    """Each minibatch's change of ``arch`` from ``rule.shallow`` to ``rule.deep`` in the claimed direction."""
    lo, hi = config(document, arch, rule.shallow), config(document, arch, rule.deep)
    if lo is None or hi is None:
        return None
    a, b = lo[rule.quantity].get("values"), hi[rule.quantity].get("values")
    if not a or not b or len(a) != len(b):
        return None
    out: list[float | None] = []
    for x, y in zip(a, b):
        if x is None or y is None or (rule.scale == "log" and (x <= 0 or y <= 0)):
            out.append(None)
            continue
        tx, ty = (math.log(x), math.log(y)) if rule.scale == "log" else (x, y)
        out.append(rule.direction * (ty - tx))
    return out


def usable(document: dict, rule: ExcessTrendRule) -> bool:
    """Does ``document`` hold per-minibatch values of both architectures at both depths?"""
    return all(_per_minibatch(document, rule, arch) is not None for arch in (rule.treatment, rule.control))


def _mean_se(entry: dict) -> str:
    se = entry.get("stderr")
    return f"{entry['mean']:.3g}" + ("" if se is None else f" ± {se:.2g}")


def decide_document(rule: ExcessTrendRule, document: dict, alpha: float) -> dict[str, Any]:
    """The rule applied to one document: ``{"verdict", "own", "excess", "levels", ...}``."""
    treat, ctrl = _per_minibatch(document, rule, rule.treatment), _per_minibatch(document, rule, rule.control)
    if treat is None or ctrl is None:
        raise ValueError(f"the document lacks per-minibatch {rule.quantity} values of {rule.treatment} and "
                         f"{rule.control} at depths {rule.shallow} and {rule.deep}")
    excess = [None if a is None or b is None else a - b for a, b in zip(treat, ctrl)]
    own = decide_exceeds(treat, rule.margin, alpha=alpha, min_n=rule.min_minibatches, depth=rule.deep,
                         note=f"{rule.treatment}'s change from depth {rule.shallow} to {rule.deep} "
                              f"(required > {rule.margin:.3g})")
    exc = decide_exceeds(excess, rule.margin, alpha=alpha, min_n=rule.min_minibatches, depth=rule.deep,
                         note=f"{rule.treatment}'s change minus {rule.control}'s (required > {rule.margin:.3g})")
    verdicts = {own.verdict, exc.verdict}
    verdict = DEPARTS if DEPARTS in verdicts else HOLDS if verdicts == {HOLDS} else UNDECIDED
    levels = {arch: {str(d): {k: config(document, arch, d)[rule.quantity].get(k) for k in ("mean", "stderr", "n")}
                     for d in (rule.shallow, rule.deep)} for arch in (rule.treatment, rule.control)}
    return {"verdict": verdict, "own": own.to_dict(), "excess": exc.to_dict(), "levels": levels,
            "batch_size": document["options"].get("batch_size")}


def minibatches_needed(verdict: dict, threshold: float, alpha: float, power: float = 0.9,
                       cap: int = 1000) -> int | None:
    """Minibatches that decide the one-sided test with probability ``power`` if the mean and
    per-minibatch sd are as estimated: :func:`theory.decision.networks_needed` (one threshold, the
    deciding ``t`` quantile), the unit being a minibatch; None when the estimate equals the
    threshold or more than ``cap`` would be needed."""
    mean, se, n = verdict.get("estimate"), verdict.get("stderr"), verdict.get("n") or 0
    if mean is None or se is None or n < 2 or mean == threshold:
        return None
    m = networks_needed(se * math.sqrt(n), abs(mean - threshold), alpha, power, start=max(n, 2), sides=1)
    return m if m <= cap else None


def _sentence(rule: ExcessTrendRule, d: dict) -> str:
    """One setting's verdict in words, with the numbers that decided it."""
    lv = d["levels"]
    q = "relative effective rank" if rule.quantity == "effective_rank" else "normalized gradient norm"
    parts = [f"{WORDS[d['verdict']]} with {d['setting']}: {q} "
             + "; ".join(f"{arch} {_mean_se(lv[arch][str(rule.shallow)])} → {_mean_se(lv[arch][str(rule.deep)])}"
                         for arch in (rule.treatment, rule.control))
             + f" (depth {rule.shallow} → {rule.deep})"]
    own, exc = d["own"], d["excess"]
    unit = "log-ratio" if rule.scale == "log" else "change"
    if exc["estimate"] is not None and exc["ci"] is not None:
        parts.append(f"excess {unit} {exc['estimate']:.3g}, interval [{exc['ci'][0]:.3g}, {exc['ci'][1]:.3g}] vs "
                     f"required > {rule.margin:.3g}; {rule.treatment}'s own {unit} {own['estimate']:.3g}, interval "
                     f"[{own['ci'][0]:.3g}, {own['ci'][1]:.3g}] vs required > {rule.margin:.3g}")
    else:
        parts.append(exc["note"])
    if rule.quantity == "gradient_norm" and d.get("batch_size"):
        white = 1 / math.sqrt(d["batch_size"])
        where = []
        for arch in (rule.treatment, rule.control):
            sides = {"below" if m < 0.9 * white else "above" if m > 1.1 * white else "at"
                     for m in (lv[arch][k]["mean"] for k in lv[arch]) if m is not None}
            if len(sides) == 1 and sides != {"above"}:
                where.append(f"{arch} {sides.pop()}")
        if where:
            parts.append(f"{' and '.join(where)} the white level 1/√n = {white:.3g} (±10%) at both depths")
    if d["verdict"] == UNDECIDED and d.get("minibatches_needed"):
        parts.append(f"{d['minibatches_needed']} minibatches would decide it with power 0.9 at this false-alarm "
                     f"rate if the effects are as estimated: `{d['command_needed']}`")
    if not d.get("current", True):
        parts.append("computed by older code")
    return ", ".join(parts)


def not_measured(claim: Claim, store_path: str | None) -> dict[str, Any]:
    """The entry of a claim with no usable stored document: the exact command(s) to run."""
    where = f" --store {store_path}" if store_path else ""
    commands = [COMMAND + where]
    if claim.observable.quantity == "gradient_norm":
        commands.append(f"{COMMAND} {THEOREM_OPTIONS}{where}")
    if store_path is None:
        note = "not measured: no results store was read (--no-store); run " + " and ".join(f"`{c}`" for c in commands)
    else:
        note = (f"not measured: no fig5-convnets document with depths {claim.observable.rule.shallow} and "
                f"{claim.observable.rule.deep} of feedforward and resnet in {store_path}; run "
                + " and ".join(f"`{c}`" for c in commands)
                + " (≈ 3–10 min each on 2 CPU cores), then verify again")
    return {"verdict": NOT_APPLICABLE, "predicted": None, "estimate": None, "ci": None, "n": 0, "z": None,
            "note": note, "commands": commands, "rule": claim.observable.rule.describe(), "settings": []}


def claim_entry(claim: Claim, stored: Sequence[dict], alpha: float, store_path: str | None) -> dict[str, Any]:
    """The ``real`` column of a CIFAR-10 claim from stored document entries (of :meth:`Store.documents`)."""
    rule = claim.observable.rule
    chosen = select_documents([e for e in stored if usable(e["document"], rule)])
    if not chosen:
        return not_measured(claim, store_path)
    settings = []
    for entry in chosen:
        doc = entry["document"]
        d = decide_document(rule, doc, alpha)
        loss, bn, beta = setting(doc)
        d.update({"setting": describe_setting(doc), "loss": loss, "bn_backward": bn, "beta": beta,
                  "document": entry.get("id"), "code_version": entry.get("code_version"),
                  "current": entry.get("current", True), "command": doc.get("command")})
        if d["verdict"] == UNDECIDED:
            need = [minibatches_needed(v, rule.margin, alpha) for v in (d["own"], d["excess"])
                    if v["verdict"] == UNDECIDED]
            if need and all(x is not None for x in need) and doc.get("command"):
                d["minibatches_needed"] = max(need)
                d["command_needed"] = re.sub(r"--minibatches \d+", f"--minibatches {max(need)}", doc["command"]) + (
                    f" --store {store_path}" if store_path else "")
        d["summary"] = _sentence(rule, d)
        settings.append(d)
    head = settings[0]
    # the headline test: the one that decided (own change first when it rejects), else the excess
    exc = next((head[t] for t in ("own", "excess") if head[t]["verdict"] == DEPARTS), head["excess"])
    verdicts = {s["verdict"] for s in settings}
    return {"verdict": head["verdict"], "predicted": rule.margin, "estimate": exc["estimate"],
            "ci": exc["ci"], "n": exc["n"], "z": exc["z"], "depth": rule.deep, "delta": rule.margin,
            "band": exc["band"], "depths": [exc], "alpha": alpha, "rule": rule.describe(),
            "statistic": exc["note"],
            "setting": head["setting"], "settings": settings,
            "agree_across_settings": len(verdicts) == 1}


def summary(claim: Claim, entry: dict[str, Any]) -> str:
    if entry["verdict"] == NOT_APPLICABLE:
        return entry["note"] + "."
    lines = [s["summary"] for s in entry["settings"]]
    text = "; ".join(lines) + "."
    if not entry["agree_across_settings"]:
        text = f"Depends on the setting (headline: {entry['settings'][0]['setting']}): " + text
    return text[0].upper() + text[1:]


def stored_documents(store: Any) -> list[dict]:
    """The ``fig5-convnets`` documents of ``store`` (none without a store)."""
    return [] if store is None else store.documents(FIG5_KIND)


def _decided(claims: Sequence[Claim], stored: Sequence[dict]) -> list[tuple[Claim, int]]:
    """(claim, stored settings it will decide on) for every CIFAR-10 claim with a rule."""
    return [(c, len(select_documents([e for e in stored if usable(e["document"], c.observable.rule)])))
            for c in claims if is_cifar(c) and c.observable.rule]


def count_tests(claims: Sequence[Claim], stored: Sequence[dict]) -> int:
    """The comparisons these claims add to the run's family: two tests (own change, excess) per
    claim and stored setting (the rule is an intersection–union of the two)."""
    return sum(2 * n for _, n in _decided(claims, stored))


def attach(rows: list[dict], claims: Sequence[Claim], stored: Sequence[dict], alpha: float,
           store_path: str | None) -> None:
    """Fill the ``real`` column, ``monte_carlo`` and ``summary`` of every CIFAR-10 claim's row in place;
    ``alpha`` is the per-comparison rate of the whole run (its family-wise rate over every comparison)."""
    for row, claim in zip(rows, claims):
        if not (is_cifar(claim) and claim.observable.rule):
            continue
        entry = claim_entry(claim, stored, alpha, store_path)
        fill_row(row, entry, summary(claim, entry))


def fill_row(row: dict, entry: dict[str, Any], text: str) -> None:
    """A verify row's real-network column, Monte Carlo status, sentence and rule from a stored-document verdict."""
    row["real"] = entry
    row["monte_carlo"] = "real: " + (entry["verdict"] if entry["verdict"] != NOT_APPLICABLE else "not measured")
    row["summary"] = text
    row["rule"] = entry["rule"]
