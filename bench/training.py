"""What the harness hands a framework's trainer, and what it gets back.

The trainer sees the training and validation splits and the test *inputs* only; it returns
test predictions, and the harness computes every metric itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EVAL_BATCH = 500  # sequences per evaluation batch, in both frameworks


class Diverged(Exception):
    """The training loss became NaN or infinite."""


@dataclass
class TrainSpec:
    config: dict[str, Any]  # the model's resolved config
    training: dict[str, Any]  # optimiser, lr, weight_decay, betas, batch_size, epochs
    seed: int
    device: str  # "cpu" or "cuda"
    n_inputs: int
    n_outputs: int
    label: str = ""  # shown on the progress bar


@dataclass
class Outcome:
    predictions: np.ndarray  # (n_test, T, O)
    n_params: int
    timing: dict[str, Any]
    memory: dict[str, Any]
    nfe: dict[str, Any] | None
    curve: dict[str, Any] = field(default_factory=dict)


def batches(n: int, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index batches over ``n`` items, shuffled when ``rng`` is given; the last may be short."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i : i + size] for i in range(0, n, size)]


def median_time(fn: Callable[[], object], sync: Callable[[], None], repeats: int = 3) -> float:
    """Median wall-clock of ``repeats`` calls, the device synchronised around each."""
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
