"""Attractor analysis of a trained model: slow points, their Jacobians, and coverage.

Works on any model that offers the analysis interface (submissions/README.md), in either framework,
through a *system* (``bench.analysis.system_torch.TorchSystem``,
``bench.analysis.system_jax.JaxSystem``) with ``states``, ``field``, ``observe``, ``minimise`` and
``jacobians``.

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
  some slow state (``bench.spec.memory_sets.coverage``).

Slow for the task (``Criterion``, which the harness always gives): a state is slow when its
readout, moving at its current speed, would move less than the task's tolerance epsilon over
the hold probe's longest horizon H, i.e. |observe(h + F(h)) - observe(h)| < epsilon / H per
interval. Then:

- the *slow set* is every visited state that is slow, found without minimising: it shows slow
  manifolds as they are, and ``slow_set_coverage`` is its coverage;
- the minimiser may not carry a state far: a found point counts as a slow point only if its
  readout moved at most epsilon from where it started. Every start's distance moved (state and
  readout) is summarised, and the points carried farther are counted (``carried_far``).

Without a criterion (direct use, tests of the method) a slow point is one with q below
``Settings.speed_tol``, and there is no slow set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.spec import memory_sets

VERSION = 2  # of the method; stored with every analysis
CHUNK = 128  # probe sequences run at once


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


@dataclass(frozen=True)
class Criterion:
    """Slow for the task: the readout moves less than ``epsilon`` in ``horizon`` intervals."""

    epsilon: float  # output units (the task's memory.hold.epsilon)
    horizon: int  # intervals (the hold probe's longest horizon)

    @property
    def speed(self) -> float:
        return self.epsilon / self.horizon


def visited_states(system: Any, probes: list[dict[str, Any]]) -> np.ndarray:
    """Every state the model visits on the probe inputs (at the bins ``keep`` lists, where a
    probe gives them), flattened to (M, D). A probe may bring its ``states`` (B, T, D) already."""
    runs = []
    for p in probes:
        if "states" in p:
            runs.append(p["states"])
            continue
        for i in range(0, len(p["inputs"]), CHUNK):  # long probes: bounded memory
            states = system.states(p["inputs"][i : i + CHUNK], p["dt"][i : i + CHUNK])
            runs.append(states if "keep" not in p else states[:, p["keep"]])
    return np.concatenate([r.reshape(-1, r.shape[-1]) for r in runs])


def readout_speed(system: Any, h: np.ndarray) -> np.ndarray:
    """How far the readout moves in one interval at zero input, from each row of ``h``:
    |observe(h + F(h)) - observe(h)|, F the field (one Euler interval of a flow; exact for
    a map)."""
    if len(h) == 0:
        return np.zeros(0)
    return np.linalg.norm(system.observe(h + system.field(h)) - system.observe(h), axis=-1)


def _quantiles(values: np.ndarray) -> dict[str, float] | None:
    if len(values) == 0:
        return None
    q = np.quantile(values, [0.5, 0.9, 1.0])
    return {"median": float(q[0]), "p90": float(q[1]), "max": float(q[2])}


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


def analyse(system: Any, probes: list[dict[str, Any]], memory_set: dict,
            coverage: dict[str, float], settings: Settings = Settings(),
            criterion: Criterion | None = None,
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Find slow points and summarise them.

    Returns the report (JSON-friendly) and arrays for pictures: ``visited`` states, ``slow``
    states and their ``readout``, the ``points`` reported (merged, at most max_points), and,
    with a ``criterion``, the ``slow_set`` and its ``slow_set_readout``.

    ``probes``: input sets ({inputs, dt}, optionally ``keep``: the bins to take) whose
    visited states seed the search.
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
    moved_state = np.where(finite, np.linalg.norm(np.where(finite[:, None], found, 0) - start,
                                                  axis=1), np.inf)
    extra: dict[str, Any] = {}
    arrays_extra: dict[str, np.ndarray] = {}
    if criterion is None:
        slow_mask = finite & (q < settings.speed_tol)
    else:
        safe = np.where(finite[:, None], found, start)
        moved_readout = np.where(finite, np.linalg.norm(
            system.observe(safe) - system.observe(start), axis=-1), np.inf)
        near = moved_readout <= criterion.epsilon
        slow_mask = finite & near & (readout_speed(system, safe) < criterion.speed)
        speeds = readout_speed(system, visited)
        slow_set = visited[speeds < criterion.speed]
        slow_readout = system.observe(slow_set) if len(slow_set) else np.zeros((0, 0))
        extra = {
            "criterion": {"epsilon": criterion.epsilon, "horizon": criterion.horizon,
                          "readout_speed": criterion.speed},
            "n_visited": len(visited),
            "n_slow_set": len(slow_set),
            "slow_set_fraction": float(len(slow_set) / len(visited)) if len(visited) else 0.0,
            "slow_set_coverage": memory_sets.coverage(memory_set, slow_readout,
                                                      coverage["grid_step"],
                                                      coverage["epsilon"]),
            "moved": {"state": _quantiles(moved_state[finite]),
                      "readout": _quantiles(moved_readout[finite])},
            "carried_far": int(np.sum(finite & ~near)),
        }
        arrays_extra = {"slow_set": slow_set, "slow_set_readout": slow_readout}
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
        **extra,
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
              "stability": np.asarray(stability), **arrays_extra}
    return report, arrays


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers the result file and leaderboard carry (the points stay in their own file)."""
    return {k: v for k, v in report.items() if k != "points"}
