"""How the harness shapes a task's sequences for a model, and reads its outputs back.

- Classification tasks (``training.loss: cross_entropy``) have class indices as targets and a
  model output of ``data.n_classes`` logits per step, read at each sequence's last valid step.
- Variable-length data carry ``lengths``; padding never enters a loss or a metric.
- Models that learn time from an input feature (metadata ``elapsed_time: input``, GRU and
  LSTM) get the elapsed time ``dt / data.dt`` as one more input channel on tasks that declare
  ``data.elapsed_time_feature``; ODE models integrate over ``dt`` itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.spec.registry import ModelSpec
from bench.spec.tasks import Task


def is_classification(task: Task) -> bool:
    return task.training.get("loss") == "cross_entropy"


def n_outputs(task: Task, train: dict[str, np.ndarray]) -> int:
    return int(task.data["n_classes"]) if is_classification(task) else train["targets"].shape[-1]


def gets_elapsed_time(task: Task, model: ModelSpec) -> bool:
    return bool(task.data.get("elapsed_time_feature")) and \
        model.metadata.get("elapsed_time") == "input"


def with_elapsed_time(split: dict[str, np.ndarray], unit: float) -> dict[str, np.ndarray]:
    """The split with ``dt / unit`` appended to the inputs as the last channel."""
    feature = (split["dt"] / unit)[..., None].astype(split["inputs"].dtype)
    return {**split, "inputs": np.concatenate([split["inputs"], feature], axis=-1)}


def shape_problem(pred: np.ndarray, test: dict[str, np.ndarray], n_out: int) -> str | None:
    """Why the test predictions cannot be scored (None: they can)."""
    want = (*test["inputs"].shape[:2], n_out)
    if pred.shape != want:
        return f"predictions have shape {pred.shape}, expected {want}"
    return None


def example_trial(task: Task, profile: str) -> dict[str, np.ndarray] | None:
    """The example trial the leaderboard draws: trial 0 of the public test split, the one the
    task file's own seed gives (never a run's test split), as a split of one trial; None for
    classification and capacity tasks."""
    if is_classification(task) or task.capacity is not None:
        return None
    return first_trial(task.load_split("test", profile))


def first_trial(split: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inputs, targets and dt of a split's first trial, its valid steps only."""
    n = int(split["lengths"][0]) if "lengths" in split else split["inputs"].shape[1]
    return {k: split[k][:1, :n] for k in ("inputs", "targets", "dt")}


def example_record(trial: dict[str, np.ndarray], pred: np.ndarray) -> dict[str, Any]:
    """The example as a result stores it before ``bench.results.store`` moves the trial out: the
    trial's inputs (without an elapsed-time channel) and targets, the model's outputs."""
    return {"trial": 0, "inputs": trial["inputs"][0].round(4).tolist(),
            "targets": trial["targets"][0].round(4).tolist(),
            "outputs": pred[0, : trial["targets"].shape[1]].round(4).tolist()}
