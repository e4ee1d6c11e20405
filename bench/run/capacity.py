"""Capacity search on capacity tasks (``expressivity-*``): the largest K a model can learn.

One *search* is one model configuration (model, framework, task, N, depth L, seed). It trains
on K = sizes[0], sizes[1], ... targets, each K a cell with its own result file, and stops at
the first K whose score is below the task's threshold (or that diverged or failed). The
capacity K* is the last K that passed, 0 when the first K fails. Every K tried is a result
file, so an interrupted search resumes at the first missing K, and K* can be recomputed from
the result files alone (:func:`bench.results.capacity_scores.capacities`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.results.capacity_scores import passes
from bench.run import executors, harness, model_process, scheduler
from bench.run.scheduler import RunReport, Settings
from bench.spec.cells import Cell, variant
from bench.spec.registry import ModelSpec
from bench.spec.tasks import Task


def grid(model: ModelSpec, task: Task, profile: str, N: list[int] | None = None,
         L: list[int] | None = None) -> list[dict[str, Any]]:
    """The config settings a model is swept over on a capacity task.

    ``N`` sets the phase-space dimension. ``L`` sets the depth of F, as ``widths`` =
    L copies of the grid's width, for models whose config has ``widths`` (gnODE, nODE);
    other models have no depth to vary and are swept over N only. Defaults: the task's grid
    for the profile.
    """
    spec = task.profile(profile)["grid"]
    config, _ = model.resolve(task.name, profile)
    if "N" not in config:
        raise UserError(f"model {model.name} has no config key N, so it cannot be swept over N "
                        f"on {task.name}; see submissions/README.md")
    Ns, Ls = N or spec["N"], L or spec["L"]
    if "widths" not in config:
        return [{"N": n} for n in Ns]
    return [{"N": n, "widths": [spec["width"]] * depth} for n in Ns for depth in Ls]


@dataclass
class Search:
    model: ModelSpec
    framework: str
    task: Task
    seed: int
    setting: dict[str, Any]  # config values of this configuration (N, widths)

    def name(self) -> str:
        what = variant({"config": self.setting})
        label = self.model.name + (f"[{what}]" if what else "")
        return f"{self.task.key} {label}/{self.framework} seed {self.seed}"


def run(searches: list[Search], profile: str, device: str, results_dir: Path,
        force: bool = False, overrides: dict[str, Any] | None = None,
        echo: Callable[[str], None] = print, isolate: bool = True,
        limits: model_process.Limits | None = None, executor=None) -> RunReport:
    """Run every search; each K is a harness cell, skipped when its result is current. An
    ``executor`` (``bench.run.executors``) runs whole searches elsewhere or several at once."""
    from bench.results import ledger

    ledger.entries(results_dir)  # a bad ledger line stops the run now, not after a cell trained
    executor = executor or executors.Local(1)
    settings = Settings(profile, device, Path(results_dir), force, dict(overrides or {}),
                        isolate, limits, executor.threads_per_cell())

    def lost(s: Search, why: str) -> RunReport:  # K at which the worker died: unknown
        report = RunReport()
        report.problems.append(f"{s.name()}: the worker running the search was lost: {why}; "
                               "rerun to resume it")
        return report

    return scheduler.schedule(executor,
                              functools.partial(run_search, settings=settings), searches,
                              gpu=device == "cuda", echo=echo, lost=lost)


def run_search(s: Search, settings: Settings, echo: Callable[[str], None] | None = None
               ) -> tuple[RunReport, list[str]]:
    """One search, K after K until one fails: its outcome, and the lines it echoes (kept and
    returned when ``echo`` is None, as on a remote worker)."""
    report, lines = RunReport(), list[str]()
    say = lines.append if echo is None else echo
    cap = s.task.capacity
    assert cap is not None, f"{s.task.name} is not a capacity task"
    passed = 0
    for K in cap["sizes"]:
        cell = Cell(s.model, s.framework, s.task, s.seed, s.setting, size=K)
        doc = harness.process(cell, settings, report, say)
        if not passes(doc, cap):
            break
        passed = K
    say(f" {s.name()}: K* = {passed}")
    return report, lines
