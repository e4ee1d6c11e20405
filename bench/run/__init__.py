"""Running cells: the harness, the scheduler over local and Ray executors, the sandboxed
child processes that run model code, tuning and capacity searches."""
