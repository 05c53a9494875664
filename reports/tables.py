"""The verdict table of a ``theory.verify`` document, as LaTeX (booktabs) and Markdown.

Columns: claim, paper reference, closed form (``Claim.closed_form_latex``, i.e. ``sympy.latex``),
path model, infinite width, real networks, verdict.  Measured cells give the headline estimate
in compact uncertainty notation — ``0.707(3)`` means 0.707 ± 0.003 (one standard error) —
with its depth and the column's verdict; the infinite-width cell gives the prediction.
"""
from __future__ import annotations

import math
from typing import Any

CONFIRMED, DEVIATES, INCONCLUSIVE = "confirmed", "deviates", "inconclusive"
SHORT = {CONFIRMED: "conf.", DEVIATES: "dev.", INCONCLUSIVE: "inc.", "not applicable": "n/a", "n/a": "n/a"}


def format_uncertainty(value: float | None, stderr: float | None) -> str:
    """Compact notation: ``0.7071 ± 0.0031`` → ``0.707(3)``; two digits when the error starts with 1.

    Large or tiny magnitudes use a power of ten: ``1234 ± 56`` → ``1.23(6)e3``.  Without a usable
    error the value gets three significant digits.
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    if stderr is None or not math.isfinite(stderr) or stderr <= 0:
        return f"{value:.3g}"
    exponent = 0
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        exponent = math.floor(math.log10(abs(value)))
        value, stderr = value / 10 ** exponent, stderr / 10 ** exponent
    lead = math.floor(math.log10(stderr))
    digits = 2 if round(stderr / 10 ** lead, 6) < 2 else 1
    decimals = digits - 1 - lead
    err = round(stderr * 10 ** decimals) if decimals > 0 else round(stderr)
    if decimals > 0:
        if err >= 10 ** digits:  # rounding carried a digit (e.g. 0.0996 -> 0.10)
            decimals -= 1
            err = round(stderr * 10 ** decimals)
        text = f"{value:.{max(decimals, 0)}f}({err})"
    else:
        text = f"{round(value):d}({err})"
    return text + (f"e{exponent}" if exponent else "")


def overall_verdict(c: dict) -> str:
    """One word per claim from its columns (see the module doc of theory.verify)."""
    path, real, iw = (c.get(k) or {} for k in ("path", "real", "infinite_width"))
    if c.get("symbolic") == "fail" or path.get("verdict") == DEVIATES:
        return "DEFECT"
    rv = real.get("verdict")
    if c.get("kind") == "empirical" and real.get("agree_across_settings") is False:  # CIFAR-10 claims
        words = {CONFIRMED: "holds", DEVIATES: "does not hold", INCONCLUSIVE: "inconclusive"}
        return "; ".join(f"{words.get(s['verdict'], s['verdict'])} ({s['loss']}, BN {s['bn_backward']})"
                         for s in real.get("settings", []))
    if c.get("kind") == "empirical":
        return {CONFIRMED: "holds", DEVIATES: "does not hold", INCONCLUSIVE: "inconclusive"}.get(rv, "not measured")
    if rv == CONFIRMED:
        return "holds for real nets"
    if rv == DEVIATES:
        return "Assumption 1 only" + (" (explained at infinite width)" if iw.get("verdict") == CONFIRMED else "")
    if rv == INCONCLUSIVE:
        return "inconclusive"
    return "symbolic pass" if c.get("symbolic") == "pass" else "not measured"


def _headline_stderr(entry: dict) -> float | None:
    for d in entry.get("depths", []) or []:
        if d.get("depth") == entry.get("depth"):
            return d.get("stderr")
    return None


def measured_cell(entry: dict | None, key: str = "estimate") -> tuple[str, str]:
    """``(value text, verdict)`` of a column entry; value ``""`` when nothing was measured."""
    if not entry or entry.get("verdict") in (None, "not applicable", "n/a"):
        return "", "n/a"
    value = entry.get(key)
    if value is None:
        return "", entry["verdict"]
    se = _headline_stderr(entry) if key == "estimate" else None
    text = format_uncertainty(value, se) if key == "estimate" else f"{value:.4g}"
    return f"{text} (d={entry.get('depth')})", entry["verdict"]


def table_rows(doc: dict) -> list[dict[str, Any]]:
    """One row per claim: plain cells shared by LaTeX, Markdown and HTML."""
    rows = []
    for c in doc["claims"]:
        path = measured_cell(c.get("path"))
        iw = measured_cell(c.get("infinite_width"), "predicted")
        real = measured_cell(c.get("real"))
        rows.append({"id": c["id"], "ref": c.get("paper_ref", ""), "closed_form": c.get("closed_form", ""),
                     "closed_form_latex": c.get("closed_form_latex", ""), "symbolic": c.get("symbolic", "n/a"),
                     "path": path, "infinite_width": iw, "real": real, "verdict": overall_verdict(c),
                     "summary": c.get("summary", "")})
    return rows


def latex_escape(text: str) -> str:
    out = []
    for ch in str(text):
        out.append({"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                    "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}", "§": r"\S{}", "β": r"$\beta$",
                    "γ": r"$\gamma$", "α": r"$\alpha$", "±": r"$\pm$", "−": "-", "—": "--"}.get(ch, ch))
    return "".join(out)


def _latex_measure(cell: tuple[str, str]) -> str:
    text, verdict = cell
    short = SHORT.get(verdict, latex_escape(verdict))
    if not text:
        return short
    value, _, depth = text.partition(" (d=")
    return f"${value}$ {{\\scriptsize $d={depth.rstrip(')')}$}} {short}"


COLUMNS = ("Claim", "Ref.", "Closed form", "Path model", "Infinite width", "Real networks", "Verdict")


def claims_latex(doc: dict) -> str:
    """A booktabs ``tabular`` of the claims; compiles with ``\\usepackage{booktabs}`` alone."""
    lines = [r"% generated by python -m reports from a theory.verify document; do not edit",
             r"% cells: estimate(se) at depth d, then the column's verdict (conf./dev./inc.)",
             r"\begin{tabular}{" + "l" * len(COLUMNS) + "}", r"\toprule",
             " & ".join(COLUMNS) + r" \\", r"\midrule"]
    for r in table_rows(doc):
        form = f"${r['closed_form_latex']}$" if r["closed_form"] not in ("", "empirical") else r"\emph{empirical}"
        cells = [latex_escape(r["id"]), latex_escape(r["ref"]), form, _latex_measure(r["path"]),
                 _latex_measure(r["infinite_width"]), _latex_measure(r["real"]), latex_escape(r["verdict"])]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", r"\|")


def _md_measure(cell: tuple[str, str]) -> str:
    text, verdict = cell
    return f"{text} {verdict}".strip() if text else verdict


def claims_markdown(doc: dict) -> str:
    """The verdict table in Markdown (for the README), generated from the verify document."""
    head = ("| claim | ref | closed form | path model | infinite width | real networks | verdict |\n"
            "|---|---|---|---|---|---|---|")
    lines = [head]
    for r in table_rows(doc):
        lines.append("| " + " | ".join(_md(x) for x in (
            r["id"], r["ref"], f"`{r['closed_form']}`" if r["closed_form"] else "", _md_measure(r["path"]),
            _md_measure(r["infinite_width"]), _md_measure(r["real"]), r["verdict"])) + " |")
    return "\n".join(lines) + "\n"
