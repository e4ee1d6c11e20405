"""Metrics (``bench.spec.metrics``) on small arrays with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from bench.spec import metrics


def test_mse_by_hand():
    target = np.array([[[0.0, 1.0], [2.0, 3.0]]])  # (1 trial, 2 bins, 2 channels)
    pred = np.array([[[1.0, 1.0], [2.0, 1.0]]])
    # squared errors 1, 0, 0, 4 -> mean 5/4
    assert metrics.mse(pred, target) == pytest.approx(1.25)
    assert metrics.mse(target, target) == 0.0


def test_r2_by_hand():
    # channel 0 values 0, 2 (mean 1), channel 1 values 1, 3 (mean 2): SST = 1+1+1+1 = 4
    target = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    pred = np.array([[[1.0, 1.0], [2.0, 1.0]]])  # SSE = 5
    assert metrics.r2(pred, target) == pytest.approx(1 - 5 / 4)


def test_r2_perfect_and_per_channel_mean():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(5, 7, 3)) * np.array([1.0, 10.0, 0.1]) + np.array([3, -2, 0])
    assert metrics.r2(target.copy(), target) == 1.0
    # predicting each channel's mean (over trials and bins) scores exactly 0
    means = np.broadcast_to(target.reshape(-1, 3).mean(axis=0), target.shape)
    assert metrics.r2(means, target) == pytest.approx(0.0, abs=1e-12)
    # the global mean (one number for every channel) is worse than the per-channel mean
    assert metrics.r2(np.full_like(target, target.mean()), target) < 0


def test_r2_equals_one_minus_mse_over_mean_channel_variance():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(20, 9, 2)).astype(np.float32)
    pred = (target + 0.3 * rng.normal(size=target.shape)).astype(np.float32)
    var = np.mean(np.var(target.reshape(-1, 2).astype(np.float64), axis=0))
    assert metrics.r2(pred, target) == pytest.approx(1 - metrics.mse(pred, target) / var,
                                                     rel=1e-6)


def test_compute_selects_by_name():
    target = np.array([[[0.0], [2.0]]])
    pred = np.array([[[1.0], [1.0]]])
    out = metrics.compute(["r2", "mse"], pred, target)
    assert out == {"r2": pytest.approx(0.0), "mse": pytest.approx(1.0)}
    assert set(metrics.METRICS) == {"mse", "r2", "trajectory_r2", "accuracy"}


def test_trajectory_r2_by_hand():
    t = np.linspace(0, 1, 5)
    target = np.stack([np.stack([t, -t], -1), np.stack([t**2, 3 * t], -1)])  # (2, 5, 2)
    assert metrics.trajectory_r2(target, target) == pytest.approx(1.0)
    # each trial's own mean over time scores 0 on it, though the pooled R^2 is positive
    means = np.broadcast_to(target.mean(axis=1, keepdims=True), target.shape)
    assert metrics.trajectory_r2(means, target) == pytest.approx(0.0)
    assert metrics.r2(means, target) > 0.0
    # one trial perfect, the other at its mean: the mean of 1 and 0
    mixed = np.stack([target[0], means[1]])
    assert metrics.trajectory_r2(mixed, target) == pytest.approx(0.5)
    # a per-trial error of half the trial's spread, by hand
    noisy = target.copy()
    noisy[0] += 0.1
    sst0 = np.sum((target[0] - target[0].mean(axis=0)) ** 2)
    expected = (1 - 0.1**2 * 10 / sst0 + 1) / 2
    assert metrics.trajectory_r2(noisy, target) == pytest.approx(expected)
