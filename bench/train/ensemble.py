"""What the two frameworks' ensemble trainers share (``bench.train.ensemble_jax`` and
``bench.train.ensemble_torch``): which cells may train as one program, and the protocol's epoch
loop (:func:`bench.train.training.fit_epochs`) run for every member at once.

A member keeps its own curves, best-validation epoch and failure: a member whose loss goes
non-finite is :class:`~bench.train.training.Diverged` with the solo trainer's message, and the
others train on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.train.training import ENSEMBLE_VARIED, Diverged, TrainSpec


class CannotEnsemble(Exception):
    """This model cannot train as one program (its cells train one by one instead)."""


def incompatibility(specs: Sequence[TrainSpec]) -> str | None:
    """Why ``specs`` cannot train as one program, or None when they can."""
    if not specs:
        return "an ensemble needs at least one member"
    first = specs[0]
    for s in specs[1:]:
        if s.config != first.config:
            return "the members' model configs differ"
        if (s.device, s.n_inputs, s.n_outputs) != (first.device, first.n_inputs, first.n_outputs):
            return "the members' device or input and output sizes differ"
        for key in set(s.training) | set(first.training):
            if key not in ENSEMBLE_VARIED and s.training.get(key) != first.training.get(key):
                return f"the members' training setting {key!r} differs"
    return None


@dataclass
class Member:
    """One member's bookkeeping across epochs (its parameters live in the stacked arrays)."""
    failure: Diverged | None = None
    best: float = float("inf")
    best_epoch: int = -1
    curve: dict[str, Any] = field(default_factory=lambda: {"train_loss": [], "val_loss": []})


def fit_members(epochs: int, m: int, label: str, run_epoch: Callable[[], np.ndarray],
                validate: Callable[[], np.ndarray], keep: Callable[[np.ndarray], None]
                ) -> list[Member]:
    """The epoch loop for ``m`` members.

    ``run_epoch`` trains one epoch and returns each member's mean training loss, ``validate``
    each member's validation loss; ``keep(improved)`` snapshots the parameters of the members
    marked in the boolean mask. Stops early when every member has failed.
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
            progress.set_postfix_str(f"{alive}/{m} members training")
            progress.update()
            if not alive:
                break
    finally:
        progress.close()
    for mb in members:
        mb.curve["best_epoch"] = mb.best_epoch + 1
    return members
