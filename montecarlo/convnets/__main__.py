"""Entry point of ``python -m montecarlo.convnets`` (see :mod:`montecarlo.convnets.cli`)."""
import sys

from .cli import main

sys.exit(main())
