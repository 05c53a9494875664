"""One network's gate raster on the 1-D grid (the raster plots of the paper's Fig. 4), stored.

The top row of the paper's Fig. 4 shows, for one network and one layer ``l``, the matrix

    R[n, m] = 1[u_{l,n}(t_m) > 0]        (neuron n of block l, grid input t_m ∈ [−2, 2])

(black/white; rows: neurons, columns: the ``M`` inputs).  Its row means are the activation
levels ``k_n/M`` of the "activation per unit" histogram and the runs of equal values along its
rows are the "contiguity" histogram.  The results store keeps those histograms per network
(:class:`~montecarlo.observables.GridExperiment` summary rows), not the gates, and a report
never samples a network.  So the Monte Carlo side recomputes network ``i`` of a grid run
(:meth:`GridExperiment.raster`: the network depends only on ``(seed, i)``, so its gates are bit
for bit those behind its summary row) and stores the gates as a *document*
(:meth:`montecarlo.store.Store.put_document`):

* kind ``"grid-raster"``;
* key ``{"spec", "experiment": "grid", "options", "seed", "network", "layers"}`` — spec and
  options exactly as in the run's :class:`~montecarlo.store.RunKey` (options include the
  backend: a float32 kernel may flip a gate whose pre-activation is within rounding of 0);
* code version :func:`~montecarlo.store.engine_version` — the run key's own, so a raster and
  the run it illustrates are computed by the same code;
* document ``{"shape": [K, N, M], "layers", "network", "seed", "grid", "encoding", "bits"}``
  with ``bits`` = base64 of ``numpy.packbits`` (big-endian bit order) of the C-order (layer,
  neuron, grid point) flattening: ``K·N·M/8`` bytes (Fig. 4's 3 layers × 100 neurons × 256
  points: 9.6 kB, 12.8 kB as base64).

Before storing, :func:`write_raster` checks the raster against the run's stored summary row of
that network when its chunk is stored under the current code version: per layer, the activation
proportion, co-activation proportion, level histogram and run-length counts must agree exactly
(else ``RuntimeError``: the network was not reproduced).

**Who writes them.**  ``python -m reports.produce`` writes the raster of network 0 for the Fig. 4
layers (:func:`reports.catalog.fig4_layers`) of every grid run that Fig. 4 uses, after the grid
runs; ``--rasters-only`` does only that, for the runs the report would pick.  :func:`runner.estimate`
does not: which network and layers to show is the figure's choice, and a raster computed on the
client would bypass the executor.  Reading (:func:`find_raster`, :func:`decode_gates`) imports
no kernel and samples nothing.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .store import RunKey, Store, engine_version, open_store

RASTER_KIND = "grid-raster"
ENCODING = "numpy.packbits(bitorder='big') of the C-order (layer, neuron, grid point) bool array, base64"


@dataclass(frozen=True, eq=False)
class GateRaster:
    """Gates ``gates[j, n, m]`` of block ``layers[j]`` of network ``network`` of a grid run."""

    layers: tuple[int, ...]
    gates: np.ndarray  # (len(layers), N, M) bool
    network: int
    seed: int
    code_version: str | None = None

    def layer(self, layer: int) -> np.ndarray:
        """The (N, M) raster of block ``layer``."""
        if layer not in self.layers:
            raise ValueError(f"layer={layer!r} is not allowed: one of the stored layers "
                             f"{', '.join(map(str, self.layers))}")
        return self.gates[self.layers.index(layer)]

    def activation_levels(self, layer: int) -> np.ndarray:
        """``k_n/M``: the share of grid inputs for which neuron ``n`` of ``layer`` is active."""
        return self.layer(layer).mean(axis=1)


class RasterWrite(NamedTuple):
    raster: GateRaster
    written: bool   # False: the same document was already stored (nothing computed or written)
    checked: bool   # True: compared with the run's stored summary row of that network


def encode_gates(gates: np.ndarray) -> dict:
    """``{"shape", "encoding", "bits"}`` of a bool array (bits packed 8 per byte, base64)."""
    gates = np.asarray(gates)
    if gates.dtype != bool or gates.ndim != 3:
        raise ValueError(f"gates of dtype {gates.dtype} and shape {gates.shape} are not allowed: "
                         "a (layers, neurons, grid points) bool array")
    packed = np.packbits(np.ascontiguousarray(gates).ravel(), bitorder="big")
    return {"shape": [int(s) for s in gates.shape], "encoding": ENCODING,
            "bits": base64.b64encode(packed.tobytes()).decode("ascii")}


def decode_gates(document: dict) -> np.ndarray:
    """The bool array of :func:`encode_gates`; a document that does not decode raises ``ValueError``."""
    try:
        shape = tuple(int(s) for s in document["shape"])
        if document.get("encoding") != ENCODING:
            raise ValueError(f"encoding={document.get('encoding')!r} is not allowed: {ENCODING!r}")
        raw = np.frombuffer(base64.b64decode(document["bits"], validate=True), dtype=np.uint8)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"not a gate raster document ({err})") from None
    count = int(np.prod(shape)) if shape else 0
    if len(shape) != 3 or raw.size != (count + 7) // 8:
        raise ValueError(f"gate raster of shape {shape} needs {(count + 7) // 8} bytes, the document "
                         f"holds {raw.size}")
    return np.unpackbits(raw, count=count, bitorder="big").astype(bool).reshape(shape)


def raster_key(run: RunKey, network: int, layers: Sequence[int]) -> dict:
    """The document key of network ``network``'s raster (``layers``) of the grid run ``run``."""
    return {"spec": json.loads(run.spec), "experiment": run.experiment, "options": json.loads(run.options),
            "seed": int(run.seed), "network": int(network), "layers": [int(l) for l in layers]}


def _of_run(entry: dict, run: RunKey, network: int) -> bool:
    key = entry["key"]
    return (key.get("spec") == json.loads(run.spec) and key.get("experiment") == run.experiment
            and key.get("options") == json.loads(run.options) and key.get("seed") == run.seed
            and key.get("network") == network)


def _raster_of(entry: dict) -> GateRaster:
    doc = entry["document"]
    gates = decode_gates(doc)
    layers = tuple(int(l) for l in entry["key"]["layers"])
    if gates.shape[0] != len(layers):
        raise ValueError(f"gate raster of shape {gates.shape} does not hold layers {layers}")
    return GateRaster(layers, gates, int(entry["key"]["network"]), int(entry["key"]["seed"]),
                      entry["code_version"])


def find_raster(store: Store, run: RunKey, network: int = 0, layers: Sequence[int] | None = None) -> GateRaster | None:
    """The stored raster of network ``network`` of ``run`` (same spec, options, seed), or None.

    ``layers``: require exactly these (default: any).  Preference: the run's own code version
    (bit-identical to the network behind its summaries), then the current one, then the newest.
    A document that does not decode raises ``ValueError``.  Reads only; samples nothing.
    """
    wanted = None if layers is None else [int(l) for l in layers]
    found = [e for e in store.documents(RASTER_KIND) if _of_run(e, run, network)
             and (wanted is None or e["key"].get("layers") == wanted)]
    if not found:
        return None
    version = engine_version()
    best = max(found, key=lambda e: (e["code_version"] == run.code_version, e["code_version"] == version, e["id"]))
    return _raster_of(best)


def check_against_row(experiment, raster: GateRaster, row: np.ndarray) -> None:
    """Raise ``RuntimeError`` unless ``raster`` reproduces the gate statistics of summary ``row``.

    For every layer of the raster: activation and co-activation proportions, activation-level
    histogram and run-length counts (:func:`~montecarlo.observables.layer_activation_summary`)
    equal the stored ones exactly.
    """
    from .observables import layer_activation_summary
    props, levels, runs = experiment.gate_columns(row)
    p, lv, rl = layer_activation_summary(raster.gates, experiment.level_bins)
    rows = [l - 1 for l in raster.layers]
    for name, mine, stored in (("proportions", p, props[rows]), ("level histogram", lv, levels[rows]),
                               ("run-length counts", rl, runs[rows])):
        if not np.array_equal(mine, stored):
            raise RuntimeError(f"the raster of network {raster.network} (seed {raster.seed}) does not reproduce "
                               f"its stored {name} (layers {raster.layers}): the network was not recomputed "
                               "bit for bit")


def write_raster(store, experiment, seed: int, backend: str, *, network: int = 0,
                 layers: Sequence[int] | None = None) -> RasterWrite:
    """Compute and store network ``network``'s raster of the grid run ``(experiment, seed, backend)``.

    ``experiment``: a :class:`~montecarlo.observables.GridExperiment`; ``layers``: default every
    block.  Nothing is computed when the same document is already stored (``written`` False).
    When the run's chunk holding that network is stored under the current code version, the
    raster is checked against its summary row first (:func:`check_against_row`).
    ``store``: a :class:`~montecarlo.store.Store` or a path.
    """
    if getattr(experiment, "name", None) != "grid":
        raise ValueError(f"experiment={type(experiment).__name__} is not allowed: a GridExperiment "
                         "(rasters exist on the 1-D grid only)")
    layers = list(range(1, experiment.layers + 1)) if layers is None else [int(l) for l in layers]
    st, owned = open_store(store)
    if st is None:
        raise ValueError("store=None is not allowed: a Store or a path (the raster is written there)")
    try:
        run = RunKey.of(experiment, seed, backend, engine_version())
        key = raster_key(run, network, layers)
        stored = [e for e in st.documents(RASTER_KIND, run.code_version) if e["key"] == key]
        if stored:
            return RasterWrite(_raster_of(stored[0]), False, False)
        gates = experiment.raster(seed, network, layers, backend)
        raster = GateRaster(tuple(layers), gates, int(network), int(seed), run.code_version)
        chunk = next(((a, b) for a, b in st.chunk_ranges(run) if a <= network < b), None)
        if chunk is not None:
            rows = st.load_chunk(run, chunk[0], chunk[1], experiment.width())
            check_against_row(experiment, raster, rows[network - chunk[0]])
        from .sampling import grid_points
        t = grid_points(experiment.points)
        document = dict(encode_gates(gates), layers=layers, network=int(network), seed=int(seed),
                        grid={"points": int(t.size), "low": float(t[0]), "high": float(t[-1])})
        written = st.put_document(RASTER_KIND, key, document, run.code_version)
        return RasterWrite(raster, written, chunk is not None)
    finally:
        if owned:
            st.close()
