"""``python -m montecarlo.convnets.train``: Fig. 6 (§5.1), thin convnets trained on CIFAR-10.

Trains, for every architecture, depth and seed, a thin convnet (:mod:`.training`: stage widths
8 → 16 → 32 → 64 doubling at each stride-2 reduction, global average pool, 10-way linear
classifier; ``crelu-ll``, ``crelu-he``, ``relu-he``, ``resnet``, no batch norm) with Adam, the
paper's augmentation and automatic learning-rate drops, and prints final training loss and test
accuracy (mean ± standard error over seeds) per architecture and depth.  Progress (with elapsed
time and ETA) goes to stderr; ``--json`` puts one JSON document on stdout and nothing else.
Exit 0 on success, 2 on bad usage (the message names the argument, the value and what is
allowed).

**Presets.**  The default is a *reduced* reproduction sized for a 2-core CPU (one torch thread;
about 10 minutes on an idle machine, longer on a shared one): depths 8, 20, 50; 2 seeds; 1,000
training images, 500 test images; 5 epochs of minibatches of 32; Adam lr 3e-4; the scheduler
measures 4 times an epoch (window 10 measurements = 2.5 epochs, patience 5, threshold 0: the rate
drops once the loss has stopped decreasing, i.e. the fitted slope over the window was positive for
5 measurements in a row).  A first attempt with a threshold of 2 % per epoch dropped the rate of
nets that were still learning at about 1 % per epoch after 3.5 epochs; in runs this short a drop
should mean a plateau, not a slow start.  ``--full`` is the paper's configuration, meant for a GPU (``--device
cuda``): depths 10, 22, 50, 98, 198; 10 seeds; every loaded training and test image; 100 epochs of
128; one measurement per epoch (window 10 epochs, patience 5, as §5.1; threshold 1 % per epoch).
Explicit options override the preset.  Where the paper is silent (learning rate, epochs, batch
size, threshold) the values are ours.

**Store.**  The document is written to the results store (``--store PATH``, default
``$SHATTERED_GRADIENTS_STORE`` or the user cache; ``--no-store`` to skip) as kind
``fig6-training`` under key ``{"archs", "depths", "seeds", "epochs", "config"}`` (``config`` =
every option that determines the numbers, :class:`.training.TrainConfig`, including a SHA-256 of
the loaded images and labels, the device and the torch thread count) and code version
``source_version(FIG6_SOURCES)`` (:mod:`montecarlo.convnet_documents`: training.py, data.py, llinit.py,
models.py).  A stored document is never replaced: a rerun
with the same key and code version prints the stored one without training.

**Checkpoints.**  ``--checkpoints DIR``: every run saves its state after each epoch (atomically)
under ``DIR/fig6-<hash of the config>/``; rerunning the same command resumes where it stopped and
gives the same numbers as an uninterrupted run (see :mod:`.training`).

JSON document (``--json``; the stored document is the same)::

    {"kind": "fig6-training",
     "preset": "reduced" | "full",
     "options": {"archs": [...], "depths": [...], "seeds": S, "epochs": E,
                 "config": {TrainConfig fields: seed, train_images, test_images, batch_size, lr, beta,
                            measurements_per_epoch, lr_window, lr_patience, lr_threshold (per epoch),
                            lr_factor, augment, device, torch_threads, data_sha256},
                 "data": "<folder>", "train_files": [...], "test_files": [...]},
     "architecture": {"stage_widths": [8, 16, 32, 64], "crelu_stage_widths": [6, 11, 23, 45],
                      "beta": β, "depth": "<definition>"},
     "configs": [{"arch": a, "depth": D, "parameters": P, "diverged": k (runs with a non-finite loss),
                  "final_train_loss": {"mean", "stderr", "n"}, "test_accuracy": {"mean", "stderr", "n"},
                  "curves": {"train_loss" | "test_accuracy" | "lr": {"mean": [per epoch], "stderr": [...], "n": [...]}},
                  "runs": [{"seed_index", "parameters", "epochs", "diverged", "final_train_loss",
                            "test_accuracy", "test_loss", "lr_drops": [epochs], "seconds", "resumed_from",
                            "curves": {"epoch", "train_loss", "test_accuracy", "test_loss", "lr", "seconds": [...]}}]}],
     "seconds": wall time of the whole command, "code_version": "<16 hex>", "checkpoints": "<dir>" | null,
     "command": "python -m montecarlo.convnets.train …" (every option of the key, explicitly; without --store)}

``stderr`` is ``null`` with one seed; a loss that is not finite is ``null``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

from ..convnet_documents import FIG6_SOURCES, fig6_command_line
from .data import CIFAR10Error, default_data_path, load_cifar10

#: ``--full``: the paper's configuration (depths up to 198, 10 seeds, all data; for a GPU)
FULL = {"depths": (10, 22, 50, 98, 198), "seeds": 10, "epochs": 100, "train_images": None,
        "test_images": None, "batch_size": 128, "measurements_per_epoch": 1, "lr_threshold": 0.01,
        "threads": None}
#: default: a reduced reproduction that fits a 2-core CPU in well under 20 minutes
REDUCED = {"depths": (8, 20, 50), "seeds": 2, "epochs": 5, "train_images": 1000, "test_images": 500,
           "batch_size": 32, "measurements_per_epoch": 4, "lr_threshold": 0.0, "threads": 1}
#: Adam's initial learning rate (both presets; the paper does not give one).  Pilot runs (1 seed,
#: 1,000-1,500 images): at 1e-3 the depth-50 LL-init net fell to chance within an epoch while the
#: resnet trained; at 1e-4 and 3e-4 both trained; 3e-4 is the faster of the two for every arch.
DEFAULT_LR = 3e-4
CODE_SOURCES = FIG6_SOURCES  # see montecarlo.convnet_documents


def _int_list(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    from .training import ARCHS, DEFAULT_BETA, MIN_DEPTH
    p = argparse.ArgumentParser(prog="python -m montecarlo.convnets.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    r, f = REDUCED, FULL
    p.add_argument("--depths", help=f"comma-separated depths: conv modules after the stem, even integers >= "
                                    f"{MIN_DEPTH}; default {','.join(map(str, r['depths']))} "
                                    f"(--full: {','.join(map(str, f['depths']))})")
    p.add_argument("--archs", default=",".join(ARCHS),
                   help=f"comma-separated, from {', '.join(ARCHS)}; default all")
    p.add_argument("--epochs", type=int, help=f"epochs per run; default {r['epochs']} (--full: {f['epochs']})")
    p.add_argument("--seeds", type=int, help=f"trained networks per (arch, depth); default {r['seeds']} "
                                             f"(--full: {f['seeds']})")
    p.add_argument("--train-images", type=int, help=f"first N training images; default {r['train_images']} "
                                                    f"(--full: all)")
    p.add_argument("--test-images", type=int, help=f"first N test images (held out); default {r['test_images']} "
                                                   f"(--full: all)")
    p.add_argument("--batch-size", type=int, help=f"minibatch size; default {r['batch_size']} "
                                                  f"(--full: {f['batch_size']})")
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help="Adam's initial learning rate; default %(default)s")
    p.add_argument("--beta", type=float, default=DEFAULT_BETA, help="resnet branch scale; default %(default)s")
    p.add_argument("--measurements-per-epoch", type=int,
                   help=f"training-loss measurements fed to the LR scheduler per epoch; default "
                        f"{r['measurements_per_epoch']} (--full: {f['measurements_per_epoch']})")
    p.add_argument("--lr-window", type=int, default=10, help="scheduler window, in measurements; default %(default)s")
    p.add_argument("--lr-patience", type=int, default=5,
                   help="consecutive crossed measurements before a drop; default %(default)s")
    p.add_argument("--lr-threshold", type=float,
                   help=f"drop when the relative training-loss decrease per epoch stays below this; default "
                        f"{r['lr_threshold']} (--full: {f['lr_threshold']})")
    p.add_argument("--lr-factor", type=float, default=0.1, help="learning-rate multiplier at a drop; default %(default)s")
    p.add_argument("--no-augment", action="store_true", help="no translation/flip augmentation")
    p.add_argument("--data", default=None, help=f"cifar-10-batches-py folder; default {default_data_path()}")
    p.add_argument("--seed", type=int, default=0, help="root of numpy.random.SeedSequence; default %(default)s")
    p.add_argument("--threads", type=int, help="torch CPU threads (part of the key: float sums depend on it); "
                                               "default 1 (--full: torch's choice)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default %(default)s")
    p.add_argument("--checkpoints", metavar="DIR", default=None,
                   help="save every run after each epoch under DIR and resume from there")
    store = p.add_mutually_exclusive_group()
    store.add_argument("--store", metavar="PATH", default=None, help="results store (default: "
                       "$SHATTERED_GRADIENTS_STORE or the user cache)")
    store.add_argument("--no-store", action="store_true", help="do not read or write the results store")
    p.add_argument("--full", action="store_true", help="the paper's configuration (for a GPU; see above)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def _resolve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """Options after the preset, validated; parser.error (exit 2) names argument, value, allowed."""
    from .training import ARCHS, MIN_DEPTH
    preset = FULL if args.full else REDUCED
    o = {k: getattr(args, k) if getattr(args, k, None) is not None else v for k, v in preset.items()
         if k != "depths"}
    if args.depths is None:
        depths = list(preset["depths"])
    else:
        try:
            depths = _int_list(args.depths)
        except ValueError:
            parser.error(f"--depths: {args.depths!r} is not allowed: comma-separated even integers >= {MIN_DEPTH}")
        if not depths:
            parser.error(f"--depths: {args.depths!r} is not allowed: at least one even integer >= {MIN_DEPTH}")
    bad = [d for d in depths if d < MIN_DEPTH or d % 2]
    if bad:
        parser.error(f"--depths: depth {bad[0]} is not allowed: even integers >= {MIN_DEPTH} (two conv modules "
                     f"per block, at least one block in each of the 4 stages)")
    if len(set(depths)) != len(depths):
        parser.error(f"--depths: {args.depths!r} is not allowed: each depth once")
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    unknown = [a for a in archs if a not in ARCHS]
    if unknown or not archs:
        parser.error(f"--archs: {unknown[0] if unknown else args.archs!r} is not allowed: one or more of "
                     f"{', '.join(ARCHS)}")
    if len(set(archs)) != len(archs):
        parser.error(f"--archs: {args.archs!r} is not allowed: each architecture once")
    for name in ("epochs", "seeds", "batch_size", "measurements_per_epoch"):
        if o[name] < 1:
            parser.error(f"--{name.replace('_', '-')}: {o[name]} is not allowed: a positive integer")
    for name in ("train_images", "test_images", "threads"):
        if o[name] is not None and o[name] < 1:
            parser.error(f"--{name.replace('_', '-')}: {o[name]} is not allowed: a positive integer")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr: {args.lr} is not allowed: a positive finite number")
    if not (math.isfinite(args.beta) and args.beta > 0):
        parser.error(f"--beta: {args.beta} is not allowed: a positive finite number")
    if args.lr_window < 2:
        parser.error(f"--lr-window: {args.lr_window} is not allowed: an integer >= 2 measurements")
    if args.lr_patience < 1:
        parser.error(f"--lr-patience: {args.lr_patience} is not allowed: a positive integer")
    if not math.isfinite(o["lr_threshold"]):
        parser.error(f"--lr-threshold: {o['lr_threshold']} is not allowed: a finite number")
    if not 0 < args.lr_factor < 1:
        parser.error(f"--lr-factor: {args.lr_factor} is not allowed: a number in (0, 1)")
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            parser.error("--device: 'cuda' is not allowed here: no CUDA device is available (allowed: cpu)")
    o.update(depths=depths, archs=archs)
    return o


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    o = _resolve(parser, args)
    try:
        train = load_cifar10(args.data, "train", limit=o["train_images"])
        test = load_cifar10(args.data, "test", stats=(train.mean, train.std), limit=o["test_images"])
    except CIFAR10Error as exc:
        parser.error(f"--data: {exc}")
    for name, split in (("train_images", train), ("test_images", test)):
        if o[name] is not None and o[name] > len(split):
            parser.error(f"--{name.replace('_', '-')}: {o[name]} is not allowed: at most the {len(split)} "
                         f"images of that split in --data")
    if o["batch_size"] > len(train):
        parser.error(f"--batch-size: {o['batch_size']} is not allowed: at most the {len(train)} training images")
    batches = math.ceil(len(train) / o["batch_size"])
    if o["measurements_per_epoch"] > batches:
        parser.error(f"--measurements-per-epoch: {o['measurements_per_epoch']} is not allowed: at most the "
                     f"{batches} minibatches of an epoch")

    import torch  # noqa: E402  (heavy import after validation)

    from ..store import Store, StoreError, source_version
    from .training import DOCUMENT_KIND, MIN_DEPTH, STAGE_WIDTHS, TrainConfig, data_fingerprint, fig6, stage_widths
    if o["threads"] is not None:
        torch.set_num_threads(o["threads"])

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    config = TrainConfig(seed=args.seed, train_images=len(train), test_images=len(test), batch_size=o["batch_size"],
                         lr=args.lr, beta=args.beta, measurements_per_epoch=o["measurements_per_epoch"],
                         lr_window=args.lr_window, lr_patience=args.lr_patience, lr_threshold=o["lr_threshold"],
                         lr_factor=args.lr_factor, augment=not args.no_augment, device=args.device,
                         torch_threads=torch.get_num_threads(),
                         data_sha256=data_fingerprint(train.images, train.labels, test.images, test.labels))
    key = {"archs": o["archs"], "depths": o["depths"], "seeds": o["seeds"], "epochs": o["epochs"],
           "config": config.key()}
    code_version = source_version(CODE_SOURCES)
    store = None
    if not args.no_store:
        try:
            store = Store(args.store)
        except StoreError as exc:
            parser.error(f"--store: {exc}")
        stored = [d for d in store.documents(DOCUMENT_KIND, code_version) if d["key"] == key]
        if stored:
            progress(f"read from the results store {store.path} (document #{stored[0]['id']}, code version "
                     f"{code_version}); nothing trained")
            doc = stored[0]["document"]
            store.close()
            _print(doc, args.json)
            return 0
        store.close()  # not held open during hours of training
    progress(f"Fig. 6 ({'full' if args.full else 'reduced'}): archs {','.join(o['archs'])}; depths "
             f"{','.join(map(str, o['depths']))}; {o['seeds']} seed(s); {o['epochs']} epoch(s); "
             f"{len(train)} training / {len(test)} test images; {config.torch_threads} torch thread(s) on {args.device}")
    result = fig6(o["archs"], o["depths"], o["seeds"], o["epochs"], config, train.images, train.labels,
                  test.images, test.labels, args.checkpoints, progress)
    doc = {"kind": DOCUMENT_KIND, "preset": "full" if args.full else "reduced",
           "options": {"archs": o["archs"], "depths": o["depths"], "seeds": o["seeds"], "epochs": o["epochs"],
                       "config": config.key(), "data": str(args.data or default_data_path()),
                       "train_files": list(train.files), "test_files": list(test.files)},
           "architecture": {"stage_widths": list(STAGE_WIDTHS), "crelu_stage_widths": list(stage_widths("crelu-ll")),
                            "beta": args.beta,
                            "depth": f"conv modules after the stem (even, >= {MIN_DEPTH}); weight layers = depth + 2"},
           "configs": result["configs"], "code_version": code_version, "checkpoints": result["checkpoints"],
           "seconds": time.perf_counter() - t0}
    doc["command"] = fig6_command_line(doc)
    progress(f"total time: {doc['seconds']:.1f} s ({config.torch_threads} torch thread(s) on {args.device})")
    if store is not None:
        try:
            with Store(args.store) as s:
                written = s.put_document(DOCUMENT_KIND, key, doc, code_version)
            progress(f"{'stored in' if written else 'already in'} the results store {s.path} "
                     f"(kind {DOCUMENT_KIND}, code version {code_version})")
        except StoreError as exc:
            progress(f"warning: not stored: {exc}")
    _print(doc, args.json)
    return 0


def _print(doc: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, allow_nan=False))
        return
    o = doc["options"]
    c = o["config"]
    print(f"Fig. 6 ({doc['preset']} reproduction): {o['epochs']} epochs, {o['seeds']} seed(s), "
          f"{c['train_images']} training / {c['test_images']} test images, batch {c['batch_size']}, "
          f"Adam lr {c['lr']}, resnet beta {c['beta']}, seed {c['seed']}")
    print(f"{'arch':9s} {'depth':>5s} {'params':>8s}  {'final train loss':>20s}  {'test accuracy':>20s}  "
          f"{'LR drops':>8s}  diverged")

    def fmt(e: dict, digits: int) -> str:
        if e["mean"] is None:
            return f"{'—':>20s}"
        se = "" if e["stderr"] is None else f" ± {e['stderr']:.{digits}f}"
        return f"{e['mean']:.{digits}f}{se}".rjust(20)

    for cfg in doc["configs"]:
        drops = sum(len(r["lr_drops"]) for r in cfg["runs"])
        print(f"{cfg['arch']:9s} {cfg['depth']:5d} {cfg['parameters']:8d}  {fmt(cfg['final_train_loss'], 4)}  "
              f"{fmt(cfg['test_accuracy'], 4)}  {drops:8d}  {cfg['diverged']}/{len(cfg['runs'])}")
    print(f"time: {doc['seconds']:.1f} s ({c['torch_threads']} torch thread(s) on {c['device']})")


if __name__ == "__main__":
    sys.exit(main())
