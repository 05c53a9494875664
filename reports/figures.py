"""The paper's figures from stored results, one function per figure.

Every function takes results that are already computed (``GridResult`` objects rebuilt from the
store, a ``theory.verify`` document), writes ``NAME.png`` and ``NAME.pdf`` into ``out_dir`` and
returns a :class:`Figure`: the files, a caption, and the exact numbers it plotted (``data``) so
that tests check content, not pixels.  Noise references (white and brown noise) are generated
here with a fixed seed — they are reference signals, not experiments.

Style: matplotlib's Agg backend, the Okabe–Ito colour-blind-safe palette, labelled axes,
legends, line styles that survive black-and-white printing.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from theory.claims import BROWN_EXPONENT, NOISE_BAND, WHITE_EXPONENT  # noqa: E402
from theory.decision import DEPARTS, HOLDS, classify  # noqa: E402

#: Okabe & Ito (2008), "Color Universal Design"
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
CYCLE = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "black")]
NOISE_COLOURS = {"white": "#7F7F7F", "brown": OKABE_ITO["black"]}
Z95 = 1.96
NOISE_SEED = 20170801  # fixed: the noise references are identical in every report

plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 7,
                     "figure.dpi": 110, "savefig.dpi": 150, "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
                     "pdf.fonttype": 42})


@dataclass
class Figure:
    """A written figure: its name, files, caption and the numbers it shows."""

    name: str
    title: str
    caption: str
    paths: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def png(self) -> Path:
        return next(p for p in self.paths if p.suffix == ".png")


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out_dir / f"{name}.{ext}"
        fig.savefig(path, metadata={"CreationDate": None} if ext == "pdf" else None)   # layout="constrained" fits the margins: no second, "tight" draw
        paths.append(path)
    plt.close(fig)
    return paths


# ----------------------------------------------------------------------------- noise references
def white_noise(samples: int, points: int, seed: int = NOISE_SEED) -> np.ndarray:
    """``W_k ~ N(0, 1)`` (the paper's Fig. 1e), ``samples`` rows of ``points`` values."""
    return np.random.default_rng([seed, 1]).standard_normal((samples, points))


def brown_noise(samples: int, points: int, seed: int = NOISE_SEED) -> np.ndarray:
    """``B(t) = Σ_{s≤t} W_s``, ``W_s ~ N(0, 1/points)`` (Fig. 1d: discrete Brownian motion)."""
    steps = np.random.default_rng([seed, 2]).standard_normal((samples, points)) / math.sqrt(points)
    return np.cumsum(steps, axis=1)


def acf(y: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample ACF ``Σ_m z_m z_{m+k} / Σ_m z_m²``, ``z = y − ȳ`` (the estimator of montecarlo.observables)."""
    z = np.asarray(y, dtype=np.float64) - np.mean(y)
    denom = float(z @ z)
    return np.array([float(z[: z.size - k] @ z[k:]) / denom for k in range(max_lag + 1)])


def noise_acf(kind: str, samples: int, points: int, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ACF of ``samples`` noise signals and its standard error, lags ``0..max_lag``."""
    signals = white_noise(samples, points) if kind == "white" else brown_noise(samples, points)
    values = np.array([acf(s, max_lag) for s in signals])
    return values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(samples)


def normalized_covariance(signals: np.ndarray) -> np.ndarray:
    """Average over signals of ``(g − ḡ)(g − ḡ)ᵀ / σ_g²`` (the paper's Fig. 1, bottom row)."""
    z = signals - signals.mean(axis=1, keepdims=True)
    out = np.zeros((z.shape[1], z.shape[1]))
    for row in z:
        out += np.outer(row, row) / (row @ row / row.size)
    return out / len(z)


def longest_flat_stretch(y: np.ndarray, rel_tol: float = 1e-9) -> tuple[int, int]:
    """``(start, stop)`` of the longest stretch of grid points where ``y`` is constant."""
    y = np.asarray(y, dtype=float)
    same = np.abs(np.diff(y)) <= rel_tol * max(float(np.abs(y).max()), 1e-300)
    best, start = (0, 1), None
    for i, flag in enumerate(np.append(same, False)):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i + 1 - start > best[1] - best[0]:
                best = (start, i + 1)
            start = None
    return best


def _estimates(values) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([e.mean for e in values], dtype=float), np.array([e.stderr for e in values], dtype=float))


# ----------------------------------------------------------------------------- Fig. 1
def figure_1(panels: Sequence[tuple[str, Any, np.ndarray | None]], out_dir: Path,
             name: str = "fig1_gradients") -> Figure:
    """Fig. 1: df/dx on the 1-D grid (top) and |normalized covariance| (bottom), next to noise.

    ``panels``: ``(label, GridResult, single)`` for the networks (paper: shallow, 24-layer
    centred ff, 50-layer BN resnet β = 0.1); ``single`` is one network's centred df/dx as
    stored (or None).  Brown and white noise are drawn with the fixed seed ``NOISE_SEED``, as
    many signals as the networks averaged.
    """
    if not panels:
        raise ValueError("figure_1 needs at least one stored grid run")
    points = panels[0][1].grid.size
    nets = max(p[1].acf[0].n for p in panels)
    brown, white = brown_noise(nets, points), white_noise(nets, points)
    columns = [(lbl, res.grid, single, res.covariance_matrix, res.acf[0].n) for lbl, res, single in panels]
    t = np.linspace(-2.0, 2.0, points)
    columns.append(("brown noise", t, brown[0] - brown[0].mean(), normalized_covariance(brown), nets))
    columns.append(("white noise", t, white[0] - white[0].mean(), normalized_covariance(white), nets))
    fig, axes = plt.subplots(2, len(columns), figsize=(2.3 * len(columns), 5.0), squeeze=False, layout="constrained")
    data: dict[str, Any] = {"curves": {}, "covariance": {}}
    letters = "abcdefghij"
    image = None
    for k, (label, grid, single, cov, n) in enumerate(columns):
        top, bottom = axes[0, k], axes[1, k]
        title = f"({letters[k]}) {label}"
        if single is not None:
            y = np.asarray(single, dtype=float)
            y = y / (y.std() or 1.0)
            top.plot(grid, y, color=OKABE_ITO["blue"] if "noise" not in label else NOISE_COLOURS[label.split()[0]],
                     lw=0.7)
            data["curves"][label] = y
            a, b = longest_flat_stretch(y)
            if b - a >= 0.2 * y.size and "noise" not in label:
                data.setdefault("flat", {})[label] = (float(grid[a]), float(grid[b - 1]))
        else:
            top.text(0.5, 0.5, "single-network\ncurve not stored", ha="center", va="center",
                     transform=top.transAxes)
        top.set_title(title)
        top.set_xlabel("input x")
        if k == 0:
            top.set_ylabel("df/dx (centred, unit variance)")
        absolute = np.abs(cov)
        data["covariance"][label] = absolute
        image = bottom.imshow(absolute, cmap="viridis", vmin=0.0, vmax=1.0, origin="upper",
                              extent=(grid[0], grid[-1], grid[-1], grid[0]), interpolation="nearest")
        bottom.set_xlabel("input x")
        if k == 0:
            bottom.set_ylabel("input x′")
        bottom.set_title(f"|covariance|, {n} signals", fontsize=8)
    fig.colorbar(image, ax=list(axes[1]), shrink=0.9, label="|normalized cov.|")
    caption = ("Fig. 1 (paper's Fig. 1). Top: df/dx of one network (network 0 of the stored run, "
               "centred and scaled to unit variance — the store keeps each network's centred gradient) on "
               f"the 1-D grid of {points} points in [−2, 2], next to one brown-noise and one white-noise "
               "signal. Bottom: |(g − ḡ)(g − ḡ)ᵀ/σ_g²| averaged over the stored networks (the paper shows "
               "one network); noise references: the same average over as many signals, drawn with fixed "
               f"seed {NOISE_SEED}.")
    for label, (a, b) in data.get("flat", {}).items():
        caption += (f" Note: in {label}, this network's df/dx is exactly constant for x in [{a:.2f}, {b:.2f}] "
                    "(no gate changes there along the grid).")
    return Figure(name, "Gradients on the 1-D grid vs brown and white noise", caption,
                  _save(fig, out_dir, name), data)


# ----------------------------------------------------------------------------- Fig. 2
def figure_2(panels: Sequence[tuple[str, Sequence[tuple[str, Any]]]], out_dir: Path,
             name: str = "fig2_acf") -> Figure:
    """Fig. 2: ACF of df/dx vs lag, mean over networks with ±1.96 se bands, vs white and brown noise.

    ``panels``: ``(title, [(label, GridResult), ...])``, e.g. feedforward / resnet BN β = 1 /
    resnet BN β = 0.1 at several depths.
    """
    if not panels or not any(series for _, series in panels):
        raise ValueError("figure_2 needs at least one stored grid run")
    first = next(res for _, series in panels for _, res in series)
    max_lag, points, nets = len(first.acf) - 1, first.grid.size, max(first.acf[0].n, 2)
    refs = {kind: noise_acf(kind, max(nets, 20), points, max_lag) for kind in ("white", "brown")}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 4.4), squeeze=False, sharey=True,
                             layout="constrained")
    data: dict[str, Any] = {"acf": {}, "noise": {}}
    lags = np.arange(max_lag + 1)
    styles = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
    for k, (title, series) in enumerate(panels):
        ax = axes[0, k]
        for kind, (mean, se) in refs.items():
            ax.plot(lags, mean, color=NOISE_COLOURS[kind], lw=2.2 if kind == "brown" else 1.6,
                    alpha=0.6, label=f"{kind} noise")
            ax.fill_between(lags, mean - Z95 * se, mean + Z95 * se, color=NOISE_COLOURS[kind], alpha=0.15, lw=0)
            data["noise"][kind] = (lags, mean, se)
        for j, (label, res) in enumerate(series):
            mean, se = _estimates(res.acf)
            lg = np.arange(mean.size)
            colour = CYCLE[j % len(CYCLE)]
            ax.plot(lg, mean, color=colour, ls=styles[j % len(styles)], lw=1.3, label=f"{label} (n={res.acf[0].n})")
            ax.fill_between(lg, mean - Z95 * se, mean + Z95 * se, color=colour, alpha=0.2, lw=0)
            data["acf"][label] = (lg, mean, se)
        ax.axhline(0.0, color="0.6", lw=0.5)
        ax.set_title(f"({'abcdef'[k]}) {title}")
        ax.set_xlabel("lag (grid steps of 4/(M−1))")
        if k == 0:
            ax.set_ylabel("autocorrelation of df/dx")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, ncol=1)
        ax.set_xlim(0, max_lag)
    lag1 = "; ".join(f"{label} {m[1]:.2f} ± {Z95 * e[1]:.2f}" for label, (_, m, e) in data["acf"].items()
                     if m.size > 1)
    exponents = [(label, res.spectral_exponent) for _, series in panels for label, res in series
                 if res.spectral_exponent is not None]
    data["spectral_exponent"] = {label: noise_band_of(e) for label, e in exponents}
    caption = ("Fig. 2 (paper's Fig. 2). Autocorrelation of df/dx along the 1-D grid, mean over the stored "
               "networks (n in the legend) with 95% bands (±1.96 standard errors over networks), against white "
               f"and brown noise (mean of {max(nets, 20)} signals, fixed seed {NOISE_SEED}). Lag-1 ACF "
               f"(± 1.96 se): {lag1}; white noise {refs['white'][0][1]:.2f}, brown noise {refs['brown'][0][1]:.2f}.")
    if exponents:
        caption += (" Spectral exponent of df/dx at every depth (95% t-interval over networks; white noise 0, brown "
                    f"noise 2, each band ± {NOISE_BAND.absolute:g}): "
                    + "; ".join(f"{label} {v['estimate']:.2f} [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}] {v['where']}"
                                for label, v in data["spectral_exponent"].items()) + ".")
    return Figure(name, "Autocorrelation of gradients vs depth", caption, _save(fig, out_dir, name), data)


def noise_band_of(exponent: Any, level: float = 0.95) -> dict[str, Any]:
    """Where a spectral exponent lies against the white (0) and brown (2) noise bands of the
    registry (:data:`theory.claims.NOISE_BAND`), by its ``level`` interval (the four outcomes of
    :func:`theory.decision.classify` against each band, summarized in words)."""
    lo, hi = exponent.interval(level)
    out = {"estimate": exponent.mean, "ci": (lo, hi), "n": exponent.n}
    inside = {}
    for name, centre in (("white", WHITE_EXPONENT), ("brown", BROWN_EXPONENT)):
        band = (centre - NOISE_BAND.absolute, centre + NOISE_BAND.absolute)
        inside[name] = classify((lo, hi), band, None)
    held = [k for k, v in inside.items() if v == HOLDS]
    if held:
        out["where"] = f"in the {held[0]} band"
    elif all(v == DEPARTS for v in inside.values()):
        out["where"] = "between the bands" if lo > WHITE_EXPONENT + NOISE_BAND.absolute and \
            hi < BROWN_EXPONENT - NOISE_BAND.absolute else "outside both bands"
    else:
        out["where"] = "on a band's edge (undecided)"
    out["bands"] = inside
    return out


# ----------------------------------------------------------------------------- Fig. 3
def figure_3(series: Sequence[tuple[str, Any, bool]], out_dir: Path, name: str = "fig3_activations") -> Figure:
    """Fig. 3: proportion of active units and of co-active distinct pairs of inputs, per layer.

    ``series``: ``(label, GridResult, with_bn)``; without BN solid, with BN dotted (as the
    paper); activations green, co-activations blue.  Reference lines at 1/2 and 1/4
    (Assumption 1).
    """
    if not series:
        raise ValueError("figure_3 needs at least one stored grid run")
    fig, ax = plt.subplots(figsize=(4.6, 3.2), layout="constrained")
    data: dict[str, Any] = {}
    for label, res, bn in series:
        ls = ":" if bn else "-"
        for what, colour in (("active", OKABE_ITO["green"]), ("coactive", OKABE_ITO["blue"])):
            mean, se = _estimates(getattr(res, what))
            layers = np.arange(1, mean.size + 1)
            ax.plot(layers, mean, color=colour, ls=ls, lw=1.6,
                    label=f"{'activation' if what == 'active' else 'co-activation'}, {label}")
            ax.fill_between(layers, mean - Z95 * se, mean + Z95 * se, color=colour, alpha=0.2, lw=0)
            data[(label, what)] = (layers, mean, se)
    for level in (0.5, 0.25):
        ax.axhline(level, color="0.5", lw=0.6, ls="--")
    ax.set_xlabel("layer")
    ax.set_ylabel("proportion")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, loc="upper left", fontsize=7)
    n = series[0][1].active[0].n
    ends = "; ".join(f"{label}: {data[(label, 'coactive')][1][0]:.3f} at layer 1, "
                     f"{data[(label, 'coactive')][1][-1]:.3f} at layer {data[(label, 'coactive')][0][-1]}"
                     for label, _, _ in series)
    caption = ("Fig. 3 (paper's Fig. 3). Activations (green): proportion of grid inputs for which a layer's "
               "neurons are active, on average. Co-activations (blue): proportion of distinct pairs of inputs "
               f"for which a neuron is active for both. Without BN solid, with BN dotted; mean over {n} networks "
               f"with 95% bands; dashed lines: Assumption 1's 1/2 and 1/4. Co-activation: {ends}.")
    return Figure(name, "Activation and co-activation per layer", caption, _save(fig, out_dir, name), data)


# ----------------------------------------------------------------------------- Fig. 4
#: what writes the missing rasters (named in Fig. 4's caption)
RASTER_COMMAND = "python -m reports.produce --rasters-only"


def pick_layers(depth: int) -> list[int]:
    """Layers shown in Fig. 4: first, an early-middle one and the last (distinct, 1-based);
    the one choice of :func:`reports.catalog.fig4_layers`, which also picks the stored rasters."""
    from .catalog import fig4_layers
    return fig4_layers(depth)


def raster_image(gates: np.ndarray, sort_rows: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(image, order)``: the (N, M) gates of one layer with rows ``order`` — by activation level
    ``k_n/M``, most active first (stable), when ``sort_rows``, else in neuron order."""
    gates = np.asarray(gates, dtype=bool)
    order = np.argsort(-gates.mean(axis=1), kind="stable") if sort_rows else np.arange(gates.shape[0])
    return gates[order], order


def figure_4(series: Sequence[tuple], out_dir: Path, name: str = "fig4_contiguity",
             layers: Sequence[int] | None = None, *, raster_layer: int | None = None, sort_rows: bool = True,
             raster_command: str = RASTER_COMMAND) -> Figure:
    """Fig. 4: one network's gate raster (top), per-neuron activation-level histograms (middle)
    and contiguity histograms (bottom), one column per network family.

    ``series``: ``(label, GridResult)`` or ``(label, GridResult, GateRaster | None)`` (paper: ff
    without BN, ff with BN, resnet with BN; :class:`montecarlo.raster.GateRaster`, network 0 of
    the same stored run).  Raster: ``R[n, m] = 1[u_{l,n}(t_m) > 0]`` of layer ``raster_layer``
    (default: the deepest stored layer), black = active; rows sorted by activation level
    ``k_n/M``, most active on top, when ``sort_rows`` (the paper does not say how its rows are
    ordered; a permutation of rows leaves each row's runs, i.e. the contiguity, unchanged).
    Middle: share of neurons whose activation level ``k/M`` falls in each bin, pooled over the
    stored networks, layers ``layers`` (default :func:`pick_layers`).  Bottom: share of runs of
    equal activation along the grid of each length (log–log).  Without any raster the raster
    row is left out; a missing one is named in the caption with ``raster_command``.
    """
    if not series:
        raise ValueError("figure_4 needs at least one stored grid run")
    items = [(s[0], s[1], s[2] if len(s) > 2 else None) for s in series]
    with_raster = any(r is not None for _, _, r in items)
    top = 1 if with_raster else 0
    fig, axes = plt.subplots(2 + top, len(items), figsize=(3.1 * len(items), 5.2 + 2.6 * top), squeeze=False,
                             layout="constrained")
    data: dict[str, Any] = {}
    missing: list[str] = []
    raster_notes: list[str] = []
    for k, (label, res, raster) in enumerate(items):
        levels, runs = np.asarray(res.activation_levels, float), np.asarray(res.run_length_counts, float)
        depth = levels.shape[0]
        shown = [l for l in (layers or pick_layers(depth)) if 1 <= l <= depth]
        bins = levels.shape[1]
        edges = np.linspace(0, 1, bins + 1)
        entry: dict[str, Any] = {"levels": {}, "runs": {}}
        hist_ax, run_ax = axes[top, k], axes[top + 1, k]
        for j, layer in enumerate(shown):
            colour = CYCLE[j % len(CYCLE)]
            share = levels[layer - 1] / max(levels[layer - 1].sum(), 1)
            hist_ax.stairs(share, edges, color=colour, lw=1.5, ls=["-", "--", ":"][j % 3], label=f"layer {layer}")
            entry["levels"][layer] = share
            counts = runs[layer - 1]
            lengths = np.arange(1, counts.size + 1)
            frac = counts / max(counts.sum(), 1)
            keep = frac > 0
            run_ax.plot(lengths[keep], frac[keep], color=colour, marker="os^"[j % 3], ms=2.5, lw=0.8,
                        ls=["-", "--", ":"][j % 3], label=f"layer {layer}")
            entry["runs"][layer] = frac
        title = f"({'abc'[k] if k < 3 else k}) {label}"
        if with_raster:
            ax = axes[0, k]
            if raster is None:
                missing.append(label)
                ax.text(0.5, 0.5, f"raster not stored:\n{raster_command}", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes, wrap=True)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                layer = raster_layer if raster_layer is not None else max(raster.layers)
                image, order = raster_image(raster.layer(layer), sort_rows)
                N, M = image.shape
                grid = np.asarray(res.grid, float) if np.size(res.grid) == M else np.linspace(-2.0, 2.0, M)
                ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, aspect="auto", interpolation="nearest",
                          extent=(grid[0], grid[-1], N, 0))
                ax.set_xlabel("input x")
                ax.set_ylabel("neuron" + (" (sorted by activation)" if sort_rows else ""))
                title += f"\nnetwork {raster.network}, layer {layer}"
                switches = (image[:, 1:] != image[:, :-1]).sum(axis=1)
                entry["raster"] = {"layer": layer, "network": raster.network, "image": image, "order": order,
                                   "levels": image.mean(axis=1), "never_switch": float((switches == 0).mean()),
                                   "mean_switches": float(switches.mean())}
                raster_notes.append(f"{label} (layer {layer}): {entry['raster']['never_switch']:.2f} never switch, "
                                    f"{entry['raster']['mean_switches']:.1f} switches per neuron")
            ax.set_title(title)
        else:
            hist_ax.set_title(title)
            missing.append(label)
        hist_ax.set_xlabel("activation level (share of inputs)")
        run_ax.set_xscale("log")
        run_ax.set_yscale("log")
        run_ax.set_xlabel("run length (grid points)")
        if k == 0:
            hist_ax.set_ylabel("share of neurons")
            run_ax.set_ylabel("share of runs (contiguity)")
        hist_ax.legend(frameon=False, fontsize=7)
        run_ax.legend(frameon=False, fontsize=7)
        data[label] = entry
    data["missing_rasters"] = missing
    n = items[0][1].active[0].n
    extreme = "; ".join(f"{label} {d['levels'][max(d['levels'])][0] + d['levels'][max(d['levels'])][-1]:.2f}"
                        for label, d in data.items() if label != "missing_rasters")
    caption = "Fig. 4 (paper's Fig. 4). "
    if raster_notes:
        caption += ("Top: raster of one network (network 0 of the stored run, recomputed from its seed and stored "
                    "by the Monte Carlo side): neuron n (row) is black where its ReLU is active at grid input x "
                    "(column); rows " + ("sorted by activation level, most active on top (the paper does not say "
                                         "how its rows are ordered; sorting leaves each row's runs unchanged)"
                                         if sort_rows else "in neuron order")
                    + ". Share of neurons that never switch along the grid, and mean switches per neuron: "
                    + "; ".join(raster_notes) + ". Middle")
    else:
        caption += "Top"
    caption += (": distribution of per-neuron activation levels (share of the grid inputs for which a neuron is "
                f"active). Bottom: contiguity — distribution of the lengths of runs of equal activation along the "
                f"grid. Histograms pooled over {n} networks. Share of last-layer neurons (almost) always off or "
                f"always on (level < 0.1 or >= 0.9): {extreme}.")
    if missing:
        caption += (f" No stored raster for {', '.join(missing)}: `{raster_command}` writes it (one network each, "
                    "from the stored runs).")
    return Figure(name, "Activation rasters, activation levels and contiguity", caption,
                  _save(fig, out_dir, name), data)


# ----------------------------------------------------------------------------- theory vs measurement
def correlation_claims(doc: dict) -> list[dict]:
    """Claims of a verify document measured as typical-pair correlations, one per distinct spec."""
    seen, out = set(), []
    for c in doc.get("claims", []):
        obs = c.get("observable") or {}
        if obs.get("experiment") != "typical_pairs" or obs.get("quantity") != "correlation" or not obs.get("spec"):
            continue
        key = tuple(sorted(obs["spec"].items()))
        if key in seen:
            continue
        seen.add(key)
        out.append(c)
    return out


def _mc_points(entry: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [(d["depth"], d["estimate"], d["stderr"]) for d in (entry or {}).get("depths", []) or []
            if d.get("estimate") is not None and d.get("depth") is not None]
    if not rows:
        return np.array([]), np.array([]), np.array([])
    d, e, s = map(np.array, zip(*rows))
    return d.astype(int), e.astype(float), np.nan_to_num(s.astype(float))


def figure_theory(doc: dict, out_dir: Path, name: str = "fig_theory_vs_measurement") -> Figure:
    """Correlation of typical-pair gradients vs depth (log scale), one panel per architecture.

    Lines: the path model's closed form (:func:`theory.pathsum.path_moments` ``layer_curves``)
    and the infinite-width prediction (:func:`theory.infinite_width.infinite_width_moments`,
    batch of ``2·pairs`` inputs, input correlation 0).  Points: the Monte Carlo estimates stored
    in the verify document (path model and real networks), error bars ±1.96 se.
    """
    from theory.infinite_width import infinite_width_moments
    from theory.pathsum import path_moments
    from theory.specs import spec_from_dict

    claims = correlation_claims(doc)
    if not claims:
        raise ValueError("figure_theory needs a verify document with typical-pair correlation claims")
    pairs = int((doc.get("settings") or {}).get("pairs_per_net", 32))
    cols = min(3, len(claims))
    rows = math.ceil(len(claims) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.8 * rows), squeeze=False, layout="constrained")
    data: dict[str, Any] = {}
    for k, c in enumerate(claims):
        ax = axes[k // cols, k % cols]
        spec = spec_from_dict(c["observable"]["spec"])
        depth = np.arange(1, spec.depth + 1)
        closed = np.array([float(x) for x in path_moments(spec)["layer_curves"]["correlation"]])
        try:
            iw = np.array(infinite_width_moments(spec, c0=0.0, batch_size=2 * pairs)["layer_curves"]["correlation"],
                          dtype=float)
        except Exception:  # noqa: BLE001 — an architecture without a mean-field map: closed form only
            iw = None
        ax.plot(depth, closed, color=OKABE_ITO["black"], lw=1.4, label="closed form (path model)")
        if iw is not None:
            ax.plot(depth, iw, color=OKABE_ITO["orange"], lw=1.4, ls="--", label="infinite width")
        entry = {"depth": depth, "closed_form": closed, "infinite_width": iw}
        for column, colour, marker in (("path", OKABE_ITO["sky"], "s"), ("real", OKABE_ITO["vermillion"], "o")):
            d, est, se = _mc_points(c.get(column))
            positive = est > 0
            if positive.any():
                low = np.minimum(Z95 * se, est * 0.999)  # keep the bar on the log axis
                ax.errorbar(d[positive], est[positive], yerr=[low[positive], (Z95 * se)[positive]], fmt=marker,
                            color=colour, ms=4, capsize=2, lw=1,
                            label="Monte Carlo, " + ("path model" if column == "path" else "real nets"))
            entry[column] = (d, est, se)
        ax.set_yscale("log")
        ax.set_title(f"{c['id']}\n" + textwrap.fill(spec.describe(), 46), fontsize=7)
        ax.set_xlabel("depth d (layers below the output)")
        if k % cols == 0:
            ax.set_ylabel("gradient correlation")
        data[c["id"]] = entry
        if k == 0:
            ax.legend(frameon=False, fontsize=6)
    for k in range(len(claims), rows * cols):
        axes[k // cols, k % cols].axis("off")
    caption = ("Theory vs measurement. Correlation of the gradients of typical pairs of inputs vs depth (log "
               "scale): the path model's closed form (Assumption 1, solid), the infinite-width mean-field "
               f"prediction (batch of {2 * pairs} inputs, dashed), and the Monte Carlo estimates of the verify "
               "document (squares: path-model simulation; circles: real networks; bars ±1.96 se; "
               "non-positive estimates are not drawn on the log axis).")
    return Figure(name, "Theory vs measurement", caption, _save(fig, out_dir, name), data)
