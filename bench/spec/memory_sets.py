"""Ideal memory sets of the flip-flop family: the values a perfect memory must hold.

A task declares its set as ``memory_set: {kind: ..., ...}``:

- ``corners`` (``low``, ``high``): the 2^C corners of a box, i.e. discrete fixed points;
- ``box`` (``low``, ``high``): a square, rectangle or cube;
- ``circle`` (``radius``): a ring in the plane;
- ``annulus`` (``inner``, ``outer``): the disk task's set, 1 <= |y| <= 2.

Each set can be sampled (drift probes), gridded (coverage) and measured against (distance).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

KINDS = ("corners", "box", "circle", "annulus")


def validate(spec: Any, channels: int) -> str | None:
    """None if ``spec`` is a valid memory set for ``channels`` outputs, else what is wrong."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        return f"memory_set needs kind: one of {', '.join(KINDS)}"
    kind = spec["kind"]
    if kind in ("corners", "box"):
        low, high = spec.get("low"), spec.get("high")
        if not (isinstance(low, list) and isinstance(high, list)
                and len(low) == len(high) == channels
                and all(a < b for a, b in zip(low, high))):
            return f"memory_set {kind} needs low and high lists of {channels} numbers, low < high"
    elif channels != 2:
        return f"memory_set {kind} is planar; the task has {channels} channels"
    elif kind == "circle" and not spec.get("radius", 0) > 0:
        return "memory_set circle needs radius > 0"
    elif kind == "annulus" and not 0 <= spec.get("inner", -1) < spec.get("outer", -1):
        return "memory_set annulus needs 0 <= inner < outer"
    return None


def sample(spec: dict, n: int, seed: int) -> np.ndarray:
    """``n`` points uniformly from the set (uniform in length, area or volume), (n, C)."""
    rng = np.random.default_rng(seed)
    kind = spec["kind"]
    if kind == "corners":
        low, high = np.asarray(spec["low"], float), np.asarray(spec["high"], float)
        return np.where(rng.integers(0, 2, size=(n, len(low))) == 1, high, low)
    if kind == "box":
        return rng.uniform(spec["low"], spec["high"], size=(n, len(spec["low"])))
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    if kind == "circle":
        r = np.full(n, float(spec["radius"]))
    else:
        r = np.sqrt(rng.uniform(spec["inner"] ** 2, spec["outer"] ** 2, size=n))
    return r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def grid(spec: dict, step: float) -> np.ndarray:
    """A regular grid over the set with spacing about ``step``, (M, C)."""
    kind = spec["kind"]
    if kind == "corners":
        return np.array(list(itertools.product(*zip(spec["low"], spec["high"]))), float)
    if kind == "box":
        axes = [np.linspace(a, b, max(2, round((b - a) / step) + 1))
                for a, b in zip(spec["low"], spec["high"])]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    if kind == "circle":
        m = max(8, round(2 * np.pi * spec["radius"] / step))
        angle = 2 * np.pi * np.arange(m) / m
        return spec["radius"] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    outer = float(spec["outer"])
    m = int(np.floor(outer / step + 1e-9))
    axis = step * np.arange(-m, m + 1)  # integer multiples: no round-off drift, symmetric
    pts = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    r, tol = np.linalg.norm(pts, axis=1), 1e-9 * outer  # boundary points count as inside
    return pts[(r >= spec["inner"] - tol) & (r <= outer + tol)]


def coverage(spec: dict, points: np.ndarray, step: float, epsilon: float) -> float:
    """Fraction of the set's grid within ``epsilon`` of any of ``points`` (K, C); 0 if K = 0."""
    g = grid(spec, step)
    if len(points) == 0:
        return 0.0
    near = np.zeros(len(g), bool)
    for chunk in np.array_split(np.asarray(points, float), max(1, len(points) // 512)):
        d = np.linalg.norm(g[:, None, :] - chunk[None, :, :], axis=-1)
        near |= (d <= epsilon).any(axis=1)
    return float(near.mean())


def outline(spec: dict) -> np.ndarray | list[np.ndarray]:
    """What to draw for the set in a readout plot: points (corners) or closed curves (2-D)."""
    kind = spec["kind"]
    if kind == "corners":
        return grid(spec, 1.0)
    angle = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    if kind == "circle":
        return [spec["radius"] * circle]
    if kind == "annulus":
        return [spec["inner"] * circle, spec["outer"] * circle]
    low, high = spec["low"], spec["high"]
    if len(low) == 2:
        return [np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]],
                          [low[0], high[1]], [low[0], low[1]]], float)]
    corners = grid({"kind": "corners", "low": low, "high": high}, 1.0)
    edges = [np.stack([a, b]) for a, b in itertools.combinations(corners, 2)
             if np.sum(a != b) == 1]  # the cube's 12 edges
    return edges

