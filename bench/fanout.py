"""Running many units of work (cells, or capacity searches) through an executor
(``bench.executors``): each unit's outcome and echoed lines come back to the driver, which
shows one progress bar over all of them and merges their reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import executors, ledger, model_process
from bench.cells import Cell
from bench.harness import (
    RunReport,
    locate,
    process,
    provenance_record,
    result_document,
    stamp,
)


def run_unit(cell: Cell, *, profile: str, device: str, results_dir: Path, force: bool,
             overrides: dict[str, Any], isolate: bool,
             limits: model_process.Limits | None) -> tuple[RunReport, list[str]]:
    """One cell wherever an executor runs it: its outcome and the lines it would echo."""
    report, lines = RunReport(), list[str]()
    process(cell, profile, device, results_dir, force, overrides, report, lines.append, "",
            isolate, limits)
    return report, lines


def fan_out(executor, unit, units: list, device: str, echo, lost) -> RunReport:
    """Run ``units`` on ``executor`` with one progress bar; merge their reports."""
    from bench.progress import bar

    report = RunReport()
    progress = bar(len(units), f"cells ({type(executor).__name__.lower()})", leave=True)

    def merge(part: RunReport, lines: list[str]) -> None:
        report.extend(part)
        for line in lines:
            echo(f"[{progress.n + 1}/{len(units)}]{line}")
        progress.update()
        progress.set_postfix_str(f"done {len(report.done)}, already {len(report.skipped)}, "
                                 f"failed {len(report.problems)}, running or queued "
                                 f"{len(units) - progress.n}")

    kwargs = {"on_lost": lambda u, why: merge(lost(u, why), [])} if isinstance(
        executor, executors.Ray) else {}
    try:
        executor.map(unit, units, gpu=device == "cuda",
                     on_result=lambda u, out: merge(*out), **kwargs)
    finally:
        progress.close()
    return report


def record_failure(cell: Cell, profile: str, device: str, results_dir: Path,
                   run_overrides: dict[str, Any], why: str) -> RunReport:
    """Write a ``failed`` result for a cell whose worker was lost (Ray, past its retries)."""
    overrides, path, name = locate(cell, profile, device, results_dir, run_overrides)
    doc = result_document(cell, profile, device, overrides)
    doc.update(status="failed", reason=f"the worker running it was lost: {why}")
    stamp(doc, cell, run_overrides)
    doc["provenance"] = provenance_record(device, doc.pop("_started"), True)
    ledger.write_result(results_dir, path, doc)
    report = RunReport()
    report.problems.append(f"{name}: failed: {doc['reason']}")
    return report
