"""Attractor analysis of a trained model: slow points, their Jacobians, and coverage.

Works on any model that offers the analysis interface (submissions/README.md), in either
framework, through a *system* (``bench.system_torch.TorchSystem``, ``bench.system_jax.JaxSystem``)
with ``states``, ``field``, ``observe``, ``minimise`` and ``jacobians``.

Method (Sussillo & Barak 2013): take states visited on test trials and on the drift probes,
minimise q(h) = |F(h)|^2 / 2 from them, where F is the zero-input velocity per sampling
interval (dt * dh/dt for a flow, f(h) - h for a map), and keep the states with q below a
threshold. Units are per sampling interval, so flows and maps are judged alike.

- *slow points*: the kept states, merged when closer than ``merge`` x the spread of the
  visited states; their number is the slow-point count;
- *eigenvalues* of dF/dh at each slow point; one with |mu| < ``eig_tol`` is near zero (a
  direction that relaxes slower than 1/eig_tol intervals, 100 bins = a whole trial by default);
  their median count over slow points estimates the attractor's local dimension;
- *stability*: a flow is stable where every Re(mu) < -eig_tol, a map where every
  |1 + mu| < 1 - eig_tol; unstable where one exceeds +eig_tol (resp. 1 + eig_tol), else marginal;
- *coverage*: the fraction of a grid over the ideal memory set within epsilon of the readout of
  some slow state (``bench.memory_sets.coverage``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench import memory_sets

VERSION = 1  # of the method; stored with every analysis


@dataclass(frozen=True)
class Settings:
    initial: int = 512  # starting states for the search
    steps: int = 1500  # Adam steps
    lr: float = 1e-2  # initial Adam step (decayed 100-fold)
    noise: float = 0.01  # starting states are jittered by this x the visited spread
    speed_tol: float = 1e-7  # q threshold: |F| < 4.5e-4 per interval
    eig_tol: float = 0.01
    merge: float = 0.025
    max_points: int = 200  # slow points whose Jacobians are computed and stored
    seed: int = 0


def visited_states(system: Any, probes: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Every state the model visits on the probe inputs, flattened to (M, D)."""
    runs = [system.states(p["inputs"], p["dt"]) for p in probes]
    return np.concatenate([r.reshape(-1, r.shape[-1]) for r in runs])


def merge_points(points: np.ndarray, tol: float) -> np.ndarray:
    """Greedy de-duplication: indices of rows no closer than ``tol`` to an earlier kept row."""
    kept: list[int] = []
    for i, p in enumerate(points):
        if not kept or np.min(np.linalg.norm(points[kept] - p, axis=1)) >= tol:
            kept.append(i)
    return np.asarray(kept, int)


def classify(eigenvalues: np.ndarray, discrete: bool, tol: float) -> str:
    """stable, marginal or unstable, from the eigenvalues mu of dF/dh at a slow point."""
    lead = np.max(np.abs(1 + eigenvalues)) - 1 if discrete else np.max(eigenvalues.real)
    return "stable" if lead < -tol else "unstable" if lead > tol else "marginal"


def analyse(system: Any, probes: list[dict[str, np.ndarray]], memory_set: dict,
            coverage: dict[str, float], settings: Settings = Settings()
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Find slow points and summarise them.

    Returns the report (JSON-friendly) and arrays for pictures: ``visited`` states, ``slow``
    states and their ``readout``, and the ``points`` reported (merged, at most max_points).

    ``probes``: input sets ({inputs, dt}) whose visited states seed the search.
    ``coverage``: the task's ``grid_step`` and ``epsilon``.
    """
    rng = np.random.default_rng(settings.seed)
    visited = visited_states(system, probes)
    spread = float(np.sqrt(np.sum(visited.var(axis=0)))) or 1.0
    pick = rng.choice(len(visited), size=min(settings.initial, len(visited)), replace=False)
    start = visited[pick] + settings.noise * spread / np.sqrt(visited.shape[1]) \
        * rng.standard_normal((len(pick), visited.shape[1]))
    found, q = system.minimise(start, settings.steps, settings.lr)
    finite = np.all(np.isfinite(found), axis=1) & np.isfinite(q)
    slow_mask = finite & (q < settings.speed_tol)
    slow = found[slow_mask]
    order = np.argsort(q[slow_mask], kind="stable")  # the slowest first, kept when merging
    slow = slow[order]
    keep = merge_points(slow, settings.merge * spread) if len(slow) else np.zeros(0, int)
    distinct = slow[keep]
    shown = distinct[: settings.max_points]
    eigs = np.linalg.eigvals(system.jacobians(shown)) if len(shown) else np.zeros((0, 0))
    near_zero = (np.abs(eigs) < settings.eig_tol).sum(axis=1) if len(shown) else np.zeros(0)
    stability = [classify(e, system.discrete, settings.eig_tol) for e in eigs]
    readout_slow = system.observe(slow) if len(slow) else np.zeros((0, 0))
    readout_shown = readout_slow[keep][: settings.max_points]
    speed = np.sqrt(2 * np.maximum(q[slow_mask][order], 0))[keep]
    report = {
        "status": "ok",
        "version": VERSION,
        "settings": asdict(settings),
        "kind": "map" if system.discrete else "flow",
        "state_dim": int(visited.shape[1]),
        "visited_spread": spread,
        "n_initial": len(start),
        "n_slow_states": len(slow),
        "n_slow_points": len(distinct),
        "stability": {s: stability.count(s) for s in ("stable", "marginal", "unstable")},
        "local_dim": float(np.median(near_zero)) if len(shown) else None,
        "coverage": memory_sets.coverage(memory_set, readout_slow, coverage["grid_step"],
                                         coverage["epsilon"]),
        "coverage_grid_step": coverage["grid_step"],
        "coverage_epsilon": coverage["epsilon"],
        "points": [
            {"state": h.round(5).tolist(), "readout": y.round(5).tolist(),
             "speed": float(s), "stability": st, "near_zero": int(nz),
             "eigenvalues": [[round(float(v.real), 6), round(float(v.imag), 6)]
                             for v in sorted(e, key=lambda v: -v.real)]}
            for h, y, s, st, nz, e in zip(shown, readout_shown, speed, stability,
                                          near_zero, eigs)
        ],
    }
    arrays = {"visited": visited, "slow": slow, "readout": readout_slow, "points": shown,
              "stability": np.asarray(stability)}
    return report, arrays


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers the result file and leaderboard carry (the points stay in their own file)."""
    return {k: v for k, v in report.items() if k != "points"}
