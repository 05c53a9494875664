"""``python -m montecarlo.bench.distributed``: the speed-up of a local Dask cluster over one process.

Prints one JSON document (:func:`measure_speedup` with its defaults: a typical-pairs run of a
resnet with ``L = 20``, ``N = 200``, 256 networks in chunks of 16, on 2 local workers).
"""
from __future__ import annotations

import json
import os
import sys
import time

from theory.specs import ResnetSpec

from ..chunks import ChunkTask, compute_chunk, make_experiment
from ..distributed import dask_executor
from ..runner import estimate


def measure_speedup(spec=None, *, workers: int = 2, nets: int = 256, chunk: int = 16, seed: int = 0,
                    backend: str = "numba", model: str = "real", **options) -> dict:
    """Wall time of one typical-pairs run in this process vs on a local cluster of ``workers`` processes.

    Both runs use no store and the same chunks; the cluster is started, and every worker (and
    this process) has computed one untimed chunk, before the clock starts.  Returns the seconds,
    their ratio, whether the results are bit-identical and ``os.getloadavg()`` before and after.
    """
    spec = spec or ResnetSpec(depth=20, width=200, beta=1.0)
    run = dict(nets=nets, seed=seed, chunk=chunk, backend=backend, model=model, **options)
    warm = ChunkTask(make_experiment(spec, "pairs", model, options), seed + 1, 0, 1, backend)
    load_before = os.getloadavg()
    compute_chunk(warm)
    t0 = time.perf_counter()
    single = estimate(spec, **run)
    t_single = time.perf_counter() - t0
    with dask_executor(workers=workers) as executor:
        executor.client.run(compute_chunk, warm)
        t0 = time.perf_counter()
        spread = estimate(spec, **run, executor=executor)
        t_spread = time.perf_counter() - t0
    return {"spec": spec.describe(), "nets": nets, "chunk": chunk, "backend": backend, "workers": workers,
            "cores": os.cpu_count(), "single_process_s": t_single, "dask_s": t_spread,
            "speedup": t_single / t_spread,
            "bit_identical": json.dumps(single.to_dict()) == json.dumps(spread.to_dict()),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg()}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(measure_speedup(), indent=1) + "\n")
