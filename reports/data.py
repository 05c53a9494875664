"""Find and load stored results: grid runs from the results store, the ``theory.verify`` document.

Nothing here samples a network: results are rebuilt from stored chunks
(:func:`montecarlo.results.load_result`), and one network's centred ``df/dx`` (Fig. 1's
top row) is read from the per-network summary rows that every grid chunk keeps; network 0's gate
raster (Fig. 4's top row) from its ``grid-raster`` document (:mod:`montecarlo.raster`); the CIFAR-10
runs of Fig. 5 and Fig. 6 from their ``fig5-convnets`` and ``fig6-training`` documents (nothing
trained or probed; torch is not imported).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from montecarlo.results import load_result
from montecarlo.store import Store, StoreError, StoredRun, canonical_json, default_store_path, engine_version
from theory.specs import NetworkSpec, spec_command_args, spec_from_dict

from .catalog import GRID_ENTRIES, GridEntry


class ReportInputError(Exception):
    """Stored inputs cannot be used (missing, corrupt); the message says what to run or fix."""


@dataclass
class GridSeries:
    """A stored grid run, ready for the figures."""

    entry: GridEntry
    run: StoredRun
    result: Any  # montecarlo.observables.GridResult
    single_gradient: np.ndarray | None  # network 0's centred df/dx on the grid, or None
    raster: Any = None  # montecarlo.raster.GateRaster of network 0 (Fig. 4 entries), or None

    @property
    def label(self) -> str:
        return self.entry.label

    @property
    def nets(self) -> int:
        return self.run.contiguous

    @property
    def current(self) -> bool:
        return self.run.key.code_version == engine_version()


@dataclass
class ReportInputs:
    store_path: Path | None
    grid: dict[str, GridSeries] = field(default_factory=dict)
    missing: list[GridEntry] = field(default_factory=list)
    verify: dict | None = None
    verify_path: Path | None = None
    fig5: list[dict] = field(default_factory=list)  # stored fig5-convnets entries, one per setting (Fig. 5)
    fig6: list[dict] = field(default_factory=list)  # stored fig6-training entries of one configuration (Fig. 6)

    @property
    def empty(self) -> bool:
        return not self.grid and self.verify is None and not self.fig5 and not self.fig6


def _usable(run: StoredRun, spec_key: str) -> bool:
    opts = run.options
    return (run.key.experiment == "grid" and run.key.spec == spec_key and opts.get("model") == "real"
            and opts.get("bn_backward") in (None, "constant") and run.contiguous >= 2)


def find_grid_run(runs: list[StoredRun], spec: NetworkSpec) -> StoredRun | None:
    """The best stored grid run of ``spec`` (real networks, BN statistics constant).

    Preference: the current code version, then the most networks, then the finest grid, then
    the newest run.
    """
    spec_key = canonical_json(spec.to_dict())
    version = engine_version()
    candidates = [r for r in runs if _usable(r, spec_key)]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.key.code_version == version, r.contiguous,
                                          r.options.get("points", 0), r.id))


def single_network_gradient(store: Store, run: StoredRun) -> np.ndarray | None:
    """Network 0's centred gradient ``z = df/dx − mean`` on the grid, read from its stored summary row."""
    from montecarlo.chunks import make_experiment  # builds the row layout only; samples nothing
    opts = dict(run.options)
    opts.pop("backend", None)
    model = opts.pop("model")
    stats = opts.pop("bn_backward", None) or "constant"
    try:
        exp = make_experiment(spec_from_dict(run.spec), "grid", model, dict(opts, bn_backward=stats))
        first = next(((a, b) for a, b in store.chunk_ranges(run.key) if a == 0), None)
        if first is None:
            return None
        rows = store.load_chunk(run.key, first[0], first[1], exp.width())
        return np.array(rows[0, exp._columns()["z"]])
    except (KeyError, ValueError, AttributeError):
        return None


def load_raster(store: Store, run: StoredRun):
    """Network 0's stored gate raster of ``run`` (same spec, options and seed; the run's own code
    version preferred, then the current one), or None when none is stored or it does not decode."""
    from montecarlo.raster import find_raster  # decodes stored bits only; samples nothing
    try:
        return find_raster(store, run.key, network=0)
    except ValueError:
        return None


def load_verify(path: str | Path) -> dict:
    """A ``python -m theory.verify --json`` document; a corrupt file raises ReportInputError naming it."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportInputError(f"--results {path}: no such file; write it with "
                               f"`python -m theory.verify --json > {path}`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportInputError(f"--results {path}: not a JSON document ({err}); write it again with "
                               f"`python -m theory.verify --json > {path}`") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise ReportInputError(f"--results {path}: not a theory.verify document (no 'claims' list); "
                               f"write it with `python -m theory.verify --json > {path}`")
    return doc


def load_inputs(store_path: str | Path | None = None, results: str | Path | None = None,
                entries: tuple[GridEntry, ...] = GRID_ENTRIES) -> ReportInputs:
    """Everything the report can use; a store that does not exist is *not* created."""
    path = Path(store_path).expanduser() if store_path is not None else default_store_path()
    exists = path.exists() and (path.is_dir() or path.stat().st_size > 0)  # an empty file holds nothing
    inputs = ReportInputs(store_path=path if exists else None)
    if results is not None:
        inputs.verify = load_verify(results)
        inputs.verify_path = Path(results)
    if inputs.store_path is None:
        inputs.missing = list(entries)
        return inputs
    try:
        with Store(path) as store:
            runs = store.runs()
            for e in entries:
                run = find_grid_run(runs, e.spec)
                if run is None:
                    inputs.missing.append(e)
                    continue
                result = load_result(store, run, run.contiguous)
                inputs.grid[e.name] = GridSeries(e, run, result, single_network_gradient(store, run),
                                                 load_raster(store, run) if "fig4" in e.figures else None)
            inputs.fig5 = load_fig5(store)
            inputs.fig6 = load_fig6(store)
    except StoreError as err:
        raise ReportInputError(str(err)) from None
    return inputs


def montecarlo_command(run: StoredRun) -> str:
    """The ``python -m montecarlo`` command line that computes (or re-reads) a stored grid run."""
    spec = spec_from_dict(run.spec)
    arch = spec.arch
    parts = ["python -m montecarlo", arch, *spec_command_args(spec)]
    opts = run.options
    parts += ["--experiment grid", f"--model {opts.get('model', 'real')}", f"--points {opts.get('points')}",
              f"--max-lag {opts.get('max_lag')}", f"--nets {run.contiguous}", f"--seed {run.key.seed}",
              f"--backend {opts.get('backend')}"]
    if opts.get("bn_backward"):
        parts.append(f"--bn-backward {opts['bn_backward']}")
    if arch != "shallow" and opts.get("bias_std") not in (None, 1.0):
        parts.append(f"--bias-std {opts['bias_std']:g}")
    return " ".join(parts)


def load_fig5(store: Store) -> list[dict]:
    """Stored ``fig5-convnets`` documents for Fig. 5, one per setting (loss, BN backward, β): the
    current code version first, then the most minibatches (:func:`montecarlo.convnets.documents.select_documents`);
    the CLI's default setting first.  Documents without covariance matrices or configs are skipped."""
    from montecarlo.convnets.documents import FIG5_KIND, select_documents
    stored = [e for e in store.documents(FIG5_KIND) if e["document"].get("configs")]
    return select_documents(stored)


def select_fig6(stored: list[dict], current_version: str) -> list[dict]:
    """The stored ``fig6-training`` documents that share Fig. 6: one comparable group.

    ``stored``: entries of :meth:`Store.documents`.  A group = one code version and one configuration
    (seeds, epochs and every training option: what :func:`reports.figures_training.figure_6` requires of
    the documents it merges); documents of one group with other architectures or depths add curves.
    Preference: the current code version, then the most (architecture, depth) points (the figure is
    accuracy against depth: a claim's deciding run, two architectures at one depth with many seeds,
    does not replace the default run's curves), then the most seeds × epochs, then the newest document.
    Returned oldest first (a newer document wins an (arch, depth) both hold); each entry gains
    ``"current": bool``.  Documents without configs or of another layout are skipped.
    """
    groups: dict[tuple, list[dict]] = {}
    for entry in stored:
        doc = entry.get("document")
        try:
            o = doc["options"]
            if doc.get("kind") != "fig6-training" or not doc.get("configs"):
                continue
            group = (entry.get("code_version"), int(o["seeds"]), int(o["epochs"]), canonical_json(o["config"]))
        except (KeyError, TypeError, ValueError):
            continue
        groups.setdefault(group, []).append(dict(entry, current=entry.get("code_version") == current_version))
    if not groups:
        return []
    def points(group: tuple) -> int:
        return len({(c.get("arch"), c.get("depth")) for e in groups[group] for c in e["document"]["configs"]
                    if isinstance(c, dict)})

    best = max(groups, key=lambda g: (g[0] == current_version, points(g), g[1] * g[2],
                                      max(int(e["id"]) for e in groups[g])))
    return sorted(groups[best], key=lambda e: int(e["id"]))


def load_fig6(store: Store) -> list[dict]:
    """Stored ``fig6-training`` documents for Fig. 6 (:func:`select_fig6`; code version of
    :func:`montecarlo.convnets.documents.fig6_code_version`, that of ``python -m montecarlo.convnets.train``)."""
    from montecarlo.convnets.documents import FIG6_KIND, fig6_code_version
    return select_fig6(store.documents(FIG6_KIND), fig6_code_version())
