"""Slow-point analysis (``bench.analysis.attractors``) and the two system adaptors.

- known answers: small hand-built PyTorch modules with the analysis interface (``discrete``,
  ``states``, ``field``, ``observe``) whose slow points, Jacobian eigenvalues, stability and
  local dimension are known in closed form: a (rotated) line attractor, the 1-D double well
  dh1/dt = h1 - h1^3 beside a decaying h2, an exact ring attractor, a ring broken into eight
  fixed points, and a map;
- slow for the task: the slow set, the capped minimiser and the gate statistics.

The torch/JAX parity of the two system adaptors is in ``test_systems.py``.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch

from bench.analysis import attractors, memory
from bench.analysis.system_torch import TorchSystem
from bench.spec.tasks import get_task

FAST = attractors.Settings(initial=256, steps=400)


pytestmark = pytest.mark.usefixtures("one_torch_thread")
COVER = {"grid_step": 0.1, "epsilon": 0.15}


# -- hand-built systems -----------------------------------------------------------------------

class Placed(torch.nn.Module):
    """dh/dt = velocity(h), Euler-stepped; a bin with non-zero input sets h = place * x.

    ``readout`` is a matrix: observe(h) = h @ readout.T.
    """

    discrete = False

    def __init__(self, velocity, readout, place=1.0, h0=(1.0, 0.0)):
        super().__init__()
        self.velocity = velocity
        self.register_buffer("R", torch.as_tensor(np.asarray(readout, np.float32)))
        self.register_buffer("h0", torch.tensor(h0, dtype=torch.float32))
        self.place = place

    def states(self, x, dt):
        h = self.h0.expand(x.shape[0], -1)
        out = []
        for k in range(x.shape[1]):
            on = (x[:, k] != 0).any(-1, keepdim=True)
            stepped = h + dt[:, k, None] * self.velocity(h)
            h = torch.where(on, self.place * x[:, k, : h.shape[1]], stepped)
            out.append(h)
        return torch.stack(out, 1)

    def field(self, h, dt):
        return dt * self.velocity(h)

    def observe(self, h):
        return h @ self.R.T


class Map(Placed):
    """A map h -> M h: ``field`` is M h - h (no dt), ``discrete`` is True."""

    discrete = True

    def __init__(self, M):
        M = torch.as_tensor(np.asarray(M, np.float32))
        super().__init__(lambda h: h @ M.T - h, np.eye(2))

    def field(self, h, dt=None):
        return self.velocity(h)


def placing_probe(points: np.ndarray, hold: int, dt: float) -> dict[str, np.ndarray]:
    """One trial per point: a one-bin pulse with the point's value, then ``hold`` silent bins."""
    x = np.zeros((len(points), 1 + hold, points.shape[1]), np.float32)
    x[:, 0] = points
    return {"inputs": x, "dt": np.full(x.shape[:2], dt, np.float32)}


def rotation(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


# (a) a line attractor: dh/dt = A h, A = R diag(0, -1) R^T; the line is span(u) -------------

ANGLE = 0.4
U = rotation(ANGLE)[:, 0]  # along the line
NORMAL = rotation(ANGLE)[:, 1]
DT_LINE = 0.5


def line_model():
    A = torch.as_tensor(rotation(ANGLE) @ np.diag([0.0, -1.0]) @ rotation(ANGLE).T,
                        dtype=torch.float32)
    return Placed(lambda h: h @ A.T, U[None, :])  # 1-D readout: the coordinate along u


@functools.cache
def line_analysis():
    s = np.linspace(-0.5, 0.5, 41)
    pts = np.concatenate([s[:, None] * U + off * NORMAL for off in (-0.02, 0.02)])
    probe = placing_probe(pts.astype(np.float32), hold=2, dt=DT_LINE)  # 246 states
    segment = {"kind": "box", "low": [-1.0], "high": [1.0]}
    return attractors.analyse(TorchSystem(line_model(), DT_LINE), [probe], segment, COVER,
                              FAST)


@pytest.mark.slow
def test_line_attractor_slow_points_lie_on_the_line():
    report, arrays = line_analysis()
    assert report["kind"] == "flow" and report["state_dim"] == 2
    assert report["n_initial"] == 246  # fewer visited states than FAST.initial: all of them
    assert report["n_slow_states"] == 246  # every start relaxes onto the line
    slow = arrays["slow"]
    # |F| = dt |normal component| < sqrt(2 speed_tol)
    assert np.abs(slow @ NORMAL).max() < np.sqrt(2 * FAST.speed_tol) / DT_LINE * 1.01
    along = slow @ U
    assert along.min() < -0.45 and along.max() > 0.45  # the whole visited segment
    assert report["n_slow_points"] > 20  # a continuum, not a few points
    np.testing.assert_allclose(arrays["readout"][:, 0], along, atol=1e-5)


def test_line_attractor_eigenvalues_local_dim_and_stability():
    report, _ = line_analysis()
    assert report["local_dim"] == 1.0
    assert report["stability"] == {"stable": 0, "marginal": report["n_slow_points"],
                                   "unstable": 0}
    for p in report["points"]:
        (re0, im0), (re1, im1) = p["eigenvalues"]  # sorted by real part, largest first
        assert re0 == pytest.approx(0.0, abs=1e-5) and re1 == pytest.approx(-DT_LINE, abs=1e-5)
        assert im0 == im1 == 0
        assert p["near_zero"] == 1 and p["stability"] == "marginal"
        assert p["speed"] < np.sqrt(2 * FAST.speed_tol)


def test_line_attractor_coverage_of_a_segment():
    """Readouts fill [-0.5, 0.5]; with epsilon 0.15 the grid points -0.6, ..., 0.6 of
    [-1, 1] (step 0.1) are covered: 13 of 21."""
    report, _ = line_analysis()
    assert report["coverage"] == pytest.approx(13 / 21)
    assert report["coverage_grid_step"] == 0.1 and report["coverage_epsilon"] == 0.15


# (b) double well: dh1/dt = h1 - h1^3, dh2/dt = -h2 --------------------------------------------

DT_WELL = 0.1


def well_velocity(h):
    return torch.stack([h[:, 0] - h[:, 0] ** 3, -h[:, 1]], dim=-1)


@functools.cache
def well_analysis():
    h1 = np.linspace(-1.45, 1.45, 30)  # avoids the turning points of F, +-1/sqrt(3)
    pts = np.array([(a, b) for a in h1 for b in (-0.3, 0.3)], np.float32)
    probe = placing_probe(pts, hold=1, dt=DT_WELL)
    model = Placed(well_velocity, np.eye(2))
    box = {"kind": "box", "low": [-1.0, -1.0], "high": [1.0, 1.0]}
    return attractors.analyse(TorchSystem(model, DT_WELL), [probe], box, COVER, FAST)


def test_double_well_fixed_points_are_found():
    report, arrays = well_analysis()
    assert report["n_slow_points"] == 3
    found = sorted(tuple(p["state"]) for p in report["points"])
    np.testing.assert_allclose(found, [(-1, 0), (0, 0), (1, 0)], atol=2e-3)
    # every slow state is near one of the three
    d = np.min(np.linalg.norm(arrays["slow"][:, None] - np.array(
        [[-1, 0], [0, 0], [1, 0]])[None], axis=-1), axis=1)
    assert d.max() < 5e-3
    assert report["n_slow_states"] > 0.9 * report["n_initial"]


def test_double_well_eigenvalues_and_stability():
    """J = dt diag(1 - 3 h1^2, -1): {-2 dt, -dt} at h1 = +-1 (stable), {dt, -dt} at 0."""
    report, _ = well_analysis()
    by_h1 = {round(p["state"][0]): p for p in report["points"]}
    for h1 in (-1, 1):
        p = by_h1[h1]
        np.testing.assert_allclose([e[0] for e in p["eigenvalues"]], [-DT_WELL, -2 * DT_WELL],
                                   atol=5e-3)
        assert p["stability"] == "stable" and p["near_zero"] == 0
    p = by_h1[0]
    np.testing.assert_allclose([e[0] for e in p["eigenvalues"]], [DT_WELL, -DT_WELL], atol=5e-3)
    assert p["stability"] == "unstable"
    assert all(e[1] == 0 for q in report["points"] for e in q["eigenvalues"])
    assert report["stability"] == {"stable": 2, "marginal": 0, "unstable": 1}
    assert report["local_dim"] == 0.0
    # coverage of the square [-1, 1]^2 by three points, epsilon 0.15: a 3 x 3 grid block
    # around (0, 0) and 3 x 2 at each of (+-1, 0) on the edge, out of 21 x 21
    assert report["coverage"] == pytest.approx((9 + 6 + 6) / 441, abs=1e-9)


def test_double_well_jacobians_from_the_torch_system():
    sys_ = TorchSystem(Placed(well_velocity, np.eye(2)), DT_WELL)
    h = np.array([[0.5, 2.0], [-2.0, 0.0]], np.float32)
    J = sys_.jacobians(h)
    expected = np.stack([np.diag([DT_WELL * (1 - 3 * a**2), -DT_WELL]) for a, _ in h])
    np.testing.assert_allclose(J, expected, atol=1e-6)
    np.testing.assert_allclose(sys_.field(h), DT_WELL * np.stack(
        [h[:, 0] - h[:, 0] ** 3, -h[:, 1]], -1), atol=1e-6)


def test_minimise_converges_to_the_nearest_root():
    sys_ = TorchSystem(Placed(well_velocity, np.eye(2)), DT_WELL)
    h0 = np.array([[0.8, 0.2], [-1.3, -0.1], [0.3, 0.1]], np.float32)
    h, q = sys_.minimise(h0, 1500, 1e-2)
    np.testing.assert_allclose(h, [[1, 0], [-1, 0], [0, 0]], atol=2e-3)
    assert np.all(q < 1e-7)
    q0 = 0.5 * np.sum(sys_.field(h0) ** 2, -1)
    assert np.all(q < q0)


# (c) a ring attractor and a ring broken into fixed points ----------------------------------

C_RADIAL, C_ANGLE = 10.0, 2.0
RING = {"kind": "circle", "radius": 2.0}
DT_RING = 0.01  # the flip-flop tasks' dt


def ring_velocity(h):
    """dr/dt = C r (1 - r^2), dtheta/dt = 0: every point of the unit circle is fixed."""
    return C_RADIAL * (1 - (h**2).sum(-1, keepdim=True)) * h


def broken_velocity(h):
    """The ring plus dtheta/dt = -C' sin(4 theta) (written as a polynomial, r^4 sin 4theta =
    4 h1 h2 (h1^2 - h2^2)): stable at theta = k pi/2, unstable at pi/4 + k pi/2."""
    h1, h2 = h[:, :1], h[:, 1:]
    s4 = 4 * h1 * h2 * (h1**2 - h2**2)
    return ring_velocity(h) - C_ANGLE * s4 * torch.cat([-h2, h1], -1)


def ring_model(velocity):
    # readout 2 h: the unit circle reads out as the memory set (radius 2); pulses place h = x/2
    return Placed(velocity, 2 * np.eye(2), place=0.5)


def around_the_circle(n=180):
    angle = 2 * np.pi * np.arange(n) / n
    return (2.0 * np.stack([np.cos(angle), np.sin(angle)], -1)).astype(np.float32)


@functools.cache
def ring_analysis(broken):
    model = ring_model(broken_velocity if broken else ring_velocity)
    probe = placing_probe(around_the_circle(), hold=3, dt=DT_RING)
    return attractors.analyse(TorchSystem(model, DT_RING), [probe], RING, COVER,
                              attractors.Settings(initial=512, steps=400))


def test_ring_attractor_covers_the_memory_set():
    report, arrays = ring_analysis(False)
    assert report["coverage"] > 0.97
    r = np.linalg.norm(arrays["readout"], axis=1)
    np.testing.assert_allclose(r, 2.0, atol=1e-3)
    assert report["local_dim"] == 1.0  # the tangent direction: mu = 0
    assert report["stability"]["stable"] == 0 and report["stability"]["unstable"] == 0
    for p in report["points"][:20]:
        re = [e[0] for e in p["eigenvalues"]]
        # radial: d/dr [dt C r (1 - r^2)] at r = 1 is -2 C dt
        np.testing.assert_allclose(re, [0.0, -2 * C_RADIAL * DT_RING], atol=2e-3)


def test_ring_broken_into_fixed_points_has_eight_and_low_coverage():
    report, _ = ring_analysis(True)
    assert report["n_slow_points"] == 8
    angles = np.sort(np.mod([np.arctan2(p["state"][1], p["state"][0])
                             for p in report["points"]], 2 * np.pi))
    expected = np.arange(8) * np.pi / 4
    np.testing.assert_allclose(angles, expected, atol=1e-2)
    assert report["stability"] == {"stable": 4, "marginal": 0, "unstable": 4}
    for p in report["points"]:
        k = round(np.mod(np.arctan2(p["state"][1], p["state"][0]), 2 * np.pi) / (np.pi / 4))
        # angular eigenvalue: dt d/dtheta [-C' sin 4 theta] = -4 C' dt cos(k pi)
        tangential = -4 * C_ANGLE * DT_RING * (-1) ** k
        re = sorted(e[0] for e in p["eigenvalues"])
        np.testing.assert_allclose(re, sorted([tangential, -2 * C_RADIAL * DT_RING]),
                                   atol=2e-3)
        assert p["stability"] == ("stable" if k % 2 == 0 else "unstable")
    assert report["local_dim"] == 0.0
    # 8 points, each within epsilon of 3 of the circle's 126 grid points
    assert report["coverage"] == pytest.approx(24 / 126, abs=2 / 126)


def predictions_on_drift_probe(model, task):
    probe = memory.drift_probe(task, "quick")
    with torch.no_grad():
        h = model.states(torch.as_tensor(probe["inputs"]), torch.as_tensor(probe["dt"]))
        return model.observe(h.reshape(-1, 2)).reshape(*h.shape[:2], 2).numpy(), probe


def test_drift_of_the_ring_attractor_is_zero_and_of_fixed_points_is_known():
    task = get_task("flipflop-2bit-ring")
    pred, probe = predictions_on_drift_probe(ring_model(ring_velocity), task)
    start = int(probe["start"])
    np.testing.assert_allclose(pred[:, start], probe["points"], atol=1e-5)  # placed exactly
    assert memory.drift_metrics(pred, probe)["drift"] < 1e-4

    pred, probe = predictions_on_drift_probe(ring_model(broken_velocity), task)
    drift = memory.drift_metrics(pred, probe)["drift"]
    # from where it is at the start (one bin after placement), each point slides to the
    # nearest stable angle k pi/2: a chord of the radius-2 circle
    start = int(probe["start"])
    np.testing.assert_allclose(np.linalg.norm(pred[:, start], axis=1), 2.0, atol=1e-3)
    theta = np.arctan2(pred[:, start, 1], pred[:, start, 0])
    gap = np.abs(theta - np.round(theta / (np.pi / 2)) * (np.pi / 2))
    assert drift == pytest.approx(np.mean(4.0 * np.sin(gap / 2)), abs=1e-2)
    assert drift > 0.3


# (d) maps -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mu,flow,map_", [
    ([-0.5, -0.1], "stable", "stable"),
    ([-2.5, -0.5], "stable", "unstable"),  # |1 + mu| = 1.5: the map overshoots
    ([-2.0, -0.5], "stable", "marginal"),  # |1 + mu| = 1: a flip
    ([0.5j, -0.5j], "marginal", "unstable"),  # |1 + 0.5i| > 1
    ([-1 + 0.5j, -1 - 0.5j], "stable", "stable"),  # |0.5i| < 1
    ([0.005, -0.3], "marginal", "marginal"),
    ([0.05, -0.3], "unstable", "unstable"),
    ([-0.005, -0.3], "marginal", "marginal"),
])
def test_classify_flows_by_real_part_and_maps_by_modulus(mu, flow, map_):
    mu = np.asarray(mu, complex)
    assert attractors.classify(mu, False, 0.01) == flow
    assert attractors.classify(mu, True, 0.01) == map_


def test_analyse_judges_a_map_by_its_multipliers():
    """h -> diag(-2.5, 0.5) h: the origin is a fixed point with multipliers -2.5 and 0.5, so
    the map is unstable there, although dF/dh = diag(-3.5, -0.5) has negative real parts."""
    rng = np.random.default_rng(0)
    probe = placing_probe(rng.uniform(-0.2, 0.2, (50, 2)).astype(np.float32), 1, 1.0)
    square = {"kind": "box", "low": [-1.0, -1.0], "high": [1.0, 1.0]}
    report, _ = attractors.analyse(TorchSystem(Map(np.diag([-2.5, 0.5])), 1.0), [probe],
                                   square, COVER, attractors.Settings(initial=64, steps=400))
    assert report["kind"] == "map"
    assert report["n_slow_points"] == 1
    (p,) = report["points"]
    np.testing.assert_allclose(p["state"], [0, 0], atol=1e-3)
    np.testing.assert_allclose([e[0] for e in p["eigenvalues"]], [-0.5, -3.5], atol=1e-5)
    assert p["stability"] == "unstable"
    assert report["stability"] == {"stable": 0, "marginal": 0, "unstable": 1}


# -- helpers ----------------------------------------------------------------------------------

def test_merge_points_keeps_the_first_of_each_cluster():
    pts = np.array([[0.0], [0.5], [1.2], [1.3], [5.0], [0.9]])
    np.testing.assert_array_equal(attractors.merge_points(pts, 1.0), [0, 2, 4])
    np.testing.assert_array_equal(attractors.merge_points(pts, 0.01), np.arange(6))
    assert len(attractors.merge_points(np.zeros((0, 2)), 1.0)) == 0


def test_max_points_limits_the_reported_points_not_the_count():
    report, _ = ring_analysis(False)
    small = attractors.Settings(initial=512, steps=400, max_points=5)
    model = ring_model(ring_velocity)
    probe = placing_probe(around_the_circle(), hold=3, dt=DT_RING)
    r5, arrays = attractors.analyse(TorchSystem(model, DT_RING), [probe], RING, COVER, small)
    assert len(r5["points"]) == 5 and len(arrays["points"]) == 5
    assert r5["n_slow_points"] == report["n_slow_points"] > 5
    assert sum(r5["stability"].values()) == 5
    assert "points" not in attractors.summary(r5)
    assert attractors.summary(r5)["coverage"] == r5["coverage"]


def test_no_slow_points_reports_none():
    """dh/dt = (1 + h1^2, 0): |F| >= dt everywhere, so no slow point, no local dimension,
    no coverage."""
    model = Placed(lambda h: torch.stack([1 + h[:, 0] ** 2, 0 * h[:, 1]], -1), np.eye(2))
    probe = placing_probe(np.array([[0.3, 0.4], [0.1, 0.2]], np.float32), 2, 0.1)
    report, arrays = attractors.analyse(TorchSystem(model, 0.1), [probe], RING, COVER,
                                        attractors.Settings(initial=8, steps=20))
    assert report["n_slow_points"] == report["n_slow_states"] == 0
    assert report["local_dim"] is None and report["coverage"] == 0.0
    assert report["points"] == [] and len(arrays["slow"]) == 0


# -- slow for the task: the slow set, the capped minimiser, the gate --------------------------

LATTICE_BOX = {"kind": "box", "low": [-1.0, -1.0], "high": [1.0, 1.0]}


def lattice_model(g):
    """A gnODE-like flow with its gate at g everywhere: dh = g (round(h) - h) per bin, a slow
    flow to the 9 points {-1, 0, 1}^2. It is slow for a task of tolerance eps over H bins
    where its speed g d (d: the distance to the nearest point) is below eps / H."""
    return Placed(lambda h: g * (torch.round(h) - h), np.eye(2), h0=(0.0, 0.0))


def lattice_analysis(g, criterion, grid=41):
    s = np.linspace(-1, 1, grid)
    pts = np.stack(np.meshgrid(s, s, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
    probe = placing_probe(pts, hold=0, dt=1.0)  # the written points themselves
    return attractors.analyse(TorchSystem(lattice_model(g), 1.0), [probe], LATTICE_BOX, COVER,
                              attractors.Settings(initial=256, steps=400), criterion)


@pytest.mark.parametrize("g", [1e-5, 3e-4, 1e-3])
def test_slow_set_is_where_the_readout_moves_less_than_eps_over_the_horizon(g):
    """Slow iff g d < eps / H: the discs of radius r = eps / (g H) around the 9 points, the
    whole square once r exceeds the largest d, sqrt(0.5)."""
    crit = attractors.Criterion(epsilon=0.1, horizon=1000)
    report, arrays = lattice_analysis(g, crit)
    r = crit.epsilon / (g * crit.horizon)
    d = np.linalg.norm(arrays["visited"] - np.round(arrays["visited"]), axis=1)
    assert report["n_slow_set"] == int(np.sum(d < r))  # classified, not minimised
    assert report["slow_set_fraction"] == pytest.approx(
        1.0 if r > np.sqrt(0.5) else np.pi * r**2, abs=0.03)
    np.testing.assert_array_equal(arrays["slow_set_readout"], arrays["slow_set"])


def test_slow_set_coverage_falls_smoothly_as_the_gate_opens():
    crit = attractors.Criterion(epsilon=0.1, horizon=1000)
    cover = [lattice_analysis(g, crit)[0]["slow_set_coverage"]
             for g in (1e-5, 1e-4, 3e-4, 1e-3, 1e-2)]
    assert cover[0] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(cover)) and cover[-1] < 0.2


def test_the_minimiser_may_not_carry_states_along_a_slow_manifold():
    """At g = 1e-3 the exact zeros are the 9 lattice points; the minimiser carries most
    starts far (up to sqrt(0.5)) to reach them. Those are counted as carried far, reported
    with the distance moved, and not counted as slow points."""
    crit = attractors.Criterion(epsilon=0.1, horizon=1000)
    report, arrays = lattice_analysis(1e-3, crit)
    assert report["moved"]["readout"]["max"] > 0.5
    assert report["carried_far"] > 0.5 * report["n_initial"]
    kept = arrays["slow"]
    # every slow point reported lies near the lattice: it started within eps of it
    assert np.all(np.linalg.norm(kept - np.round(kept), axis=1) < 2 * crit.epsilon)
    assert report["n_slow_points"] <= 9


def test_without_a_criterion_the_method_is_unchanged():
    report, arrays = lattice_analysis(1e-3, None)
    assert "slow_set_coverage" not in report and "slow_set" not in arrays


def test_gate_statistics_of_a_known_distribution():
    from bench.run.analyze import gate_statistics

    g = np.linspace(0, 1, 10001)[:, None] * np.ones((1, 2))  # uniform on [0, 1], 2 units
    s = gate_statistics(g)
    assert s["median"] == pytest.approx(0.5)
    assert s["fraction_closed"] == pytest.approx(0.05, abs=1e-3)
    assert s["quantiles"]["95"] == pytest.approx(0.95, abs=1e-3)
    assert sum(s["histogram"]) == s["n_values"] == 20002
    assert max(s["histogram"]) - min(s["histogram"]) <= 4  # flat, up to bin-edge ties
