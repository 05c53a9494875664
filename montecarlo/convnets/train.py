"""``python -m montecarlo.convnets.train``: Fig. 6 (§5.1), thin convnets trained on CIFAR-10.

Trains, for every architecture, depth and seed, a thin convnet (:mod:`.thin_nets`: stage widths
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
every option that determines the numbers, :class:`.specs.TrainConfig`, including a SHA-256 of
the loaded images and labels, the device and the torch thread count; the key is
:meth:`.specs.TrainingPlan.key`) and code version :func:`.documents.fig6_code_version` (the
sources of :data:`.documents.FIG6_SOURCES`: the nets, the training loop, augmentation, schedule,
seeds, specification and data loader).  A stored document is never replaced: a rerun with the
same key and code version prints the stored one without training.

**Checkpoints.**  ``--checkpoints DIR``: every run saves its state after each epoch (atomically)
under ``DIR/fig6-<hash of the config>/``; rerunning the same command resumes where it stopped and
gives the same numbers as an uninterrupted run (see :mod:`.training`).

**Options.**  Every flag but ``--data``, ``--checkpoints``, the store group, ``--full`` and
``--json`` is a field of :class:`.specs.TrainingPlan` or :class:`.specs.TrainConfig` (its help,
type and reduced default are declared there; :data:`.specs.TRAINING_FULL_PRESET` holds the
``--full`` overrides).

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
import dataclasses
import json
import sys
import time
from typing import Any

from theory.cli import command
from theory.options import Option, add_options, flag_of, given_values
from theory.specs import SpecError

from ..run_options import add_store_options, open_store, store_path
from ..store import Store, StoreError
from .data import CIFAR10Error, data_help, default_data_path, load_cifar10
from .documents import FIG6_KIND, fig6_code_version, fig6_command_line
from .specs import (TRAINING_FULL_PRESET, TRAINING_MIN_DEPTH, TRAINING_STAGE_WIDTHS, TrainConfig, TrainingPlan,
                    check_train_fields, training_options)

PROG = "python -m montecarlo.convnets.train"
#: what ``None`` means in a preset (the ``--full`` column of the help)
_NONE_TEXT = {"train_images": "all", "test_images": "all", "torch_threads": "torch's choice"}
#: the :class:`.specs.TrainConfig` fields the CLI fixes from the loaded data and torch, not from a flag as given
_MEASURED = ("train_images", "test_images", "torch_threads", "data_sha256")


def _text(name: str, value: Any) -> str:
    if value is None:
        return _NONE_TEXT[name]
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def cli_options() -> list[Option]:
    """The options of :func:`.specs.training_options`, their help naming both presets' defaults."""
    out = []
    for opt in training_options():
        if opt.name in TRAINING_FULL_PRESET:
            reduced = next(iter(opt.defaults.values()))
            opt = dataclasses.replace(opt, default_text=f"{_text(opt.name, reduced)}; "
                                                        f"--full: {_text(opt.name, TRAINING_FULL_PRESET[opt.name])}")
        out.append(opt)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, cli_options())  # an omitted option is None: the preset decides
    p.add_argument("--data", default=None, help=data_help())
    p.add_argument("--checkpoints", metavar="DIR", default=None,
                   help="save every run after each epoch under DIR and resume from there")
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="train the runs in K processes, each with --threads threads (default 1: in this "
                        "process); the numbers do not depend on K, so K is not part of the stored key")
    add_store_options(p, what="the run is stored as a 'fig6-training' document (never replaced; the same run "
                              "again is read from it, not trained)")
    p.add_argument("--full", action="store_true", help="the paper's configuration (for a GPU; see above)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def _usage(parser: argparse.ArgumentParser, exc: SpecError, options: list[Option]) -> None:
    parser.error(f"{flag_of(exc.field, options)}: {exc}")


def _resolve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[TrainingPlan, dict]:
    """The plan (with the default config) and the config values after the preset, each field validated;
    a bad value exits 2 naming the flag, the value and what is allowed.  ``train_images``,
    ``test_images`` (limits) and ``torch_threads`` may be ``None`` (all images, torch's choice)."""
    options = cli_options()
    given = given_values(args, options)
    preset = TRAINING_FULL_PRESET if args.full else {}
    values = {}
    for opt in options:
        if opt.name in given:
            values[opt.name] = given[opt.name]
        elif opt.name in preset:
            values[opt.name] = preset[opt.name]
        else:
            values[opt.name] = next(iter(opt.defaults.values()))
    plan_fields = {f.name for f in dataclasses.fields(TrainingPlan)}
    config = {k: v for k, v in values.items() if k not in plan_fields}
    try:
        plan = TrainingPlan(**{k: v for k, v in values.items() if k in plan_fields})
        check_train_fields(config)
    except SpecError as exc:
        _usage(parser, exc, options)
    if config["device"] == "cuda":
        import torch
        if not torch.cuda.is_available():
            parser.error("--device: 'cuda' is not allowed here: no CUDA device is available (allowed: cpu)")
    return plan, config


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    plan, o = _resolve(parser, args)
    if args.workers < 1:
        parser.error(f"--workers: {args.workers} is not allowed: a positive integer (processes)")
    try:
        train = load_cifar10(args.data, "train", limit=o["train_images"])
        test = load_cifar10(args.data, "test", stats=(train.mean, train.std), limit=o["test_images"])
    except CIFAR10Error as exc:
        parser.error(f"--data: {exc}")
    for name, split in (("train_images", train), ("test_images", test)):
        if o[name] is not None and o[name] > len(split):
            parser.error(f"--{name.replace('_', '-')}: {o[name]} is not allowed: at most the {len(split)} "
                         f"images of that split in --data")

    import torch  # noqa: E402  (heavy import after validation)

    from .memory import keep_freed_memory
    from .thin_nets import stage_widths
    keep_freed_memory()  # the activations reuse freed pages instead of faulting in new ones
    from .training import data_fingerprint, fig6
    threads = o["torch_threads"] if o["torch_threads"] is not None else torch.get_num_threads()
    try:
        config = TrainConfig(**{k: v for k, v in o.items() if k not in _MEASURED}, train_images=len(train),
                             test_images=len(test), torch_threads=threads,
                             data_sha256=data_fingerprint(train.images, train.labels, test.images, test.labels))
    except SpecError as exc:
        _usage(parser, exc, cli_options())
    plan = dataclasses.replace(plan, config=config)
    torch.set_num_threads(config.torch_threads)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    key = plan.key()
    code_version = fig6_code_version()
    try:
        store = open_store(args)
    except StoreError as exc:
        parser.error(f"--store: {exc}")
    if store is not None:
        stored = [d for d in store.documents(FIG6_KIND, code_version) if d["key"] == key]
        if stored:
            progress(f"read from the results store {store.path} (document #{stored[0]['id']}, code version "
                     f"{code_version}); nothing trained")
            doc = stored[0]["document"]
            store.close()
            _print(doc, args.json)
            return 0
        store.close()  # not held open during hours of training
    progress(f"Fig. 6 ({'full' if args.full else 'reduced'}): archs {','.join(plan.archs)}; depths "
             f"{','.join(map(str, plan.depths))}; {plan.seeds} seed(s); {plan.epochs} epoch(s); "
             f"{len(train)} training / {len(test)} test images; {config.torch_threads} torch thread(s) on "
             f"{config.device}" + (f", {args.workers} worker processes" if args.workers > 1 else ""))
    result = fig6(plan, train.images, train.labels, test.images, test.labels, args.checkpoints, progress,
                  workers=args.workers)
    doc = {"kind": FIG6_KIND, "preset": "full" if args.full else "reduced",
           "options": key | {"data": str(args.data or default_data_path()), "train_files": list(train.files),
                             "test_files": list(test.files)},
           "architecture": {"stage_widths": list(TRAINING_STAGE_WIDTHS),
                            "crelu_stage_widths": list(stage_widths("crelu-ll")), "beta": config.beta,
                            "depth": f"conv modules after the stem (even, >= {TRAINING_MIN_DEPTH}); "
                                     f"weight layers = depth + 2"},
           "configs": result["configs"], "code_version": code_version, "checkpoints": result["checkpoints"],
           "seconds": time.perf_counter() - t0}
    doc["command"] = fig6_command_line(doc)
    progress(f"total time: {doc['seconds']:.1f} s ({config.torch_threads} torch thread(s) on {config.device})")
    if store is not None:
        try:
            with Store(store_path(args)) as s:
                written = s.put_document(FIG6_KIND, key, doc, code_version)
            progress(f"{'stored in' if written else 'already in'} the results store {s.path} "
                     f"(kind {FIG6_KIND}, code version {code_version})")
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
