"""Phase portraits (``bench.analysis.portraits``): every state dimension and readout size draws a
valid PNG, atomically, from a real analysis of a system with a known ring attractor."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis import attractors, portraits


class RingSystem:
    """dr/dt = r (1 - r^2) in the first two coordinates, -h in the others; readout 2 h[:C]."""

    discrete = False

    def __init__(self, dim: int, channels: int) -> None:
        self.dim, self.channels = dim, channels

    def field(self, h):
        r2 = np.sum(h[:, :2] ** 2, axis=1, keepdims=True)
        return 0.1 * np.concatenate([h[:, :2] * (1 - r2), -h[:, 2:]], axis=1)

    def observe(self, h):
        out = 2 * h[:, : self.channels]
        return out if out.shape[1] == self.channels else np.pad(out, ((0, 0), (0, 1)))

    def states(self, inputs, dt):
        angle = np.linspace(0, 2 * np.pi, inputs.shape[1], endpoint=False)
        ring = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        extra = np.zeros((len(angle), self.dim - 2))
        path = np.concatenate([ring, extra], axis=1)
        return np.repeat(path[None], inputs.shape[0], axis=0) * (
            1 + 0.05 * np.arange(inputs.shape[0])[:, None, None])

    def minimise(self, h0, steps, lr):
        r = np.linalg.norm(h0[:, :2], axis=1, keepdims=True)
        out = np.concatenate([h0[:, :2] / r, np.zeros_like(h0[:, 2:])], axis=1)
        return out, 0.5 * np.sum(self.field(out) ** 2, axis=1)

    def jacobians(self, h):
        eps, out = 1e-5, []
        for x in h:
            cols = [(self.field((x + eps * e)[None]) - self.field((x - eps * e)[None]))[0]
                    / (2 * eps) for e in np.eye(self.dim)]
            out.append(np.stack(cols, axis=1))
        return np.stack(out)


@pytest.mark.parametrize("dim,channels", [(2, 2), (3, 2), (5, 2), (3, 3), (6, 3)])
def test_draw_writes_a_png_for_every_dimension(tmp_path, dim, channels):
    system = RingSystem(dim, channels)
    probe = {"inputs": np.zeros((3, 40, channels)), "dt": np.full((3, 40), 0.01)}
    spec = ({"kind": "circle", "radius": 2.0} if channels == 2
            else {"kind": "box", "low": [-2, -2, -2], "high": [2, 2, 2]})
    report, arrays = attractors.analyse(system, [probe], spec,
                                        {"grid_step": 0.25, "epsilon": 0.3},
                                        attractors.Settings(initial=40, steps=1))
    assert report["n_slow_points"] > 5  # the ring, sampled
    traj = system.states(probe["inputs"], probe["dt"])
    path = portraits.draw(system, arrays, report, spec, traj, "ring", tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temporary file left


def test_principal_axes_order_the_variance():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(500, 5)) * np.array([5.0, 0.1, 2.0, 0.01, 1.0])
    _, axes, var = portraits._project(states)
    assert np.argmax(np.abs(axes[:, 0])) == 0 and np.argmax(np.abs(axes[:, 1])) == 2
    assert var[0] > var[1] > var[2] and 0.8 < var.sum() <= 1.0
