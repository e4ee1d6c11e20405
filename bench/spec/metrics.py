"""Metrics computed by the harness from predictions and targets (never by model code).

Every metric takes ``(pred, target, lengths)``. With ``lengths`` (variable-length data) only
the first ``lengths[i]`` steps of sequence i count: padding never enters a metric. For a
classification task ``target`` holds class indices (n,) and ``pred`` the logits at every step
(n, T, C); the prediction is read at each sequence's last valid step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def valid(pred: np.ndarray, target: np.ndarray, lengths: np.ndarray | None
          ) -> tuple[np.ndarray, np.ndarray]:
    """(pred, target) at the valid steps only, as (points, channels)."""
    if lengths is None:
        return pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1])
    mask = np.arange(target.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return pred[mask], target[mask]


def mse(pred: np.ndarray, target: np.ndarray, lengths: np.ndarray | None = None) -> float:
    """Mean squared error over every trial, (valid) time bin and channel."""
    p, t = valid(pred, target, lengths)
    return float(np.mean((p.astype(np.float64) - t) ** 2))


def r2(pred: np.ndarray, target: np.ndarray, lengths: np.ndarray | None = None) -> float:
    """1 - SSE / SST, with SST about each channel's mean over all trials and (valid) bins."""
    p, t = valid(pred, target, lengths)
    t = t.astype(np.float64)
    return float(1.0 - np.sum((p - t) ** 2) / np.sum((t - t.mean(axis=0)) ** 2))


def trajectory_r2(pred: np.ndarray, target: np.ndarray,
                  lengths: np.ndarray | None = None) -> float:
    """Mean over trials of each trial's R^2 over time: 1 - SSE_k / SST_k, with SST_k about the
    trial's own mean on each channel. A constant output at a trajectory's mean scores 0 on it,
    so every trajectory must be generated, not only the population's average."""
    if lengths is not None:
        raise ValueError("trajectory_r2 is for equal-length trials")
    target = target.astype(np.float64)
    sse = np.sum((pred - target) ** 2, axis=(1, 2))
    sst = np.sum((target - target.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2))
    return float(np.mean(1.0 - sse / sst))


def last_valid(pred: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Each sequence's output at its last valid step, (n, C)."""
    last = np.full(len(pred), pred.shape[1] - 1) if lengths is None else np.asarray(lengths) - 1
    return pred[np.arange(len(pred)), last]


def accuracy(pred: np.ndarray, target: np.ndarray, lengths: np.ndarray | None = None) -> float:
    """The fraction of sequences whose largest logit, at the last valid step, is the class."""
    return float(np.mean(np.argmax(last_valid(pred, lengths), axis=-1) == target))


METRICS: dict[str, Callable[..., float]] = {
    "mse": mse, "r2": r2, "trajectory_r2": trajectory_r2, "accuracy": accuracy}
# Computed by bench.analysis.memory from probes the task defines (its ``memory`` block), not the
# test split.
MEMORY_METRICS = ("long_delay_mse", "long_delay_r2", "drift")


def compute(names: list[str], pred: np.ndarray, target: np.ndarray,
            lengths: np.ndarray | None = None) -> dict[str, float]:
    return {name: METRICS[name](pred, target, lengths) for name in names if name in METRICS}
