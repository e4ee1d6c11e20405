"""A cell's model side, run in a sandboxed child: the harness never imports model code.

The parent sends a :class:`ModelJob`: the training and validation splits, the *inputs* of the
evaluation sets (never their targets), the trainer settings and a private scratch folder. The
child (``bench.run.isolation``: a keeper and a sandboxed worker) builds and trains the model,
predicts, and leaves its parameters and attractor analysis in the scratch folder. It answers
with a :class:`ModelReport` as plain data (:data:`REPORT_SCHEMA`, ``bench.run.wire``). The parent
computes every metric, moves the files into place and writes the result.

The keeper holds the child's whole process tree to a wall-clock and a memory limit
(:data:`LIMITS`, per profile). Every way a child can end becomes a status and a reason:

- an exception: ``failed``;
- a non-finite loss: ``diverged``;
- a timeout: ``timeout``;
- running out of memory (the limit, or the kernel's out-of-memory killer): ``oom``;
- a crash (segfault, a kill it sent itself): ``failed``, with the signal;
- an answer that is not plain data of the schema: ``failed``.

Inside the child, the task API refuses the test split (:data:`bench.spec.tasks.SEALED`), and the
sandbox (``bench.run.sandbox``) hides the results, the data cache and bundled archives.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UserError, is_out_of_memory
from bench.run import isolation, wire
from bench.run.isolation import STOP, Limits
from bench.spec.registry import ModelSpec
from bench.train.timing import OtherLoad
from bench.train.training import Diverged, Outcome, TrainSpec

TRAINERS = {"torch": "bench.train.train_torch", "jax": "bench.train.train_jax"}
ENSEMBLE_TRAINERS = {"torch": "bench.train.ensemble_torch", "jax": "bench.train.ensemble_jax"}


__all__ = ["LIMITS", "STOP", "EnsembleJob", "Limits", "ModelJob", "ModelReport", "run_ensemble",
           "run_ensemble_isolated", "run_isolated", "run_job"]

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
    threads: int | None = None  # the most intra-op threads PyTorch may use (cores / cells)


@dataclass
class EnsembleJob:
    """Cells trained as one program (``bench.train.ensemble_*``): a job per member, all of one
    model, framework, data, evaluation inputs and scratch folder; their result names differ."""
    members: list[ModelJob]


@dataclass
class ModelReport:
    status: str = "ok"
    reason: str | None = None
    predictions: dict[str, Any] = field(default_factory=dict)
    n_params: int | None = None
    timing: dict[str, Any] = field(default_factory=dict)
    peak_memory: dict[str, Any] = field(default_factory=dict)
    nfe: dict[str, Any] | None = None
    curve: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # file name in the scratch folder
    attractor: dict[str, Any] | None = None


def run_job(job: ModelJob) -> ModelReport:
    """Train, predict and analyse in this process; a model's error becomes the report's status."""
    try:
        module = job.model.load(job.framework)
        trainer = importlib.import_module(TRAINERS[job.framework])
        threads = limit_threads(job)
        load = OtherLoad()
        out = trainer.fit_predict(module, job.spec, job.train, job.validation, job.inputs)
        out.timing["other_cpu_share"] = load.share()  # contention the times carry
        if threads is not None:
            out.timing["threads"] = threads
    except Exception as e:
        return _failure(e)
    return _finished(out, job)


def run_ensemble(job: EnsembleJob) -> list[ModelReport]:
    """Train every member of ``job`` as one program (``bench.train.ensemble_*``), then save
    and analyse each as :func:`run_job` would; one report per member, in order."""
    from bench.train.ensemble import CannotEnsemble

    first = job.members[0]
    try:
        module = first.model.load(first.framework)
        trainer = importlib.import_module(ENSEMBLE_TRAINERS[first.framework])
        threads = limit_threads(first)
        load = OtherLoad()
        outs = trainer.fit_predict_ensemble(module, [m.spec for m in job.members],
                                            first.train, first.validation, first.inputs)
        share = load.share()
        for out in outs:
            if not isinstance(out, Diverged):
                out.timing["other_cpu_share"] = share
                if threads is not None:
                    out.timing["threads"] = threads
    except CannotEnsemble as e:  # the harness trains the cells one by one
        return [ModelReport(status="failed", reason=str(e))] * len(job.members)
    except Exception as e:  # the program failed: every member with it
        return [_failure(e)] * len(job.members)
    return [ModelReport(status="diverged", reason=str(out)) if isinstance(out, Diverged)
            else _finished(out, member) for member, out in zip(job.members, outs, strict=True)]


def limit_threads(job: ModelJob) -> int | None:
    """Hold PyTorch to ``job.threads`` intra-op threads (never more than it has); the number
    it then uses, or None where nothing was limited. Cells run side by side each keep their
    share of the cores: PyTorch's default, a thread per core in every cell, oversubscribes
    them, and its waiting threads spin (a torchcde model ran 20-30x slower, two cells on two
    cores; docs/performance.md)."""
    if job.threads is None or job.framework != "torch":
        return None
    import torch

    torch.set_num_threads(max(1, min(job.threads, torch.get_num_threads())))
    return torch.get_num_threads()


def _failure(e: BaseException) -> ModelReport:
    """What a training that raised reports."""
    if isinstance(e, Diverged):
        return ModelReport(status="diverged", reason=str(e))
    if isinstance(e, UserError):  # e.g. a submission without build(): this cell fails, others go on
        return ModelReport(status="failed", reason=str(e))
    # a model's own error must not stop the other cells
    last = traceback.extract_tb(e.__traceback__)[-1]
    return ModelReport(status="oom" if is_out_of_memory(e) else "failed",
                       reason=f"{type(e).__name__}: {e} ({Path(last.filename).name}:{last.lineno})")


def _finished(out: Outcome, job: ModelJob) -> ModelReport:
    """A trained model's report; its parameters and analysis left in the scratch folder."""
    from bench.run import analyze
    from bench.train import checkpoints

    report = ModelReport()
    report.predictions, report.n_params = out.predictions, out.n_params
    report.timing, report.peak_memory = out.timing, out.peak_memory
    report.nfe, report.curve = out.nfe, out.curve
    if out.model is not None and job.save:
        try:
            where = job.scratch / job.result_name
            ckpt = checkpoints.path_for(where, job.framework)
            checkpoints.save(out.model, job.framework, ckpt)
            report.checkpoint = ckpt.name
            if job.analysis is not None:
                a = job.analysis
                report.attractor = analyze.analyse_model(
                    out.model, job.framework, a["task"], a["profile"], a["device"], where,
                    a["title"], test=a["test"], probe=a["probe"])
        except Exception as e:  # the predictions stand; the files are missing, and why
            last = traceback.extract_tb(e.__traceback__)[-1]
            report.checkpoint = None
            report.attractor = {"status": "failed", "reason": f"saving or analysing the "
                                f"model: {type(e).__name__}: {e} "
                                f"({Path(last.filename).name}:{last.lineno})"}
    return report


# What a training cell's child may answer (bench.run.wire): plain data only.
REPORT_SCHEMA = {
    "status": str, "reason": (str, type(None)),
    "predictions": wire.MapOf(wire.Array("f")),
    "n_params": (int, type(None)),
    "timing": wire.MapOf((wire.Number, str, bool, type(None))),
    "peak_memory": wire.MapOf((wire.Number, type(None))),
    "nfe": (wire.MapOf(wire.JSON), type(None)),
    "curve": wire.MapOf((wire.Number, type(None), wire.ListOf((wire.Number, type(None))))),
    "checkpoint": (str, type(None)),
    "attractor": (wire.MapOf(wire.JSON), type(None)),
}
ENSEMBLE_SCHEMA = {"members": wire.ListOf(REPORT_SCHEMA)}
CHILD_STATUSES = ("ok", "failed", "diverged", "oom")


def child_main(job: ModelJob) -> dict[str, Any]:
    """The worker's target: :func:`run_job`, as plain data."""
    return asdict(run_job(job))


def ensemble_main(job: EnsembleJob) -> dict[str, Any]:
    """The worker's target for an ensemble: :func:`run_ensemble`, as plain data."""
    return {"members": [asdict(r) for r in run_ensemble(job)]}


def _problem(report: dict[str, Any], job: ModelJob) -> str | None:
    """What is wrong with a decoded report, beyond its schema (None: nothing)."""
    if report["status"] not in CHILD_STATUSES:
        return f"unknown status {report['status']!r}"
    if report["status"] != "ok":
        return None
    missing = sorted(set(job.inputs) - set(report["predictions"]))
    if missing:
        return f"no predictions for {', '.join(missing)}"
    for name, pred in report["predictions"].items():
        given = job.inputs.get(name)
        if given is None:
            return f"predictions for {name!r}, which it was not asked for"
        if pred.shape[:2] != given["inputs"].shape[:2]:
            return (f"predictions for {name} of shape {pred.shape}; the inputs are "
                    f"{given['inputs'].shape}")
    return None


def _compile_cache(job: ModelJob) -> Path | None:
    """The model's own JAX compile cache (``bench.train.compile_cache``); None for PyTorch."""
    if job.framework != "jax":
        return None
    return isolation.compile_cache_dir(job.model.kind, job.model.name)


def _isolated(target: str, job: ModelJob | EnsembleJob, lead: ModelJob, limits: Limits,
              schema: Any, results_dirs: Sequence[Path]
              ) -> tuple[isolation.Outcome, dict[str, Any], ModelReport | None]:
    """``target`` of this module on ``job`` in a sandboxed child, in ``lead``'s scratch folder
    with its model's compile cache: the outcome, the sandbox's record, and the report of a
    child that ended without answering (None when it answered)."""
    out = isolation.run(f"bench.run.model_process:{target}", job, lead.scratch, limits, schema,
                        results_dirs, framework=lead.framework,
                        compile_cache=_compile_cache(lead))
    sandbox = {**out.sandbox, "keeper": {k: out.verdict.get(k) for k in
                                         ("peak_memory_gb", "leftover_processes")}}
    if out.returned:
        return out, sandbox, None
    status, reason = isolation.ended(out, limits)
    return out, sandbox, ModelReport(status=status, reason=reason)


def run_isolated(job: ModelJob, limits: Limits,
                 results_dirs: Sequence[Path] = ()) -> tuple[ModelReport, dict[str, Any]]:
    """:func:`run_job` in a sandboxed, contained child (``bench.run.isolation``) held to ``limits``.

    Returns the report and the sandbox's record (for the result's provenance). The child's
    files are left in ``job.scratch``; the caller moves them.
    """
    out, sandbox, ended = _isolated("child_main", job, job, limits, REPORT_SCHEMA,
                                    results_dirs)
    if ended is not None:
        return ended, sandbox
    problem = _problem(out.value, job)
    if problem:
        return ModelReport(status="failed", reason=f"the cell's process sent an unusable "
                           f"report: {problem}"), sandbox
    return ModelReport(**out.value), sandbox


def run_ensemble_isolated(job: EnsembleJob, limits: Limits, results_dirs: Sequence[Path] = ()
                          ) -> tuple[list[ModelReport], dict[str, Any]]:
    """:func:`run_ensemble` in one sandboxed child, as :func:`run_isolated`. The child's wall
    clock is the members' limits together: they train one after another's worth of work."""
    first, m = job.members[0], len(job.members)
    limits = Limits(limits.wall_s * m, limits.memory_gb)
    out, sandbox, ended = _isolated("ensemble_main", job, first, limits, ENSEMBLE_SCHEMA,
                                    results_dirs)
    if ended is not None:
        return [ended] * m, sandbox
    reports = out.value["members"]
    if len(reports) != m:
        return [ModelReport(status="failed", reason=(
            f"the ensemble's process sent {len(reports)} reports for {m} members"))
            for _ in range(m)], sandbox
    answers = []
    for report, member in zip(reports, job.members, strict=True):
        problem = _problem(report, member)
        answers.append(ModelReport(status="failed", reason=f"the ensemble's process sent an "
                                   f"unusable report: {problem}") if problem
                       else ModelReport(**report))
    return answers, sandbox
