"""Symbolic theory of "The Shattered Gradients Problem" (Balduzzi et al., ICML 2017).

Specs (:mod:`theory.specs`), path-weight derivations (:mod:`theory.pathsum`,
:mod:`theory.derivations`), the claims registry (:mod:`theory.claims`) and the CLIs
``python -m theory.predict`` and ``python -m theory.verify``.  Importing ``theory`` never
imports torch.
"""
from .specs import (ARCHS, CReLULLSpec, FeedforwardSpec, HighwaySpec, NetworkSpec, ResnetSpec,
                    ShallowSpec, SpecError, make_spec)

__version__ = "0.1.0"
__all__ = ["ARCHS", "CReLULLSpec", "FeedforwardSpec", "HighwaySpec", "NetworkSpec", "ResnetSpec",
           "ShallowSpec", "SpecError", "make_spec", "__version__"]
