"""Flip-flop trials: brief pulses in, the last pulse on each channel held out.

Contract of a generator module: ``generate(data, size, seed, split)`` returns a dict of numpy
arrays with at least ``inputs`` (size, T, I), ``targets`` (size, T, O), or (size,) class
indices for a classification task, and ``dt`` (size, T), and is a pure function of its
arguments (``split`` names the split; generated data need only its seed). Variable-length
data add ``lengths`` (size,): the steps past a sequence's length are padding. A generator
that reads real data also defines ``SOURCE``, ``PACKAGES``, ``PIP``, ``cache_params(data)``
and ``prepare(params)``, the arrays it stores in the data cache (``bench.data.datasets``).
"""

from __future__ import annotations

import numpy as np


def _amplitudes(spec: dict, count: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Pulse values, shape (count, channels)."""
    dist = spec["dist"]
    if dist == "sign":
        return rng.choice([-1.0, 1.0], size=(count, channels))
    if dist == "uniform":
        low, high = np.asarray(spec["low"], float), np.asarray(spec["high"], float)
        return rng.uniform(low, high, size=(count, channels))
    if dist == "ring":
        angle = rng.uniform(0.0, 2 * np.pi, size=count)
        return spec["radius"] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    if dist == "annulus":  # uniform in area between two radii
        r = np.sqrt(rng.uniform(spec["inner"] ** 2, spec["outer"] ** 2, size=count))
        angle = rng.uniform(0.0, 2 * np.pi, size=count)
        return r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    raise ValueError(f"unknown amplitude distribution {dist!r}")


def generate(data: dict, size: int, seed: int, split: str | None = None
             ) -> dict[str, np.ndarray]:
    """Make ``size`` trials.

    Per trial: Poisson(``pulse_rate``) pulses, each starting at a uniform bin and lasting
    ``pulse_width`` bins (clipped at the end). ``pulse_mode: channel`` puts each pulse on one
    random channel; ``vector`` sets every channel at once (ring and disk). Later pulses
    overwrite earlier ones where they overlap. The target holds, on each channel, the value of
    the most recent pulse from its first bin on, and ``initial`` before any pulse.
    """
    rng = np.random.default_rng(seed)
    T, C, width = int(data["n_bins"]), int(data["channels"]), int(data["pulse_width"])
    inputs = np.zeros((size, T, C), np.float32)
    targets = np.empty((size, T, C), np.float32)
    n_pulses = rng.poisson(data["pulse_rate"], size=size)
    for i in range(size):
        n = n_pulses[i]
        starts = np.sort(rng.integers(0, T, size=n))
        values = _amplitudes(data["amplitude"], n, C, rng)
        if data["pulse_mode"] == "channel":
            chans = rng.integers(0, C, size=n)
            for s, c, v in zip(starts, chans, values[np.arange(n), chans]):
                inputs[i, s : s + width, c] = v
        else:
            for s, v in zip(starts, values):
                inputs[i, s : s + width] = v
        # Hold the latest pulse. Setting in start order makes later pulses win, as in the input.
        held = np.array(data["initial"], np.float32)
        events = np.full((T, C), np.nan, np.float32)
        for j in range(n):  # in start order, so a later pulse at the same bin wins
            if data["pulse_mode"] == "channel":
                events[starts[j], chans[j]] = values[j, chans[j]]
            else:
                events[starts[j]] = values[j]
        for t in range(T):
            held = np.where(np.isnan(events[t]), held, events[t])
            targets[i, t] = held
    dt = np.full((size, T), data["dt"], np.float32)
    return {"inputs": inputs, "targets": targets, "dt": dt, "n_pulses": n_pulses}
