"""Monte Carlo estimates of the paper's quantities on sampled networks (real or path model).

Modules: :mod:`~montecarlo.sampling` (seeded networks, one SeedSequence child each),
:mod:`~montecarlo.networks` (spec → kernel coefficients, exact overflow-free rescaling),
:mod:`~montecarlo.estimators` (streaming means, standard errors, ratio estimator),
:mod:`~montecarlo.observables` (typical pairs, 1-D grid), :mod:`~montecarlo.cli`.
The hot loops are in :mod:`kernels`.
"""
from .estimators import Estimate
from .observables import grid, typical_pairs

__all__ = ["Estimate", "grid", "typical_pairs"]
