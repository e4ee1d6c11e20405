"""The memory metric: write a value in, hold it, and see whether it stays.

Every model gets it: it reads predictions only, so it needs no analysis interface.

- **Probe.** A grid over the task's ideal memory set (``memory_set``, spacing
  ``memory.hold.grid_step``). Each grid point v is written in with the task's own pulses (one
  pulse per channel, a gap between them, or one vector pulse), then the input is zero for the
  longest horizon. A value of 0 on a channel is no pulse on it: the output must keep the
  channel's initial value, which is 0 on every task whose set contains 0.
- **Write error.** |y - v| (Euclidean, output units) at the first bin after the last pulse:
  whether the value got in at all.
- **Hold error at horizon h.** |y - v| h bins later: measured against the target, never
  against where the readout settled, so snapping to a wrong point or forgetting costs.
- **Coverage at horizon h.** The fraction of the grid whose error stays at or below epsilon
  (``memory.hold.epsilon``, in output units, tied to the task's scale) at every bin from the
  write to h bins after it. An exact continuous attractor scores 1 at every horizon; isolated
  fixed points score about the fraction of the set within epsilon of them; no memory scores
  about 0.
- A readout that blows up (non-finite) is infinitely far from every target: not held, and the
  mean errors are then infinite (stored as null).
- **memory_auc.** The area under coverage against log10(h), for h from 1 to the longest
  horizon, divided by that range: 1 for a perfect memory, 0 for none. It weighs every decade
  of holding time alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.spec import memory_sets
from bench.spec.tasks import Task

VERSION = 1  # of the probe and its metrics; stored with every number


def spec(task: Task) -> dict[str, Any] | None:
    """The task's hold-probe settings, or None where it declares none."""
    mem = task.extra.get("memory") or {}
    return mem.get("hold") if "memory_set" in task.extra else None


def write_inputs(points: np.ndarray, data: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Pulses that write each row of ``points`` (K, C): inputs (K, W, C) and W, the bins they
    take. ``pulse_mode: channel`` pulses one channel at a time with a gap between them, so
    no two channels are written in the same bin; ``vector`` writes every channel at once."""
    width, C = int(data["pulse_width"]), points.shape[1]
    if data["pulse_mode"] == "channel":
        inputs = np.zeros((len(points), (2 * C - 1) * width, C), np.float32)
        for c in range(C):
            inputs[:, 2 * c * width : (2 * c + 1) * width, c] = points[:, c : c + 1]
    else:
        inputs = np.zeros((len(points), width, C), np.float32)
        inputs[:] = points[:, None, :]
    return inputs, inputs.shape[1]


def probe(task: Task) -> dict[str, np.ndarray]:
    """The probe's ``inputs`` (K, T, C) and ``dt`` (K, T), the written ``points`` (K, C) and
    ``start``, the index of the first bin after the write."""
    s = spec(task)
    if s is None:
        raise ValueError(f"task {task.name} has no memory.hold probe")
    points = memory_sets.grid(task.extra["memory_set"], float(s["grid_step"]))
    write, start = write_inputs(points, task.data)
    # bin ``start`` is the write (after one bin of zero input), ``start + h`` horizon h
    hold = np.zeros((len(points), max(s["horizons"]) + 1, points.shape[1]), np.float32)
    inputs = np.concatenate([write, hold], axis=1)
    dt = np.full(inputs.shape[:2], task.data["dt"], np.float32)
    return {"inputs": inputs, "dt": dt, "points": points.astype(np.float32),
            "start": np.asarray(start)}


def errors(pred: np.ndarray, points: np.ndarray, start: int) -> np.ndarray:
    """|y - v| from the write on, (K, H + 1); a readout that blew up (non-finite) is infinitely
    far: that memory failed."""
    err = np.linalg.norm(pred[:, start:].astype(np.float64) - points[:, None, :], axis=-1)
    return np.where(np.isfinite(err), err, np.inf)


def coverage_curve(pred: np.ndarray, points: np.ndarray, start: int,
                   epsilon: float) -> np.ndarray:
    """Coverage after 0, 1, ..., H bins of holding: c[h] is the fraction of points whose error
    stayed at or below ``epsilon`` from the write to h bins after it."""
    return _curve(errors(pred, points, start), epsilon)


def _curve(err: np.ndarray, epsilon: float) -> np.ndarray:
    return (np.maximum.accumulate(err, axis=1) <= epsilon).mean(axis=0)


def auc(curve: np.ndarray) -> float:
    """The area under ``curve`` (coverage at h = 0..H) against log10 h for 1 <= h <= H,
    divided by log10 H."""
    H = len(curve) - 1
    if H < 2:
        return float(curve[-1])
    logs, c = np.log10(np.arange(1, H + 1)), curve[1:]
    return float(np.sum(0.5 * (c[1:] + c[:-1]) * np.diff(logs)) / logs[-1])


def metrics(pred: np.ndarray, probe: dict[str, np.ndarray], task: Task) -> dict[str, Any]:
    """The memory metric from the predictions on :func:`probe` (K, T, O)."""
    hold_spec = spec(task)
    if hold_spec is None:
        raise ValueError(f"task {task.name} has no memory.hold probe")
    points, start = probe["points"], int(probe["start"])
    eps = float(hold_spec["epsilon"])
    err = errors(pred, points, start)
    curve = _curve(err, eps)
    horizons = [int(h) for h in hold_spec["horizons"]]
    return {
        "version": VERSION,
        "settings": {"grid_step": float(hold_spec["grid_step"]), "epsilon": eps,
                     "horizons": horizons, "points": len(points)},
        "write_error": float(err[:, 0].mean()),
        "hold_error": {str(h): float(err[:, h].mean()) for h in horizons},
        "coverage": {str(h): float(curve[h]) for h in horizons},
        "memory_auc": auc(curve),
    }
