"""One self-contained HTML page: figures embedded as base64 PNG, the verdict table, provenance."""
from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import platform
import sys
from importlib import metadata
from typing import Any, Sequence

from theory.decision import DEPARTS, HOLDS, HOLDS_APPROXIMATELY, UNDECIDED

from .figures import Figure
from .tables import table_rows

PACKAGES = ("shattered-gradients", "numpy", "scipy", "sympy", "matplotlib", "numba", "torch", "mpmath")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#111;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{padding:.25em .6em;text-align:left;
vertical-align:top}thead th{border-top:2px solid #000;border-bottom:1px solid #000}
tbody tr:last-child td{border-bottom:2px solid #000}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto}figcaption{font-size:.85em;color:#333}
code,pre{font-size:.85em;background:#f4f4f4}pre{padding:.5em;overflow-x:auto}
.holds{color:#006b4f}.approximately{color:#3d7a00}.departs{color:#a34000}.undecided{color:#555}.note{color:#555;font-size:.9em}
"""


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, str]:
    return {"host": platform.node(), "platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "cpus": str(os.cpu_count()), "python": sys.version.split()[0]}


def _img(fig: Figure) -> str:
    data = base64.b64encode(fig.png.read_bytes()).decode("ascii")
    return (f'<figure id="{html.escape(fig.name)}"><img alt="{html.escape(fig.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(fig.caption)}</figcaption></figure>')


CSS_CLASS = {HOLDS: "holds", HOLDS_APPROXIMATELY: "approximately", DEPARTS: "departs", UNDECIDED: "undecided"}


def _cell(cell: tuple[str, str]) -> str:
    text, verdict = cell
    cls = CSS_CLASS.get(verdict, "")
    inner = html.escape(f"{text} {verdict}".strip() if text else verdict)
    return f'<td class="{cls}">{inner}</td>' if cls else f"<td>{inner}</td>"


def verdict_table(doc: dict) -> str:
    head = ("<table id=\"verdicts\"><thead><tr><th>claim</th><th>ref</th><th>closed form</th><th>symbolic</th>"
            "<th>path model</th><th>infinite width</th><th>real networks</th><th>verdict</th></tr></thead><tbody>")
    body = []
    for r in table_rows(doc):
        body.append("<tr>" + "".join([
            f"<td>{html.escape(r['id'])}</td>", f"<td>{html.escape(r['ref'])}</td>",
            f"<td><code>{html.escape(r['closed_form'])}</code></td>", f"<td>{html.escape(r['symbolic'])}</td>",
            _cell(r["path"]), _cell(r["infinite_width"]), _cell(r["real"]),
            f"<td>{html.escape(r['verdict'])}</td>"]) + "</tr>")
    return head + "".join(body) + "</tbody></table>"


def render_html(*, figures: Sequence[Figure], verify: dict | None, commands: Sequence[str],
                runs: Sequence[dict[str, Any]], notes: Sequence[str], store: str | None,
                results: str | None, when: _dt.datetime | None = None) -> str:
    when = when or _dt.datetime.now(_dt.timezone.utc)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>The Shattered Gradients Problem — verification report</title>",
             f"<style>{CSS}</style></head><body>",
             "<h1>The Shattered Gradients Problem (Balduzzi et al., ICML 2017) — verification report</h1>",
             f"<p class=\"note\">Generated {html.escape(when.isoformat(timespec='seconds'))} by "
             "<code>python -m reports</code> from stored results only (no experiment was run).</p>"]
    parts.append("<h2>Verdicts</h2>")
    if verify is not None:
        parts.append("<p>Measured cells: estimate(standard error in the last digits) at depth d, then the "
                     "column's verdict. Infinite width: the mean-field prediction, compared with the real-network "
                     "samples.</p>")
        parts.append(verdict_table(verify))
        sentences = [(c["id"], c["summary"]) for c in verify["claims"] if c.get("summary")]
        if sentences:
            parts.append("<ul>" + "".join(f"<li><b>{html.escape(i)}</b>: {html.escape(s)}</li>"
                                          for i, s in sentences) + "</ul>")
        controls = verify.get("controls", [])
        parts.append(f"<p>Negative controls rejected: {sum(bool(c.get('rejected')) for c in controls)}"
                     f"/{len(controls)}.</p>")
    else:
        parts.append("<p class=\"note\">No verify document was given (<code>--results FILE.json</code>); "
                     "run <code>python -m theory.verify --json &gt; verify.json</code>.</p>")
    parts.append("<h2>Figures</h2>")
    parts.extend(_img(f) for f in figures)
    if notes:
        parts.append("<h2>Not shown</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Commands and seeds</h2><p>Each stored run can be recomputed (or re-read from the store) "
                 "with:</p><pre>" + html.escape("\n".join(commands)) + "</pre>")
    if runs:
        parts.append("<table id=\"runs\"><thead><tr><th>figure data</th><th>spec</th><th>networks</th><th>seed</th>"
                     "<th>grid points</th><th>backend</th><th>code version</th></tr></thead><tbody>" + "".join(
                         "<tr>" + "".join(f"<td>{html.escape(str(r[k]))}</td>" for k in
                                          ("label", "spec", "nets", "seed", "points", "backend", "code_version"))
                         + "</tr>" for r in runs) + "</tbody></table>")
    parts.append(f"<p>Results store: <code>{html.escape(store or 'none')}</code>; verify document: "
                 f"<code>{html.escape(results or 'none')}</code>.</p>")
    parts.append("<h2>Environment</h2><table id=\"environment\"><tbody>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in {**machine(), **{f"package {k}": v for k, v in package_versions().items()}}.items())
        + "</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
