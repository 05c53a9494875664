"""``python -m montecarlo.convnets``: Fig. 5 (§4) on CIFAR-10 convnets at initialization.

Prints, for each architecture and depth, the relative effective rank of the input gradients
and their normalized gradient norm, each as mean ± standard error over minibatches (one freshly
initialized network per minibatch).  Progress goes to stderr; ``--json`` puts one JSON document
on stdout.  Exit 0 on success, 2 on bad usage (missing data, bad depth, unknown arch …).

The default is a *reduced* reproduction sized for a 2-core CPU (≤ 10 minutes): width 16,
8 minibatches of 256 (the paper: 30 minibatches, full-size nets).  ``--minibatches 30`` and a
larger ``--width`` follow the paper more closely.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .data import CIFAR10Error, default_data_path, load_cifar10
from .experiments import PAPER_DEPTHS

DEFAULT_MINIBATCHES = 8
DEFAULT_WIDTH = 16


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}={text!r}: expected comma-separated integers") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{name}={text!r}: expected at least one value")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m montecarlo.convnets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depths", default=",".join(map(str, PAPER_DEPTHS)),
                   help="comma-separated depths (nonlinear conv layers after the stem; even for feedforward/resnet); default %(default)s")
    p.add_argument("--archs", default="feedforward,resnet",
                   help="comma-separated: feedforward, resnet (BN, even depths), crelu-ll, prelu-ll, "
                        "crelu-he, relu-he (no BN, LL-init or He-init plain nets); default %(default)s")
    p.add_argument("--loss", choices=("cross_entropy", "sum"), default="cross_entropy",
                   help="cross_entropy (Fig. 5, default) or sum of the logits (the convention of §3)")
    p.add_argument("--minibatches", type=int, default=DEFAULT_MINIBATCHES,
                   help="minibatches (one network each) per configuration; default %(default)s (paper: 30)")
    p.add_argument("--batch-size", type=int, default=256, help="images per minibatch; default %(default)s")
    p.add_argument("--beta", type=float, default=0.1, help="resnet branch scale beta; default %(default)s")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="channels per layer; default %(default)s")
    p.add_argument("--bn-backward", choices=("autograd", "constant"), default="autograd",
                   help="differentiate through the BN batch statistics (autograd, default) or treat them as constants")
    p.add_argument("--data", default=None, help=f"cifar-10-batches-py folder; default {default_data_path()}")
    p.add_argument("--split", choices=("train", "test"), default="train", help="images to draw minibatches from")
    p.add_argument("--seed", type=int, default=0, help="root of numpy.random.SeedSequence; default %(default)s")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--save-cov", metavar="FILE.npz", default=None,
                   help="save minibatch 0's k-means-ordered gradient covariances (Fig. 5a-b)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()  # the printed time includes loading the data
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        depths = _int_list(args.depths, "--depths")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    from .experiments import ARCHS, BN_ARCHS
    unknown = [a for a in archs if a not in ARCHS]
    if unknown or not archs:
        parser.error(f"--archs: {unknown[0] if unknown else args.archs!r} is not allowed: one of {', '.join(ARCHS)}")
    bad = [d for d in depths if d < 1]
    if bad:
        parser.error(f"--depths: depth {bad[0]} is not allowed: positive integers")
    bad = [d for d in depths if d < 2 or d % 2]
    if bad and any(a in BN_ARCHS for a in archs):
        parser.error(f"--depths: depth {bad[0]} is not allowed for feedforward/resnet: even integers >= 2 "
                     f"(two conv layers per block)")
    if args.minibatches < 1:
        parser.error(f"--minibatches: {args.minibatches} is not allowed: a positive integer")
    if args.batch_size < 2:
        parser.error(f"--batch-size: {args.batch_size} is not allowed: at least 2 images")
    if args.width < 1:
        parser.error(f"--width: {args.width} is not allowed: a positive integer")
    if not (args.beta > 0 and args.beta < float("inf")):
        parser.error(f"--beta: {args.beta} is not allowed: a positive finite number")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads: {args.threads} is not allowed: a positive integer")
    try:
        data = load_cifar10(args.data, args.split)
    except CIFAR10Error as exc:
        parser.error(f"--data: {exc}")
    if args.batch_size > len(data):
        parser.error(f"--batch-size: {args.batch_size} is larger than the {len(data)} images in --data")

    import torch  # noqa: E402  (heavy import after validation)

    from .experiments import fig5
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = fig5(data.images, data.labels, depths, args.minibatches, args.beta, args.width, args.seed,
                  args.batch_size, archs, args.bn_backward, args.loss, keep_covariances=args.save_cov is not None,
                  progress=progress)
    result["seconds"] = time.perf_counter() - t0
    result["options"]["data"] = str(args.data or default_data_path())
    result["options"]["files"] = list(data.files)
    if args.save_cov:
        import numpy as np
        cov = result.pop("covariances")
        arrays = {f"{a}_order": c["order"] for a, c in cov.items()}
        arrays |= {f"{a}_depth{d}": m for a, c in cov.items() for d, m in c["depths"].items()}
        np.savez_compressed(args.save_cov, **arrays)
        progress(f"saved covariances to {args.save_cov}")
    if args.json:
        print(json.dumps(result))
        return 0
    o = result["options"]
    print(f"Fig. 5 (reduced reproduction): width {o['width']}, {o['minibatches']} minibatches of "
          f"{o['batch_size']}, beta {o['beta']}, BN backward {o['bn_backward']}, loss {o['loss']}, seed {o['seed']}")
    print(f"{'arch':12s} {'depth':>5s}  {'relative effective rank':>26s}  {'normalized gradient norm':>26s}")
    for c in result["configs"]:
        er, gn = c["effective_rank"], c["gradient_norm"]
        print(f"{c['arch']:12s} {c['depth']:5d}  {er['mean']:14.4f} ± {er['stderr']:<9.4f}  "
              f"{gn['mean']:14.4f} ± {gn['stderr']:<9.4f}")
    print(f"time: {result['seconds']:.1f} s ({o['torch_threads']} torch threads)")
    return 0
