"""The harness: run (model, framework, task, seed) cells under one protocol, write result files.

For every cell it decides whether the result on file is current; if not, it runs the cell
(``bench.run.cell``) and writes one result file atomically, with its ledger line. Cells whose
file is current are skipped unless ``force`` is set, so an interrupted run resumes where it
stopped. Many cells go through the scheduler (``bench.run.scheduler``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench import results
from bench.errors import UserError
from bench.results import ledger, numbers, store, trust
from bench.run import ensembles, executors, model_process, sandbox, scheduler
from bench.run.cell import provenance_record, result_document, run_cell, run_cells_together
from bench.run.scheduler import RunReport, Settings
from bench.spec.cells import (
    Cell,
    device_class,
    fingerprint,
    resolve_training,
    variant,
)


def cuda_available(framework: str) -> bool:
    if framework == "torch":
        import torch

        return torch.cuda.is_available()
    import jax

    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def resolve_device(device: str, frameworks: list[str]) -> str:
    """``cpu``, ``cuda`` (checked) or ``auto`` (cuda when every framework of the run sees a
    GPU, so that one run is never split across hardware classes)."""
    if device == "cpu":
        return "cpu"
    if device not in ("cuda", "auto"):
        raise UserError(f"unknown device {device!r}; use cpu, cuda or auto")
    missing = [f for f in frameworks if not cuda_available(f)]
    if device == "auto":
        return "cpu" if missing else "cuda"
    if missing:
        raise UserError(f"--device cuda, but {' and '.join(missing)} "
                        f"{'see' if len(missing) > 1 else 'sees'} no CUDA GPU here; "
                        "use DEVICE=cpu (or DEVICE=auto), or run on a machine with a GPU")
    return "cuda"


def stamp(doc: dict[str, Any], cell: Cell, run_overrides: dict[str, Any]) -> None:
    """What a result says of how it was asked for: the command line's variant, whether the run
    used declared configs only (the runs the claims may use), its role and ruleset."""
    doc["run_variant"] = variant(run_overrides)  # the command line's part of the variant
    doc["standard"] = doc["run_variant"] == ""
    doc["variant"] = cell.name(run_overrides)
    doc["role"] = cell.role
    doc["ruleset"] = "tuned" if cell.role == "tuned" else "default"  # ranked apart
    if cell.tuning is not None:
        doc["tuning"] = cell.tuning


def _rerun_reason(path: Path, cell: Cell, profile: str, overrides: dict[str, Any],
                  results_dir: Path) -> str | None:
    """Why an existing result must be redone (None: keep it)."""
    try:
        old = results.read(path)
    except UserError:
        return "its result file is unreadable"
    if not ledger.verified(results_dir, path):
        return "its result file is not one the suite wrote (not in the ledger)"
    if old["status"] == "failed":
        return "it failed last time"
    config = resolve_training(cell.task, cell.model, profile, overrides)[0]
    if old.get("code_sha256") != trust.code_sha256(cell.model, cell.framework, config):
        return "the model's code, or suite code it imports, changed since"
    if old.get("fingerprint") != fingerprint(cell, profile, overrides):
        return "the model's code or config, or the task, changed since"
    if cell.role == "tuned" and old.get("tuning") != results.plain(cell.tuning):
        return "its tuning study (grid, tuning seeds or their results) changed since"
    return None


def locate(cell: Cell, profile: str, device: str, results_dir: Path,
           run_overrides: Mapping[str, Any]) -> tuple[dict[str, Any], Path, str]:
    """(the cell's overrides, its result file, its name in messages)."""
    asked = dict(run_overrides)
    overrides = cell.overrides(asked)
    label = "+".join(filter(None, (cell.model.name, cell.name(asked))))
    path = results.cell_path(results_dir, cell.task.name, cell.task.version, profile,
                             device_class(device), label, cell.framework, cell.seed, cell.size)
    if cell.role == "tuning":  # apart: the leaderboard ranks none of them
        path = path.parent / "tuning" / path.name
    size = "" if cell.size is None else f" K={cell.size}"
    return overrides, path, f"{cell.task.key} {label}/{cell.framework}{size} seed {cell.seed}"


def _todo(cell: Cell, settings: Settings, report: RunReport,
          echo: Callable[[str], None]) -> tuple[dict[str, Any], Path, str, bool]:
    """(overrides, result file, name, whether to run it): not when its result on file is
    current, which is then counted as skipped."""
    s = settings
    overrides, path, name = locate(cell, s.profile, s.device, s.results_dir, dict(s.overrides))
    if path.exists() and not s.force:
        why = _rerun_reason(path, cell, s.profile, overrides, s.results_dir)
        if why is None:
            report.skipped.append(name)  # summed up in one line by the scheduler
            return overrides, path, name, False
        echo(f" {name}: running again: {why}")
    return overrides, path, name, True


def process(cell: Cell, settings: Settings, report: RunReport,
            echo: Callable[[str], None]) -> dict[str, Any]:
    """Run one cell unless its result is current; return its result document (old or new).

    ``report`` collects the outcome; every line goes to ``echo``.
    """
    s = settings
    overrides, path, name, run = _todo(cell, s, report, echo)
    if not run:
        return results.read(path)
    before = ledger.snapshot(s.results_dir)
    with executors.running() as others:  # cells beside this one on this node, for timing
        at_start = others()
        doc = run_cell(cell, s.profile, s.device, overrides, path, s.isolate, s.limits,
                       s.results_dir, s.threads)
        doc.setdefault("timing", {})["cells_beside"] = executors.beside(others, at_start)
    _write(cell, doc, path, name, s, ledger.forged_since(s.results_dir, before), report, echo)
    return doc


# Models whose program failed as a whole in this run (a PyTorch model torch.func.vmap cannot
# run, say), with why: their later groups train one cell at a time without trying again.
_REFUSED: dict[tuple[str, str], str] = {}
_TOLD: set[tuple[str, str]] = set()  # said once a run: a capacity search has a group a K


def forget_refusals() -> None:
    """A new run tries every model's program again."""
    _REFUSED.clear()
    _TOLD.clear()


def process_group(group: ensembles.Group, settings: Settings, report: RunReport,
                  echo: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run a group's cells that are not current as one program; each gets its own result and
    ledger line. A program that fails as a whole (every member failed alike, or out of memory:
    a model that cannot be ``vmap``-ped, say) is retried one cell at a time. Returns the
    cells' result documents (old or new), in the group's order."""
    s = settings
    plans = [(c, *_todo(c, s, report, echo)) for c in group.cells]
    todo = [(c, o, p, n) for c, o, p, n, run in plans if run]
    docs = {p: results.read(p) for _, _, p, _, run in plans if not run}
    first = group.cells[0]
    refused = _REFUSED.get((first.model.name, first.framework))

    def one_by_one() -> list[dict[str, Any]]:
        for cell, _, path, _ in todo:
            docs[path] = process(cell, dataclasses.replace(s, force=True), report, echo)
        return [docs[p] for _, _, p, _, _ in plans]

    if len(todo) < 2 or refused:
        key = (first.model.name, first.framework)
        if refused and todo and key not in _TOLD:
            _TOLD.add(key)
            echo(f" {group.label}: one cell at a time, as its later groups in this run (its "
                 f"program failed earlier in this run: {refused})")
        return one_by_one()
    before = ledger.snapshot(s.results_dir)
    with executors.running() as others:
        at_start = others()
        trained = run_cells_together([(c, o, p) for c, o, p, _ in todo], s.profile, s.device,
                                     s.isolate, s.limits, s.results_dir, s.threads)
        beside = executors.beside(others, at_start)
    forged = ledger.forged_since(s.results_dir, before)
    reasons = {(d["status"], d["reason"]) for d in trained}
    if not forged and len(reasons) == 1 and trained[0]["status"] in ("failed", "oom"):
        if trained[0]["status"] == "failed":  # not out of memory: other data would fail alike
            _REFUSED[(first.model.name, first.framework)] = trained[0]["reason"]
        echo(f" {group.label}: the program failed ({trained[0]['reason']}); running its "
             f"{len(todo)} cells one by one")
        return one_by_one()
    for (cell, _, path, name), doc in zip(todo, trained, strict=True):
        doc.setdefault("timing", {})["cells_beside"] = beside
        _write(cell, doc, path, name, s, forged, report, echo)
        docs[path] = doc
    return [docs[p] for _, _, p, _, _ in plans]


def _write(cell: Cell, doc: dict[str, Any], path: Path, name: str, settings: Settings,
           forged: list[str], report: RunReport, echo: Callable[[str], None]) -> None:
    """Stamp and write a cell's result with its ledger line; report and echo its outcome."""
    if forged:  # the model's process (or someone) wrote results behind the harness
        doc.update(status="failed", metrics={}, reason=(
            f"result files changed while this cell's model ran, not by the harness: "
            f"{', '.join(forged)}; a model may not write results (they are unverified)"))
    stamp(doc, cell, dict(settings.overrides))
    store.compact(settings.results_dir, doc)  # the trial it shares with other results: once
    numbers.shorten(doc)  # float32 curves and outputs in their short forms
    ledger.write_result(settings.results_dir, path, doc)
    if doc["status"] == "ok":
        report.done.append(name)
        m = ", ".join(f"{k} {v:.4g}" for k, v in doc["metrics"].items())
        t = doc["timing"]
        a = doc.get("attractor") or {}
        slow = (f"; {a['n_slow_points']} slow points, coverage {a['coverage']:.2f}"
                if a.get("status") == "ok" else "")
        shared = (f" (one program of {t['ensemble_members']})"
                  if (t.get("ensemble_members") or 1) > 1 else "")
        echo(f" {name}: {m}; train {t['train_total_s']:.1f} s, "
             f"step {1e3 * t['step_median_s']:.2f} ms{shared}{slow}")
    else:
        report.problems.append(f"{name}: {doc['status']}: {doc['reason']}")
        echo(f" {name}: {doc['status'].upper()}: {doc['reason']}")


def run_unit(unit: Cell | ensembles.Group, settings: Settings,
             echo: Callable[[str], None] | None = None) -> tuple[RunReport, list[str]]:
    """One cell, or a group of cells trained as one program, as a scheduler's unit: its
    outcome, and the lines it echoed (kept and returned when ``echo`` is None)."""
    report, lines = RunReport(), list[str]()
    say = lines.append if echo is None else echo
    if isinstance(unit, ensembles.Group):
        process_group(unit, settings, report, say)
    else:
        process(unit, settings, report, say)
    return report, lines


def record_failure(unit: Cell | ensembles.Group, settings: Settings, why: str) -> RunReport:
    """Write a ``failed`` result for each cell whose worker was lost (Ray, past its retries)."""
    if isinstance(unit, ensembles.Group):
        report = RunReport()
        for cell in unit.cells:
            report.extend(record_failure(cell, settings, why))
        return report
    cell, s = unit, settings
    overrides, path, name = locate(cell, s.profile, s.device, s.results_dir, s.overrides)
    doc = result_document(cell, s.profile, s.device, overrides)
    doc.update(status="failed", reason=f"the worker running it was lost: {why}")
    stamp(doc, cell, dict(s.overrides))
    doc["provenance"] = provenance_record(s.device, doc.pop("_started"), True,
                                          cell.model.requirements)
    ledger.write_result(s.results_dir, path, doc)
    report = RunReport()
    report.problems.append(f"{name}: failed: {doc['reason']}")
    return report


def run(cells: list[Cell], profile: str, device: str, results_dir: Path, force: bool = False,
        overrides: dict[str, Any] | None = None, echo: Callable[[str], None] = print,
        isolate: bool = True, limits: model_process.Limits | None = None,
        executor: executors.Local | executors.Ray | None = None,
        test_data: str | None = None, ensemble: int = ensembles.MAX_MEMBERS) -> RunReport:
    """Run every cell not already done; write each result as soon as it exists.

    A cell is done when its result file exists, did not fail, and has the cell's current
    fingerprint. ``test_data`` (``public`` for an open run) overrides the cells' own choice
    (``secret`` by default). With ``isolate`` (the default) every cell's model runs in its own
    sandboxed process, held to ``limits`` (default: the profile's,
    ``bench.run.model_process.LIMITS``). ``executor`` (``bench.run.executors``) runs the cells
    elsewhere or several at once; by default they run here, one after another. Cells that
    differ only in seed, learning rate and weight decay train as one program, up to
    ``ensemble`` of them (``bench.run.ensembles``; 1: every cell alone).
    """
    executor = executor or executors.Local(1)
    settings = Settings(profile, device, Path(results_dir), force, dict(overrides or {}),
                        isolate, limits, executor.threads_per_cell())
    if test_data is not None:  # the whole run's: secret (official) or public (open)
        cells = [dataclasses.replace(c, test_data=test_data) for c in cells]
    forget_refusals()
    ledger.entries(results_dir)  # a bad ledger line stops the run now, not after a cell trained
    root = Path(results_dir).resolve()
    for model in {c.model.name: c.model for c in cells}.values():
        if isolate and root in (model.path.resolve(), *model.path.resolve().parents):
            raise UserError(f"results folder {results_dir} holds the code of model "
                            f"{model.name} ({model.path}); the sandbox hides results folders "
                            "from model code: use another --results-dir")
    if isolate and cells and sandbox.landlock_abi() < 1:
        echo("sandbox: this kernel has no Landlock (Linux >= 5.13 with landlock among its "
             "security modules): model code runs unconfined, and results record "
             "sandbox.enforced: false (a submission's result is then never ranked)")
    return scheduler.schedule(
        executor, functools.partial(run_unit, settings=settings),
        ensembles.grouped(cells, profile, settings.overrides, ensemble),
        gpu=device == "cuda", echo=echo,
        lost=lambda cell, why: record_failure(cell, settings, why))
