"""Seeds of the convnet experiments: children of ``numpy.random.SeedSequence`` by spawn key.

Every random number of Fig. 5 (:mod:`.experiments`) and Fig. 6 (:mod:`.training`) comes from a
child ``SeedSequence(seed, spawn_key=key)`` whose key names what it seeds (a minibatch, the
network of an architecture, depth and minibatch or seed index, a data stream), never from global
numpy or torch state.  A value therefore does not depend on which other configurations are run
or in which order.  Each experiment documents its own key layout.
"""
from __future__ import annotations

import numpy as np


def child(seed: int, *key: int) -> np.random.SeedSequence:
    """``SeedSequence(seed, spawn_key=key)``: the child of root ``seed`` named by ``key``."""
    return np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key))


def torch_seed(seq: np.random.SeedSequence) -> int:
    """The first 63 bits of ``seq``'s state: a seed for a private ``torch.Generator``."""
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
