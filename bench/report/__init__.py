"""Pages made from result files: the leaderboard, the claims, capacity, memory and perf pages,
and their plots. Reads results; never runs a cell.

The results API is re-exported here: ``bench.report.load_results(folder)`` (one DataFrame row
per result file) and ``bench.report.compare(folder_a, folder_b)``.
"""

from bench.report.frame import compare, load_results

__all__ = ["compare", "load_results"]
