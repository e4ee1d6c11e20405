"""Two cells side by side (``--jobs 2``): does each keep its share of the cores?

A framework's default is a thread pool as wide as the machine in every process. Two cells on
two cores then run four threads, and a waiting thread spins. The harness therefore holds each
PyTorch cell to cores / jobs threads (``bench.run.model_process.limit_threads``); this
benchmark measures what that buys, and asks the same of JAX (XLA's CPU thread pool).

A case is a real cell, a baseline on a flip-flop task at the quick profile, trained by its own
trainer for ``TIMED`` steps (``bench.perf.ensemble_throughput.short_run``), three ways, each
process fresh:

- ``alone_s``: one cell on the machine, the framework's default threads;
- ``default_s``: two identical cells at once, default threads in each;
- ``share_s``: two at once, each held to cores // 2 threads (PyTorch: ``set_num_threads``;
  JAX: ``XLA_FLAGS``, set before jax loads).

The two processes load first, then start training together (a barrier), and each time is the
median training step (the first two steps untimed); a side-by-side time is the mean of the two
processes'. ``x_share`` = default_s / share_s: above 1, the limit speeds a side-by-side run.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
from dataclasses import dataclass
from typing import Any

from bench.perf import ensemble_throughput
from bench.run.executors import cell_share

CASES = [("gnode", "torch"), ("lstm", "torch"), ("gnode", "jax"), ("lstm", "jax")]
TASK = "flipflop-2bit-ring"
TIMED = 12


@dataclass(frozen=True)
class Case:
    model: str
    framework: str
    task: str = TASK

    @property
    def label(self) -> str:
        return f"{self.model}/{self.framework} {self.task}, two cells side by side"


def cases(models: list[str] | None = None,
          frameworks: tuple[str, ...] = ("jax", "torch")) -> list[Case]:
    return [Case(m, f) for m, f in CASES
            if (models is None or m in models) and f in frameworks]


def xla_flags(threads: int) -> str:
    """XLA's CPU flags that hold a process to ``threads`` intra-op threads."""
    if threads == 1:
        return "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return f"intra_op_parallelism_threads={threads}"


def _cell(case: Case, threads: int | None, barrier: Any, answers: Any) -> None:
    """One side-by-side process: limit its threads (None: the default), load, wait for the
    other, train; put its median step time on ``answers``."""
    try:
        if threads is not None and case.framework == "jax":
            os.environ["XLA_FLAGS"] = xla_flags(threads)  # read when jax's backend starts
        elif threads is not None:
            import torch

            torch.set_num_threads(threads)
        program = ensemble_throughput.Case(case.model, case.task, 1, "cpu", case.framework)
        part = ensemble_throughput.short_run(program, TIMED, ready=barrier.wait)
        answers.put(part["step_median_s"])
    except Exception as e:  # the parent reports it; a lost process would hang the barrier
        barrier.abort()
        answers.put(f"{type(e).__name__}: {e}")


def _together(case: Case, copies: int, threads: int | None) -> float:
    """The mean of ``copies`` processes' median step, trained at the same time."""
    ctx = multiprocessing.get_context("spawn")
    barrier, answers = ctx.Barrier(copies), ctx.Queue()
    procs = [ctx.Process(target=_cell, args=(case, threads, barrier, answers))
             for _ in range(copies)]
    for p in procs:
        p.start()
    got: list[float | str] = []
    while len(got) < copies:
        try:
            got.append(answers.get(timeout=5))
        except queue.Empty:  # a process killed outright (signal, out of memory) never answers
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                barrier.abort()
                for p in procs:
                    p.terminate()
                got.append(f"a cell's process died (exit code {dead[0]})")
                break
    for p in procs:
        p.join()
    errors = [g for g in got if isinstance(g, str)]
    if errors:
        raise RuntimeError(errors[0])
    return statistics.mean(g for g in got if isinstance(g, float))


def measure(case: Case, cores: int) -> dict[str, Any]:
    """The three ways of one case; an ``error`` instead where one of them failed."""
    record: dict[str, Any] = {"kind": "side_by_side", "model": case.model,
                              "framework": case.framework, "task": case.task,
                              "profile": ensemble_throughput.PROFILE, "cores": cores,
                              "share_threads": cell_share(cores, 2), "timed_steps": TIMED}
    try:
        alone = _together(case, 1, None)
        default = _together(case, 2, None)
        share = _together(case, 2, record["share_threads"])
    except RuntimeError as e:
        return {**record, "error": str(e)}
    return {**record, "alone_s": alone, "default_s": default, "share_s": share,
            "x_share": default / share}


def record_name(r: dict[str, Any]) -> str:
    return f"side-by-side-{r['model']}-{r['framework']}-{r['task']}"
