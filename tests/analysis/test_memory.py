"""Continuous-memory probes (``bench.analysis.memory``) built from the real flip-flop task
definitions.

The reference is an ideal flip-flop written here from the task's description: each output
channel holds the most recent non-zero input on that channel (the task's ``initial`` before
any). Pulse counts are read back from the inputs, not from the generator.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from bench.analysis import memory
from bench.spec.tasks import get_task

TASKS = ("flipflop-2bit-ring", "flipflop-3bit", "flipflop-3bit-fixed", "flipflop-2bit-disk")


@functools.cache
def task(name):
    return get_task(name)


@functools.cache
def split(name, profile="quick"):
    return memory.long_delay_split(task(name), profile)


@functools.cache
def probe(name, profile="quick"):
    return memory.drift_probe(task(name), profile)


def perfect_flipflop(inputs: np.ndarray, initial) -> np.ndarray:
    """Hold, per channel, the last non-zero input (``initial`` before the first)."""
    out = np.empty(inputs.shape, np.float64)
    held = np.broadcast_to(np.asarray(initial, np.float64), inputs[:, 0].shape).copy()
    for t in range(inputs.shape[1]):
        x = inputs[:, t]
        held = np.where(x != 0, x, held)
        out[:, t] = held
    return out


def count_pulses(inputs: np.ndarray, mode: str) -> np.ndarray:
    """Pulse onsets per trial: a non-zero input that differs from the bin before (per channel
    for channel pulses, the whole vector for vector pulses)."""
    prev = np.concatenate([np.zeros_like(inputs[:, :1]), inputs[:, :-1]], axis=1)
    if mode == "channel":
        return np.sum((inputs != 0) & (inputs != prev), axis=(1, 2))
    return np.sum(np.any(inputs != 0, -1) & np.any(inputs != prev, -1), axis=1)


def in_memory_set(spec: dict, pts: np.ndarray) -> np.ndarray:
    kind = spec["kind"]
    if kind == "corners":
        return np.all(np.isin(pts, [spec["low"][0], spec["high"][0]]), axis=1)
    if kind == "box":
        return np.all((pts >= spec["low"]) & (pts <= spec["high"]), axis=1)
    r = np.linalg.norm(pts, axis=1)
    if kind == "circle":
        return np.abs(r - spec["radius"]) < 1e-5
    return (r >= spec["inner"] - 1e-6) & (r <= spec["outer"] + 1e-6)


# -- long-delay split -------------------------------------------------------------------------

@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_long_delay_split_shapes(name, profile):
    t = task(name)
    spec = t.extra["memory"]["long_delay"]
    s = split(name, profile)
    trials = {"smoke": t.profiles["smoke"]["max_long_delay"], "quick": spec["size"]}[profile]
    T = spec["n_bins"] + spec["silent_bins"]
    C = t.data["channels"]
    assert spec["n_bins"] == 10 * t.data["n_bins"]  # 10x the training length
    assert s["inputs"].shape == (trials, T, C)
    assert s["targets"].shape == (trials, T, C)
    assert s["dt"].shape == (trials, T) and s["held"].shape == (trials, T)
    assert s["held"].dtype == bool
    np.testing.assert_allclose(s["dt"], t.data["dt"])


@pytest.mark.parametrize("name", TASKS)
def test_long_delay_silent_stretch_is_zero_input_with_held_targets(name):
    t, s = task(name), split(name)
    n, silent = t.extra["memory"]["long_delay"]["n_bins"], t.extra["memory"]["long_delay"][
        "silent_bins"]
    assert silent > 0
    assert not np.any(s["inputs"][:, n:])
    np.testing.assert_array_equal(s["targets"][:, n:],
                                  np.repeat(s["targets"][:, n - 1 : n], silent, axis=1))
    assert s["held"][:, n:].all()
    # before the silence, there are pulses
    assert np.any(s["inputs"][:, :n] != 0, axis=(1, 2)).mean() > 0.9


@pytest.mark.parametrize("name", TASKS)
def test_long_delay_targets_are_an_ideal_flipflop_of_the_inputs(name):
    t, s = task(name), split(name)
    np.testing.assert_allclose(s["targets"], perfect_flipflop(s["inputs"], t.data["initial"]),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", TASKS)
def test_held_mask_is_exactly_the_bins_without_input(name):
    s = split(name)
    no_input = np.all(s["inputs"] == 0, axis=-1)
    np.testing.assert_array_equal(s["held"], no_input)
    # every bin with a pulse on, on any channel, is not held
    assert not np.any(s["held"] & np.any(s["inputs"] != 0, axis=-1))
    # most bins are held: the long trials are mostly memory
    assert s["held"].mean() > 0.9


@pytest.mark.parametrize("name", TASKS)
def test_long_delay_pulse_count_is_poisson_with_the_task_rate(name):
    """The same pulse count per trial as in training (Poisson(pulse_rate)), 10x the length."""
    t, s = task(name), split(name)
    rate = float(t.data["pulse_rate"])
    counts = count_pulses(s["inputs"], t.data["pulse_mode"])
    n = len(counts)
    # onsets can merge (two pulses starting in the same bin): at most a small undercount
    assert abs(counts.mean() - rate) < 4 * np.sqrt(rate / n) + 0.02 * rate
    assert 0.6 < counts.var(ddof=1) / counts.mean() < 1.5  # Poisson: variance = mean
    # and the same count as the task's own (short) trials, not 10x more
    test = t.load_split("test", "paper")
    short = count_pulses(test["inputs"], t.data["pulse_mode"])
    assert abs(counts.mean() - short.mean()) < 5 * np.sqrt(rate / n)


@pytest.mark.parametrize("name", TASKS)
def test_long_delay_split_is_deterministic_and_apart_from_the_test_split(name):
    t = task(name)
    a, b = memory.long_delay_split(t, "smoke"), split(name, "smoke")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    test = t.load_split("test", "smoke")
    n = test["inputs"].shape[1]
    assert not np.array_equal(a["inputs"][:, :n], test["inputs"][: len(a["inputs"])])


# -- long-delay metrics -----------------------------------------------------------------------

@pytest.mark.parametrize("name", TASKS)
def test_long_delay_metrics_of_perfect_predictions(name):
    s = split(name, "smoke")
    m = memory.long_delay_metrics(s["targets"].copy(), s)
    assert m == {"long_delay_mse": 0.0, "long_delay_r2": 1.0}


@pytest.mark.parametrize("name", TASKS)
def test_long_delay_metrics_ignore_bins_with_input(name):
    s = split(name, "smoke")
    pred = s["targets"].astype(np.float32).copy()
    pred[~s["held"]] = 100.0  # wrong everywhere a pulse is on
    assert (~s["held"]).any()
    assert memory.long_delay_metrics(pred, s) == {"long_delay_mse": 0.0, "long_delay_r2": 1.0}


@pytest.mark.parametrize("name", TASKS)
def test_long_delay_metrics_count_held_bins(name):
    s = split(name, "smoke")
    held = np.argwhere(s["held"])
    n_values = len(held) * s["targets"].shape[-1]
    pred = s["targets"].astype(np.float64).copy()
    i, t = held[len(held) // 2]
    pred[i, t, 0] += 3.0  # one wrong value in one held bin
    m = memory.long_delay_metrics(pred, s)
    assert m["long_delay_mse"] == pytest.approx(9.0 / n_values, rel=1e-9)
    assert m["long_delay_r2"] < 1.0
    # a constant offset c everywhere: MSE is c^2
    assert memory.long_delay_metrics(s["targets"] + 0.5, s)["long_delay_mse"] == \
        pytest.approx(0.25, rel=1e-6)


@pytest.mark.parametrize("name", TASKS)
def test_long_delay_r2_is_zero_for_the_held_mean(name):
    s = split(name, "smoke")
    mean = s["targets"][s["held"]].astype(np.float64).mean(axis=0)
    pred = np.broadcast_to(mean, s["targets"].shape)
    m = memory.long_delay_metrics(pred, s)
    assert m["long_delay_r2"] == pytest.approx(0.0, abs=1e-9)
    # the mean over all bins is not the held mean in general; a worse guess has R^2 < 0
    assert memory.long_delay_metrics(pred + 1.0, s)["long_delay_r2"] < 0


# -- drift probe ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_drift_probe_shapes_and_points_in_the_memory_set(name, profile):
    t = task(name)
    spec = t.extra["memory"]["drift"]
    p = probe(name, profile)
    k = {"smoke": t.profiles["smoke"]["max_drift"], "quick": spec["points"]}[profile]
    C = t.data["channels"]
    assert p["points"].shape == (k, C)
    assert p["inputs"].shape[0] == k and p["inputs"].shape[2] == C
    assert p["dt"].shape == p["inputs"].shape[:2]
    np.testing.assert_allclose(p["dt"], t.data["dt"])
    assert in_memory_set(t.extra["memory_set"], p["points"]).all()
    if profile == "quick" and t.extra["memory_set"]["kind"] != "corners":
        assert len(np.unique(p["points"], axis=0)) == k  # distinct continuous points


@pytest.mark.parametrize("name", TASKS)
def test_drift_probe_places_an_ideal_flipflop_on_the_points(name):
    t, p = task(name), probe(name)
    start = int(p["start"])
    y = perfect_flipflop(p["inputs"], t.data["initial"])
    # from the start on, the readout of an ideal flip-flop is the sampled point, unchanged
    np.testing.assert_allclose(y[:, start:], np.repeat(p["points"][:, None], y.shape[1] - start,
                                                       axis=1), atol=1e-6)
    # the zero-input stretch is the task's drift length (after settling)
    spec = t.extra["memory"]["drift"]
    assert not np.any(p["inputs"][:, start:])
    assert p["inputs"].shape[1] - 1 - start >= spec["bins"]


@pytest.mark.parametrize("name", TASKS)
def test_drift_probe_pulses_are_the_task_pulses(name):
    """Pulses last pulse_width bins; channel tasks get one pulse per channel, apart in time."""
    t, p = task(name), probe(name)
    width, C = t.data["pulse_width"], t.data["channels"]
    active = p["inputs"] != 0
    if t.data["pulse_mode"] == "vector":
        assert np.all(active[:, :width]) and not np.any(active[:, width:])
        np.testing.assert_allclose(p["inputs"][:, 0], p["points"], atol=1e-6)
        return
    for c in range(C):
        bins = np.flatnonzero(active[:, :, c].any(axis=0))
        assert len(bins) == width and np.all(np.diff(bins) == 1)
        assert np.all(active[:, bins, c])
    # no two channels pulse at once
    assert np.all(active.sum(axis=-1) <= 1)


@pytest.mark.parametrize("name", TASKS)
def test_drift_start_is_the_first_bin_after_settling(name):
    t = task(name)
    for settle in (1, 5):
        mem = {**t.extra["memory"], "drift": {**t.extra["memory"]["drift"],
                                              "settle_bins": settle, "bins": 20}}
        tt = dataclasses.replace(t, extra={**t.extra, "memory": mem})
        p = memory.drift_probe(tt, "smoke")
        start = int(p["start"])
        last_pulse = np.flatnonzero(np.any(p["inputs"] != 0, axis=(0, 2))).max()
        # settle_bins = 1: the first bin after the pulses; each further settling bin, one later
        assert start == last_pulse + settle
        assert p["inputs"].shape[1] == start + 20 + 1


# -- drift metrics ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", TASKS)
def test_drift_of_an_ideal_flipflop_and_of_constant_predictions_is_zero(name):
    t, p = task(name), probe(name)
    y = perfect_flipflop(p["inputs"], t.data["initial"])
    assert memory.drift_metrics(y, p) == {"drift": 0.0}
    const = np.broadcast_to(np.arange(len(p["points"]))[:, None, None] * 1.0,
                            p["inputs"].shape)
    assert memory.drift_metrics(const, p) == {"drift": 0.0}


@pytest.mark.parametrize("name", TASKS)
def test_drift_of_a_linear_ramp_is_its_distance(name):
    p = probe(name)
    K, T, C = p["inputs"].shape
    start = int(p["start"])
    rng = np.random.default_rng(0)
    v = rng.normal(size=(K, C))  # a velocity per trial, per bin
    y0 = rng.normal(size=(K, C))
    ramp = y0[:, None] + v[:, None] * np.arange(T)[None, :, None]
    expected = np.mean(np.linalg.norm(v, axis=1)) * (T - 1 - start)
    assert memory.drift_metrics(ramp, p)["drift"] == pytest.approx(expected, rel=1e-9)
    # what happens before the start does not count
    ramp[:, :start] = 1e3
    assert memory.drift_metrics(ramp, p)["drift"] == pytest.approx(expected, rel=1e-9)


def test_drift_of_a_jump_is_the_mean_jump_length():
    p = probe("flipflop-2bit-ring", "smoke")
    K, T, _ = p["inputs"].shape
    start = int(p["start"])
    y = np.repeat(p["points"][:, None], T, axis=1).astype(np.float64)
    y[: K // 2, -1] += np.array([3.0, 4.0])  # half the trials end 5 away
    assert memory.drift_metrics(y, p)["drift"] == pytest.approx(5.0 * (K // 2) / K)
    y[:, start + 1 : -1] = 50.0  # only the end against the start counts
    assert memory.drift_metrics(y, p)["drift"] == pytest.approx(5.0 * (K // 2) / K)
