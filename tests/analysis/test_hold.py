"""The memory metric (bench/analysis/hold.py) against hand-built systems whose answers are known.

Each system maps the probe's inputs to readouts in numpy, one bin at a time, so nothing of the
suite's models is involved: the expected numbers come from geometry (areas of discs on the
square) and from the systems' closed forms.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import numpy as np
import pytest

from bench.analysis import hold
from bench.spec.tasks import get_task


def _task(name: str, **changes):
    """A task with its hold settings changed (a finer grid for area estimates)."""
    task = get_task(name)
    mem = dict(task.extra["memory"])
    mem["hold"] = {**mem["hold"], **changes}
    return dataclasses.replace(task, extra={**task.extra, "memory": mem})


def _simulate(inputs: np.ndarray, initial, rest) -> np.ndarray:
    """A system that sets each pulsed channel to the pulse's value (a perfect write) and
    otherwise applies ``rest``: h -> rest(h) at zero input. The readout is the state."""
    h = np.tile(np.asarray(initial, float), (len(inputs), 1))
    out = np.empty(inputs.shape, float)
    for t in range(inputs.shape[1]):
        x = inputs[:, t]
        pulsed = x != 0
        quiet = ~pulsed.any(axis=1)
        h = np.where(pulsed, x, h)
        h[quiet] = rest(h[quiet])
        out[:, t] = h
    return out


def _score(task, rest, initial=(0.0, 0.0)):
    p = hold.probe(task)
    return hold.metrics(_simulate(p["inputs"], initial, rest), p, task), p


def _disc_fraction(r: float) -> float:
    """The fraction of [-1, 1]^2 within r of the 9 points {-1, 0, 1}^2 (r <= 0.5): four
    quarter discs at the corners, four half discs on the edges and one whole disc, over 4."""
    return np.pi * r**2


def test_exact_square_attractor_holds_everything():
    m, _ = _score(get_task("flipflop-2bit-square"), lambda h: h)
    assert m["write_error"] == pytest.approx(0.0, abs=1e-6)
    assert all(c == 1.0 for c in m["coverage"].values())
    assert m["memory_auc"] == pytest.approx(1.0)


def test_exact_ring_attractor_holds_everything():
    """A ring of radius 2 that pulls any state radially onto the circle, neutral along it."""
    def rest(h):
        r = np.linalg.norm(h, axis=1, keepdims=True)
        return h + 0.5 * (2.0 - r) * h / r

    m, p = _score(get_task("flipflop-2bit-ring"), rest, initial=(2.0, 0.0))
    assert np.allclose(np.linalg.norm(p["points"], axis=1), 2.0, atol=1e-6)
    assert m["write_error"] < 1e-6
    assert all(c == 1.0 for c in m["coverage"].values())
    assert m["memory_auc"] == pytest.approx(1.0)


@pytest.mark.slow
def test_nine_isolated_fixed_points_cover_the_discs_around_them():
    """Snapping at once to the nearest of 9 points keeps a value only within epsilon of one:
    coverage is the area of those discs, pi eps^2 of the square, at every horizon."""
    task = _task("flipflop-2bit-square", grid_step=0.01)
    m, _ = _score(task, np.round)
    eps = hold.spec(task)["epsilon"]
    for c in m["coverage"].values():
        assert c == pytest.approx(_disc_fraction(eps), rel=0.1)
    assert m["memory_auc"] == pytest.approx(_disc_fraction(eps), rel=0.1)


GATES = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0)


@functools.cache
def _gate_scores() -> list[dict]:
    """The hold metric of the gated system at each gate in ``GATES`` (one score holds every
    horizon, so the horizons below share these)."""
    task = _task("flipflop-2bit-square", grid_step=0.02)
    return [_score(task, lambda h, g=g: h + g * (np.round(h) - h))[0] for g in GATES]


@pytest.mark.slow
@pytest.mark.parametrize("horizon", [10, 100, 1000])
def test_a_gate_closing_to_strength_g_loses_coverage_smoothly_as_g_grows(horizon):
    """At rest h <- h + g (round(h) - h): the gnODE update with its gate at g, flowing to 9
    fixed points. After n bins at rest a channel is off by d (1 - (1 - g)^n), d its distance
    to the nearest point. Channel 1 is written 3 gap bins (and, when channel 2 gets no pulse,
    3 more) before the write bin, so it has rested n = h + 4 (or h + 7) bins at horizon h,
    channel 2 n = h + 1. Far out (r < 0.45 at horizon 1000) the kept region is the discs of
    radius r = eps / (1 - (1 - g)^h) around the 9 points."""
    task = _task("flipflop-2bit-square", grid_step=0.02)
    eps = hold.spec(task)["epsilon"]
    points = hold.probe(task)["points"].astype(float)
    d = points - np.round(points)
    covered = []
    for g, m in zip(GATES, _gate_scores(), strict=True):
        covered.append(m["coverage"][str(horizon)])
        rested = np.stack([horizon + 4 + 3 * (points[:, 1] == 0), np.full(len(d), horizon + 1)],
                          axis=1)
        off = np.linalg.norm(d * (1 - (1 - g) ** rested), axis=1)
        assert covered[-1] == pytest.approx(np.mean(off <= eps), abs=0.01)  # ties at eps
        r = eps / (1 - (1 - g) ** horizon)
        if horizon == 1000 and r < 0.45:  # discs inside the square's cells: a known area
            assert covered[-1] == pytest.approx(_disc_fraction(r), rel=0.15, abs=0.01)
    assert all(a >= b for a, b in itertools.pairwise(covered))  # falls as the gate opens
    assert covered[0] > covered[-1]


def test_a_memoryless_readout_scores_zero_with_a_large_write_error():
    """y = x: the output is the input, so nothing is held once the pulses end."""
    for name in ("flipflop-2bit-square", "flipflop-2bit-ring"):
        task = get_task(name)
        p = hold.probe(task)
        m = hold.metrics(p["inputs"].astype(float), p, task)
        # |v| averaged over the set: 0.77 on the square's grid, 2 on the ring
        assert m["write_error"] > 0.7
        assert m["coverage"]["1000"] <= 0.02  # only the points within epsilon of 0
        assert m["memory_auc"] <= 0.02


def test_write_error_is_read_right_after_the_write_and_hold_error_against_the_target():
    """A system that writes perfectly and then drifts at a constant velocity: the hold error
    at horizon h is exactly h times the step, whatever the value. (The ring: one vector pulse
    writes every channel at once, so the write bin is the first bin of zero input.)"""
    task = get_task("flipflop-2bit-ring")
    step = np.array([5e-4, 0.0])
    m, _ = _score(task, lambda h: h + step, initial=(2.0, 0.0))
    assert m["write_error"] == pytest.approx(5e-4, rel=1e-6)  # one bin of zero input already
    for h in (10, 100, 1000):
        assert m["hold_error"][str(h)] == pytest.approx((h + 1) * 5e-4, rel=1e-6)
    assert hold.spec(task)["epsilon"] == 0.2  # errors 0.0055, 0.0505, 0.5005 at 10, 100, 1000
    assert m["coverage"] == {"10": 1.0, "100": 1.0, "1000": 0.0}


def test_probe_writes_with_the_tasks_own_pulses():
    for name in ("flipflop-2bit-square", "flipflop-2bit-ring", "flipflop-3bit"):
        task = get_task(name)
        p = hold.probe(task)
        width, start = task.data["pulse_width"], int(p["start"])
        x = p["inputs"]
        assert x.shape[1] == start + max(hold.spec(task)["horizons"]) + 1
        assert not x[:, start:].any()  # zero input while holding
        for k in range(0, len(x), max(1, len(x) // 7)):
            on = np.flatnonzero(np.abs(x[k]).sum(axis=1))
            if task.data["pulse_mode"] == "vector":
                assert np.array_equal(on, np.arange(width))
                np.testing.assert_array_equal(x[k, 0], p["points"][k])
            else:  # each channel's value, in its own bins
                for c, v in enumerate(p["points"][k]):
                    bins = slice(2 * c * width, (2 * c + 1) * width)
                    np.testing.assert_array_equal(x[k, bins, c], v)


def test_coverage_cannot_rise_with_the_horizon():
    rng = np.random.default_rng(0)
    task = get_task("flipflop-2bit-square")
    p = hold.probe(task)
    pred = p["points"][:, None, :] + np.cumsum(
        rng.normal(0, 0.002, (len(p["points"]), p["inputs"].shape[1], 2)), axis=1)
    curve = hold.coverage_curve(pred, p["points"], int(p["start"]), 0.1)
    assert np.all(np.diff(curve) <= 0) and 0.0 < curve[-1] < curve[0] <= 1.0


@pytest.mark.slow
def test_both_frameworks_give_the_same_memory_metric():
    """The gnODE baseline in PyTorch and in JAX with the same weights (copied across):
    predictions on the probe, and so every number, agree."""
    import torch

    from bench.run.analyze import predict
    from bench.spec.registry import discover

    spec = discover()["gnode"]
    task = get_task("flipflop-2bit-square")
    config = {"N": 2, "widths": [16, 16], "tau": 0.01, "h0": "first-input"}
    torch.manual_seed(3)
    tm = spec.load("torch").build(config, 2, 2)
    jmod = spec.load("jax")
    import jax

    jm = jmod.load_torch_state(jmod.build(config, 2, 2, key=jax.random.PRNGKey(0)),
                               {k: v.detach().numpy() for k, v in tm.state_dict().items()})
    p = hold.probe(task)
    mt = hold.metrics(predict(tm, "torch", p["inputs"], p["dt"], "cpu"), p, task)
    mj = hold.metrics(predict(jm, "jax", p["inputs"], p["dt"], "cpu"), p, task)
    assert mt["write_error"] > 0.05  # a model that moves, not a trivial agreement
    assert mj["write_error"] == pytest.approx(mt["write_error"], rel=1e-4)
    for h in ("10", "100", "1000"):
        assert mj["hold_error"][h] == pytest.approx(mt["hold_error"][h], rel=1e-4)
        assert mj["coverage"][h] == pytest.approx(mt["coverage"][h], abs=2 / len(p["points"]))
    assert mj["memory_auc"] == pytest.approx(mt["memory_auc"], abs=0.02)


def test_a_readout_that_blows_up_is_not_held():
    task = get_task("flipflop-2bit-ring")
    p = hold.probe(task)
    pred = np.repeat(p["points"][:, None, :], p["inputs"].shape[1], axis=1).astype(float)
    pred[0, int(p["start"]) + 50 :] = np.nan  # one value lost to a blow-up after 50 bins
    m = hold.metrics(pred, p, task)
    k = len(p["points"])
    assert m["coverage"]["10"] == 1.0 and m["coverage"]["100"] == pytest.approx(1 - 1 / k)
    assert m["write_error"] == 0.0 and m["hold_error"]["100"] == np.inf
