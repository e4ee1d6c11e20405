"""Scores pool across the machines of one class, times do not (``bench.report.machines``): the
main machine, the rows a time comes from, and the capacity table's times and footnote."""

from __future__ import annotations

import pandas as pd

from bench.report import capacity_report, machines


def frame(hardware: list[str], seconds: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"hardware": hardware, "train_total_s": seconds})


def test_the_main_machine_wrote_most_results_and_ties_go_by_name():
    assert machines.main_machine(frame(["B", "A", "B"], [1, 2, 3])) == "B"
    assert machines.main_machine(frame(["B", "A"], [1, 2])) == "A"
    assert machines.main_machine(frame([], [])) == ""


def test_a_rows_time_comes_from_the_main_machine_where_it_has_one():
    rows, other = machines.timed(frame(["A", "B", "B"], [10, 50, 70]), "A")
    assert other is None and list(rows["train_total_s"]) == [10]
    rows, other = machines.timed(frame(["B", "C", "C"], [50, 7, 9]), "A")
    assert other == "C" and list(rows["train_total_s"]) == [7, 9]


def test_one_machine_is_named_and_several_are_counted():
    assert machines.heading_line(frame(["A", "A"], [1, 2]), "A") == "Machine: A."
    line = machines.heading_line(frame(["A", "B", "A"], [1, 2, 3]), "A")
    assert line.startswith("Machines: A (2 results), B (1 results).")
    assert line.endswith(f"They are from A, except those marked {machines.MARK}.")
    assert machines.footnotes({}) == []


def search(entry: str, seed: int, hardware: str, seconds: float, k_star: int) -> dict:
    return {"entry": entry, "model_name": entry, "framework": "torch", "N": 4, "L": 1,
            "seed": seed, "K_star": k_star, "complete": True, "tried": [(1, 0.99)],
            "threshold": 0.9, "failed_score": 0.5, "n_params": 100, "hardware": hardware,
            "train_total_s": seconds, "largest": 8, "standard": True, "model_kind": "baseline"}


def test_the_capacity_table_times_each_row_on_one_machine_and_marks_the_others():
    searches = pd.DataFrame([search("gnode", 0, "Main CPU", 10.0, 2),
                             search("gnode", 1, "Other CPU", 90.0, 2),
                             search("cfc", 0, "Other CPU", 30.0, 1),
                             search("node", 0, "Main CPU", 20.0, 1)])
    text = capacity_report.table(searches)
    rows = {line.split("|")[2].strip(): line for line in text.splitlines()
            if line.startswith("|") and "---" not in line}
    assert "| 10.0 " in rows["gnode"] and "90.0" not in text  # the main machine's seed only
    assert f"| 30.0 {machines.MARK} " in rows["cfc"]
    assert "| 20.0 " in rows["node"] and machines.MARK not in rows["node"]
    assert text.endswith(f"{machines.MARK} timed on Other CPU: cfc / torch, N=4, L=1. Not "
                         "comparable with the other times.")


def test_the_capacity_table_takes_its_main_machine_from_the_heading():
    """The heading counts results, the table rows searches: a machine with more results (more
    K each) but fewer searches is still the one the table's times come from, as the heading
    says. Each footnoted row is named by its configuration."""
    searches = pd.DataFrame([search("gnode", 0, "Main CPU", 10.0, 2),
                             search("node", 0, "Main CPU", 20.0, 1),
                             {**search("lru", 0, "Other CPU", 300.0, 64), "N": 8},
                             {**search("lru", 0, "Other CPU", 900.0, 64), "N": 32},
                             {**search("lru", 0, "Other CPU", 50.0, 4), "N": 2}])
    assert machines.main_machine(searches) == "Other CPU"  # by searches
    text = capacity_report.table(searches, main="Main CPU")  # by results, as the heading
    assert text.endswith(f"{machines.MARK} timed on Other CPU: lru / torch, N=8, L=1, "
                         "lru / torch, N=32, L=1, lru / torch, N=2, L=1. Not comparable with "
                         "the other times.")
    assert "| 10.0 " in text and f"20.0 {machines.MARK}" not in text
    assert "Main CPU" not in text  # the main machine is the heading's to name
