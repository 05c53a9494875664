"""Fig. 5 measurements (§4): shattering of input gradients in CIFAR-10 convnets at init.

For each minibatch ``m`` (``batch_size`` images drawn without replacement from the training
split), each architecture (``feedforward``, ``resnet``) and each depth, a freshly initialized
network (:mod:`.models`) is probed (:func:`.probe.probe`, cross-entropy loss summed over the
minibatch, BN in training mode; ``loss="sum"``: the sum of the logits, §3's ``f = Σ_p f_p``): relative effective rank ``r(Δ)/r(Y)`` (Fig. 5c) and the
normalized gradient norm ``‖mean_i g_i‖ / sqrt(mean_i ‖g_i‖²)`` (Fig. 5d).  Every configuration
sees the same minibatches (paired comparison).  The estimate for a configuration is the mean
over minibatches with its standard error ``sd/√n`` (each minibatch has its own network, so the
``n`` values are i.i.d.).

**BN backward and the loss.**  With ``bn_backward="through"`` every BN re-centres the backward
signal across the batch.  For ``loss="sum"`` this matters a lot: the batch sum of the stem BN's
output is constant, so the linear (skip) path's contribution to the gradients cancels and the
resnet's gradients look shattered; use ``bn_backward="constant"`` (the theorems' model) with
``loss="sum"``.  With the cross-entropy the per-example factor ``softmax − onehot`` already
differs between classes and averages to ≈ 0 over a class-balanced minibatch, so the normalized
gradient norm of nearly linear nets (resnets with small β) sits *below* the white level 1/√n.

**Seeds.**  Everything derives from ``numpy.random.SeedSequence(seed)`` by spawn keys (:mod:`.seeds`), so a
value never depends on which other depths or how many minibatches were requested:
minibatch ``m`` ← child ``(0, m)``; the network of (arch, depth, minibatch ``m``) ← child
``(1, arch_index, depth, m)`` (the index in :data:`.specs.FIG5_ARCHS`), whose first 63 bits seed a private ``torch.Generator`` (no global
torch state is touched).  Same seed, same thread count → identical numbers.

**Covariance figures (Fig. 5a–b).**  With ``keep_covariances``, the ``n × n`` gradient
covariance of minibatch 0 for every (arch, depth) is returned, rows and columns permuted by a
k-means clustering (k = 10, :func:`kmeans`) of the 2-layer network's gradients of that
architecture (unit-normalized rows; k-means seeded by child ``(2, arch_index)``); the same
permutation for every depth of a row.

**Memory layout.**  The probes run channels-last (``torch.channels_last``: the networks and the
minibatch; :data:`PROBE_LAYOUT`): oneDNN's convolutions of these 16-channel layers are about 20 %
faster in that layout, the depth-50 probe of a feedforward BN net 2.5 → 2.0 s and of a resnet 2.9 →
2.3 s (BN through; 2.9 → 2.1 s with BN constant) on one core.  The pool keeps the gradient in that
layout (:class:`.models.GlobalAveragePool`).  The map is the same: in float64 the two layouts agree
to rounding (tested); in float32 they round differently, and a deep BN net amplifies rounding, so a
document differs from one of the channels-first code in its last digits, as two valid samples do
(its code version says which code computed it).

**Configuration.**  :class:`.specs.Fig5Config` holds and validates every option of a run;
:func:`fig5` takes one (or its fields as keywords).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .llinit import build_ll
from .models import build
from .probe import probe
from .seeds import child, torch_seed
from .specs import FIG5_ARCHS, FIG5_BN_ARCHS, Fig5Config, check_fig5_arch
from .workers import check_workers, run_jobs


def build_arch(arch: str, depth: int, width: int, beta: float, bn_backward: str, seed: int):
    """A freshly initialized network of ``arch`` (:data:`.specs.FIG5_ARCHS`).

    ``feedforward`` and ``resnet``: :mod:`.models` (BN, ``depth`` even).  The plain nets without BN
    (:data:`.specs.PLAIN_ARCHS`, :mod:`.llinit`, any ``depth >= 1``): ``crelu-ll`` (mirrored
    orthogonal CReLU), ``prelu-ll`` (PReLU a = 1, orthogonal), ``crelu-he`` and ``relu-he``
    (He-Gaussian kernels).
    """
    if arch in FIG5_BN_ARCHS:
        return build(arch, depth, width, beta, bn_backward, seed)
    nonlinearity, init = check_fig5_arch(arch).split("-")
    return build_ll(depth, width, nonlinearity, init, seed=seed)


QUANTITIES = ("effective_rank", "gradient_norm")
#: the memory format of the probed networks and minibatches (module doc, "Memory layout")
PROBE_LAYOUT = torch.channels_last


def _probed(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` in :data:`PROBE_LAYOUT`, with only input gradients required."""
    net.requires_grad_(False)
    return net.to(memory_format=PROBE_LAYOUT)


def minibatch_indices(seed: int, m: int, population: int, size: int) -> np.ndarray:
    """Indices of minibatch ``m``: ``size`` distinct images out of ``population``."""
    if size > population:
        raise ValueError(f"batch size {size} is larger than the {population} images loaded")
    rng = np.random.default_rng(child(seed, 0, m))
    return np.sort(rng.choice(population, size=size, replace=False))


def kmeans(x: np.ndarray, k: int = 10, seed: int = 0, iters: int = 100) -> np.ndarray:
    """Seeded k-means (k-means++ start, Lloyd iterations) → cluster label per row of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} is not allowed: 1 <= k <= {n} rows")
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    d2 = np.sum((x - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        total = d2.sum()
        idx = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
        centres.append(x[idx])
        d2 = np.minimum(d2, np.sum((x - x[idx]) ** 2, axis=1))
    c = np.array(centres)
    labels = np.full(n, -1)
    for _ in range(iters):
        dist = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
        new = np.argmin(dist, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return labels


def cluster_order(labels: np.ndarray) -> np.ndarray:
    """Permutation grouping equal labels, largest cluster first (stable within a cluster)."""
    labels = np.asarray(labels)
    uniq, counts = np.unique(labels, return_counts=True)
    rank = {lab: r for r, lab in enumerate(uniq[np.lexsort((uniq, -counts))])}
    return np.argsort(np.array([rank[lab] for lab in labels]), kind="stable")


def _estimate(values: Sequence[float]) -> dict:
    """Mean, standard error and the per-minibatch ``values`` (in minibatch order: minibatch ``m``
    of every configuration saw the same images, so configurations can be compared pairwise)."""
    v = np.asarray(values, dtype=np.float64)
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
    return {"mean": float(v.mean()), "stderr": se, "n": int(v.size), "values": [float(x) for x in v]}


def _minibatch_data(images: np.ndarray, labels: np.ndarray, config: Fig5Config, m: int) -> tuple:
    """The images and labels of minibatch ``m`` (:func:`minibatch_indices` of the loaded population)."""
    idx = minibatch_indices(config.seed, m, len(labels), config.batch_size)
    return np.ascontiguousarray(images[idx]), np.asarray(labels[idx], dtype=np.int64)


def _minibatch(shared: dict, config: Fig5Config, m: int, keep_covariances: bool, images: np.ndarray,
               labels: np.ndarray, progress: Callable[[str], None] | None = None) -> dict:
    """Minibatch ``m`` of :func:`fig5` (its ``images`` and ``labels``, :func:`_minibatch_data`): its
    networks' values per (arch, depth), minibatch 0's ordered covariances (``keep_covariances``) and
    the progress lines.  A worker gets the minibatch with the job (3 MB), not the loaded population
    (10,000 images, 123 MB, pickled to each worker at its start: about 1.5 s per run); ``shared`` is
    not used."""
    seed, width, beta, bn_backward, loss = config.seed, config.width, config.beta, config.bn_backward, config.loss
    x = torch.from_numpy(images).contiguous(memory_format=PROBE_LAYOUT)
    y = torch.from_numpy(labels)
    out: dict = {"values": {}, "covariances": {}, "lines": []}
    for arch in config.archs:
        ai = FIG5_ARCHS.index(arch)  # fixed index: values do not depend on which archs are run
        order = None
        if keep_covariances and m == 0:
            net2 = _probed(build_arch(arch, 2, width, beta, bn_backward, torch_seed(child(seed, 1, ai, 2, m))))
            g2 = probe(net2, x, y, loss, keep_gradients=True, gates=False)["gradients"]
            g2 = g2 / np.linalg.norm(g2, axis=1, keepdims=True)
            order = cluster_order(kmeans(g2, k=min(10, len(labels)), seed=torch_seed(child(seed, 2, ai))))
            out["covariances"][arch] = {"order": order, "depths": {}}
        for depth in config.depths:
            t0 = time.perf_counter()
            net = _probed(build_arch(arch, depth, width, beta, bn_backward, torch_seed(child(seed, 1, ai, depth, m))))
            r = probe(net, x, y if loss == "cross_entropy" else None, loss, gates=False)
            out["values"][(arch, depth)] = {q: r[name] for q, name in
                                            (("effective_rank", "relative_effective_rank"),
                                             ("gradient_norm", "gradient_norm"),
                                             ("mean_correlation", "mean_correlation"))}
            if order is not None:
                out["covariances"][arch]["depths"][depth] = r["covariance"][np.ix_(order, order)]
            line = (f"minibatch {m + 1}/{config.minibatches} {arch:11s} depth {depth:3d}: "
                    f"rel. eff. rank {r['relative_effective_rank']:.4f}, "
                    f"grad norm {r['gradient_norm']:.4f} ({time.perf_counter() - t0:.1f} s)")
            out["lines"].append(line)
            if progress:
                progress(line)
    return out


def stored_values(configs: Sequence[dict]) -> dict:
    """Per-minibatch values of a stored run's ``configs`` as :func:`fig5`'s ``prior`` takes them
    (a stored NaN is JSON ``null``: read back as NaN)."""
    return {(c["arch"], int(c["depth"])): {q: [float("nan") if v is None else float(v) for v in c[q]["values"]]
                                           for q in (*QUANTITIES, "mean_correlation")}
            for c in configs}


def fig5(images: np.ndarray, labels: np.ndarray, config: Fig5Config | None = None, *,
         keep_covariances: bool = False, progress: Callable[[str], None] | None = None, workers: int = 1,
         prior: dict | None = None, **fields: Any) -> dict:
    """Run the Fig. 5 measurements of ``config`` (default :class:`.specs.Fig5Config`, with ``fields``
    replaced, e.g. ``depths=[2, 4], width=4``); returns ``{"configs": [...], "options": {...},
    "seconds": s}`` (and ``"covariances"`` with ``keep_covariances``).  ``config.split`` and
    ``config.threads`` are recorded, not applied: the caller loads the images and sets torch's
    thread count (the count in effect is recorded as ``torch_threads``).

    ``workers > 1``: the minibatches are measured in that many processes (:func:`.workers.run_jobs`),
    each with the caller's torch thread count; a minibatch's networks depend on its seeds only, so
    the result is the same, bit for bit (but ``seconds``), and ``progress`` gets a minibatch's lines
    when it is done.

    ``prior`` (:func:`stored_values` of a run of the same options with fewer minibatches, ``k`` of
    them): minibatches ``0..k−1`` are taken from it and only ``k..`` are measured; a minibatch's
    networks and images depend on its seeds only, so the values are those of a run from scratch, bit
    for bit.  Minibatch 0's covariances are then not measured (the caller keeps the stored ones).
    """
    config = dataclasses.replace(config or Fig5Config(), **fields)
    archs, depths, minibatches = config.archs, list(config.depths), config.minibatches
    first = 0
    if prior is not None:
        lengths = {len(v) for cfg in prior.values() for v in cfg.values()}
        missing = [(a, d) for a in archs for d in depths if (a, d) not in prior]
        if missing or len(lengths) != 1 or not 0 < min(lengths) < minibatches:
            raise ValueError(f"prior does not extend this run: it needs every (arch, depth) of the run "
                             f"(missing {missing}) with the same number of minibatches, fewer than {minibatches}")
        first = lengths.pop()
    start = time.perf_counter()
    todo = range(first, minibatches)
    if check_workers(workers) == 1:
        done = [_minibatch({}, config, m, keep_covariances, *_minibatch_data(images, labels, config, m), progress)
                for m in todo]
    else:
        results: dict[int, dict] = {}
        jobs = [(config, m, keep_covariances, *_minibatch_data(images, labels, config, m)) for m in todo]
        for i, r in run_jobs(_minibatch, jobs, workers, torch.get_num_threads(), {}):
            results[i] = r
            for line in r["lines"] if progress else ():
                progress(line)
        done = [results[i] for i in range(len(todo))]
    values = {(a, d): {q: (prior[(a, d)][q] if prior is not None else []) + [r["values"][(a, d)][q] for r in done]
                       for q in (*QUANTITIES, "mean_correlation")} for a in archs for d in depths}
    covariances = done[0]["covariances"] if first == 0 else {}
    configs = [{"arch": a, "depth": d,
                "effective_rank": _estimate(values[(a, d)]["effective_rank"]),
                "gradient_norm": _estimate(values[(a, d)]["gradient_norm"]),
                "mean_correlation": _estimate(values[(a, d)]["mean_correlation"])}
               for a in archs for d in depths]
    out = {"configs": configs,
           "options": config.options() | {"torch_threads": torch.get_num_threads()},
           "seconds": time.perf_counter() - start}
    if keep_covariances:
        out["covariances"] = covariances
    return out
