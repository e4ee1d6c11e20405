"""A cell's model side, run in a child process: the harness's parent never imports model code.

The parent sends a :class:`ModelJob`: the training and validation splits, the *inputs* of the
evaluation sets (never their targets), the trainer settings and a private scratch folder. The
child builds and trains the model, predicts, and leaves its parameters and attractor analysis
in the scratch folder. It sends back a :class:`ModelReport`. The parent computes every metric,
moves the files into place and writes the result.

The parent also holds the child to a wall-clock and a memory limit (:data:`LIMITS`, per
profile). Every way a child can end becomes a status and a reason:

- an exception: ``failed``;
- a non-finite loss: ``diverged``;
- a timeout: ``timeout``;
- running out of host or GPU memory: ``oom``;
- a crash (segfault, kill): ``failed``, with the signal.

Inside the child, the task API refuses the test split (:data:`bench.tasks.SEALED`). This guards
against accidents and casual cheating. Code that runs as the same user can always regenerate a
public split itself; that is why entries are rerun by the suite, and why only results written by
the suite count as verified (``bench.ledger``).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.registry import ModelSpec
from bench.training import Diverged, TrainSpec

TRAINERS = {"torch": "bench.train_torch", "jax": "bench.train_jax"}


@dataclass(frozen=True)
class Limits:
    wall_s: float  # the whole cell: training, prediction, analysis
    memory_gb: float  # the child's resident host memory


# Set when a run is interrupted: every cell still running kills its child and stops.
STOP = threading.Event()

LIMITS = {"smoke": Limits(600, 8), "quick": Limits(4 * 3600, 16), "paper": Limits(24 * 3600, 64)}


@dataclass
class ModelJob:
    model: ModelSpec
    framework: str
    spec: TrainSpec
    train: dict[str, Any]
    validation: dict[str, Any]
    inputs: dict[str, dict[str, Any]]  # per evaluation set: inputs and dt, no targets
    scratch: Path  # where the child leaves its files, named after the result file
    result_name: str  # the result file's name, e.g. gnode-torch-seed0.json
    analysis: dict[str, Any] | None = None  # task, profile, device, title, test, probe
    save: bool = True  # leave the trained parameters (and the analysis) in ``scratch``


@dataclass
class ModelReport:
    status: str = "ok"
    reason: str | None = None
    predictions: dict[str, Any] = field(default_factory=dict)
    n_params: int | None = None
    timing: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    nfe: dict[str, Any] | None = None
    curve: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # file name in the scratch folder
    attractor: dict[str, Any] | None = None


def _is_oom(e: BaseException) -> bool:
    text = f"{type(e).__name__}: {e}"
    return isinstance(e, MemoryError) or "OutOfMemory" in text or "RESOURCE_EXHAUSTED" in text


def run_job(job: ModelJob) -> ModelReport:
    """Train, predict and analyse in this process; a model's error becomes the report's status."""
    from bench import analysis, checkpoints

    report = ModelReport()
    try:
        module = job.model.load(job.framework)
        trainer = importlib.import_module(TRAINERS[job.framework])
        out = trainer.fit_predict(module, job.spec, job.train, job.validation, job.inputs)
    except Diverged as e:
        return ModelReport(status="diverged", reason=str(e))
    except UserError as e:  # e.g. a submission without build(): this cell fails, others go on
        return ModelReport(status="failed", reason=str(e))
    except Exception as e:  # a model's own error must not stop the other cells
        last = traceback.extract_tb(e.__traceback__)[-1]
        return ModelReport(status="oom" if _is_oom(e) else "failed",
                           reason=f"{type(e).__name__}: {e} "
                                  f"({Path(last.filename).name}:{last.lineno})")
    report.predictions, report.n_params = out.predictions, out.n_params
    report.timing, report.memory, report.nfe, report.curve = (out.timing, out.memory, out.nfe,
                                                              out.curve)
    if out.model is not None and job.save:
        try:
            where = job.scratch / job.result_name
            ckpt = checkpoints.path_for(where, job.framework)
            checkpoints.save(out.model, job.framework, ckpt)
            report.checkpoint = ckpt.name
            if job.analysis is not None:
                a = job.analysis
                report.attractor = analysis.analyse_model(
                    out.model, job.framework, a["task"], a["profile"], a["device"], where,
                    a["title"], test=a["test"], probe=a["probe"])
        except Exception as e:  # the predictions stand; the files are missing, and why
            last = traceback.extract_tb(e.__traceback__)[-1]
            report.checkpoint = None
            report.attractor = {"status": "failed", "reason": f"saving or analysing the "
                                f"model: {type(e).__name__}: {e} "
                                f"({Path(last.filename).name}:{last.lineno})"}
    return report


def _orphan_watch(parent: int) -> None:
    """Exit when the parent dies (killed, or its Ray worker lost): nobody would read us."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(3)


def _child(conn, job: ModelJob, parent: int) -> None:
    from bench import tasks

    threading.Thread(target=_orphan_watch, args=(parent,), daemon=True).start()
    tasks.SEALED = True  # this process runs model code: no test targets through the API
    try:
        conn.send(run_job(job))
    except BaseException as e:  # reported to the parent, which records the cell
        conn.send(ModelReport(status="failed", reason=f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _rss_gb(pid: int) -> float | None:
    """A process's resident memory (Linux /proc; None where there is none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        return None
    return None


def run_isolated(job: ModelJob, limits: Limits, poll_s: float = 0.2) -> ModelReport:
    """:func:`run_job` in a fresh child process, held to ``limits``."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, job, os.getpid()))
    proc.start()
    child.close()
    start = time.monotonic()
    try:
        while True:
            if STOP.is_set():  # the run was interrupted (another thread saw Ctrl-C)
                _kill(proc)
                raise KeyboardInterrupt
            if parent.poll(poll_s):
                try:
                    report = parent.recv()
                except EOFError:
                    break
                except Exception as e:  # not a report: whatever the child wrote to the pipe
                    report = ModelReport(status="failed", reason=f"the cell's process sent an "
                                         f"unreadable answer ({type(e).__name__})")
                if not isinstance(report, ModelReport):
                    report = ModelReport(status="failed", reason="the cell's process sent "
                                         f"a {type(report).__name__}, not a report")
                proc.join(timeout=30)
                if proc.is_alive():  # a thread of the model's keeps it running
                    _kill(proc)
                return report
            if not proc.is_alive():
                break
            if time.monotonic() - start > limits.wall_s:
                _kill(proc)
                return ModelReport(status="timeout", reason=f"the cell ran past its wall-clock "
                                   f"limit of {limits.wall_s:g} s (--time-limit)")
            rss = _rss_gb(proc.pid) if proc.pid else None
            if rss is not None and rss > limits.memory_gb:
                _kill(proc)
                return ModelReport(status="oom", reason=f"the cell's process used {rss:.1f} GB, "
                                   f"past its limit of {limits.memory_gb:g} GB (--memory-limit)")
    except BaseException:  # Ctrl-C: take the child down too; nothing has been written
        _kill(proc)
        raise
    proc.join()
    code = proc.exitcode or 0
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        status = "oom" if name == "SIGKILL" else "failed"  # the kernel's OOM killer sends KILL
        return ModelReport(status=status, reason=f"the cell's process was killed by {name}"
                           + (" (out of memory?)" if status == "oom" else ""))
    return ModelReport(status="failed", reason=f"the cell's process died (exit code {code})")


def _kill(proc) -> None:
    proc.kill()
    proc.join()

