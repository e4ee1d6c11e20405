"""The Walker2d generator (``tasks/walker2d.py``): deterministic simulation per seed, the
75/10/15 split, dropped steps and the time to the next observation."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data import datasets
from tasks import walker2d

DATA = {"env": "Walker2d-v5", "rollouts": 40, "steps": 50, "seed": 0, "ou_theta": 0.15,
        "ou_sigma": 0.3, "drop": 0.1, "dt": 0.01, "split_seed": 0}


def test_simulation_is_deterministic_per_seed():
    pytest.importorskip("gymnasium")
    pytest.importorskip("mujoco")
    pytest.importorskip("imageio")  # gymnasium's MuJoCo environments import it
    params = {**walker2d.cache_params(DATA), "rollouts": 3, "steps": 20}
    a, b = walker2d.prepare(params), walker2d.prepare(params)
    for k in ("observations", "actions"):
        np.testing.assert_array_equal(a[k], b[k])
    assert a["observations"].shape == (3, 21, 17) and a["actions"].shape == (3, 20, 6)
    assert np.abs(a["actions"]).max() <= 1.0
    assert not np.allclose(a["observations"][0], a["observations"][1])  # own seeds
    c = walker2d.prepare({**params, "seed": 1})
    assert not np.allclose(a["observations"], c["observations"])


@pytest.fixture
def rollouts(tmp_path, monkeypatch):
    """Synthetic rollouts in a temporary cache: observation = (rollout, step, dim) code."""
    monkeypatch.setenv("CTRNN_BENCH_DATA", str(tmp_path))
    R, S = DATA["rollouts"], DATA["steps"]
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((R, S + 1, 17)).astype(np.float32)
    actions = rng.uniform(-1, 1, (R, S, 6)).astype(np.float32)
    datasets.store(datasets.key(walker2d.SOURCE, walker2d.cache_params(DATA)),
                   {"observations": obs, "actions": actions, "env_dt": np.array(0.008)}, {}, ())
    return obs, actions


def test_split_is_75_10_15_of_the_rollouts():
    parts = walker2d.rollout_split(400, 0)
    assert [len(parts[s]) for s in ("train", "validation", "test")] == [300, 40, 60]
    assert len(np.unique(np.concatenate(list(parts.values())))) == 400


def test_targets_are_the_next_kept_observation_and_dt_the_time_to_it(rollouts):
    obs, actions = rollouts
    out = walker2d.generate(DATA, 4, seed=3, split="validation")
    idx = walker2d.rollout_split(len(obs), DATA["split_seed"])["validation"]
    train = walker2d.rollout_split(len(obs), DATA["split_seed"])["train"]
    flat = obs[train].reshape(-1, 17)
    mean, std = flat.mean(axis=0), flat.std(axis=0) + 1e-8
    for i, r in enumerate(idx):
        n = out["lengths"][i]
        steps = np.rint(np.cumsum(out["dt"][i, :n]) / DATA["dt"]).astype(int)  # target steps
        first = np.flatnonzero(np.all(np.isclose(out["inputs"][i, 0, :17],
                                                 (obs[r] - mean) / std, atol=1e-5), axis=1))[0]
        kept_targets = first + steps
        np.testing.assert_allclose(out["targets"][i, :n], (obs[r, kept_targets] - mean) / std,
                                   atol=1e-5)
        sources = np.concatenate([[first], kept_targets[:-1]])
        np.testing.assert_allclose(out["inputs"][i, :n, 17:], actions[r, sources], atol=1e-6)
        assert np.all(out["targets"][i, n:] == 0.0)


def test_steps_are_dropped_with_the_stated_probability(rollouts):
    out = walker2d.generate(DATA, 6, seed=4, split="test")
    gaps = np.concatenate([np.rint(out["dt"][i, :n] / DATA["dt"])
                           for i, n in enumerate(out["lengths"])])
    # each gap of k steps has k - 1 dropped steps inside it
    kept = len(gaps) + len(out["lengths"])
    dropped = np.sum(gaps - 1)
    rate = dropped / (kept + dropped)
    assert 0.05 < rate < 0.15  # 300 steps, p = 0.1: well within 3 standard errors
    again = walker2d.generate(DATA, 6, seed=4, split="test")
    np.testing.assert_array_equal(out["dt"], again["dt"])
