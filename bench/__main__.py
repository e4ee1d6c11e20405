"""``python -m bench``: see ``bench.cli``."""

import os
import sys

# PyTorch and JAX share one GPU in a run: stop JAX from taking 75% of its memory up front,
# which would starve the PyTorch cells and make peak-memory figures meaningless.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

try:
    import numpy  # noqa: F401  (the first dependency every command needs)
    import yaml  # noqa: F401
except ModuleNotFoundError as e:  # another Python than the suite's environment
    print(f"error: {e.name} is not installed for {sys.executable}; run the suite's own "
          "Python (.venv/bin/python -m bench ..., or `source .venv/bin/activate` first), and "
          "create it with `make setup` if it is missing", file=sys.stderr)
    sys.exit(2)

from bench.cli import main

sys.exit(main())
