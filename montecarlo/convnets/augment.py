"""Data augmentation of the Fig. 6 training (§5.1): random translations and horizontal flips.

The standard CIFAR-10 augmentation (He et al. 2016a): zero-pad :data:`PAD` = 4 pixels, crop a
random 32×32 window (a translation by ``dx, dy ∈ {−4..4}``, uniform) and flip horizontally with
probability 1/2, independently per image.  Images are normalized per channel before, so the zero
padding is the channel mean.  Randomness comes only from the ``numpy.random.Generator`` passed in.
"""
from __future__ import annotations

import numpy as np

PAD = 4  # translations of up to 4 pixels


def augment(images: np.ndarray, rng: np.random.Generator, pad: int = PAD) -> np.ndarray:
    """Random translation by up to ``pad`` pixels (zero padding, random crop) and horizontal flip.

    For image ``i`` draw ``dy_i, dx_i`` uniform in ``{0..2·pad}`` and ``flip_i ~ Bernoulli(1/2)``
    (in that order, vectorized: ``dy`` for all images, then ``dx``, then ``flip``); the output is
    ``padded[i, :, dy_i + r, dx_i + c]`` with ``c`` replaced by ``31 − c`` when flipped.  Zero is
    the per-channel mean after normalization.  Same generator state → same output.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images has shape {images.shape}: (n, channels, height, width) is needed")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad={pad!r} is not allowed: a non-negative integer")
    n, c, hgt, wid = images.shape
    dy = rng.integers(0, 2 * pad + 1, size=n)
    dx = rng.integers(0, 2 * pad + 1, size=n)
    flip = rng.random(n) < 0.5
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = dy[:, None] + np.arange(hgt)[None, :]
    cols_idx = np.where(flip[:, None], np.arange(wid)[::-1][None, :], np.arange(wid)[None, :])
    cols = dx[:, None] + cols_idx
    out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    return np.ascontiguousarray(out)
