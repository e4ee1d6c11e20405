"""ctrnn-bench: a benchmark harness for continuous-time recurrent models.

Data flows one way: task definition (``tasks/``) -> data -> model (``baselines/``,
``submissions/``) -> harness (train, evaluate, time) -> result file (``results/``) ->
leaderboard (``leaderboard/``).

This package must stay importable without its heavy dependencies: ``bench.tools.install`` runs
before they exist.
"""

__version__ = "0.1.0"
