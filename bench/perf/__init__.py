"""``make perf``: the time and memory of one training step, at fixed sizes and in sweeps."""
