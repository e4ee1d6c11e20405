"""Metrics computed by the harness from predictions and targets (never by model code)."""

from __future__ import annotations

import numpy as np


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error over every trial, time bin and channel."""
    return float(np.mean((pred.astype(np.float64) - target) ** 2))


def r2(pred: np.ndarray, target: np.ndarray) -> float:
    """1 - SSE / SST, with SST about each channel's mean over all trials and bins."""
    target = target.astype(np.float64)
    centred = target - target.reshape(-1, target.shape[-1]).mean(axis=0)
    return float(1.0 - np.sum((pred - target) ** 2) / np.sum(centred**2))


def trajectory_r2(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean over trials of each trial's R^2 over time: 1 - SSE_k / SST_k, with SST_k about the
    trial's own mean on each channel. A constant output at a trajectory's mean scores 0 on it,
    so every trajectory must be generated, not only the population's average."""
    target = target.astype(np.float64)
    sse = np.sum((pred - target) ** 2, axis=(1, 2))
    sst = np.sum((target - target.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2))
    return float(np.mean(1.0 - sse / sst))


METRICS = {"mse": mse, "r2": r2, "trajectory_r2": trajectory_r2}
# Computed by bench.memory from probes the task defines (its ``memory`` block), not the test split.
MEMORY_METRICS = ("long_delay_mse", "long_delay_r2", "drift")


def compute(names: list[str], pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {name: METRICS[name](pred, target) for name in names if name in METRICS}
