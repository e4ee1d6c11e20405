"""What the harness hands a framework's trainer, and what it gets back.

The trainer sees the training and validation splits and, for evaluation, input sets without
targets (the test split's inputs, and the memory probes); it returns predictions for each set
and the trained model, and the harness computes every metric itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EVAL_BATCH = 500  # sequences per evaluation batch, in both frameworks
# The training settings in which the members of one program (bench.train.ensemble_jax,
# bench.train.ensemble_torch) may differ, besides the seed; every other setting they share.
ENSEMBLE_VARIED = ("lr", "weight_decay")


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
    predictions: dict[str, np.ndarray]  # per evaluation set: (n, T, O); "test" is timed
    model: Any  # the trained model (torch.nn.Module or equinox.Module), best parameters
    n_params: int
    timing: dict[str, Any]
    peak_memory: dict[str, Any]
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


def fit_epochs(epochs: int, label: str, run_epoch: Callable[[], float],
               validate: Callable[[], float], snapshot: Callable[[], Any]) -> tuple[Any, dict]:
    """The protocol's epoch loop, shared by both frameworks' trainers.

    ``run_epoch`` trains one epoch and returns its mean training loss, ``validate`` returns
    the validation loss, ``snapshot`` returns a copy of the parameters. Returns the snapshot
    with the lowest validation loss and the loss curves; a non-finite loss is
    :class:`Diverged`.
    """
    from bench.progress import bar

    best, best_state, best_epoch = float("inf"), snapshot(), -1
    curve: dict[str, Any] = {"train_loss": [], "val_loss": []}
    progress = bar(epochs, label)
    try:
        for epoch in range(epochs):
            loss = run_epoch()
            val = validate()
            for what, value in (("training", loss), ("validation", val)):
                if not np.isfinite(value):
                    raise Diverged(f"{what} loss is {value} in epoch {epoch + 1}")
            curve["train_loss"].append(loss)
            curve["val_loss"].append(val)
            if val < best:
                best, best_state, best_epoch = val, snapshot(), epoch
            progress.set_postfix_str(f"loss {loss:.4f} val {val:.4f}")
            progress.update()
    finally:
        progress.close()
    curve["best_epoch"] = best_epoch + 1
    return best_state, curve
