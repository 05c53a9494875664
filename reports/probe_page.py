"""The probe's figures and its self-contained HTML page, from a stored probe document only.

``python -m montecarlo.probe TARGET --out DIR`` writes ``DIR/probe.json`` (the document of
:mod:`montecarlo.probe.document`) and calls :func:`write_page`; the page can be rebuilt from the
stored document alone, nothing is re-measured::

    python -m reports.probe_page DIR/probe.json [--out DIR2]

Figures (PNG and PDF, in the style of the verification report's, :mod:`reports.figures`):

* ``probe_correlation`` — the correlation of gradients between typical pairs against the depth
  ``d`` from the output (the paper's Definition 1, layer by layer), with 95 % intervals, the
  white-noise band and, with a stated block structure, the path-model and infinite-width curves;
  linear and logarithmic axes (Thm 1: a straight line ``2^−d`` on the latter);
* ``probe_path`` — the ACF of df/dt along the path against white and brown noise (Fig. 2);
* ``probe_gates`` — the share of active and co-active units per rectifier and of units always
  on / off (Fig. 3), against Assumption 1's 1/2 and 1/4.

No torch (a reader of stored results).
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import shlex
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from theory.decision import DEPARTS, HOLDS, HOLDS_APPROXIMATELY, UNDECIDED

from .figures import NOISE_COLOURS, OKABE_ITO, Figure, _save, plt
from .html import CSS, machine, package_versions

CSS_CLASS = {HOLDS: "holds", HOLDS_APPROXIMATELY: "approximately", DEPARTS: "departs", UNDECIDED: "undecided"}


def _ci(num: dict | None) -> tuple[float, float, float]:
    if not num or num.get("mean") is None:
        return (np.nan, np.nan, np.nan)
    lo, hi = num["ci"]
    return (num["mean"], np.nan if lo is None else lo, np.nan if hi is None else hi)


def figure_correlation(doc: dict, out_dir: Path, name: str = "probe_correlation") -> Figure:
    layers = doc["layers"]
    d = np.array([r["depth"] for r in layers])
    m, lo, hi = (np.array(v) for v in zip(*[_ci(r["correlation"]) for r in layers]))
    band = doc["white_band"]["delta"]
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0))
    for ax, log in zip(axes, (False, True)):
        ax.axhspan(-band, band, color=NOISE_COLOURS["white"], alpha=0.25, lw=0, label=f"white-noise band ±{band:g}")
        shown = m > 0 if log else np.isfinite(m)
        err = np.vstack([m - lo, hi - m])
        if log:
            err[0] = np.where(lo > 0, m - lo, m * 0.9)  # an interval reaching 0 is drawn to a tenth of the mean
        ax.errorbar(d[shown], m[shown], yerr=err[:, shown], fmt="o", ms=3, capsize=2,
                    color=OKABE_ITO["blue"], label="measured (95 % interval)")
        if doc.get("theory"):
            th = doc["theory"]
            for key, style, label in (("path", "--", "path model"), ("infinite_width", ":", "infinite width")):
                if th[key] is None:
                    continue
                values = np.array([th[key][k] for k in d])
                keep = values > 0 if log else np.isfinite(values)
                order = np.argsort(d[keep])
                ax.plot(d[keep][order], values[keep][order], style, color=OKABE_ITO["vermillion"]
                        if key == "path" else OKABE_ITO["green"], label=label)
        ax.set_xlabel("d (probed layers between the layer and the output)")
        ax.set_ylabel("correlation of gradients" + (" (log)" if log else ""))
        if log:
            ax.set_yscale("log")
    axes[0].legend(loc="best")
    fig.suptitle(f"{doc['target']}: gradient correlation between typical pairs", fontsize=9)
    fig.tight_layout()
    paths = _save(fig, out_dir, name)
    return Figure(name, "Gradient correlation by depth",
                  "Correlation of the gradient with respect to each probed layer between typical pairs of inputs "
                  "(Definition 1), ratio of means over initializations with Fieller's 95 % interval; grey: the "
                  f"white-noise band ±{band:g}" + ("; lines: the stated block structure's path-model and "
                                                   "infinite-width values" if doc.get("theory") else "") + ".",
                  paths, {"depth": d.tolist(), "correlation": m.tolist()})


def figure_path(doc: dict, out_dir: Path, name: str = "probe_path") -> Figure | None:
    path = doc.get("path")
    if not path or not path.get("acf"):
        return None
    lags = np.arange(len(path["acf"]))
    m, lo, hi = (np.array(v) for v in zip(*[_ci(a) for a in path["acf"]]))
    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    for kind, style in (("white", "-"), ("brown", "--")):
        base = np.array([a["mean"] for a in path["baselines"][kind]["acf"]])
        ax.plot(lags, base, style, color=NOISE_COLOURS[kind], label=f"{kind} noise")
    ax.errorbar(lags, m, yerr=np.vstack([m - lo, hi - m]), fmt="o-", ms=3, capsize=2, color=OKABE_ITO["blue"],
                label="df/dt along the path")
    ax.set_xlabel("lag (path points)")
    ax.set_ylabel("autocorrelation")
    ax.legend(loc="best")
    exponent = path.get("exponent")
    ax.set_title(f"{path['kind']} path, {path['points']} points; spectral exponent "
                 + (f"{exponent['mean']:.2f}" if exponent else "n/a"))
    fig.tight_layout()
    paths = _save(fig, out_dir, name)
    return Figure(name, "ACF along the path",
                  "Sample autocorrelation of the directional derivative df/dt along the path (mean over "
                  "initializations, 95 % intervals) against white and brown noise of the same length (Fig. 2).",
                  paths, {"lag": lags.tolist(), "acf": m.tolist()})


def figure_gates(doc: dict, out_dir: Path, name: str = "probe_gates") -> Figure | None:
    gates = doc.get("gates") or []
    if not gates:
        return None
    x = np.arange(1, len(gates) + 1)
    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    a1 = doc["assumption_1"]
    ax.axhline(a1["activation"], color=NOISE_COLOURS["white"], lw=0.8)
    ax.axhline(a1["coactivation"], color=NOISE_COLOURS["white"], lw=0.8, ls="--")
    for key, fmt, label in (("activation", "o-", "active"), ("coactivation", "s-", "co-active (pairs)"),
                            ("always_on", "^:", "always on"), ("always_off", "v:", "always off")):
        m, lo, hi = (np.array(v) for v in zip(*[_ci(g[key]) for g in gates]))
        ax.errorbar(x, m, yerr=np.vstack([m - lo, hi - m]), fmt=fmt, ms=3, capsize=2, label=label)
    ax.set_xlabel("rectifier (forward order)")
    ax.set_ylabel("share of units")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", ncol=2)
    fig.tight_layout()
    paths = _save(fig, out_dir, name)
    return Figure(name, "Activation of rectifiers",
                  "Share of (unit, input) pairs active, of (unit, distinct pair) co-active, and of units on or off "
                  "for every input of the minibatch, per rectifier (Fig. 3); grey: Assumption 1's 1/2 and 1/4.",
                  paths, {"activation": [g["activation"]["mean"] for g in gates]})


def write_figures(doc: dict, out_dir: Path) -> list[Figure]:
    figures = [figure_correlation(doc, out_dir), figure_path(doc, out_dir), figure_gates(doc, out_dir)]
    return [f for f in figures if f is not None]


def _num(num: dict | None, verdict: dict | None = None) -> str:
    """``mean [lo, hi]``: its 95 % interval, or with ``verdict`` the (1 − α) interval that decided it."""
    if not num or num.get("mean") is None:
        return "n/a"
    lo, hi = (verdict or num)["ci"] or (None, None)
    ends = ", ".join("n/a" if v is None else f"{v:.4g}" for v in (lo, hi))
    return f"{num['mean']:.4g} [{ends}]"


def _verdict_cell(v: dict | None, value: float | None = None) -> str:
    if not v:
        return "<td></td>"
    text = v["verdict"] + (f" (n ≈ {v['needed']})" if v.get("needed") else "")
    if value is not None:
        text = f"{value:.4g} {text}"
    return f'<td class="{CSS_CLASS.get(v["verdict"], "")}">{html.escape(text)}</td>'


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{html.escape(c)}</td>" for c in r)
                   + "</tr>" for r in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _img(fig: Figure) -> str:
    data = base64.b64encode(fig.png.read_bytes()).decode("ascii")
    return (f'<figure id="{html.escape(fig.name)}"><img alt="{html.escape(fig.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(fig.caption)}</figcaption></figure>')


def render_page(doc: dict, figures: Sequence[Figure]) -> str:
    s = doc["settings"]
    theory = doc.get("theory")
    gates = {g["name"]: g for g in doc["gates"]}
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Shattered gradients probe — {html.escape(doc['target'])}</title>",
             f"<style>{CSS}</style></head><body>",
             f"<h1>Do the gradients of <code>{html.escape(doc['target'])}</code> shatter at initialization?</h1>",
             '<p class="note">Written by <code>python -m montecarlo.probe</code> (the paper: Balduzzi et al., '
             "The Shattered Gradients Problem, ICML 2017); every number is a mean over independent "
             "initializations with its 95 % interval, except beside a verdict, where the interval is the "
             f"(1 − α) one that decided it (α = {doc['alpha']['each']:.2g} each, family-wise "
             f"{doc['alpha']['fwer']:g} over {doc['alpha']['comparisons']} comparisons).</p>",
             "<h2>Findings</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in doc["summary"]) + "</ul>"]
    if doc["notes"]:
        parts.append("<ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in doc["notes"]) + "</ul>")
    level = 1 - doc["alpha"]["each"]
    headers = ["layer", "type", "units", "d", f"correlation [{level:.2%} CI, the one that decided]",
               f"white band ±{doc['white_band']['delta']:g}"]
    wide = bool(theory and theory["infinite_width"] is not None)
    if theory:
        headers += ["path model"] + (["infinite width"] if wide else [])
    headers += ["active", "co-active", "always on", "always off"]
    rows = []
    for r in doc["layers"]:
        row = [r["name"], r["type"], str(r["units"]), str(r["depth"]), _num(r["correlation"], r["white_band"]),
               _verdict_cell(r["white_band"])]
        if theory:
            row.append(_verdict_cell(r["theory"]["path"], r["theory"]["path"]["value"]))
            if wide:
                row.append(_verdict_cell(r["theory"]["infinite_width"], r["theory"]["infinite_width"]["value"]))
        g = gates.get(r["name"])
        row += [_num(g[k]) if g else "" for k in ("activation", "coactivation", "always_on", "always_off")]
        rows.append(row)
    parts.append("<h2>Layers</h2>")
    if theory:
        parts.append(f"<p>Stated block structure: <code>{html.escape(theory['describe'])}</code> (path model: "
                     "Assumption 1; infinite width: mean-field recursions with input correlation "
                     f"{theory['c0']:.3g}, batch {theory['batch_size']}, BN backward {html.escape(theory['bn_backward'])}"
                     ").</p>")
    parts.append(_table("layers", headers, rows))
    parts.append('<p class="note">undecided (n ≈ N): about N initializations would decide it. Verdicts: the '
                 "four-outcome rule of <code>theory.decision</code> at a per-comparison rate of "
                 f"{doc['alpha']['each']:.3g} (family-wise {doc['alpha']['fwer']:g}).</p>")
    ig = doc["input_gradients"]
    b = ig["baselines"]
    parts.append("<h2>Input gradients (Fig. 5c–d)</h2>")
    parts.append(_table("input-gradients", ["quantity", "measured [95 % CI]", "white noise", "identical gradients"], [
        ["relative effective rank r(Δ)/r(Y)", _num(ig["relative_effective_rank"]), "1",
         f"{b['identical_relative_effective_rank']:.4g}"],
        ["effective rank r(Δ)", _num(ig["effective_rank"]), f"{b['white_effective_rank']:.4g}", "1"],
        ["normalized gradient norm", _num(ig["gradient_norm"]), f"{b['white_gradient_norm']:.4g} (1/√B)", "1"],
        ["mean correlation of input gradients", _num(ig["mean_correlation"]), "0", "1"]]))
    path = doc.get("path")
    if path:
        parts.append(f"<h2>Along a {html.escape(path['kind'])} path (Fig. 1–2)</h2>")
        if path.get("acf"):
            bw, bb = path["baselines"]["white"], path["baselines"]["brown"]
            lag_rows = [[f"ACF lag {k}", _num(path["acf"][k]), f"{bw['acf'][k]['mean']:.3g}",
                         f"{bb['acf'][k]['mean']:.3g}"] for k in (1, 2, min(5, path["max_lag"]))]
            v = path["verdicts"]
            parts.append(_table("path", ["quantity", "measured [95 % CI]", "white noise", "brown noise"], [
                *lag_rows, ["spectral exponent", _num(path["exponent"]), f"{bw['exponent']['mean']:.3g}",
                            f"{bb['exponent']['mean']:.3g}"],
                ["in the noise band ±0.5", "", _verdict_cell(v.get("white")), _verdict_cell(v.get("brown"))]]))
        if path["constant_inits"]:
            parts.append(f"<p>df/dt was constant to rounding along the path at {path['constant_inits']} "
                         "initialization(s) (a linear map there).</p>")
    parts.append("<h2>Figures</h2>")
    parts.extend(_img(f) for f in figures)
    a = doc["alpha"]
    t = doc["timing"]
    parts.append("<h2>Settings, command and time</h2>")
    parts.append(f"<pre>{html.escape('python -m ' + shlex.join(doc['command']))}</pre>")
    parts.append(_table("settings", ["setting", "value"],
                        [[k, json.dumps(v)] for k, v in s.items()]
                        + [["inputs", doc["inputs"]], ["model", doc["model"]["class"]],
                           ["parameters", str(doc["model"]["parameters"])],
                           ["verdicts", f"family-wise rate {a['fwer']:g} over {a['comparisons']} comparisons "
                                        f"({a['each']:.3g} each, Bonferroni)"],
                           ["time", f"{t.get('total_seconds', t['seconds']):.2f} s on {t['device']} "
                                    f"({t['torch_threads']} torch threads)"]]))
    parts.append("<h2>Environment</h2>" + _table("environment", ["", ""], [
        [k, v] for k, v in {**machine(), **{f"package {k}": v for k, v in package_versions().items()}}.items()]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_page(doc: dict, out_dir: Path) -> list[Path]:
    """Figures and ``probe.html`` into ``out_dir``; the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = write_figures(doc, out_dir)
    page = out_dir / "probe.html"
    page.write_text(render_page(doc, figures), encoding="utf-8")
    return [p for f in figures for p in f.paths] + [page]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reports.probe_page", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("document", metavar="PROBE.json", help="a document written by python -m montecarlo.probe --out")
    p.add_argument("--out", metavar="DIR", help="where to write (default: the document's folder)")
    args = p.parse_args(argv)
    path = Path(args.document)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("kind") != "probe":
            raise ValueError("its kind is not 'probe'")
    except (OSError, ValueError) as exc:
        print(f"{p.prog}: error: {path}: not a probe document ({exc}); write one with "
              "python -m montecarlo.probe TARGET --out DIR", file=sys.stderr)
        return 2
    written = write_page(doc, Path(args.out) if args.out else path.parent)
    print("\n".join(str(w) for w in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
