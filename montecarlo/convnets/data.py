"""CIFAR-10 loader for the python-pickle batches (``cifar-10-batches-py``), no torchvision.

The folder holds ``data_batch_1`` … ``data_batch_5`` (training) and ``test_batch``; each is a
pickle of a dict with ``data`` (uint8, ``(N, 3072)``: 1024 R, 1024 G, 1024 B values of a
row-major 32×32 image) and ``labels`` (N ints in 0..9).  Keys may be bytes (``b'data'``) or
str.  Any non-empty subset of the five training batches is accepted (the project's copy keeps
only ``data_batch_1``; see its SOURCE.md: JPEG-recompressed, not bit-exact CIFAR-10).

Images are returned as float32 ``(N, 3, 32, 32)``, normalized per channel:
``(x/255 − mean_c) / std_c`` with ``mean_c, std_c`` computed over the loaded images of the
split (or taken from ``stats``, e.g. the training statistics when normalizing the test split).

Every failure raises :class:`CIFAR10Error` (a ``ValueError``) naming the path and what was
expected.  Loading downloads nothing; ``python -m montecarlo.convnets.data fetch`` does
(:mod:`.fetch`: the official archive, its MD5 checked, extracted atomically into the user cache).

**Where the data is read** (:func:`resolve_data_path`, for every CIFAR-10 consumer: the convnet
CLIs, ``reports.produce`` and anything calling :func:`load_cifar10` without a path), the first of

1. ``--data PATH`` (the ``path`` argument);
2. ``$CIFAR10_DIR`` (``$SHATTERED_GRADIENTS_CIFAR10``, its older name, is read too);
3. the user cache, where ``fetch`` puts it: ``$XDG_CACHE_HOME/shattered-gradients/cifar-10-batches-py``,
   else ``~/.cache/shattered-gradients/cifar-10-batches-py``;
4. this project's copy beside the checkout, ``../shared/data/cifar-10-batches-py``.

A path given by 1 or 2 is used as given (an error when it is not there); 3 and 4 are used when
they exist.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from theory.cli import command

TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_FILES = ("test_batch",)
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
ENV_VAR = "CIFAR10_DIR"
#: the variable's older name, still read (after :data:`ENV_VAR`)
LEGACY_ENV_VAR = "SHATTERED_GRADIENTS_CIFAR10"
FOLDER = "cifar-10-batches-py"
PROG = "python -m montecarlo.convnets.data"
FETCH_COMMAND = f"{PROG} fetch"


class CIFAR10Error(ValueError):
    """The CIFAR-10 folder or one of its batch files is missing or malformed."""


@dataclass(frozen=True)
class CIFAR10:
    """A loaded split: ``images`` float32 (N, 3, 32, 32) normalized, ``labels`` int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray
    mean: np.ndarray  # per-channel mean of x/255 used for normalization, shape (3,)
    std: np.ndarray   # per-channel std of x/255 used for normalization, shape (3,)
    files: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def cache_dir() -> Path:
    """The user cache of this project: ``$XDG_CACHE_HOME/shattered-gradients``, else ``~/.cache/shattered-gradients``."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "shattered-gradients"


def project_data_path() -> Path:
    """This project's copy beside the checkout: ``<repo>/../shared/data/cifar-10-batches-py``."""
    repo = Path(__file__).resolve().parents[2]
    return (repo.parent / "shared" / "data" / FOLDER).resolve()


def data_candidates(path: str | os.PathLike | None = None) -> list[tuple[str, Path, bool]]:
    """The places looked at, in order: ``(where it comes from, path, given)``; ``given``: named by the
    user (``--data``, the environment), so it is used even when it is not there."""
    places: list[tuple[str, Path, bool]] = []
    if path is not None:
        places.append(("--data", Path(path).expanduser(), True))
    for var in (ENV_VAR, LEGACY_ENV_VAR):
        if os.environ.get(var):
            places.append((f"${var}", Path(os.environ[var]).expanduser(), True))
    places.append((f"the user cache ({FETCH_COMMAND} puts it there)", cache_dir() / FOLDER, False))
    places.append(("this project's copy (../shared/data)", project_data_path(), False))
    return places


def resolve_data_path(path: str | os.PathLike | None = None) -> Path:
    """The CIFAR-10 folder to read: the one place that decides it for every consumer.

    In order (the module docstring): ``path`` (``--data``), ``$CIFAR10_DIR``
    (or ``$SHATTERED_GRADIENTS_CIFAR10``), the user cache where ``fetch`` puts it, this project's
    ``../shared/data`` copy.  The first of ``path`` and the environment that is set decides, as
    given; otherwise the first of the other two that is a folder.  When nothing is found,
    :class:`CIFAR10Error` lists the places looked and names the fetch command.
    """
    places = data_candidates(path)
    for where, folder, given in places:
        if given or folder.is_dir():
            return folder
    looked = "; ".join(f"{where}: {folder}" for where, folder, _ in places)
    raise CIFAR10Error(f"no CIFAR-10 data found (looked in order at {looked}). Get it with `{FETCH_COMMAND}` "
                       f"(the official archive, its MD5 checked, into the user cache), or pass --data PATH or "
                       f"set ${ENV_VAR} to a cifar-10-batches-py folder")


def default_data_path() -> Path:
    """The folder :func:`resolve_data_path` picks without ``--data``, or (nothing found) the user
    cache's, where ``fetch`` would put it.  Never raises (for help texts and records)."""
    try:
        return resolve_data_path()
    except CIFAR10Error:
        return cache_dir() / FOLDER


def data_help() -> str:
    """The help of a ``--data`` option: the resolution order and what it picks now."""
    return (f"cifar-10-batches-py folder; default: ${ENV_VAR}, else the user cache (where `{FETCH_COMMAND}` "
            f"puts it), else ../shared/data (now: {default_data_path()})")


def _get(d: dict, key: str):
    if key in d:
        return d[key]
    bkey = key.encode()
    if bkey in d:
        return d[bkey]
    raise KeyError(key)


def read_batch(file: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file → (uint8 data ``(N, 3072)``, int64 labels ``(N,)``), validated."""
    file = Path(file)
    if not file.is_file():
        raise CIFAR10Error(f"CIFAR-10 batch file {file} does not exist (expected a python-pickle "
                           f"batch of the cifar-10-batches-py format)")
    try:
        with open(file, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
    except Exception as exc:  # pickle raises many kinds of errors on garbage
        raise CIFAR10Error(f"CIFAR-10 batch file {file} is not a readable pickle "
                           f"({type(exc).__name__}: {exc}); expected a dict with 'data' "
                           f"(uint8, N×3072) and 'labels' (N ints in 0..9)") from None
    if not isinstance(d, dict):
        raise CIFAR10Error(f"CIFAR-10 batch file {file} holds a {type(d).__name__}, expected a dict "
                           f"with keys 'data' and 'labels'")
    try:
        data, labels = _get(d, "data"), _get(d, "labels")
    except KeyError as exc:
        raise CIFAR10Error(f"CIFAR-10 batch file {file} has no key {exc.args[0]!r} "
                           f"(keys: {sorted(map(str, d))}); expected 'data' and 'labels'") from None
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise CIFAR10Error(f"CIFAR-10 batch file {file}: 'data' has shape {data.shape} and dtype "
                           f"{data.dtype}, expected uint8 of shape (N, 3072)")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise CIFAR10Error(f"CIFAR-10 batch file {file}: 'labels' is not a list of integers") from None
    if labels.shape != (data.shape[0],):
        raise CIFAR10Error(f"CIFAR-10 batch file {file}: 'labels' has shape {labels.shape}, expected "
                           f"({data.shape[0]},) to match 'data'")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise CIFAR10Error(f"CIFAR-10 batch file {file}: labels range {labels.min()}..{labels.max()}, "
                           f"expected 0..9")
    return data, labels


def load_cifar10(path: str | os.PathLike | None = None, split: str = "train", *,
                 stats: tuple[np.ndarray, np.ndarray] | None = None,
                 limit: int | None = None) -> CIFAR10:
    """Load a split (``"train"``: every ``data_batch_k`` present; ``"test"``: ``test_batch``).

    ``stats = (mean, std)`` fixes the per-channel normalization (of ``x/255``); by default it is
    computed over the loaded images.  ``limit`` keeps the first ``limit`` images (in file order).
    """
    if split not in ("train", "test"):
        raise CIFAR10Error(f"split={split!r} is not allowed: 'train' or 'test'")
    folder = resolve_data_path(path)
    if not folder.is_dir():  # only a place the user named is returned without being there
        where = next(w for w, _, given in data_candidates(path) if given)
        how = (f"get it there with `{FETCH_COMMAND} --dir {folder.parent}`" if folder.name == FOLDER
               else f"name a {FOLDER} folder, or get one with `{FETCH_COMMAND}`")
        raise CIFAR10Error(f"CIFAR-10 data folder {folder} (from {where}) does not exist or is not a folder "
                           f"(expected {FOLDER} with data_batch_1..5 and/or test_batch; {how})")
    path = folder
    candidates = TRAIN_FILES if split == "train" else TEST_FILES
    files = [path / name for name in candidates if (path / name).is_file()]
    if not files:
        raise CIFAR10Error(f"CIFAR-10 data folder {path} holds none of {', '.join(candidates)} "
                           f"(split {split!r})")
    parts = [read_batch(f) for f in files]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if limit is not None:
        if limit < 1:
            raise CIFAR10Error(f"limit={limit} is not allowed: a positive number of images")
        data, labels = data[:limit], labels[:limit]
    images = data.reshape(-1, *IMAGE_SHAPE).astype(np.float32) / 255.0
    if stats is None:
        mean = images.mean(axis=(0, 2, 3), dtype=np.float64)
        std = images.std(axis=(0, 2, 3), dtype=np.float64)
    else:
        mean, std = (np.asarray(s, dtype=np.float64).reshape(3) for s in stats)
    std = np.where(std > 0, std, 1.0)
    images = ((images - mean[None, :, None, None].astype(np.float32))
              / std[None, :, None, None].astype(np.float32)).astype(np.float32)
    return CIFAR10(images, labels, mean, std, tuple(f.name for f in files))


# ----------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    from .fetch import CIFAR10_MD5, CIFAR10_URL
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Get the CIFAR-10 python archive and see where the convnet commands read it.",
        epilog="Where the data is read (every CIFAR-10 command, first found): --data PATH; $CIFAR10_DIR "
               "(or $SHATTERED_GRADIENTS_CIFAR10); the user cache ($XDG_CACHE_HOME/shattered-gradients/"
               "cifar-10-batches-py, else ~/.cache/...), where fetch puts it; ../shared/data beside the "
               "checkout.\nExit codes: 0 done (or already there), 2 bad usage or a failed download, check "
               "or extraction (nothing is left behind).")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = sub.add_parser("fetch", help="download, check (MD5) and extract the archive into DIR",
                       description="Download the CIFAR-10 python archive, check its MD5, extract it into a "
                                   "temporary folder and rename DIR/cifar-10-batches-py into place. On a wrong "
                                   "checksum, a truncated download, an HTTP error or a bad archive nothing is "
                                   "left behind (exit 2). An existing complete folder is kept.")
    f.add_argument("--dir", metavar="DIR", default=None,
                   help=f"the folder that receives cifar-10-batches-py (default: the user cache, {cache_dir()})")
    f.add_argument("--url", default=None,
                   help=f"where to download from (default: the official archive, {CIFAR10_URL}); file:///PATH "
                        "reads a copy on disk; needs --md5")
    f.add_argument("--md5", metavar="HEX", default=None,
                   help=f"the archive's MD5 (default: the one the dataset's page publishes, {CIFAR10_MD5})")
    f.add_argument("--force", action="store_true", help="replace an existing cifar-10-batches-py folder")
    f.add_argument("--if-missing", action="store_true", dest="if_missing",
                   help="do nothing when any CIFAR-10 folder is found in the order above (what `make report` runs)")
    sub.add_parser("where", help="list the places looked at, in order, and which one is read",
                   description="List where the CIFAR-10 commands look for the data, in order, and which "
                               "folder they read now.")
    return p


@command(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m montecarlo.convnets.data fetch|where`` (see :func:`build_parser`)."""
    from .fetch import CIFAR10_MD5, CIFAR10_URL, FetchError, fetch_cifar10
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.action == "where":
        try:
            chosen = resolve_data_path()
        except CIFAR10Error:
            chosen = None
        for where, folder, given in data_candidates():
            state = "read" if folder == chosen else "found" if folder.is_dir() else "absent"
            print(f"{state:6s}  {where}: {folder}")
        if chosen is None:
            print(f"no CIFAR-10 data found: run `{FETCH_COMMAND}`")
        return 0
    if args.url is not None and args.md5 is None:
        parser.error("--url needs --md5 HEX: a download is only kept when its checksum is known")
    md5 = (args.md5 or CIFAR10_MD5).lower()
    if len(md5) != 32 or any(ch not in "0123456789abcdef" for ch in md5):
        parser.error(f"--md5={args.md5!r} is not allowed: 32 hexadecimal digits")
    if args.if_missing and not args.force:
        try:
            found = resolve_data_path()
        except CIFAR10Error:
            found = None
        if found is not None and found.is_dir():
            print(f"CIFAR-10 found: {found} (nothing downloaded)", file=sys.stderr)
            return 0
    target = Path(args.dir).expanduser() if args.dir else cache_dir()
    try:
        folder, _ = fetch_cifar10(target, args.url or CIFAR10_URL, md5, force=args.force)
    except FetchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
