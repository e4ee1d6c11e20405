"""Which machine a leaderboard table's times come from.

Scores from every machine of one hardware class are ranked in one table: two CPUs (or two GPUs)
differ in a score only through float rounding, which makes a seed trained on another machine
another draw of the same distribution, as a seed is (measured in docs/leaderboard.md). Times
are another matter: they are compared within one machine only. A table's times come from its
main machine (the one that wrote most of its results); a row with no result from that machine
shows its own machine's times, marked :data:`MARK` and named under the table. CPU and GPU
results never share a table.
"""

from __future__ import annotations

import pandas as pd

MARK = "‡"
SHARED = "*"
# A time is shared when other processes took more than this share of the machine's CPU
# meanwhile (timing.other_cpu_share, bench.train.timing.OtherLoad).
BUSY = 0.1


def _commonest(hardware: pd.Series) -> str:
    counts = hardware.value_counts()
    return min(counts.index, key=lambda h: (-counts[h], h), default="")


def main_machine(group: pd.DataFrame) -> str:
    """The machine that wrote most of ``group``'s results (the first by name among equals)."""
    return _commonest(group["hardware"])


def timed(rows: pd.DataFrame, main: str) -> tuple[pd.DataFrame, str | None]:
    """The rows whose times a table shows: those from ``main``, or where there are none the
    commonest other machine's; and that other machine (None: ``main``)."""
    if rows.empty or (rows["hardware"] == main).any():
        return rows[rows["hardware"] == main], None
    other = _commonest(rows["hardware"])
    return rows[rows["hardware"] == other], other


def shared(clock: pd.DataFrame) -> bool:
    """Whether any of ``clock``'s times was taken beside other work: other cells on its node
    (``cells_beside``), in one program with other cells (``ensemble_members``), or while other
    processes took more than :data:`BUSY` of the CPU. Such a time is marked :data:`SHARED`."""
    none = pd.Series(dtype=float)
    return bool((clock.get("cells_beside", none).fillna(0) > 0).any()
                or (clock.get("ensemble_members", none).fillna(1) > 1).any()
                or (clock.get("other_cpu_share", none).fillna(0) > BUSY).any())


def heading_line(group: pd.DataFrame, main: str) -> str:
    """The line under a table's heading: its machines, and where its times come from."""
    counts = group["hardware"].value_counts()
    if len(counts) == 1:
        return f"Machine: {main}."
    listed = ", ".join(f"{h} ({counts[h]} results)"
                       for h in sorted(counts.index, key=lambda h: (-counts[h], h)))
    return (f"Machines: {listed}. Scores from all of them are ranked together; times are "
            f"compared within one machine only. They are from {main}, except those marked "
            f"{MARK}.")


def footnotes(elsewhere: dict[str, list[str]]) -> list[str]:
    """One line per other machine that timed rows of a table: {machine: row labels}."""
    return [f"{MARK} timed on {hw}: {', '.join(rows)}. Not comparable with the other times."
            for hw, rows in sorted(elsewhere.items())]
