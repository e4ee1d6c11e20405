"""Walker2d kinematics (MuJoCo through gymnasium), irregularly sampled: predict the next
observation, following the ODE-LSTM protocol (Lechner & Hasani 2020).

``prepare`` (``make data``) simulates ``rollouts`` episodes of ``steps`` steps of
``Walker2d-v5`` with ``terminate_when_unhealthy=False``, driven by smooth random actions
(an Ornstein-Uhlenbeck process clipped to [-1, 1]), each from its own seed, into the data
cache. ``generate`` reads only the cache: the rollouts are shuffled with ``split_seed`` and
split 75/10/15; each step is dropped with probability ``drop`` (from the split's seed).

At kept step j the input is the observation and the action there; the target is the next
kept observation, and ``dt`` is the time until it, so the ODE models integrate over the actual
gap and the discrete ones get it as an input feature. Observations are standardised with the
training rollouts' statistics; the metric is the MSE over the valid steps (``lengths``).
"""

from __future__ import annotations

import numpy as np

SOURCE = "walker2d"
FORMAT = 1  # of the arrays prepare() stores: a change rebuilds the cache
PACKAGES = ("gymnasium", "mujoco", "imageio")  # gymnasium's MuJoCo envs import imageio
PIP = ("gymnasium[mujoco]",)
FRACTIONS = {"train": 0.75, "validation": 0.10}  # the test split takes the rest


def cache_params(data: dict) -> dict:
    keys = ("env", "rollouts", "steps", "seed", "ou_theta", "ou_sigma")
    return {**{k: data[k] for k in keys}, "format": FORMAT}


def prepare(params: dict) -> dict[str, np.ndarray]:
    import gymnasium as gym

    env = gym.make(params["env"], terminate_when_unhealthy=False)
    R, S = int(params["rollouts"]), int(params["steps"])
    n_act = int(np.prod(env.action_space.shape or (0,)))
    obs = np.zeros((R, S + 1, int(np.prod(env.observation_space.shape or (0,)))), np.float32)
    actions = np.zeros((R, S, n_act), np.float32)
    for r in range(R):
        rng = np.random.default_rng([params["seed"], r])
        obs[r, 0], _ = env.reset(seed=int(params["seed"]) * 100_000 + r)
        a = np.zeros(n_act)
        for t in range(S):
            a += params["ou_theta"] * -a + params["ou_sigma"] * rng.standard_normal(n_act)
            actions[r, t] = np.clip(a, -1.0, 1.0)
            obs[r, t + 1], *_ = env.step(actions[r, t])
    env.close()
    return {"observations": obs, "actions": actions,
            "env_dt": np.array(env.unwrapped.dt, np.float64)}  # type: ignore[attr-defined]


def rollout_split(n: int, seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = round(FRACTIONS["train"] * n), round(FRACTIONS["validation"] * n)
    return {"train": np.sort(order[:n_train]),
            "validation": np.sort(order[n_train : n_train + n_val]),
            "test": np.sort(order[n_train + n_val :])}


def generate(data: dict, size: int, seed: int, split: str | None = None) -> dict[str, np.ndarray]:
    from bench.data import datasets

    raw = datasets.load(datasets.key(SOURCE, cache_params(data)))
    obs, actions = raw["observations"], raw["actions"]
    parts = rollout_split(len(obs), data["split_seed"])
    if split not in parts:
        raise ValueError(f"unknown split {split!r}")
    idx = parts[split]
    if len(idx) != size:
        raise ValueError(f"the {split} split has {len(idx)} rollouts, the task says {size}")
    train_obs = obs[parts["train"]].reshape(-1, obs.shape[-1])
    mean, std = train_obs.mean(axis=0), train_obs.std(axis=0) + 1e-8
    z = (obs[idx] - mean) / std

    rng = np.random.default_rng(seed)
    unit, S = float(data["dt"]), actions.shape[1]
    kept = [np.flatnonzero(rng.random(S + 1) >= data["drop"]) for _ in idx]
    kept = [k if len(k) >= 2 else np.array([0, S]) for k in kept]  # at least one pair
    T = max(len(k) - 1 for k in kept)
    n, D = len(idx), obs.shape[-1]
    inputs = np.zeros((n, T, D + actions.shape[-1]), np.float32)
    targets = np.zeros((n, T, D), np.float32)
    dt = np.full((n, T), unit, np.float32)
    for i, k in enumerate(kept):
        src, nxt = k[:-1], k[1:]
        act = actions[idx[i], src]  # src <= S - 1: the last kept point starts no pair
        inputs[i, : len(src)] = np.concatenate([z[i, src], act], axis=-1)
        targets[i, : len(src)] = z[i, nxt]
        dt[i, : len(src)] = (nxt - src) * unit  # the time until the target
    return {"inputs": inputs, "targets": targets, "dt": dt,
            "lengths": np.array([len(k) - 1 for k in kept], np.int64)}
