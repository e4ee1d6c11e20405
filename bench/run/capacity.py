"""Capacity search on capacity tasks (``expressivity-*``): the largest K a model can learn.

One *search* is one model configuration (model, framework, task, N, depth L, seed). It trains
on K = sizes[0], sizes[1], ... targets, each K a cell with its own result file, and stops at
the first K whose score is below the task's threshold (or that diverged or failed). The
capacity K* is the last K that passed, 0 when the first K fails. Every K tried is a result
file, so an interrupted search resumes at the first missing K, and K* can be recomputed from
the result files alone (:func:`bench.results.capacity_scores.capacities`).

The searches of one configuration that differ only in their seed share their data at every K
(the targets depend on the task's capacity seed, not the model's), so they run in lock-step as
one :class:`Searches` unit: at each K the seeds still in the search train as one program
(``bench.run.ensembles``), and a seed leaves the search at its first failure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.results.capacity_scores import passes
from bench.run import ensembles, executors, harness, model_process, scheduler
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

    def key(self) -> tuple[str, str, str, str]:
        """What the searches that may run in lock-step share: all but the seed."""
        return (self.model.name, self.framework, self.task.key, variant({"config": self.setting}))


@dataclass(frozen=True)
class Searches:
    """Searches of one configuration that differ only in their seed, run in lock-step."""

    members: tuple[Search, ...]


def grouped(searches: list[Search], max_members: int = ensembles.MAX_MEMBERS
            ) -> list[Search | Searches]:
    """The run's units: the searches of one configuration together, at most ``max_members``
    a unit (1: each alone), in the order of each unit's first search."""
    if max_members <= 1:
        return list(searches)
    by_key: dict[tuple[str, str, str, str], list[Search]] = {}
    for s in searches:
        by_key.setdefault(s.key(), []).append(s)
    return [u for members in by_key.values()
            for u in ensembles.chunked(members, max_members, Searches)]


def run(searches: list[Search], profile: str, device: str, results_dir: Path,
        force: bool = False, overrides: dict[str, Any] | None = None,
        echo: Callable[[str], None] = print, isolate: bool = True,
        limits: model_process.Limits | None = None, executor=None,
        ensemble: int = ensembles.MAX_MEMBERS) -> RunReport:
    """Run every search; each K is a harness cell, skipped when its result is current. An
    ``executor`` (``bench.run.executors``) runs whole searches elsewhere or several at once.
    The seeds of one configuration run in lock-step, up to ``ensemble`` of them as one program
    at each K (1: every search alone); with ``jobs`` local units at once, no more than makes
    ``jobs`` units, so no job sits idle. A Ray unit is a configuration's seeds."""
    from bench.results import ledger

    ledger.entries(results_dir)  # a bad ledger line stops the run now, not after a cell trained
    executor = executor or executors.Local(1)
    settings = Settings(profile, device, Path(results_dir), force, dict(overrides or {}),
                        isolate, limits, executor.threads_per_cell())

    def lost(unit: Search | Searches, why: str) -> RunReport:  # K it died at: unknown
        report = RunReport()
        for s in unit.members if isinstance(unit, Searches) else (unit,):
            report.problems.append(f"{s.name()}: the worker running the search was lost: "
                                   f"{why}; rerun to resume it")
        return report

    harness.forget_refusals()
    jobs = getattr(executor, "jobs", 1)  # local units at once: keep each job a unit to run
    members = min(ensemble, max(1, len(searches) // jobs))
    return scheduler.schedule(executor,
                              functools.partial(run_search, settings=settings),
                              grouped(searches, members),
                              gpu=device == "cuda", echo=echo, lost=lost)


def run_search(unit: Search | Searches, settings: Settings,
               echo: Callable[[str], None] | None = None) -> tuple[RunReport, list[str]]:
    """One search, or seeds in lock-step, K after K until each fails: its outcome, and the
    lines it echoes (kept and returned when ``echo`` is None, as on a remote worker)."""
    report, lines = RunReport(), list[str]()
    say = lines.append if echo is None else echo
    searching = list(unit.members) if isinstance(unit, Searches) else [unit]
    cap = searching[0].task.capacity
    assert cap is not None, f"{searching[0].task.name} is not a capacity task"
    passed = {s.seed: 0 for s in searching}  # the seeds are what the searches differ in
    for K in cap["sizes"]:
        cells = tuple(Cell(s.model, s.framework, s.task, s.seed, s.setting, size=K)
                      for s in searching)
        docs = harness.process_group(ensembles.Group(cells), settings, report, say)
        still = []
        for s, doc in zip(searching, docs, strict=True):
            if passes(doc, cap):
                passed[s.seed] = K
                still.append(s)
            else:
                say(f" {s.name()}: K* = {passed[s.seed]}")
        searching = still
        if not searching:
            break
    for s in searching:  # passed every K tried
        say(f" {s.name()}: K* = {passed[s.seed]}")
    return report, lines
