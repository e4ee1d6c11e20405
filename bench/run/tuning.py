"""External tuning, as in AlgoPerf's "external tuning" ruleset: a declared grid is searched on
tuning seeds, and the setting with the lowest validation loss is trained on the evaluation seeds.

A task declares its grids (``tuning: {<grid>: {lr: [...], weight_decay: [...], batch_size:
[...]}}``); the flip-flop family's ``paper`` grid is the authors' 27 settings. For one study
(model, framework, task):

1. every setting runs on every tuning seed as a *tuning* cell, which keeps only what selection
   needs (its loss curves; no probes, parameters or portraits), under ``.../tuning/``;
2. a setting's score is the mean over tuning seeds of its best validation loss (the loss of
   the parameters the protocol keeps); a setting that diverged or failed on any seed scores
   infinity; ties go to the first setting in grid order;
3. the selected setting trains on the evaluation seeds as *tuned* cells (``gnode+tuned=paper``),
   each recording the grid, every setting's losses and the selection. Tuned entries are ranked
   apart from default ones.

Every cell is a result file, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import results
from bench.errors import UserError
from bench.run import harness
from bench.spec.cells import Cell
from bench.spec.registry import ModelSpec
from bench.spec.task_schema import TUNABLE
from bench.spec.tasks import Task

ORDER = tuple(TUNABLE)  # lr, weight_decay, batch_size: the grid's axes, in this order


@dataclass(frozen=True)
class Study:
    model: ModelSpec
    framework: str
    task: Task
    sweep: tuple[tuple[str, Any], ...] = ()  # a declared config sweep value (e.g. N=6)

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.sweep)
        return f"{self.task.name} {self.model.name}/{self.framework}" + (
            f" [{extra}]" if extra else "")


def settings(task: Task, grid: str) -> list[dict[str, Any]]:
    """Every setting of the task's grid ``grid``, in grid order."""
    grids = task.extra.get("tuning") or {}
    if grid not in grids:
        have = ", ".join(grids) or "none"
        raise UserError(f"task {task.name} declares no tuning grid {grid!r} (it has: {have}); "
                        "add it under tuning: in the task file")
    axes = [k for k in ORDER if k in grids[grid]]
    return [dict(zip(axes, values)) for values in itertools.product(*(grids[grid][k]
                                                                       for k in axes))]


def tuning_cells(study: Study, grid: str, seeds: list[int]) -> list[Cell]:
    return [Cell(study.model, study.framework, study.task, seed, dict(study.sweep),
                         role="tuning", training=setting)
            for setting in settings(study.task, grid) for seed in seeds]


def best_val_loss(doc: dict[str, Any]) -> float:
    """The validation loss of the parameters a cell kept (inf if it did not finish)."""
    losses = (doc.get("curve") or {}).get("val_loss") or []
    finite = [v for v in losses if v is not None and np.isfinite(v)]
    return float(min(finite)) if doc.get("status") == "ok" and finite else float("inf")


def select(study: Study, grid: str, seeds: list[int], profile: str, device: str,
           results_dir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The study's record: every setting's losses and the selected setting.

    Raises a :class:`UserError` naming what is missing when a tuning cell has no result yet.
    """
    rows, missing = [], []
    for setting in settings(study.task, grid):
        losses, statuses = [], []
        for seed in seeds:
            cell = Cell(study.model, study.framework, study.task, seed,
                                dict(study.sweep), role="tuning", training=setting)
            _, path, name = harness.locate(cell, profile, device, results_dir, overrides)
            if not path.is_file():
                missing.append(name)
                continue
            doc = results.read(path)
            losses.append(best_val_loss(doc))
            statuses.append(doc["status"])
        mean = float(np.mean(losses)) if losses and np.all(np.isfinite(losses)) else None
        rows.append({**setting, "val_loss": [v if np.isfinite(v) else None for v in losses],
                     "status": statuses, "mean_val_loss": mean})
    if missing:
        raise UserError(f"{study.label}: {len(missing)} tuning cell(s) have no result yet "
                        f"(first: {missing[0]}); rerun the tune command")
    scored = [r for r in rows if r["mean_val_loss"] is not None]
    if not scored:
        raise UserError(f"{study.label}: every setting of grid {grid} diverged or failed")
    best = min(scored, key=lambda r: r["mean_val_loss"])  # min keeps the first of equals
    return {"grid": grid, "ruleset": "external tuning", "tuning_seeds": seeds,
            "selected_by": "mean over tuning seeds of the best validation loss",
            "selected": {k: best[k] for k in ORDER if k in best}, "settings": rows}


def tuned_cells(study: Study, record: dict[str, Any], seeds: list[int]) -> list[Cell]:
    return [Cell(study.model, study.framework, study.task, seed, dict(study.sweep),
                         role="tuned", training=dict(record["selected"]), tuning=record)
            for seed in seeds]
