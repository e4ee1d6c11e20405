"""``python -m bench``: see ``bench.cli``."""

import os
import sys

# PyTorch and JAX share one GPU in a run: stop JAX from taking 75% of its memory up front,
# which would starve the PyTorch cells and make peak-memory figures meaningless.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from bench.cli import main

sys.exit(main())
