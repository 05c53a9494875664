"""Fig. 6 (§5.1) from stored ``fig6-training`` documents (:mod:`montecarlo.convnets.train`).

:func:`figure_6` mirrors the paper's Fig. 6: test accuracy against depth, one line per
architecture, mean over seeds with ±1 standard-error bars (left; with a few seeds a 95 % interval
would need the t quantile, 12.7 for two), and the mean training-loss
curves per epoch (right; colour = architecture, line style = depth).  It reads documents only
and never trains anything.  Same conventions as :mod:`reports.figures` (whose :class:`Figure`,
``_save`` and palette it reuses): ``NAME.png`` and ``NAME.pdf`` in ``out_dir`` and the plotted
numbers in ``Figure.data``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .figures import OKABE_ITO, Figure, _save, plt

ARCH_STYLE = {  # colour, marker, label
    "crelu-ll": (OKABE_ITO["blue"], "o", "CReLU, LL-init"),
    "crelu-he": (OKABE_ITO["orange"], "s", "CReLU, He-init"),
    "relu-he": (OKABE_ITO["purple"], "v", "ReLU, He-init"),
    "resnet": (OKABE_ITO["green"], "D", "resnet"),
    "prelu-ll": (OKABE_ITO["sky"], "^", "PReLU, LL-init"),
}
DEPTH_STYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
CHANCE = 0.1
#: document fields that must agree for two documents to share one figure
_COMPARABLE = ("seeds", "epochs", "config")


def _document(entry: dict) -> dict:
    """A ``fig6-training`` document, given either the document or a ``Store.documents`` row."""
    doc = entry.get("document", entry) if isinstance(entry, dict) else None
    if not isinstance(doc, dict) or doc.get("kind") != "fig6-training" or "configs" not in doc:
        raise ValueError(f"documents: {str(entry)[:80]!r} is not allowed: fig6-training documents "
                         f"(from python -m montecarlo.convnets.train --json or the results store)")
    return doc


def _merge(documents: Sequence[dict]) -> tuple[dict, dict]:
    """Configs by (arch, depth) over comparable documents (a later document wins a duplicate)."""
    docs = [_document(d) for d in documents]
    if not docs:
        raise ValueError("documents: [] is not allowed: at least one fig6-training document")
    first = docs[0]["options"]
    for doc in docs[1:]:
        for k in _COMPARABLE:
            if doc["options"][k] != first[k]:
                raise ValueError(f"documents: option {k!r} differs ({doc['options'][k]!r} vs {first[k]!r}); "
                                 f"only documents of one configuration share a figure")
    configs = {}
    for doc in docs:
        for c in doc["configs"]:
            configs[(c["arch"], c["depth"])] = c
    return configs, first


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def figure_6(documents: Sequence[dict], out_dir: Path, name: str = "fig6_training") -> Figure:
    """Fig. 6: test accuracy vs depth per architecture (left) and training-loss curves (right).

    ``documents``: ``fig6-training`` documents (or ``Store.documents`` rows) of one configuration.
    ``data["accuracy"][arch]`` = ``{"depths", "mean", "stderr", "n"}`` (lists, by depth);
    ``data["train_loss"][arch][depth]`` = ``{"epoch", "mean", "stderr"}`` (per epoch).
    """
    configs, options = _merge(documents)
    archs = [a for a in ARCH_STYLE if any(k[0] == a for k in configs)]
    archs += sorted({a for a, _ in configs} - set(archs))
    depths = sorted({d for _, d in configs})
    data: dict[str, Any] = {"accuracy": {}, "train_loss": {}}
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 4.4), layout="constrained")
    for k, arch in enumerate(archs):
        colour, marker, label = ARCH_STYLE.get(arch, (f"C{k}", "x", arch))
        ds = [d for d in depths if (arch, d) in configs]
        acc = [configs[(arch, d)]["test_accuracy"] for d in ds]
        mean = np.array([_num(a["mean"]) for a in acc])
        se = np.array([_num(a["stderr"]) for a in acc])
        data["accuracy"][arch] = {"depths": ds, "mean": mean.tolist(), "stderr": se.tolist(),
                                  "n": [a["n"] for a in acc]}
        left.errorbar(ds, mean, yerr=np.nan_to_num(se), color=colour, marker=marker, capsize=3,
                      lw=1.4, ms=5, label=label)
        data["train_loss"][arch] = {}
        for j, d in enumerate(ds):
            curve = configs[(arch, d)]["curves"]["train_loss"]
            y = np.array([_num(v) for v in curve["mean"]])
            epochs = np.arange(1, y.size + 1)
            data["train_loss"][arch][d] = {"epoch": epochs.tolist(), "mean": y.tolist(),
                                           "stderr": [_num(v) for v in curve["stderr"]]}
            right.plot(epochs, y, color=colour, ls=DEPTH_STYLES[depths.index(d) % len(DEPTH_STYLES)], lw=1.4,
                       marker=marker if y.size == 1 else None, ms=4)
    left.axhline(CHANCE, color=OKABE_ITO["black"], lw=0.8, ls=":", label="chance (10 %)")
    left.set_xscale("log")
    left.set_xticks(depths, [str(d) for d in depths])
    left.minorticks_off()
    left.set_xlabel("depth (conv modules after the stem)")
    left.set_ylabel("test accuracy")
    left.set_title("CIFAR-10 test accuracy vs depth")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=7, frameon=False)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("epoch")
    right.set_ylabel("training loss (cross-entropy)")
    right.set_title("training loss")
    handles = [Line2D([], [], color=ARCH_STYLE.get(a, ("grey",))[0], lw=1.4) for a in archs]
    handles += [Line2D([], [], color="grey", ls=DEPTH_STYLES[i % len(DEPTH_STYLES)], lw=1.4) for i in range(len(depths))]
    labels = [ARCH_STYLE.get(a, (None, None, a))[2] for a in archs] + [f"depth {d}" for d in depths]
    right.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=7,
                 frameon=False)
    cfg = options["config"]
    caption = (f"Fig. 6 (§5.1): thin convnets (filters 8→64) trained on {cfg['train_images']} CIFAR-10 images for "
               f"{options['epochs']} epochs (Adam, lr {cfg['lr']}, automatic drops, augmentation); test accuracy on "
               f"{cfg['test_images']} held-out images, mean over {options['seeds']} seed(s), bars ±1 standard error over seeds. "
               f"Right: mean training loss per epoch.")
    data["options"] = {"seeds": options["seeds"], "epochs": options["epochs"], "config": cfg}
    return Figure(name, "CIFAR-10 test accuracy vs depth, with and without the LL-init", caption,
                  _save(fig, out_dir, name), data)
