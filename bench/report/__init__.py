"""Pages made from result files: the leaderboard, the claims, capacity, memory and perf pages,
and their plots. Reads results; never runs a cell."""
