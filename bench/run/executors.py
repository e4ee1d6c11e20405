"""Where a run's units of work execute: here (``local``) or as Ray tasks (``ray``).

A unit is a harness cell, a group of cells trained as one program, or a capacity search (its
K are sequential), or the seeds of one configuration's search in lock-step. Every executor
calls the same function on a unit. That function skips a current result, runs the model in a
child process of its own, and writes the result file and its ledger line into the results
folder (``bench.run.harness.process``).

So the results land in one results folder. With Ray on several machines, that folder must be on
a filesystem that every node mounts at the same path (NFS, a cluster file system). On one
machine nothing is needed.

- ``local``: one unit after another, or ``jobs`` at once.
- ``ray``: each unit is a Ray task. A CUDA unit asks for a whole GPU (``num_gpus=1``). A CPU
  unit asks for ``cpus`` CPUs: by default all of the smallest node's, so that a timed cell gets a
  whole device; ``--share`` asks for one. A task whose worker dies (killed, node lost) is retried
  up to ``retries`` times, then recorded as failed with the reason.

Timing under sharing is recorded, not hidden: every result says how many cells ran beside it on
the same node (:func:`beside`).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import UserError

EXECUTORS = ("local", "ray")
RUNNING = Path(tempfile.gettempdir()) / "ctrnn-bench-running"  # this node's running cells


@contextmanager
def running() -> Iterator[Callable[[], int]]:
    """Register this cell as running on this node while the block runs; yields a function
    that counts the other cells running now.

    Each registration holds its process's start time, so a file left by a killed run whose
    pid has since been reused is not counted (and is removed)."""
    RUNNING.mkdir(parents=True, exist_ok=True)
    me = RUNNING / f"{os.getpid()}-{threading.get_ident()}"
    with tempfile.NamedTemporaryFile("w", dir=RUNNING, prefix=".", delete=False) as f:
        f.write(_started(os.getpid()) or "")
    os.replace(f.name, me)

    def others() -> int:
        count = 0
        for f in RUNNING.iterdir():
            pid = f.name.split("-")[0]
            if f == me or not pid.isdigit():
                continue
            started = _started(int(pid))
            try:
                registered = f.read_text()
            except OSError:
                continue
            if started is None or started != registered:  # its process is gone
                f.unlink(missing_ok=True)
                continue
            count += 1
        return count

    try:
        yield others
    finally:
        me.unlink(missing_ok=True)


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot); None if there is none."""
    from bench.run.keeper import stat_fields

    fields = stat_fields(pid)
    return None if fields is None else fields[19]


def beside(others: Callable[[], int], before: int) -> int:
    """How many cells ran beside this one: the most seen at its start and at its end."""
    return max(before, others())


def cell_share(cores: int, jobs: int) -> int:
    """Threads each of ``jobs`` cells running at once may use on ``cores`` cores (at least 1)."""
    return max(1, cores // jobs)


class Local:
    """Units here, one after another (``jobs=1``) or ``jobs`` at once (threads, each waiting
    on its cell's own process)."""

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise UserError(f"--jobs {jobs}: must be at least 1")
        self.jobs = jobs

    def threads_per_cell(self) -> int:
        """Each cell's share of this machine's cores: ``jobs`` cells run at once."""
        from bench.results.environment import cores

        return cell_share(cores(), self.jobs)

    def map(self, fn: Callable[[Any], Any], units: list[Any], *, gpu: bool = False,
            on_result: Callable[[Any, Any], None] = lambda u, r: None) -> None:
        from bench.run.model_process import STOP

        if self.jobs == 1:  # here, in order: Ctrl-C reaches the running cell directly
            for unit in units:
                on_result(unit, fn(unit))
            return
        pool = ThreadPoolExecutor(self.jobs)
        try:
            futures = {pool.submit(fn, unit): unit for unit in units}
            for future in as_completed(futures):
                on_result(futures[future], future.result())
        except BaseException:  # Ctrl-C: the running cells kill their children and stop
            STOP.set()
            pool.shutdown(wait=True, cancel_futures=True)
            STOP.clear()
            raise
        pool.shutdown()


class Ray:
    """Units as Ray tasks: a local Ray instance, or the cluster at ``address``
    (``RAY_ADDRESS``)."""

    def __init__(self, address: str | None = None, retries: int = 2, share: bool = False,
                 cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install '.[ray]' (or "
                            "python -m bench.tools.install --extra ray)") from None
        self.ray = ray
        if not ray.is_initialized():
            address = address or os.environ.pop("RAY_ADDRESS", None) or None  # "" is unset
            try:
                ray.init(address=address, runtime_env={"env_vars": _forwarded_env()},
                         log_to_driver=False)
            except Exception as e:  # an unreachable cluster, a malformed address
                raise UserError(f"cannot {'join Ray at ' + address if address else 'start Ray'}"
                                f": {str(e).splitlines()[0]}; check --ray-address / "
                                "RAY_ADDRESS, or drop them for a local instance") from None
        self.retries, self.share, self.cpus = retries, share, cpus

    def threads_per_cell(self) -> int:
        """The CPUs each task reserves (:meth:`_cpus`)."""
        return max(1, int(self._cpus()))

    def _cpus(self) -> float:
        if self.share:
            return 1
        if self.cpus:
            return self.cpus
        nodes = [n["Resources"].get("CPU", 0) for n in self.ray.nodes()
                 if n.get("Alive") and n["Resources"].get("CPU", 0) > 0]
        return max(1.0, min(nodes)) if nodes else 1.0

    def map(self, fn: Callable[[Any], Any], units: list[Any], *, gpu: bool = False,
            on_result: Callable[[Any, Any], None] = lambda u, r: None,
            on_lost: Callable[[Any, str], None] = lambda u, why: None) -> None:
        ray = self.ray
        remote = ray.remote(_call).options(
            num_gpus=1 if gpu else 0, num_cpus=0 if gpu else self._cpus(),
            max_retries=self.retries, retry_exceptions=False)
        pending = {remote.remote(fn, unit): unit for unit in units}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                unit = pending.pop(done[0])
                try:
                    on_result(unit, ray.get(done[0]))
                except ray.exceptions.RayError as e:  # a worker or node lost, Ray's OOM kill
                    retried = "" if isinstance(e, ray.exceptions.RayTaskError) else \
                        f" after {self.retries} retries"
                    on_lost(unit, f"{type(e).__name__}{retried}: {str(e).splitlines()[0]}")
        except BaseException:  # Ctrl-C: stop the rest; finished cells are already written
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


def _call(fn: Callable[[Any], Any], unit: Any) -> Any:
    """What a Ray task runs: ``fn`` (a picklable partial) on one unit."""
    return fn(unit)


def _forwarded_env() -> dict[str, str]:
    """The environment a worker needs to run cells as this driver would: the suite on its
    path (the same path on every node, like the results folder), and the suite's settings."""
    from bench.models import impl

    root = str(Path(__file__).resolve().parents[2])
    env = {k: os.environ[k] for k in (impl.ENV, "CTRNN_BENCH_DATA") if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))
    return env


def make(name: str, *, jobs: int = 1, address: str | None = None, retries: int = 2,
         share: bool = False, cpus: int | None = None) -> Local | Ray:
    if name not in EXECUTORS:
        raise UserError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    if retries < 0:
        raise UserError(f"--retries {retries}: must be 0 or more")
    return Local(jobs) if name == "local" else Ray(address, retries, share, cpus)
