"""Honest timing: the device is synchronised before every clock read."""

from __future__ import annotations

import os
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


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``; Linux only)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """The share of the machine's CPU that other processes used while this one worked: the
    machine's busy CPU time (``/proc/stat``) less this process's own (all its threads), over
    wall-clock × cores. 0 on a quiet machine; 0.5 on 2 cores means one core went elsewhere, and
    the times measured meanwhile are inflated. None where ``/proc/stat`` cannot be read."""

    def __init__(self) -> None:
        self.busy, self.own, self.wall = _machine_busy_s(), time.process_time(), time.monotonic()

    def share(self) -> float | None:
        busy, own, wall = _machine_busy_s(), time.process_time(), time.monotonic()
        cores = os.cpu_count() or 1
        if busy is None or self.busy is None or wall <= self.wall:
            return None
        others = (busy - self.busy) - (own - self.own)
        return round(min(1.0, max(0.0, others / ((wall - self.wall) * cores))), 3)
