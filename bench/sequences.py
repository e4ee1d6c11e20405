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

from bench.registry import ModelSpec
from bench.tasks import Task


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


def example(task: Task, test: dict[str, np.ndarray], pred: np.ndarray) -> dict[str, Any] | None:
    """Test trial 0 for the leaderboard's plot (its valid steps); None for classification."""
    if is_classification(task):
        return None
    n = int(test["lengths"][0]) if "lengths" in test else test["inputs"].shape[1]
    return {"trial": 0, "inputs": test["inputs"][0, :n].round(4).tolist(),
            "targets": test["targets"][0, :n].round(4).tolist(),
            "outputs": pred[0, :n].round(4).tolist()}
