"""Ideal memory sets (``bench.spec.memory_sets``): sampling statistics, grids, coverage, outlines.

Expectations are geometric facts about the sets (areas, lattice points, distances), not the
formulas the module uses.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.spec import memory_sets as ms

CORNERS3 = {"kind": "corners", "low": [-1, -1, -1], "high": [1, 1, 1]}
SQUARE = {"kind": "box", "low": [-1, -1], "high": [1, 1]}
RECT = {"kind": "box", "low": [-2, -0.5], "high": [2, 0.5]}
CUBE = {"kind": "box", "low": [-1, -1, -1], "high": [1, 1, 1]}
CIRCLE = {"kind": "circle", "radius": 2.0}
ANNULUS = {"kind": "annulus", "inner": 1.0, "outer": 2.0}
CHI2_7DOF = 35.26  # chi-squared, 7 degrees of freedom: exceeded with probability 1e-5
ALL = {"corners": CORNERS3, "square": SQUARE, "rect": RECT, "cube": CUBE, "circle": CIRCLE,
       "annulus": ANNULUS}


def inside(spec: dict, pts: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Membership in the set, from its definition."""
    kind = spec["kind"]
    if kind == "corners":
        low, high = np.asarray(spec["low"], float), np.asarray(spec["high"], float)
        return np.all(np.isclose(pts, low, atol=tol) | np.isclose(pts, high, atol=tol), axis=1)
    if kind == "box":
        return np.all((pts >= np.asarray(spec["low"]) - tol)
                      & (pts <= np.asarray(spec["high"]) + tol), axis=1)
    r = np.linalg.norm(pts, axis=1)
    if kind == "circle":
        return np.abs(r - spec["radius"]) < tol
    return (r >= spec["inner"] - tol) & (r <= spec["outer"] + tol)


def channels(spec: dict) -> int:
    return len(spec["low"]) if "low" in spec else 2


# -- validate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL))
def test_validate_accepts_the_sets_for_their_channel_count(name):
    spec = ALL[name]
    assert ms.validate(spec, channels(spec)) is None


@pytest.mark.parametrize("spec,ch,words", [
    (None, 2, "kind"),
    ({"kind": "sphere"}, 2, "kind"),
    ({"low": [0], "high": [1]}, 1, "kind"),
    ({"kind": "box", "low": [-1, -1], "high": [1, 1]}, 3, "3"),  # too few channels
    ({"kind": "box", "low": [-1, 1], "high": [1, 1]}, 2, "low < high"),  # empty side
    ({"kind": "corners", "low": [1, 1], "high": [-1, -1]}, 2, "low < high"),
    ({"kind": "box", "low": (-1, -1), "high": (1, 1)}, 2, "lists"),  # not lists
    ({"kind": "box", "high": [1, 1]}, 2, "low"),
    ({"kind": "circle", "radius": 2.0}, 3, "planar"),
    ({"kind": "annulus", "inner": 1.0, "outer": 2.0}, 1, "planar"),
    ({"kind": "circle", "radius": 0}, 2, "radius"),
    ({"kind": "circle"}, 2, "radius"),
    ({"kind": "annulus", "inner": 2.0, "outer": 1.0}, 2, "inner < outer"),
    ({"kind": "annulus", "inner": -0.5, "outer": 1.0}, 2, "0 <= inner"),
    ({"kind": "annulus", "inner": 1.0}, 2, "inner < outer"),
])
def test_validate_names_what_is_wrong(spec, ch, words):
    msg = ms.validate(spec, ch)
    assert isinstance(msg, str) and words in msg


# -- sample -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL))
def test_samples_lie_in_the_set_and_are_seeded(name):
    spec = ALL[name]
    pts = ms.sample(spec, 500, seed=3)
    assert pts.shape == (500, channels(spec))
    assert inside(spec, pts).all()
    np.testing.assert_array_equal(pts, ms.sample(spec, 500, seed=3))
    assert not np.array_equal(pts, ms.sample(spec, 500, seed=4))


def test_annulus_samples_are_uniform_in_area():
    """P(r < r_mid) is the area ratio (r_mid^2 - inner^2) / (outer^2 - inner^2), not the
    length ratio a uniform radius would give; angles are uniform."""
    n = 40_000
    pts = ms.sample(ANNULUS, n, seed=0)
    r = np.linalg.norm(pts, axis=1)
    for r_mid in (1.25, 1.5, 1.75):
        p = (r_mid**2 - 1.0) / (4.0 - 1.0)
        se = np.sqrt(p * (1 - p) / n)
        assert abs(np.mean(r < r_mid) - p) < 5 * se
    # a uniform radius would put half below 1.5; the area ratio is 1.25 / 3
    assert abs(np.mean(r < 1.5) - 0.5) > 20 * np.sqrt(0.25 / n)
    angle = np.arctan2(pts[:, 1], pts[:, 0])
    counts, _ = np.histogram(angle, bins=8, range=(-np.pi, np.pi))
    expected = n / 8
    assert np.sum((counts - expected) ** 2 / expected) < CHI2_7DOF


def test_circle_samples_have_uniform_angle():
    n = 20_000
    pts = ms.sample(CIRCLE, n, seed=1)
    angle = np.arctan2(pts[:, 1], pts[:, 0])
    counts, _ = np.histogram(angle, bins=8, range=(-np.pi, np.pi))
    assert np.sum((counts - n / 8) ** 2 / (n / 8)) < CHI2_7DOF
    # the mean of a uniform angle's unit vector is zero
    assert np.linalg.norm(pts.mean(axis=0)) < 5 * 2.0 / np.sqrt(n)


def test_box_samples_are_uniform_per_axis():
    n = 20_000
    pts = ms.sample(RECT, n, seed=2)
    for axis, (a, b) in enumerate(zip(RECT["low"], RECT["high"])):
        v = pts[:, axis]
        assert abs(v.mean() - (a + b) / 2) < 5 * (b - a) / np.sqrt(12 * n)
        assert v.var() == pytest.approx((b - a) ** 2 / 12, rel=0.05)
        # P(v < a + (b - a) / 4) = 1/4
        assert abs(np.mean(v < a + (b - a) / 4) - 0.25) < 5 * np.sqrt(0.1875 / n)
    assert abs(np.corrcoef(pts.T)[0, 1]) < 0.05  # independent axes


def test_corner_samples_hit_every_corner_about_equally():
    n = 16_000
    pts = ms.sample(CORNERS3, n, seed=5)
    corners, counts = np.unique(pts, axis=0, return_counts=True)
    assert len(corners) == 8
    assert np.sum((counts - n / 8) ** 2 / (n / 8)) < CHI2_7DOF


# -- grid -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL))
def test_grid_points_lie_in_the_set(name):
    spec = ALL[name]
    g = ms.grid(spec, 0.1)
    assert g.ndim == 2 and g.shape[1] == channels(spec) and len(g) > 0
    assert inside(spec, g, tol=1e-9).all()
    assert len(np.unique(np.round(g, 9), axis=0)) == len(g)  # no duplicates


def test_corner_grid_is_the_corners():
    g = ms.grid(CORNERS3, 0.1)
    assert {tuple(p) for p in g} == set(itertools.product([-1.0, 1.0], repeat=3))


@pytest.mark.parametrize("spec,step,sizes", [
    (SQUARE, 0.1, (21, 21)),
    (RECT, 0.25, (17, 5)),
    (CUBE, 0.25, (9, 9, 9)),
    ({"kind": "box", "low": [0.0], "high": [1.0]}, 0.1, (11,)),
])
def test_box_grid_is_a_regular_lattice_including_the_faces(spec, step, sizes):
    g = ms.grid(spec, step)
    assert len(g) == np.prod(sizes)
    for axis, (a, b, n) in enumerate(zip(spec["low"], spec["high"], sizes)):
        values = np.unique(np.round(g[:, axis], 9))
        np.testing.assert_allclose(values, np.linspace(a, b, n), atol=1e-9)
        assert np.diff(values) == pytest.approx(step, rel=1e-6)


def test_box_grid_spacing_is_close_to_the_step_when_it_does_not_divide():
    spec = {"kind": "box", "low": [0.0, 0.0], "high": [1.0, 0.05]}
    g = ms.grid(spec, 0.3)
    xs = np.unique(g[:, 0])
    assert xs[0] == 0.0 and xs[-1] == 1.0
    assert np.all(np.abs(np.diff(xs) - 0.3) < 0.3 / 2)
    assert len(np.unique(g[:, 1])) == 2  # at least both faces, even when narrower than a step


@pytest.mark.parametrize("radius,step", [(2.0, 0.1), (1.0, 0.05), (0.1, 0.1)])
def test_circle_grid_is_evenly_spaced_on_the_circle(radius, step):
    g = ms.grid({"kind": "circle", "radius": radius}, step)
    angle = np.sort(np.mod(np.arctan2(g[:, 1], g[:, 0]), 2 * np.pi))
    gaps = np.diff(np.concatenate([angle, [angle[0] + 2 * np.pi]]))
    np.testing.assert_allclose(gaps, 2 * np.pi / len(g), atol=1e-9)
    arc = radius * gaps[0]
    if 2 * np.pi * radius / step >= 8:
        assert abs(arc - step) < 0.05 * step  # spacing about the step along the circle
    else:
        assert len(g) == 8  # a tiny circle keeps at least 8 points


def test_annulus_grid_is_a_square_lattice_with_the_step():
    g = ms.grid(ANNULUS, 0.25)
    k = g / 0.25
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)  # lattice points k * step
    r = np.linalg.norm(g, axis=1)
    assert r.min() >= 1.0 - 1e-9 and r.max() <= 2.0 + 1e-9
    # every lattice point of the closed annulus is there (here all 152 of them)
    n = 8
    expected = {(i, j) for i in range(-n, n + 1) for j in range(-n, n + 1)
                if 1.0 - 1e-9 <= 0.25 * np.hypot(i, j) <= 2.0 + 1e-9}
    assert {tuple(p) for p in np.round(k).astype(int)} == expected


def test_annulus_grid_keeps_every_boundary_lattice_point_at_the_task_step():
    step = 0.1
    g = ms.grid(ANNULUS, step)
    k = {tuple(p) for p in np.round(g / step).astype(int)}
    expected = {(i, j) for i in range(-20, 21) for j in range(-20, 21)
                if 10 <= np.hypot(i, j) <= 20}
    assert k == expected
    assert k == {(-i, -j) for i, j in k}


# -- coverage ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL))
def test_grid_covers_itself_fully(name):
    spec = ALL[name]
    g = ms.grid(spec, 0.2)
    assert ms.coverage(spec, g, 0.2, 1e-6) == 1.0


@pytest.mark.parametrize("name", sorted(ALL))
def test_no_points_and_far_points_cover_nothing(name):
    spec = ALL[name]
    c = channels(spec)
    assert ms.coverage(spec, np.zeros((0, c)), 0.2, 0.5) == 0.0
    assert ms.coverage(spec, np.full((3, c), 100.0), 0.2, 0.5) == 0.0


def test_coverage_is_the_fraction_of_grid_points_within_epsilon():
    seg = {"kind": "box", "low": [0.0], "high": [1.0]}  # grid 0, 0.1, ..., 1.0 (11 points)
    assert ms.coverage(seg, np.array([[0.5]]), 0.1, 0.05) == pytest.approx(1 / 11)
    assert ms.coverage(seg, np.array([[0.5]]), 0.1, 0.25) == pytest.approx(5 / 11)
    assert ms.coverage(seg, np.array([[0.0], [1.0]]), 0.1, 0.15) == pytest.approx(4 / 11)
    assert ms.coverage(seg, np.array([[-0.3]]), 0.1, 0.25) == 0.0
    assert ms.coverage(seg, np.array([[-0.3]]), 0.1, 0.35) == pytest.approx(1 / 11)


def test_coverage_of_half_a_circle_is_a_half():
    theta = np.linspace(0, np.pi, 2000)
    half = 2.0 * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    cov = ms.coverage(CIRCLE, half, 0.1, 0.01)
    m = len(ms.grid(CIRCLE, 0.1))
    assert abs(cov - 0.5) <= 2 / m


def test_coverage_with_many_points_counts_each_grid_point_once():
    """More than one 512-point chunk of points: the result must not depend on chunking."""
    pts = ms.sample(SQUARE, 3000, seed=0)
    fast = ms.coverage(SQUARE, pts, 0.1, 0.03)
    g = ms.grid(SQUARE, 0.1)
    d = np.linalg.norm(g[:, None] - pts[None], axis=-1).min(axis=1)
    assert fast == pytest.approx(np.mean(d <= 0.03))
    assert 0.2 < fast < 1.0


def test_corner_coverage_counts_corners():
    assert ms.coverage(CORNERS3, np.array([[1.0, 1.0, 1.0], [-1.0, 1.0, -0.9]]), 0.1,
                       0.2) == pytest.approx(2 / 8)


# -- outline ----------------------------------------------------------------------------------

def test_outline_of_corners_is_the_corner_points():
    pts = ms.outline(CORNERS3)
    assert {tuple(p) for p in pts} == set(itertools.product([-1.0, 1.0], repeat=3))


def test_outline_of_circle_and_annulus_are_closed_circles():
    (c,) = ms.outline(CIRCLE)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0)
    np.testing.assert_allclose(c[0], c[-1], atol=1e-12)
    inner, outer = ms.outline(ANNULUS)
    np.testing.assert_allclose(np.linalg.norm(inner, axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 2.0)
    np.testing.assert_allclose(outer[0], outer[-1], atol=1e-12)


def test_outline_of_a_rectangle_is_its_closed_boundary():
    (poly,) = ms.outline(RECT)
    assert poly.shape == (5, 2)
    np.testing.assert_array_equal(poly[0], poly[-1])
    assert {tuple(p) for p in poly} == {(-2, -0.5), (2, -0.5), (2, 0.5), (-2, 0.5)}
    sides = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    assert sorted(sides) == [1.0, 1.0, 4.0, 4.0]  # walks the boundary, no diagonal
    # shoelace: the enclosed area is the rectangle's
    x, y = poly[:-1, 0], poly[:-1, 1]
    assert abs(0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)) == pytest.approx(4.0)


def test_outline_of_a_cube_is_its_twelve_edges():
    edges = ms.outline(CUBE)
    assert len(edges) == 12
    keys = set()
    for e in edges:
        assert e.shape == (2, 3)
        assert np.linalg.norm(e[1] - e[0]) == pytest.approx(2.0)  # an edge, not a diagonal
        assert inside(CORNERS3, e).all()
        keys.add(frozenset(map(tuple, e)))
    assert len(keys) == 12
