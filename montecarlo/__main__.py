"""Entry point of ``python -m montecarlo`` (see :mod:`montecarlo.cli`)."""
import sys

from .cli import main

sys.exit(main())
