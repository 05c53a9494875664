"""``python -m montecarlo.convnets``: Fig. 5 (§4) on CIFAR-10 convnets at initialization.

Prints, for each architecture and depth, the relative effective rank of the input gradients
and their normalized gradient norm, each as mean ± standard error over minibatches (one freshly
initialized network per minibatch).  Progress goes to stderr; ``--json`` puts one JSON document
on stdout.  Exit 0 on success, 2 on bad usage (missing data, bad depth, unknown arch …).

The default is a *reduced* reproduction sized for a 2-core CPU (≤ 10 minutes): width 16,
8 minibatches of 256 (the paper: 30 minibatches, full-size nets).  ``--minibatches 30`` and a
larger ``--width`` follow the paper more closely.

Results store: the run — every option that determines the numbers, the per-minibatch values and
minibatch 0's k-means-ordered covariance matrices (Fig. 5a–b) — is stored as one document of kind
``fig5-convnets`` (:mod:`montecarlo.convnet_documents`) in the SQLite results store
(``--store PATH``; default ``$SHATTERED_GRADIENTS_STORE`` or the user cache, as for
``python -m montecarlo``).  A stored document is never replaced: the same command run again
finds it, prints it and computes nothing.  ``--no-store`` neither reads nor writes a store.
``theory.verify`` and ``python -m reports`` read these documents.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from montecarlo.store import StoreError, default_store_path

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
    where = p.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="PATH",
                       help="SQLite results store: the run is stored as a 'fig5-convnets' document (never "
                            "replaced; the same run again is read from it, not recomputed); default: "
                            f"$SHATTERED_GRADIENTS_STORE, else {default_store_path()}")
    where.add_argument("--no-store", action="store_true", dest="no_store",
                       help="compute everything, read and write no store")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def _sha256(path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stored(store, key: dict, version: str) -> dict | None:
    """The stored document with exactly this key and code version, or None."""
    from montecarlo.store import canonical_json
    want = canonical_json(key)
    return next((e for e in store.documents("fig5-convnets", version) if canonical_json(e["key"]) == want), None)


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

    from montecarlo.convnet_documents import (FIG5_KIND, build_document, decode_covariances, fig5_code_version,
                                              fig5_key)

    from .experiments import fig5
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data_path = args.data or default_data_path()
    files = [{"file": name, "sha256": _sha256(f"{data_path}/{name}")} for name in data.files]
    key = fig5_key({"archs": archs, "depths": depths, "minibatches": args.minibatches, "batch_size": args.batch_size,
                    "beta": args.beta, "width": args.width, "bn_backward": args.bn_backward, "loss": args.loss,
                    "seed": args.seed, "split": args.split, "torch_threads": torch.get_num_threads()}, files)
    version = fig5_code_version()
    store, found = None, None
    if not args.no_store:
        from montecarlo.store import Store
        try:
            store = Store(args.store or default_store_path())
            found = _stored(store, key, version)
        except StoreError as exc:
            print(f"python -m montecarlo.convnets: error: {exc}", file=sys.stderr)
            return 2
    try:
        if found is not None:
            doc = found["document"]
            result = {"configs": doc["configs"], "options": doc["options"], "seconds": doc.get("seconds")}
            cov = decode_covariances(doc["covariances"]) if doc.get("covariances") else None
            result["store"] = {"path": str(store.path), "document": found["id"], "stored": False,
                               "code_version": version}
            progress(f"already stored in {store.path} (fig5-convnets document #{found['id']}, code version "
                     f"{version}); nothing computed (--no-store recomputes)")
        else:
            result = fig5(data.images, data.labels, depths, args.minibatches, args.beta, args.width, args.seed,
                          args.batch_size, archs, args.bn_backward, args.loss,
                          keep_covariances=args.save_cov is not None or store is not None, progress=progress)
            result["seconds"] = time.perf_counter() - t0
            result["options"]["data"] = str(data_path)
            result["options"]["files"] = list(data.files)
            result["options"]["split"] = args.split
            cov = result.pop("covariances", None)
            if store is not None:
                document = build_document(result, cov)
                new = store.put_document(FIG5_KIND, key, document, version)
                stored = _stored(store, key, version)
                result["store"] = {"path": str(store.path), "document": stored["id"] if stored else None,
                                   "stored": new, "code_version": version}
                progress(f"{'stored' if new else 'already stored (another run stored it first)'} in {store.path} "
                         f"as fig5-convnets document #{result['store']['document']} (code version {version})")
    except StoreError as exc:
        print(f"python -m montecarlo.convnets: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()
    if args.save_cov and cov is None:
        progress(f"not saved: {args.save_cov} (the stored document holds no covariance matrices)")
    elif args.save_cov:
        import numpy as np
        arrays = {f"{a}_order": c["order"] for a, c in cov.items()}
        arrays |= {f"{a}_depth{d}": m for a, c in cov.items() for d, m in c["depths"].items()}
        np.savez_compressed(args.save_cov, **arrays)
        progress(f"saved covariances to {args.save_cov}")
    if args.json:
        from montecarlo.convnet_documents import json_ready
        result = json_ready(result)
        print(json.dumps(result))
        return 0
    o = result["options"]
    print(f"Fig. 5 (reduced reproduction): width {o['width']}, {o['minibatches']} minibatches of "
          f"{o['batch_size']}, beta {o['beta']}, BN backward {o['bn_backward']}, loss {o['loss']}, seed {o['seed']}")
    print(f"{'arch':12s} {'depth':>5s}  {'relative effective rank':>26s}  {'normalized gradient norm':>26s}")
    def num(x) -> float:
        return float("nan") if x is None else x  # a stored document keeps NaN as null
    for c in result["configs"]:
        er, gn = c["effective_rank"], c["gradient_norm"]
        print(f"{c['arch']:12s} {c['depth']:5d}  {num(er['mean']):14.4f} ± {num(er['stderr']):<9.4f}  "
              f"{num(gn['mean']):14.4f} ± {num(gn['stderr']):<9.4f}")
    where = result.get("store")
    print(f"time: {num(result['seconds']):.1f} s ({o['torch_threads']} torch threads)"
          + ("" if where is None else f"; {'stored in' if where['stored'] else 'read from'} {where['path']} "
                                      f"(document #{where['document']})"))
    return 0
