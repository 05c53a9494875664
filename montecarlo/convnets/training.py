"""Fig. 6 (§5.1): training the thin CIFAR-10 convnets, LL-init vs He-init vs resnet.

The paper trains thin rectifier convnets of depths up to 198 on CIFAR-10 and reports test
accuracy against depth (Fig. 6): a CReLU net with the orthogonal LL-init trains about as well
as a resnet, while He-initialized CReLU and ReLU nets get steadily worse with depth.  This
module is the training loop and the experiment; the nets are :mod:`.thin_nets`, the
augmentation :mod:`.augment`, the learning-rate drops :mod:`.schedule`, the configuration
:class:`.specs.TrainingPlan` / :class:`.specs.TrainConfig`, and the CLI :mod:`.train`
(``python -m montecarlo.convnets.train``).

Training
--------
Adam (Kingma & Ba 2015; ``lr``, β₁ = 0.9, β₂ = 0.999, ε = 1e-8, no weight decay), mean cross-entropy
over minibatches of ``batch_size`` images drawn without replacement from a fresh permutation of
the training images every epoch (the last minibatch of an epoch may be smaller), each augmented
(:func:`.augment.augment`) unless ``augment`` is off.  The learning rate is set by
:class:`.schedule.AutoScheduler` (:func:`scheduler`), fed with the mean training loss of every
``1/measurements_per_epoch`` of an epoch.

After each epoch: ``train_loss`` = mean minibatch loss over the epoch (augmented images, running,
as usual), ``test_accuracy`` and ``test_loss`` on the first ``test_images`` images of the test
batch (held out; never used for training or for the schedule), ``lr`` = learning rate at the end
of the epoch.  The *final* numbers are those of the last epoch.  Over seeds, each final number is
reported as mean ± standard error ``sd/√n`` (``n`` = seeds; NaN → ``null`` when ``n = 1``).

Seeds
-----
Everything derives from ``numpy.random.SeedSequence(seed)`` children by spawn key (:mod:`.seeds`,
as in :mod:`.experiments`), never from global torch/numpy state: the network of (arch, depth, seed
index ``s``) ← child ``(0, TRAINING_ARCHS.index(arch), depth, s)`` (first 63 bits → a private
``torch.Generator``); the data stream (epoch permutations and augmentation) of seed index ``s`` ←
child ``(1, s)``, a ``numpy.random.Generator`` shared by every architecture and depth (common
random numbers: differences between architectures are not confounded with data order).  A value
never depends on which other configurations are run.  Same seed, device and thread count →
identical numbers (on CPU; on CUDA, cuDNN may pick nondeterministic kernels, so runs agree only
to rounding there).

Memory layout
-------------
Networks, minibatches and test images are channels-last (:data:`TRAINING_LAYOUT`): oneDNN's
convolutions of these 6-64-channel layers are faster in it, a depth-50 training step (batch 32, one
core) 180 → 170 ms (crelu-ll), 178 → 158 (crelu-he), 116 → 86 (relu-he) and 123 → 103 (resnet).
The pool keeps the gradient in that layout (:class:`.models.GlobalAveragePool`).  The layout changes
the rounding of the convolutions, and training amplifies rounding (trajectories part within tens
of steps), so a run of this code is another valid sample than one of the channels-first code, not
the same bits; the code version (:data:`.documents.FIG6_SOURCES`) and the checkpoint format say which.

Checkpoints
-----------
With ``checkpoint_dir``, each run writes ``<dir>/<arch>-d<depth>-s<seed index>.pt`` after every
epoch (model, Adam state, scheduler state, the data generator's state, the curves so far),
atomically: ``torch.save`` to a temporary file in the same folder, then ``os.replace``.  The
folder is named by :func:`checkpoint_dir_for` from every option that determines the trajectory
(the number of epochs is *not* among them: the schedule does not depend on it, so a longer run
continues a shorter one, and a shorter run reads its numbers off a longer one's curves).  A rerun
resumes each run from its last completed epoch and gives the same numbers as an uninterrupted run.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .augment import augment
from .documents import FIG6_KIND
from .schedule import AutoScheduler
from .seeds import child, torch_seed
from .specs import TRAINING_ARCHS, TrainConfig, TrainingPlan, check_training_arch, check_training_depth
from .thin_nets import build_thin, parameter_count
from .workers import check_workers, run_jobs

CHECKPOINT_FORMAT = 2  # 2: channels-last (a format-1 checkpoint's trajectory is channels-first)
#: the memory format of the trained networks and their inputs (module doc, "Memory layout")
TRAINING_LAYOUT = torch.channels_last


def scheduler(config: TrainConfig) -> AutoScheduler:
    """The learning-rate scheduler of ``config``: its threshold per epoch becomes one per measurement."""
    return AutoScheduler(config.lr, config.lr_window, config.lr_patience,
                         config.lr_threshold / config.measurements_per_epoch, config.lr_factor)


def checkpoint_dir_for(root: str | os.PathLike, config: TrainConfig) -> Path:
    """``root/fig6-<16 hex digits>``: the SHA-256 of the config's canonical JSON and the format."""
    text = json.dumps({"format": CHECKPOINT_FORMAT, **config.key()}, sort_keys=True, separators=(",", ":"))
    return Path(root) / f"fig6-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def network_seed(seed: int, arch: str, depth: int, seed_index: int) -> int:
    """The torch seed of the network of (arch, depth, seed index): child ``(0, arch index, depth, s)``."""
    return torch_seed(child(seed, 0, TRAINING_ARCHS.index(check_training_arch(arch)), depth, seed_index))


def data_generator(seed: int, seed_index: int) -> np.random.Generator:
    """The data stream (permutations, augmentation) of seed index ``s``: child ``(1, s)``."""
    return np.random.default_rng(child(seed, 1, seed_index))


def data_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 (16 hex digits) of the arrays' shapes and bytes: the data part of a key."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 500) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on the given images, no gradients."""
    model.eval()
    correct, total_loss = 0, 0.0
    with torch.no_grad():
        for start in range(0, labels.shape[0], batch_size):
            out = model(images[start:start + batch_size])
            y = labels[start:start + batch_size]
            total_loss += float(nn.functional.cross_entropy(out, y, reduction="sum"))
            correct += int((out.argmax(dim=1) == y).sum())
    model.train()
    n = int(labels.shape[0])
    return correct / n, total_loss / n


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def train_run(arch: str, depth: int, seed_index: int, epochs: int, config: TrainConfig,
              train_images: np.ndarray, train_labels: np.ndarray,
              test_images: np.ndarray, test_labels: np.ndarray,
              checkpoint: str | os.PathLike | None = None,
              progress: Callable[[dict], None] | None = None) -> dict:
    """Train one network for ``epochs`` epochs (resuming from ``checkpoint`` when it exists).

    Returns ``{"arch", "depth", "seed_index", "parameters", "epochs", "diverged",
    "final_train_loss", "test_accuracy", "test_loss", "lr_drops", "seconds", "resumed_from",
    "curves": {"epoch", "train_loss", "test_accuracy", "test_loss", "lr", "seconds"}}``; losses
    that are not finite are ``None`` (JSON ``null``).  ``progress`` is called after every epoch
    with ``{"epoch", "train_loss", "test_accuracy", "lr", "seconds", "resumed": bool}``.
    """
    check_training_arch(arch)
    check_training_depth(depth)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is not allowed: a positive integer")
    device = torch.device(config.device)
    model = build_thin(arch, depth, config.beta, network_seed(config.seed, arch, depth, seed_index))
    model = model.to(device, memory_format=TRAINING_LAYOUT)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = scheduler(config)
    rng = data_generator(config.seed, seed_index)
    curves: dict[str, list] = {"epoch": [], "train_loss": [], "test_accuracy": [], "test_loss": [], "lr": [],
                               "seconds": []}
    diverged = None
    start_epoch = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    ident = {"format": CHECKPOINT_FORMAT, "arch": arch, "depth": depth, "seed_index": seed_index,
             "config": config.key()}
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        meta = json.loads(state["meta"])
        if meta["ident"] != ident:
            raise ValueError(f"checkpoint {ckpt} belongs to another configuration ({meta['ident']}); "
                             f"expected {ident}: move it aside or pass another --checkpoints folder")
        curves, diverged, start_epoch = meta["curves"], meta["diverged"], meta["epoch"]
        if start_epoch < epochs and diverged is None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(meta["scheduler"])
            rng.bit_generator.state = meta["rng"]
    resumed_from = start_epoch
    x_test = torch.from_numpy(np.ascontiguousarray(test_images)).to(device, memory_format=TRAINING_LAYOUT)
    y_test = torch.from_numpy(np.asarray(test_labels, dtype=np.int64)).to(device)
    y_train_all = np.asarray(train_labels, dtype=np.int64)
    n = int(y_train_all.shape[0])
    batches = math.ceil(n / config.batch_size)
    # measurement boundaries: batch indices after which a measurement is taken
    bounds = sorted({math.ceil(batches * (k + 1) / config.measurements_per_epoch) - 1
                     for k in range(config.measurements_per_epoch)})
    model.train()
    epoch = start_epoch
    while epoch < epochs and diverged is None:
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        total, seen = 0.0, 0
        part, part_n = 0.0, 0
        for b in range(batches):
            idx = perm[b * config.batch_size:(b + 1) * config.batch_size]
            xb = train_images[idx]
            if config.augment:
                xb = augment(xb, rng)
            x = torch.from_numpy(np.ascontiguousarray(xb)).to(device, memory_format=TRAINING_LAYOUT)
            y = torch.from_numpy(y_train_all[idx]).to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                diverged = epoch + 1
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += value * len(idx)
            seen += len(idx)
            part += value * len(idx)
            part_n += len(idx)
            if b in bounds:
                if sched.step(part / part_n):
                    for group in opt.param_groups:
                        group["lr"] = sched.lr
                part, part_n = 0.0, 0
        acc, test_loss = evaluate(model, x_test, y_test)
        epoch += 1
        seconds = time.perf_counter() - t0
        curves["epoch"].append(epoch)
        curves["train_loss"].append(_finite_or_none(total / seen) if diverged is None and seen else None)
        curves["test_accuracy"].append(acc)
        curves["test_loss"].append(_finite_or_none(test_loss))
        curves["lr"].append(sched.lr)
        curves["seconds"].append(seconds)
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            meta = {"ident": ident, "epoch": epoch, "curves": curves, "diverged": diverged,
                    "scheduler": sched.state_dict(), "rng": rng.bit_generator.state}
            _atomic_save({"meta": json.dumps(meta), "model": model.state_dict(), "optimizer": opt.state_dict()}, ckpt)
        if progress:
            progress({"epoch": epoch, "train_loss": curves["train_loss"][-1], "test_accuracy": acc,
                      "lr": sched.lr, "seconds": seconds, "resumed": False})
    # the run's numbers at ``epochs`` (a checkpoint of a longer run holds them in its curves)
    upto = min(epochs, len(curves["epoch"]))
    curves = {k: v[:upto] for k, v in curves.items()}
    if diverged is not None and diverged > epochs:
        diverged = None
    return {"arch": arch, "depth": depth, "seed_index": seed_index, "parameters": parameter_count(model),
            "epochs": upto, "diverged": diverged,
            "final_train_loss": curves["train_loss"][-1] if upto else None,
            "test_accuracy": curves["test_accuracy"][-1] if upto else None,
            "test_loss": curves["test_loss"][-1] if upto else None,
            "lr_drops": [e for e, (a, b) in enumerate(zip([config.lr] + curves["lr"][:-1], curves["lr"]), start=1)
                         if b < a],
            "seconds": float(sum(curves["seconds"])), "resumed_from": min(resumed_from, upto), "curves": curves}


# ----------------------------------------------------------------------------- the experiment
def estimate(values: Sequence[float | None]) -> dict:
    """``{"mean", "stderr", "n"}`` over the finite values (stderr ``sd/√n``; None when undefined)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    mean = float(v.mean()) if v.size else None
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return {"mean": mean, "stderr": se, "n": int(v.size)}


def _curve_estimates(runs: list[dict], name: str) -> dict:
    length = max(len(r["curves"][name]) for r in runs)
    per_epoch = [estimate([r["curves"][name][e] if e < len(r["curves"][name]) else None for r in runs])
                 for e in range(length)]
    return {"mean": [p["mean"] for p in per_epoch], "stderr": [p["stderr"] for p in per_epoch],
            "n": [p["n"] for p in per_epoch]}


def run_cost(depth: int, epochs: int) -> float:
    """Relative cost of a run (∝ conv modules × epochs; every module costs about the same:
    channels double where the pixels quarter)."""
    return float((depth + 2) * epochs)


def _train_job(shared: dict, arch: str, depth: int, seed_index: int, epochs: int, config: TrainConfig,
               checkpoint: Path | None) -> dict:
    """One run of :func:`fig6` in a worker process (:func:`.workers.run_jobs`; ``shared``: the four arrays)."""
    return train_run(arch, depth, seed_index, epochs, config, shared["train_images"], shared["train_labels"],
                     shared["test_images"], shared["test_labels"], checkpoint)


def fig6(plan: TrainingPlan, train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
         test_labels: np.ndarray, checkpoint_dir: str | os.PathLike | None = None,
         progress: Callable[[str], None] | None = None, workers: int = 1) -> dict:
    """Train every (arch, depth, seed index) of ``plan`` and summarize (the document of :mod:`.train`).

    ``workers > 1``: the runs are trained in that many processes (:func:`.workers.run_jobs`, each with
    ``config.torch_threads`` threads, the most expensive runs first); every run depends on its own seeds
    only, so the document is the same, bit for bit (but the wall times), and ``progress`` reports runs
    as they finish instead of epochs.
    """
    archs, depths, seeds, epochs, config = plan.archs, plan.depths, plan.seeds, plan.epochs, plan.config
    start = time.perf_counter()
    ckdir = checkpoint_dir_for(checkpoint_dir, config) if checkpoint_dir is not None else None
    jobs = [(a, d, s) for s in range(seeds) for d in depths for a in archs]
    total_cost = sum(run_cost(d, epochs) for _, d, _ in jobs)
    if check_workers(workers) > 1:
        runs = _fig6_in_workers(jobs, epochs, config, ckdir, workers, total_cost, start, progress,
                                {"train_images": train_images, "train_labels": train_labels,
                                 "test_images": test_images, "test_labels": test_labels})
        return _fig6_document(plan, runs, start, ckdir)
    done_cost = 0.0
    computed_cost = 0.0   # cost actually trained in this process (resumed epochs excluded)
    runs: dict[tuple[str, int], list[dict]] = {(a, d): [] for a in archs for d in depths}
    for j, (arch, depth, s) in enumerate(jobs, start=1):
        def on_epoch(info: dict, arch=arch, depth=depth, s=s, j=j) -> None:
            nonlocal done_cost, computed_cost
            done_cost += run_cost(depth, 1)
            computed_cost += run_cost(depth, 1)
            if progress is None:
                return
            elapsed = time.perf_counter() - start
            rate = elapsed / computed_cost if computed_cost else 0.0
            eta = rate * (total_cost - done_cost)
            loss = info["train_loss"]
            progress(f"[{j}/{len(jobs)}] {arch:8s} depth {depth:3d} seed {s} epoch {info['epoch']}/{epochs}: "
                     f"train loss {loss if loss is None else round(loss, 4)}, test acc {info['test_accuracy']:.4f}, "
                     f"lr {info['lr']:.3g} ({info['seconds']:.1f} s; elapsed {_clock(elapsed)}, ETA {_clock(eta)})")
        path = ckdir / f"{arch}-d{depth}-s{s}.pt" if ckdir is not None else None
        r = train_run(arch, depth, s, epochs, config, train_images, train_labels, test_images, test_labels,
                      path, on_epoch)
        skipped = r["epochs"] if r["resumed_from"] >= r["epochs"] else r["resumed_from"]
        done_cost += run_cost(depth, skipped)
        if progress and r["resumed_from"]:
            progress(f"[{j}/{len(jobs)}] {arch:8s} depth {depth:3d} seed {s}: {r['resumed_from']} epoch(s) read "
                     f"from checkpoint {path}")
        runs[(arch, depth)].append(r)
    return _fig6_document(plan, runs, start, ckdir)


def _fig6_in_workers(jobs: list[tuple[str, int, int]], epochs: int, config: TrainConfig, ckdir: Path | None,
                     workers: int, total_cost: float, start: float, progress: Callable[[str], None] | None,
                     shared: dict) -> dict[tuple[str, int], list[dict]]:
    """The runs of ``jobs`` trained in ``workers`` processes, grouped as the sequential loop groups them."""
    order = sorted(range(len(jobs)), key=lambda j: -run_cost(jobs[j][1], epochs))  # the longest first
    args = [(*jobs[j], epochs, config, ckdir / f"{jobs[j][0]}-d{jobs[j][1]}-s{jobs[j][2]}.pt" if ckdir else None)
            for j in order]
    results: dict[int, dict] = {}
    done_cost = 0.0
    for i, r in run_jobs(_train_job, args, workers, config.torch_threads, shared):
        j = order[i]
        results[j] = r
        done_cost += run_cost(r["depth"], epochs)
        if progress:
            elapsed = time.perf_counter() - start
            eta = elapsed / done_cost * (total_cost - done_cost)
            loss = r["final_train_loss"]
            progress(f"[{len(results)}/{len(jobs)}] {r['arch']:8s} depth {r['depth']:3d} seed {r['seed_index']}: "
                     f"{r['epochs']} epoch(s), train loss {loss if loss is None else round(loss, 4)}, test acc "
                     f"{r['test_accuracy']:.4f} ({r['seconds']:.1f} s in a worker; elapsed {_clock(elapsed)}, "
                     f"ETA {_clock(eta)}; {workers} workers)")
    runs: dict[tuple[str, int], list[dict]] = {(a, d): [] for a, d, _ in jobs}
    for j, (arch, depth, _) in enumerate(jobs):
        runs[(arch, depth)].append(results[j])
    return runs


def _fig6_document(plan: TrainingPlan, runs: dict[tuple[str, int], list[dict]], start: float,
                   ckdir: Path | None) -> dict:
    archs, depths = plan.archs, plan.depths
    configs = []
    for arch in archs:
        for depth in depths:
            rs = runs[(arch, depth)]
            configs.append({
                "arch": arch, "depth": depth, "parameters": rs[0]["parameters"],
                "final_train_loss": estimate([r["final_train_loss"] for r in rs]),
                "test_accuracy": estimate([r["test_accuracy"] for r in rs]),
                "diverged": sum(r["diverged"] is not None for r in rs),
                "curves": {name: _curve_estimates(rs, name) for name in ("train_loss", "test_accuracy", "lr")},
                "runs": rs})
    return {"kind": FIG6_KIND, "configs": configs, "seconds": time.perf_counter() - start,
            "checkpoints": str(ckdir) if ckdir is not None else None}


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"
