"""The one way a run's units of work (cells, groups of cells, capacity searches) are scheduled.

Every run goes through :func:`schedule` and an executor (``bench.run.executors``): a serial run
is the local executor with one job. The scheduler shows one progress bar over all units, echoes
each unit's lines behind its counter (``[3/12]``), merges the units' reports, and sums up the
cells that were done already in one line. A serial run
streams its lines as they come; a unit that runs elsewhere (a thread, a Ray worker) returns
its lines with its report, and they are echoed when it ends.

What a run was asked to do travels as one frozen :class:`Settings`, not as loose arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.run import executors
from bench.run.model_process import Limits


@dataclass(frozen=True)
class Settings:
    """How every cell of one run is run: the same for all of them."""

    profile: str
    device: str
    results_dir: Path
    force: bool = False  # rerun cells whose result is current
    overrides: Mapping[str, Any] = field(default_factory=dict)  # the command line's
    isolate: bool = True  # each cell's model in a sandboxed process of its own
    limits: Limits | None = None  # that process's limits (None: the profile's)
    threads: int | None = None  # each cell's PyTorch threads at most (the executor's share)


@dataclass
class RunReport:
    """The outcome of a run: the cells done, skipped (current already), and failed."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # diverged or failed, with the reason

    def extend(self, other: RunReport) -> None:
        """Add another report's outcomes to this one."""
        self.done += other.done
        self.skipped += other.skipped
        self.problems += other.problems


def schedule(executor: executors.Local | executors.Ray,
             unit: Callable[..., tuple[RunReport, list[str]]], units: list, *, gpu: bool,
             echo: Callable[[str], None], lost: Callable[[Any, str], RunReport]) -> RunReport:
    """Run ``unit`` on every one of ``units`` through ``executor``, with one progress bar.

    ``unit(u, echo=None)`` returns its report and the lines it kept; given an ``echo``, it
    echoes them as they come instead. ``lost(u, why)`` records a unit whose worker died past
    its retries (Ray).
    """
    from bench.progress import bar

    report = RunReport()
    total = len(units)
    progress = bar(total, f"cells ({type(executor).__name__.lower()})", leave=True)

    def say(line: str) -> None:  # the unit running now is the next to finish when serial
        echo(f"[{progress.n + 1}/{total}]{line}")

    def merge(part: RunReport, lines: list[str]) -> None:
        report.extend(part)
        for line in lines:
            say(line)
        # the postfix first: a plain-lines bar prints it on update
        progress.set_postfix_str(f"done {len(report.done)}, already {len(report.skipped)}, "
                                 f"failed {len(report.problems)}, running or queued "
                                 f"{total - progress.n - 1}")
        progress.update()

    streams = isinstance(executor, executors.Local) and executor.jobs == 1
    fn = (lambda u: unit(u, echo=say)) if streams else unit
    kwargs = {"on_lost": lambda u, why: merge(lost(u, why), [])} if isinstance(
        executor, executors.Ray) else {}
    try:
        executor.map(fn, units, gpu=gpu, on_result=lambda u, out: merge(*out), **kwargs)
    finally:
        progress.close()
    if report.skipped:  # one line, not one per cell: a rerun of a whole sweep skips hundreds
        n = len(report.skipped)
        echo(f"{n} cell{'s' if n > 1 else ''} done already, skipped (the result on file is "
             "current); FORCE=1 reruns them")
    return report
