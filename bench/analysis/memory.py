"""Continuous-memory probes beyond test MSE: generalisation to long delays, and drift.

Both are framework-agnostic: they build input sequences from the task definition, the
trainer predicts on them like on the test split, and the metrics here read the predictions.

- **Long delays.** Trials ``n_bins`` long (10x the training length) with the task's pulse count
  per trial, so the gaps between pulses are 10x longer, then ``silent_bins`` of zero input.
  MSE and R^2 are taken over the *held* bins: those where no pulse is on, so the output must
  come from memory.
- **Drift.** For points v sampled from the ideal memory set, pulses place the readout on v
  (one pulse per channel, or one vector pulse), the state settles for ``settle_bins``, then
  the input stays zero for ``bins``. Drift is the mean distance between the readout at the
  end and right after settling. A perfect continuous attractor has zero drift.
"""

from __future__ import annotations

import importlib

import numpy as np

from bench.spec import memory_sets, metrics
from bench.spec.tasks import Task


def long_delay_split(task: Task, profile: str, seed: int | None = None
                     ) -> dict[str, np.ndarray]:
    """Long trials plus a silent stretch: inputs, targets, dt and the ``held`` mask (S, T).
    ``seed`` replaces the task file's (an official run's secret draw)."""
    spec = task.extra["memory"]["long_delay"]
    data = {**task.data, "n_bins": int(spec["n_bins"])}
    size = int(task.profiles.get(profile, {}).get("max_long_delay") or spec["size"])
    gen = importlib.import_module(f"tasks.{task.generator}")
    d = gen.generate(data, size, int(spec["seed"]) if seed is None else seed)
    silent = int(spec["silent_bins"])
    inputs = np.concatenate([d["inputs"], np.zeros_like(d["inputs"][:, :silent])], axis=1)
    targets = np.concatenate(
        [d["targets"], np.repeat(d["targets"][:, -1:], silent, axis=1)], axis=1)
    dt = np.full(inputs.shape[:2], task.data["dt"], np.float32)
    held = ~np.any(inputs != 0, axis=-1)
    return {"inputs": inputs, "targets": targets, "dt": dt, "held": held}


def drift_probe(task: Task, profile: str, seed: int | None = None) -> dict[str, np.ndarray]:
    """Inputs that place the readout on sampled memory-set points, then hold zero input.
    ``seed`` replaces the task file's (an official run's secret draw).

    Returns ``inputs`` (K, T, C), ``dt`` (K, T), the ``points`` (K, C) and ``start``, the
    bin after settling from which drift is measured.
    """
    spec = task.extra["memory"]["drift"]
    k = int(task.profiles.get(profile, {}).get("max_drift") or spec["points"])
    points = memory_sets.sample(task.extra["memory_set"], k,
                                int(spec["seed"]) if seed is None else seed)
    width, C = int(task.data["pulse_width"]), points.shape[1]
    pulses = (2 * C - 1) * width if task.data["pulse_mode"] == "channel" else width
    settle, hold = int(spec["settle_bins"]), int(spec["bins"])
    inputs = np.zeros((k, pulses + settle + hold, C), np.float32)
    if task.data["pulse_mode"] == "channel":  # one pulse per channel, a gap between them
        for c in range(C):
            inputs[:, 2 * c * width : (2 * c + 1) * width, c] = points[:, c : c + 1]
    else:
        inputs[:, :width] = points[:, None, :]
    dt = np.full(inputs.shape[:2], task.data["dt"], np.float32)
    return {"inputs": inputs, "dt": dt, "points": points,
            "start": np.asarray(pulses + settle - 1)}


def long_delay_metrics(pred: np.ndarray, split: dict[str, np.ndarray]) -> dict[str, float]:
    """MSE and R^2 over the held bins of the long-delay trials."""
    held = split["held"]
    p, y = pred[held], split["targets"][held]  # (M, C): every held bin of every trial
    return {"long_delay_mse": metrics.mse(p, y), "long_delay_r2": metrics.r2(p, y)}


def drift_metrics(pred: np.ndarray, probe: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean distance the readout wanders over the zero-input stretch."""
    start = int(probe["start"])
    wander = np.linalg.norm(pred[:, -1].astype(np.float64) - pred[:, start], axis=-1)
    return {"drift": float(np.mean(wander))}
