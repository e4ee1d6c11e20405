"""The expressivity generator (``tasks/expressivity.py``): GP statistics, cues, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from tasks import expressivity

DATA = {"n_steps": 200, "dt": 0.05, "dims": 2, "length_scale": 1.0, "cue_dim": 16,
        "cue_steps": 5}


@pytest.mark.parametrize("ell", [1.0, 0.25])
def test_empirical_covariance_matches_the_kernel(ell):
    """4000 trajectories x 2 coordinates: every entry of the sample covariance lies within
    5 standard errors of exp(-(t - t')^2 / (2 ell^2)); SE^2 = (1 + k^2) / n for a Gaussian."""
    data = {**DATA, "n_steps": 40, "length_scale": ell}
    y = expressivity.generate(data, 4000, seed=7)["targets"].astype(np.float64)
    samples = np.concatenate([y[..., 0], y[..., 1]])  # (n, T)
    n = len(samples)
    emp = samples.T @ samples / n  # the mean is known to be zero
    t = data["dt"] * np.arange(data["n_steps"])
    k = np.exp(-0.5 * ((t[:, None] - t[None, :]) / ell) ** 2)
    se = np.sqrt((1 + k**2) / n)
    assert np.max(np.abs(emp - k) / se) < 5
    assert abs(samples.mean()) < 5 * np.sqrt(k.mean() / n)  # Var(mean) = mean(k) / n


def test_a_shorter_length_scale_wiggles_more():
    def crossings(ell):
        y = expressivity.generate({**DATA, "length_scale": ell}, 200, seed=0)["targets"]
        return np.mean(np.sum(np.diff(np.sign(y), axis=1) != 0, axis=1))

    # Rice's formula: T dt / (pi ell) zero crossings expected per coordinate
    for ell in (1.0, 0.25):
        assert crossings(ell) == pytest.approx(200 * 0.05 / (np.pi * ell), rel=0.15)


def test_cues_are_the_only_input_and_last_cue_steps():
    d = expressivity.generate(DATA, 8, seed=3)
    x = d["inputs"]
    assert x.shape == (8, 200, 16) and d["targets"].shape == (8, 200, 2)
    assert np.all(x[:, 5:] == 0)
    assert np.all(x[:, :5] == x[:, :1])  # the same cue vector for the first 5 steps
    assert len({tuple(c) for c in x[:, 0].round(6)}) == 8  # distinct cues
    np.testing.assert_array_equal(d["dt"], np.full((8, 200), 0.05, np.float32))


def test_deterministic_per_seed_and_nested_in_k():
    a = expressivity.generate(DATA, 4, seed=1)
    b = expressivity.generate(DATA, 16, seed=1)
    c = expressivity.generate(DATA, 4, seed=2)
    for key in ("inputs", "targets"):
        np.testing.assert_array_equal(a[key], expressivity.generate(DATA, 4, seed=1)[key])
        np.testing.assert_array_equal(a[key], b[key][:4])  # the first K never change
        assert not np.allclose(a[key][:, :5], c[key][:, :5])


def test_factor_reproduces_the_kernel_up_to_the_jitter():
    t = 0.05 * np.arange(200)
    L = expressivity.gp_factor(t, 1.0)
    np.testing.assert_allclose(L @ L.T, expressivity.kernel(t, 1.0)
                               + expressivity.JITTER * np.eye(200), atol=1e-10)
