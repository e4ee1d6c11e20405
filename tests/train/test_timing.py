"""``bench.train.timing``: the step timer (synchronised clock reads, warm-up excluded, median and
IQR) and the share of the machine's CPU that other processes took meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.train import timing


def test_step_timer_syncs_and_summarises(monkeypatch):
    clock = iter([0.0, 5.0,  # warm-up step 1: 5 s
                  10.0, 13.0,  # warm-up step 2: 3 s
                  20.0, 21.0, 30.0, 32.0, 40.0, 43.0, 50.0, 54.0])  # 1, 2, 3, 4 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    syncs = []
    t = timing.StepTimer(lambda: syncs.append(1), warmup=2)
    for _ in range(6):
        t.start()
        t.stop()
    assert len(syncs) == 12  # before every clock read
    assert t.times == [5.0, 3.0, 1.0, 2.0, 3.0, 4.0]
    s = t.summary()
    assert s["step_median_s"] == pytest.approx(2.5)
    assert s["step_iqr_s"] == pytest.approx(3.25 - 1.75)
    assert s["timed_steps"] == 4 and s["first_step_s"] == 5.0


def test_too_few_steps_use_them_all_and_none_is_none():
    t = timing.StepTimer(lambda: None, warmup=2)
    assert t.summary() == {"step_median_s": None, "step_iqr_s": None, "timed_steps": 0}
    t.times = [2.0, 4.0]
    s = t.summary()
    assert s["step_median_s"] == 3.0 and s["timed_steps"] == 2


def test_other_load_is_the_machines_busy_time_less_this_process_own(monkeypatch):
    """Over 10 s on 4 cores the machine was busy 25 CPU-seconds, 5 of them this process's: the
    others took 20 of 40."""
    busy, own, wall = iter([100.0, 125.0]), iter([1.0, 6.0]), iter([50.0, 60.0])
    monkeypatch.setattr(timing, "_machine_busy_s", lambda: next(busy))
    monkeypatch.setattr(timing.time, "process_time", lambda: next(own))
    monkeypatch.setattr(timing.time, "monotonic", lambda: next(wall))
    monkeypatch.setattr(timing.os, "cpu_count", lambda: 4)
    assert timing.OtherLoad().share() == 0.5


def test_other_load_is_none_without_proc_stat(monkeypatch):
    monkeypatch.setattr(timing, "_machine_busy_s", lambda: None)
    assert timing.OtherLoad().share() is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_a_process_spinning_beside_this_one_is_seen():
    """A real child spins for a second while this process sleeps: at least most of one core's
    worth goes to others (more if the machine is busier)."""
    load = timing.OtherLoad()
    subprocess.run([sys.executable, "-c",
                    "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.0: pass"],
                   check=True)
    share = load.share()
    assert share is not None and share >= 0.5 / (os.cpu_count() or 1)
