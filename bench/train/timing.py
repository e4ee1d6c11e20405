"""Honest timing: the device is synchronised before every clock read."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


class StepTimer:
    """Collects per-step wall-clock times; the caller passes a synchronisation function."""

    def __init__(self, sync: Callable[[], None], warmup: int = 2) -> None:
        self.sync, self.warmup = sync, warmup
        self.times: list[float] = []
        self._t0 = 0.0

    def start(self) -> None:
        self.sync()
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        self.sync()
        dt = time.perf_counter() - self._t0
        self.times.append(dt)
        return dt

    def summary(self) -> dict[str, float | int | None]:
        """Median and interquartile range after ``warmup`` steps (all steps if too few)."""
        t = np.asarray(self.times[self.warmup :] if len(self.times) > self.warmup else self.times)
        if t.size == 0:
            return {"step_median_s": None, "step_iqr_s": None, "timed_steps": 0}
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        return {"step_median_s": float(med), "step_iqr_s": float(q3 - q1),
                "timed_steps": int(t.size), "first_step_s": float(self.times[0])}
