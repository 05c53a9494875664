"""``python -m montecarlo.bench``: see :mod:`montecarlo.bench.grid`."""
import sys

from .grid import main

sys.exit(main())
