"""Expressivity targets: K trajectories drawn from a Gaussian process, each cued by a vector.

Groundwork for the ``expressivity-*`` task family (issue 4); no task file uses it yet.

Contract of a generator module (see ``tasks/flipflop.py``): ``generate(data, size, seed)``
returns ``inputs`` (size, T, I), ``targets`` (size, T, D) and ``dt`` (size, T), as a pure
function of its arguments. Here ``size`` is K, the number of trajectories, and trajectory k
depends only on (seed, k): the first K trajectories are the same for every larger K, so a
capacity search over K asks for more of the same targets, never for different ones.
"""

from __future__ import annotations

import numpy as np

JITTER = 1e-6  # added to the kernel's diagonal: a smooth kernel is numerically singular


def kernel(times: np.ndarray, length_scale: float) -> np.ndarray:
    """Squared-exponential covariance, unit variance: exp(-(t - t')^2 / (2 ell^2))."""
    diff = times[:, None] - times[None, :]
    return np.exp(-0.5 * (diff / length_scale) ** 2)


def gp_factor(times: np.ndarray, length_scale: float) -> np.ndarray:
    """A matrix L with L L^T = kernel + JITTER I, so L z (z ~ N(0, I)) is a GP sample."""
    return np.linalg.cholesky(kernel(times, length_scale) + JITTER * np.eye(len(times)))


def generate(data: dict, size: int, seed: int, split: str | None = None
             ) -> dict[str, np.ndarray]:
    """Make ``size`` cued trajectories.

    ``data``: ``n_steps`` (T), ``dt``, ``dims`` (D), ``length_scale`` (ell), ``cue_dim`` and
    ``cue_steps``. Trajectory k: each of its D coordinates an independent GP sample over
    t = dt * (0, ..., T - 1); its cue c_k ~ N(0, I) is the input for the first ``cue_steps``
    steps, and the input is zero afterwards.
    """
    T, D = int(data["n_steps"]), int(data["dims"])
    cue_dim, cue_steps = int(data["cue_dim"]), int(data["cue_steps"])
    factor = gp_factor(float(data["dt"]) * np.arange(T), float(data["length_scale"]))
    inputs = np.zeros((size, T, cue_dim), np.float32)
    targets = np.empty((size, T, D), np.float32)
    for k in range(size):
        rng = np.random.default_rng([seed, k])  # trajectory k depends on (seed, k) only
        cue = rng.standard_normal(cue_dim)
        inputs[k, :cue_steps] = cue
        targets[k] = factor @ rng.standard_normal((T, D))
    dt = np.full((size, T), data["dt"], np.float32)
    return {"inputs": inputs, "targets": targets, "dt": dt}
