"""Benchmarks (never timed tests): this project against its peers, measured in one run.

:mod:`.grid` — ``python -m montecarlo.bench``: the engine's 1-D grid experiment against a loop
of ``torch.autograd`` backward passes and ``torch.func.vmap`` (:mod:`.peers`), with the machine's
fp32 GEMM rate measured in the same run; :mod:`.distributed` —
``python -m montecarlo.bench.distributed``: the speed-up of a local Dask cluster over one process.
"""
