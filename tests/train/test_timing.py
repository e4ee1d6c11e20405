"""``bench.train.timing.StepTimer``: synchronised clock reads, warm-up excluded, median and IQR."""

from __future__ import annotations

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
