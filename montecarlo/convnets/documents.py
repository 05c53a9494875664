"""Fig. 5 (CIFAR-10 convnets at initialization) results as documents of the results store.

``python -m montecarlo.convnets`` stores each run as one document of kind :data:`FIG5_KIND`
(:meth:`montecarlo.store.Store.put_document`); ``theory.verify`` and ``python -m reports`` read
them.  This module is the one place that knows the document's layout, and it imports neither
torch nor the samplers, so readers never load (or run) an experiment.

**Key** (:func:`fig5_key`): every option that determines the numbers (the fields of
:class:`.specs.Fig5Config`: architectures, depths, minibatches, batch size, β, width, BN
backward, loss, seed, split, torch threads — a different thread count may change the last bits
of a convolution) and the data: the name and SHA-256 of every CIFAR-10 batch file read (not its
path: the same bytes elsewhere give the same numbers).

**BN backward.**  Documents stored before the two vocabularies were merged name the derivative
through the batch statistics ``autograd``; every reader here (:func:`setting`,
:func:`select_documents`, :func:`command_line`) reads it as ``through``
(:func:`theory.options.bn_backward`).

**Code version** (:func:`fig5_code_version`): :func:`montecarlo.store.source_version` of
:data:`FIG5_SOURCES` — the modules that compute the numbers, their seeds and the specification
(whose architecture order is part of the seeds) — and the versions of numpy and torch.  The CLI
(argument parsing), this module (its matrix encoding is named in every stored matrix and checked
when decoding) and modules of other experiments in ``montecarlo/convnets/`` (the Fig. 6
training) are deliberately left out, so editing them does not orphan stored Fig. 5 documents.

**Document**: ``{"experiment": "fig5", "options": {…}, "configs": [{"arch", "depth",
"effective_rank": {"mean", "stderr", "n", "values"}, "gradient_norm": {…},
"mean_correlation": {…}}, …], "covariances": {arch: {"order": [...], "depths": {"2": matrix,
…}}}, "seconds": s, "command": "python -m montecarlo.convnets …"}`` (the command is rebuilt from
the options by :func:`command_line`, with the flags that :class:`.specs.Fig5Config` declares).  ``values`` are the
per-minibatch estimates in minibatch order (paired across configurations: minibatch ``m`` shows
every network the same images).  Non-finite numbers are stored as ``null``.

**Covariance matrices** (minibatch 0, ``n × n``, rows and columns already in k-means order;
Fig. 5a–b) are symmetric, so only the upper triangle is kept, divided by the largest
``|entry|`` (``scale``, float64), as little-endian float16 (relative precision 2⁻¹¹ ≈ 5·10⁻⁴,
plenty for an image), zlib-compressed and base64-encoded (:func:`encode_matrix`):
≈ 80 kB per 256 × 256 matrix instead of 0.5 MB of float64; a default document is 0.7–0.8 MB.

**Fig. 6** (training, ``python -m montecarlo.convnets.train``, kind :data:`FIG6_KIND`): the layout is
documented in :mod:`montecarlo.convnets.train`; here are only what readers need without torch —
its code version (:func:`fig6_code_version`, over :data:`FIG6_SOURCES`) and the command that
reproduces a stored run (:func:`fig6_command_line`, with the flags that
:class:`.specs.TrainingPlan` and :class:`.specs.TrainConfig` declare).
"""
from __future__ import annotations

import base64
import math
import shlex
import zlib
from typing import Any, Iterable, Sequence

import numpy as np

from theory.options import bn_backward, command_args

from ..store import source_version
from .specs import Fig5Config, TrainingPlan, fig5_options, training_options

FIG5_KIND = "fig5-convnets"
#: files whose bytes define the code version of a Fig. 5 document (see the module doc)
FIG5_SOURCES = ("montecarlo/convnets/data.py", "montecarlo/convnets/experiments.py",
                "montecarlo/convnets/llinit.py", "montecarlo/convnets/models.py",
                "montecarlo/convnets/probe.py", "montecarlo/convnets/seeds.py",
                "montecarlo/convnets/specs.py", "kernels/crelu.py")
FIG5_LIBRARIES = ("numpy", "torch")
MATRIX_ENCODING = "upper-triangle/max-abs float16 little-endian, zlib, base64"
#: the CLI's defaults (loss, BN backward): the setting reported first when several are stored
DEFAULT_SETTING = (Fig5Config.loss, Fig5Config.bn_backward)
#: the options of a Fig. 5 key (those of :meth:`.specs.Fig5Config.options`)
KEY_OPTIONS = ("archs", "depths", "minibatches", "batch_size", "beta", "width", "bn_backward", "loss", "seed",
               "split", "torch_threads")


def fig5_code_version() -> str:
    """The code version under which Fig. 5 documents are stored (see the module doc)."""
    return source_version(FIG5_SOURCES, FIG5_LIBRARIES)


def fig5_key(options: dict, data_files: Sequence[dict]) -> dict:
    """The store key: the options of :data:`KEY_OPTIONS` and ``data_files`` (``{"file", "sha256"}``)."""
    missing = [k for k in KEY_OPTIONS if k not in options]
    if missing:
        raise ValueError(f"options lack {', '.join(missing)}: a Fig. 5 key needs {', '.join(KEY_OPTIONS)}")
    key = {k: options[k] for k in KEY_OPTIONS}
    key["archs"], key["depths"] = list(key["archs"]), [int(d) for d in key["depths"]]
    key["data"] = [{"file": str(f["file"]), "sha256": str(f["sha256"])} for f in data_files]
    key["experiment"] = "fig5"
    return key


# ----------------------------------------------------------------------------- matrices
def encode_matrix(matrix: np.ndarray) -> dict:
    """A symmetric ``n × n`` matrix → ``{"n", "scale", "encoding", "data"}`` (see the module doc)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix has shape {m.shape}: a square matrix is needed")
    n = m.shape[0]
    upper = m[np.triu_indices(n)]
    finite = upper[np.isfinite(upper)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    scaled = upper / scale if scale > 0 else upper
    raw = np.asarray(scaled, dtype="<f2").tobytes()
    return {"n": n, "scale": scale, "encoding": MATRIX_ENCODING,
            "data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii")}


def decode_matrix(encoded: dict) -> np.ndarray:
    """The float64 ``n × n`` symmetric matrix of :func:`encode_matrix`."""
    if encoded.get("encoding") != MATRIX_ENCODING:
        raise ValueError(f"matrix encoding {encoded.get('encoding')!r} is not known: expected {MATRIX_ENCODING!r}")
    n = int(encoded["n"])
    upper = np.frombuffer(zlib.decompress(base64.b64decode(encoded["data"])), dtype="<f2").astype(np.float64)
    if upper.size != n * (n + 1) // 2:
        raise ValueError(f"matrix data holds {upper.size} values, expected {n * (n + 1) // 2} for n = {n}")
    scale = float(encoded["scale"])
    out = np.zeros((n, n))
    iu = np.triu_indices(n)
    out[iu] = upper * (scale if scale > 0 else 1.0)
    out.T[iu] = out[iu]
    return out


def encode_covariances(covariances: dict) -> dict:
    """``fig5(keep_covariances=True)["covariances"]`` → JSON-ready (orders as lists, matrices encoded)."""
    return {arch: {"order": [int(i) for i in c["order"]],
                   "depths": {str(int(d)): encode_matrix(m) for d, m in c["depths"].items()}}
            for arch, c in covariances.items()}


def decode_covariances(encoded: dict) -> dict:
    """The inverse of :func:`encode_covariances`: ``{arch: {"order": array, "depths": {int: matrix}}}``."""
    return {arch: {"order": np.asarray(c["order"], dtype=np.int64),
                   "depths": {int(d): decode_matrix(m) for d, m in c["depths"].items()}}
            for arch, c in encoded.items()}


# ----------------------------------------------------------------------------- documents
def json_ready(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def command_line(options: dict, store: str | None = None) -> str:
    """The ``python -m montecarlo.convnets`` command that computes (or re-reads) these options:
    every option of :class:`.specs.Fig5Config` explicitly (so a change of default cannot change it)."""
    o = options
    parts = ["python -m montecarlo.convnets",
             *command_args(Fig5Config.from_options(o), fig5_options(), skip_defaults=False)]
    if o.get("data"):
        parts += ["--data", shlex.quote(str(o["data"]))]
    if store:
        parts += ["--store", shlex.quote(str(store))]
    return " ".join(parts)


def build_document(result: dict, covariances: dict | None) -> dict:
    """The stored document of a :func:`montecarlo.convnets.experiments.fig5` result."""
    doc = {"experiment": "fig5", "options": result["options"], "configs": result["configs"],
           "seconds": result.get("seconds"), "command": command_line(result["options"])}
    if covariances is not None:
        doc["covariances"] = encode_covariances(covariances)
    return json_ready(doc)


def setting(document: dict) -> tuple:
    """What distinguishes settings in verdicts and figures: ``(loss, bn_backward, beta)``
    (``bn_backward`` canonical: a stored ``autograd`` is ``through``)."""
    o = document["options"]
    return (o["loss"], bn_backward(o["bn_backward"]), float(o["beta"]))


def describe_setting(document: dict) -> str:
    loss, bn, beta = setting(document)
    o = document["options"]
    return (f"loss {loss}, BN backward {bn}, β = {beta:g}; width {o['width']}, {o['minibatches']} minibatches "
            f"of {o['batch_size']}")


def select_documents(stored: Iterable[dict], current_version: str | None = None) -> list[dict]:
    """One stored document per setting (:func:`setting`), best first within each setting.

    ``stored``: entries of :meth:`Store.documents` (``{"id", "key", "code_version", "document", …}``).
    Preference within a setting: the current code version, then more minibatches, then a larger
    width, then the newer document.  The result is ordered with the CLI's default setting
    (:data:`DEFAULT_SETTING`) first, then by setting; each entry gains ``"current": bool``.
    """
    current_version = current_version or fig5_code_version()
    best: dict[tuple, dict] = {}
    for entry in stored:
        doc = entry["document"]
        try:
            key = setting(doc)
        except (KeyError, TypeError, ValueError):
            continue  # not a Fig. 5 document of this layout
        rank = (entry.get("code_version") == current_version, int(doc["options"].get("minibatches", 0)),
                int(doc["options"].get("width", 0)), int(entry.get("id", 0)))
        if key not in best or rank > best[key][0]:
            best[key] = (rank, dict(entry, current=entry.get("code_version") == current_version))
    order = sorted(best, key=lambda k: (k[:2] != DEFAULT_SETTING, k))
    return [best[k][1] for k in order]


def config(document: dict, arch: str, depth: int) -> dict | None:
    """The entry of ``configs`` for ``(arch, depth)``, or None."""
    return next((c for c in document.get("configs", []) if c["arch"] == arch and int(c["depth"]) == depth), None)


# ----------------------------------------------------------------------------- Fig. 6 (training)
#: ``python -m montecarlo.convnets.train`` stores each run as one document of this kind
#: (written by :func:`montecarlo.convnets.training.fig6`); ``python -m reports`` draws Fig. 6 from it.
FIG6_KIND = "fig6-training"
#: files whose bytes (with the versions of :data:`montecarlo.store.ENGINE_LIBRARIES`) define the code
#: version of a Fig. 6 document: the modules that build, initialize and train the nets, draw their
#: seeds, augment and load the data, and the specification (the CLI is left out: what it selects
#: is in the key — options and a SHA-256 of the data — so editing its text does not make stored
#: runs look out of date)
FIG6_SOURCES = ("montecarlo/convnets/training.py", "montecarlo/convnets/thin_nets.py",
                "montecarlo/convnets/augment.py", "montecarlo/convnets/schedule.py",
                "montecarlo/convnets/seeds.py", "montecarlo/convnets/specs.py",
                "montecarlo/convnets/data.py", "montecarlo/convnets/llinit.py",
                "montecarlo/convnets/models.py", "kernels/crelu.py")


def fig6_code_version() -> str:
    """The code version under which ``python -m montecarlo.convnets.train`` stores its documents now."""
    return source_version(FIG6_SOURCES)


def fig6_command_line(document: dict, store: str | None = None) -> str:
    """The ``python -m montecarlo.convnets.train`` command that trains (or re-reads from the store) the run
    of a ``fig6-training`` document: every option of its key explicitly, so presets cannot change it."""
    o = document["options"]
    plan = TrainingPlan.from_options(o)
    options = training_options()
    parts = ["python -m montecarlo.convnets.train"] + (["--full"] if document.get("preset") == "full" else [])
    parts += command_args(plan, options, skip_defaults=False) + command_args(plan.config, options, skip_defaults=False)
    if o.get("data"):
        parts += ["--data", shlex.quote(str(o["data"]))]
    if store:
        parts += ["--store", shlex.quote(str(store))]
    return " ".join(parts)
