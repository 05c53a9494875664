"""Monte Carlo estimates of the paper's quantities on sampled networks (real or path model).

The modules, in four groups (each group imports only the groups above it and :mod:`theory` /
:mod:`kernels`):

* **the fully connected engine** — :mod:`.sampling` (seeded networks, one SeedSequence child
  each), :mod:`.networks` (spec → kernel coefficients, exact overflow-free rescaling),
  :mod:`.estimators` (streaming means, standard errors, ratio intervals), :mod:`.observables`
  (typical pairs, the 1-D grid), :mod:`.effective_rank`, :mod:`.raster` (one network's gates);
  the hot loops are in :mod:`kernels`;
* **running and keeping results** — :mod:`.chunks` (the unit of work, executors),
  :mod:`.store` (the SQLite results store: bytes and keys), :mod:`.results` (results rebuilt from
  stored chunks), :mod:`.runner` (:func:`~montecarlo.runner.estimate`: stored, resumable runs),
  :mod:`.distributed` (Dask), :mod:`.run_options` (the store/executor CLI options), :mod:`.cli`;
* **evidence** — :mod:`.evidence`: each claim's observable measured and decided (composed by
  ``python -m theory.verify``);
* **subpackages** — :mod:`.convnets` (CIFAR-10 convnets, Fig. 5–6; torch), :mod:`.bench`
  (benchmarks against peers).
"""
from .estimators import Estimate
from .observables import grid, typical_pairs

__all__ = ["Estimate", "grid", "typical_pairs"]
