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
``fig5-convnets`` (:mod:`montecarlo.convnets.documents`) in the SQLite results store
(``--store PATH``; default ``$SHATTERED_GRADIENTS_STORE`` or the user cache, as for
``python -m montecarlo``).  A stored document is never replaced: the same command run again
finds it, prints it and computes nothing.  A run with more ``--minibatches`` than a stored one of
otherwise the same options (and code version) continues it: the stored minibatches are read back
(a minibatch depends on its own seeds only, so they are the bits a run from scratch computes; tested)
and only the rest is measured; the new document says which one it ``extends``.  ``--no-store``
neither reads nor writes a store.
``theory.verify`` and ``python -m reports`` read these documents.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from montecarlo.run_options import add_store_options, open_store
from montecarlo.store import StoreError
from theory.cli import command
from theory.options import add_options, flag_of, given_values
from theory.specs import SpecError

from .data import CIFAR10Error, data_help, default_data_path, load_cifar10
from .documents import FIG5_KIND, build_document, decode_covariances, fig5_code_version, fig5_key, json_ready
from .specs import Fig5Config, fig5_options

PROG = "python -m montecarlo.convnets"


def build_parser() -> argparse.ArgumentParser:
    """The options of :class:`.specs.Fig5Config` (one flag per field), the data, the store and ``--json``."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(p, fig5_options(), set_defaults=True)
    p.add_argument("--data", default=None, help=data_help())
    p.add_argument("--save-cov", metavar="FILE.npz", default=None,
                   help="save minibatch 0's k-means-ordered gradient covariances (Fig. 5a-b)")
    add_store_options(p, what="the run is stored as a 'fig5-convnets' document (never replaced; the same run "
                              "again is read from it, not recomputed)")
    p.add_argument("--workers", type=int, default=1, metavar="K",
                   help="measure the minibatches in K processes, each with --threads threads (default with K > 1: "
                        "1); the numbers do not depend on K, so K is not part of the stored key")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Fig5Config:
    """The validated :class:`.specs.Fig5Config` of the options; a bad value exits 2 naming its flag."""
    options = fig5_options()
    try:
        return Fig5Config(**given_values(args, options))
    except SpecError as exc:
        parser.error(f"{flag_of(exc.field, options)}: {exc}")


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
    return next((e for e in store.documents(FIG5_KIND, version) if canonical_json(e["key"]) == want), None)


def _extendable(store, key: dict, version: str) -> dict | None:
    """The stored document (this code version) that a run of ``key`` continues: every key field the
    same but fewer minibatches, with its covariances; of several, the one with the most minibatches."""
    from montecarlo.store import canonical_json

    def rest(k: dict) -> str:
        return canonical_json({f: v for f, v in k.items() if f != "minibatches"})
    want = rest(key)
    found = [e for e in store.documents(FIG5_KIND, version)
             if rest(e["key"]) == want and int(e["key"].get("minibatches", 0)) < int(key["minibatches"])
             and e["document"].get("covariances")]
    return max(found, key=lambda e: int(e["key"]["minibatches"]), default=None)


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()  # the printed time includes loading the data
    parser = build_parser()
    args = parser.parse_args(argv)
    config = config_from_args(parser, args)
    if args.workers < 1:
        parser.error(f"--workers: {args.workers} is not allowed: a positive integer (processes)")
    try:
        data = load_cifar10(args.data, config.split)
    except CIFAR10Error as exc:
        parser.error(f"--data: {exc}")
    if config.batch_size > len(data):
        parser.error(f"--batch-size: {config.batch_size} is not allowed: at most the {len(data)} images in --data")

    import torch  # noqa: E402  (heavy import after validation)

    from .experiments import fig5, stored_values
    from .memory import keep_freed_memory
    keep_freed_memory()  # the activations reuse freed pages (a third of the run was page faults)
    if config.threads is not None or args.workers > 1:
        torch.set_num_threads(config.threads or 1)  # K workers: K processes, one thread each unless --threads
    config = dataclasses.replace(config, threads=torch.get_num_threads())

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    data_path = args.data or default_data_path()
    files = [{"file": name, "sha256": _sha256(f"{data_path}/{name}")} for name in data.files]
    key = fig5_key(config.options(), files)
    version = fig5_code_version()
    store, found = None, None
    try:
        store = open_store(args)
        found = _stored(store, key, version) if store is not None else None
    except StoreError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
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
            base = _extendable(store, key, version) if store is not None else None
            prior = None
            if base is not None:
                prior = stored_values(base["document"]["configs"])
                progress(f"continues fig5-convnets document #{base['id']} of {store.path} (its "
                         f"{base['key']['minibatches']} minibatches are read back, the same bits; the rest measured)")
            result = fig5(data.images, data.labels, config,
                          keep_covariances=args.save_cov is not None or store is not None, progress=progress,
                          workers=args.workers, prior=prior)
            earlier = (base["document"].get("seconds") or 0.0) if base is not None else 0.0
            result["seconds"] = time.perf_counter() - t0 + earlier  # a continued run: both parts
            result["options"]["data"] = str(data_path)
            result["options"]["files"] = list(data.files)
            cov = result.pop("covariances", None)
            if base is not None:  # minibatch 0's matrices: the stored ones
                cov = decode_covariances(base["document"]["covariances"]) if cov is not None else None
                result["extends"] = base["id"]
            if store is not None:
                document = build_document(result, cov if base is None else None)
                if base is not None:
                    document["covariances"] = base["document"]["covariances"]  # as stored, not re-encoded
                    document["extends"] = base["id"]
                new = store.put_document(FIG5_KIND, key, document, version)
                stored = _stored(store, key, version)
                result["store"] = {"path": str(store.path), "document": stored["id"] if stored else None,
                                   "stored": new, "code_version": version}
                progress(f"{'stored' if new else 'already stored (another run stored it first)'} in {store.path} "
                         f"as fig5-convnets document #{result['store']['document']} (code version {version})")
    except StoreError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
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
