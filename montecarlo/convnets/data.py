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
expected.  Nothing is downloaded.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRAIN_FILES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_FILES = ("test_batch",)
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
ENV_VAR = "SHATTERED_GRADIENTS_CIFAR10"


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


def default_data_path() -> Path:
    """``$SHATTERED_GRADIENTS_CIFAR10``, else ``<repo>/../shared/data/cifar-10-batches-py``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return (repo.parent / "shared" / "data" / "cifar-10-batches-py").resolve()


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
    path = default_data_path() if path is None else Path(path)
    if not path.is_dir():
        raise CIFAR10Error(f"CIFAR-10 data folder {path} does not exist or is not a folder "
                           f"(expected cifar-10-batches-py with data_batch_1..5 and/or test_batch; "
                           f"pass --data PATH or set ${ENV_VAR})")
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
