"""Fig. 5 (§4): gradients of CIFAR-10 convnets at initialization, from stored documents.

Reads ``fig5-convnets`` documents of the results store (:mod:`montecarlo.convnets.documents`,
written by ``python -m montecarlo.convnets``); never runs a network.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib.ticker
import numpy as np

from .figures import CYCLE, OKABE_ITO, Z95, Figure, _save, plt

ARCH_COLOURS = {"feedforward": OKABE_ITO["vermillion"], "resnet": OKABE_ITO["blue"]}
SETTING_STYLES = ("-", "--", ":", "-.")
SETTING_MARKERS = ("o", "s", "^", "D")


def _document(entry: dict) -> dict:
    """A stored entry (``{"document": …, "id", …}``) or a bare document → the document."""
    return entry["document"] if "document" in entry and "configs" not in entry else entry


def absolute_correlation(cov: np.ndarray) -> np.ndarray:
    """``|C_ij| / sqrt(C_ii C_jj)``: the covariance normalized to a unit diagonal, in absolute value."""
    d = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.abs(cov) / np.outer(d, d)
    return np.nan_to_num(out, nan=0.0, posinf=0.0)


def _setting_label(doc: dict) -> str:
    from montecarlo.convnets.documents import setting
    loss, bn, beta = setting(doc)  # a stored ``autograd`` reads as ``through``
    return (f"{loss.replace('cross_entropy', 'cross-entropy')}, BN {bn}, β={beta:g}, "
            f"{doc['options']['minibatches']} minibatches")


def _curve(doc: dict, arch: str, quantity: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = sorted((int(c["depth"]), c[quantity]["mean"], c[quantity]["stderr"]) for c in doc["configs"]
                  if c["arch"] == arch and c[quantity]["mean"] is not None)
    if not rows:
        return np.array([], int), np.array([]), np.array([])
    d, m, s = zip(*rows)
    return (np.array(d, int), np.array(m, float),
            np.nan_to_num(np.array([np.nan if x is None else x for x in s], float)))


def figure_5(documents: Sequence[dict], out_dir: Path, name: str = "fig5_convnets") -> Figure:
    """Fig. 5: (a–b) |normalized covariance| of minibatch 0's input gradients, k-means ordered, rows
    feedforward / resnet, columns depths; (c) relative effective rank vs depth; (d) normalized
    gradient norm vs depth (log y), mean over minibatches ± 1.96 se.

    ``documents``: stored entries or documents, the first one's covariance matrices are drawn
    (the report passes the CLI's default setting first); every document's curves are drawn in
    (c–d), one line style per setting.  Reference lines: white gradients (relative effective
    rank 1; normalized norm 1/√n for a minibatch of n).
    """
    from montecarlo.convnets.documents import decode_covariances

    docs = [_document(e) for e in documents]
    if not docs:
        raise ValueError("figure_5 needs at least one stored fig5-convnets document")
    first = docs[0]
    covs = decode_covariances(first["covariances"]) if first.get("covariances") else {}
    archs = [a for a in ("feedforward", "resnet") if a in covs] or list(covs)
    depths = sorted({d for a in archs for d in covs[a]["depths"]})
    data: dict[str, Any] = {"covariance": {}, "effective_rank": {}, "gradient_norm": {}, "settings": [],
                            "documents": [e.get("id") for e in documents if isinstance(e, dict)]}
    cols = max(len(depths), 2)
    fig = plt.figure(figsize=(max(1.9 * cols, 7.0), 2.0 * max(len(archs), 1) + 3.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.0 * max(len(archs), 1), 3.0])
    if archs:
        axes = top.subplots(len(archs), len(depths), squeeze=False)
        image = None
        for i, arch in enumerate(archs):
            data["covariance"][arch] = {}
            for j, depth in enumerate(depths):
                ax = axes[i, j]
                matrix = covs[arch]["depths"].get(depth)
                if matrix is None:
                    ax.axis("off")
                    continue
                shown = absolute_correlation(matrix)
                data["covariance"][arch][depth] = shown
                image = ax.imshow(shown, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"{depth} layers")
                if j == 0:
                    ax.set_ylabel(f"({'ab'[i] if i < 2 else i}) {arch}")
        data["order"] = {a: covs[a]["order"] for a in archs}
        top.colorbar(image, ax=axes, shrink=0.85, label="|normalized covariance|")
    else:
        ax = top.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "covariance matrices not stored", ha="center", va="center")
    ax_c, ax_d = bottom.subplots(1, 2)
    batch = int(first["options"]["batch_size"])
    legend: list[tuple[Any, str]] = []
    for k, doc in enumerate(docs):
        label = _setting_label(doc)
        data["settings"].append(label)
        style, marker = SETTING_STYLES[k % len(SETTING_STYLES)], SETTING_MARKERS[k % len(SETTING_MARKERS)]
        for arch in sorted({c["arch"] for c in doc["configs"]}, key=lambda a: (a != "feedforward", a)):
            colour = ARCH_COLOURS.get(arch, CYCLE[k % len(CYCLE)])
            for ax, quantity in ((ax_c, "effective_rank"), (ax_d, "gradient_norm")):
                d, m, s = _curve(doc, arch, quantity)
                if not d.size:
                    continue
                lower = np.minimum(Z95 * s, m * 0.999) if quantity == "gradient_norm" else Z95 * s
                bars = ax.errorbar(d, m, yerr=[lower, Z95 * s], color=colour, ls=style, marker=marker, ms=3.5,
                                   capsize=2, lw=1.2, label=f"{arch} ({label})")
                data[quantity][(label, arch)] = (d, m, s)
                if ax is ax_d:
                    legend.append((bars, f"{arch} ({label})"))
    ax_c.axhline(1.0, color="0.5", lw=0.8, ls="--")
    white = 1 / math.sqrt(batch)
    legend.append((ax_d.axhline(white, color="0.5", lw=0.8, ls="--"),
                   f"white gradients: rank 1 in (c), 1/√n = {white:.3g} in (d), n = {batch}"))
    data["white_gradient_norm"] = white
    ax_d.set_yscale("log")
    ax_d.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax_d.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax_d.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for ax, title, ylabel in ((ax_c, "(c) relative effective rank", "r(Δ) / r(Y)"),
                              (ax_d, "(d) normalized gradient norm", "‖mean gradient‖ / rms gradient")):
        ax.set_xscale("log")
        ticks = sorted({int(c["depth"]) for doc in docs for c in doc["configs"]})
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("depth (conv layers)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    ax_c.set_ylim(0, 1.05)
    bottom.legend(*zip(*legend), loc="outside lower center", ncol=2, frameon=False, fontsize=7)
    o = first["options"]
    numbers = []
    for label in data["settings"]:
        bits = []
        for arch in ("feedforward", "resnet"):
            er, gn = data["effective_rank"].get((label, arch)), data["gradient_norm"].get((label, arch))
            if er is not None and er[0].size >= 2:
                bits.append(f"{arch} rank {er[1][0]:.3f} → {er[1][-1]:.3f}, norm {gn[1][0]:.3f} → {gn[1][-1]:.3f}")
        if bits:
            numbers.append(f"{label}: " + "; ".join(bits) + " (shallowest → deepest)")
    caption = (f"Fig. 5 (paper's Fig. 5), reduced reproduction: BN convnets of width {o['width']} at initialization "
               f"(paper: full-size nets), one skip per two conv layers in the resnet (β = {o['beta']:g}). (a–b) "
               f"|covariance| of the input gradients of minibatch 0 ({batch} CIFAR-10 images), normalized to a unit "
               "diagonal, rows and columns reordered by k-means (k = 10) on the 2-layer net's gradients, the same "
               f"order along a row ({_setting_label(first)}). (c) Relative effective rank r(Δ)/r(Y) and (d) "
               f"normalized gradient norm, mean over minibatches (number in the legend; paper: 30; one fresh "
               "network each) with ±1.96 se bars; dashed: white gradients. " + "; ".join(numbers) + ".")
    return Figure(name, "CIFAR-10 convnets: shattering with depth", caption, _save(fig, out_dir, name), data)
