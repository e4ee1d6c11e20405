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
    """The protocol's epoch loop for one model (:func:`fit_members` with one member).

    ``run_epoch`` trains one epoch and returns its mean training loss, ``validate`` returns
    the validation loss, ``snapshot`` returns a copy of the parameters. Returns the snapshot
    with the lowest validation loss and the loss curves; a non-finite loss is
    :class:`Diverged`.
    """
    best_state = snapshot()

    def keep(improved: np.ndarray) -> None:
        nonlocal best_state
        if improved[0]:
            best_state = snapshot()

    (member,) = fit_members(epochs, 1, label, lambda: np.asarray([run_epoch()]),
                            lambda: np.asarray([validate()]), keep)
    if member.failure is not None:
        raise member.failure
    return best_state, member.curve


@dataclass
class Member:
    """One model's bookkeeping across the epochs (its parameters are the trainer's to keep)."""
    failure: Diverged | None = None
    best: float = float("inf")
    best_epoch: int = -1
    curve: dict[str, Any] = field(default_factory=lambda: {"train_loss": [], "val_loss": []})


def fit_members(epochs: int, m: int, label: str, run_epoch: Callable[[], np.ndarray],
                validate: Callable[[], np.ndarray], keep: Callable[[np.ndarray], None]
                ) -> list[Member]:
    """The protocol's epoch loop, for ``m`` members trained side by side (one alone, or the
    members of one program: ``bench.train.ensemble_jax``, ``ensemble_torch``).

    ``run_epoch`` trains one epoch and returns each member's mean training loss, ``validate``
    each member's validation loss; ``keep(improved)`` snapshots the parameters of the members
    marked in the boolean mask. A member whose loss goes non-finite gets its
    :class:`Diverged` and stops counting; the loop stops when every member has.
    """
    from bench.progress import bar

    members = [Member() for _ in range(m)]
    progress = bar(epochs, label)
    try:
        for epoch in range(epochs):
            train_loss, val_loss = run_epoch(), validate()
            improved = np.zeros(m, bool)
            for i, mb in enumerate(members):
                if mb.failure is not None:
                    continue
                for what, value in (("training", train_loss[i]), ("validation", val_loss[i])):
                    if not np.isfinite(value) and mb.failure is None:
                        mb.failure = Diverged(f"{what} loss is {value} in epoch {epoch + 1}")
                if mb.failure is not None:
                    continue
                mb.curve["train_loss"].append(float(train_loss[i]))
                mb.curve["val_loss"].append(float(val_loss[i]))
                if val_loss[i] < mb.best:
                    mb.best, mb.best_epoch, improved[i] = float(val_loss[i]), epoch, True
            keep(improved)
            alive = sum(mb.failure is None for mb in members)
            progress.set_postfix_str(f"{alive}/{m} members training" if m > 1 else
                                     f"loss {train_loss[0]:.4f} val {val_loss[0]:.4f}")
            progress.update()
            if not alive:
                break
    finally:
        progress.close()
    for mb in members:
        mb.curve["best_epoch"] = mb.best_epoch + 1
    return members
