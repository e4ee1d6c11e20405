"""One cell, from its data to its result document.

It resolves the configuration, generates the data, hands the training and validation splits
and the test *inputs* to the model's process (``bench.run.model_process``), and computes the
metrics on the test targets itself. Writing the document is the harness's
(``bench.run.harness``).
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import atomic, results
from bench.analysis import hold, memory
from bench.data import sequences
from bench.errors import UserError
from bench.models import impl
from bench.results import environment, trust
from bench.run import analyze, isolation, model_process, wire
from bench.spec import metrics
from bench.spec.cells import (
    TEST_DATA,
    Cell,
    device_class,
    fingerprint_of,
    resolve_training,
    variant,
)
from bench.spec.tasks import SPLITS, Task
from bench.train import checkpoints
from bench.train.training import TrainSpec

TRAJECTORIES = 4  # generated trajectories a capacity task's result keeps
CURVE_POINTS = 200  # loss-curve points a capacity task's result keeps

def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def result_document(cell: Cell, profile: str, device: str,
                    overrides: dict[str, Any]) -> dict[str, Any]:
    """A result document for the cell, before training: identity, config, no metrics."""
    task, model = cell.task, cell.model
    config, training = resolve_training(task, model, profile, overrides)
    return {
        "_started": _now(),
        "schema_version": results.SCHEMA_VERSION,
        "task": task.name, "task_version": task.version,
        "model": model.name, "model_kind": model.kind, "framework": cell.framework,
        "device": device, "device_class": device_class(device), "seed": cell.seed,
        "K": cell.size, "capacity": task.capacity, "profile": profile,
        "variant": variant(overrides),
        "fingerprint": fingerprint_of(cell, profile, config, training),
        "code_sha256": trust.code_sha256(model, cell.framework, config),
        "status": "ok", "reason": None,
        "metrics": {}, "primary_metric": task.primary_metric,
        "higher_is_better": task.higher_is_better, "n_params": None, "timing": {},
        "peak_memory": {}, "nfe": None, "curve": {}, "example": None, "attractor": None,
        "hold": None,
        "checkpoint": None,
        "config": {"model": config, "training": training,
                   "task": {"data": task.data, "splits": task.splits}},
    }


def provenance_record(device: str, started: str, isolated: bool,
                      requirements: list[str] | None = None) -> dict[str, Any]:
    """Where, when, with what and how a cell ran; ``requirements``: the model's own pinned
    packages (``bench.spec.requirements``), recorded when it has any."""
    return {
        **environment.git_state(),
        **environment.software(),
        "hardware": environment.hardware(device_class(device)),
        "command": environment.command_line(),
        "isolated": isolated,  # the model ran in a child process of its own
        "impl": impl.selected(),  # fast or reference: the same function, other arithmetic
        "started_at": started,
        "finished_at": _now(),
        **({"requirements": list(requirements)} if requirements else {}),
    }


def data_seeds(task: Task, kind: str) -> dict[str, int]:
    """The seeds of the held-out data a cell is scored on: the test split's and the memory
    probes'. ``public``: the task file's; ``secret``: drawn now from the operating system,
    never equal to a public seed of the task, recorded in the result after scoring."""
    mem = task.extra.get("memory") or {}
    public = {"test": int(task.splits["test"]["seed"]),
              **{k: int(mem[k]["seed"]) for k in ("long_delay", "drift") if k in mem}}
    if kind == "public":
        return public
    taken = {int(spec["seed"]) for spec in task.splits.values()} | set(public.values())
    out = {}
    for name in public:
        seed = secrets.randbelow(2**31)
        while seed in taken:
            seed = secrets.randbelow(2**31)
        out[name] = seed
        taken.add(seed)
    return out


def _evaluation_sets(task: Task, profile: str, test: dict, probes: bool = True,
                     seeds: dict[str, int] | None = None) -> tuple[dict, dict]:
    """(inputs the trainer predicts on, targets and probes the harness keeps)."""
    sets = {"test": {"inputs": test["inputs"], "dt": test["dt"]}}  # targets stay here
    kept: dict[str, Any] = {}
    if probes and any(m in metrics.MEMORY_METRICS for m in task.metrics):  # validated
        seeds = seeds or {}
        kept["long_delay"] = memory.long_delay_split(task, profile, seeds.get("long_delay"))
        kept["drift"] = memory.drift_probe(task, profile, seeds.get("drift"))
    if probes and hold.spec(task) is not None:
        kept["hold"] = hold.probe(task)
    sets.update({k: {"inputs": v["inputs"], "dt": v["dt"]} for k, v in kept.items()})
    return sets, kept


def thinned(curve: dict[str, Any], points: int = CURVE_POINTS) -> dict[str, Any]:
    """The loss curves at every k-th epoch (and the last), k chosen to keep ``points`` or fewer:
    capacity searches train for thousands of epochs in many cells."""
    n = len(curve.get("train_loss", []))
    every = max(1, -(-n // points))
    keep = sorted({*range(0, n, every), n - 1}) if n else []
    return {**curve, "every": every,
            **{k: [curve[k][i] for i in keep] for k in ("train_loss", "val_loss") if k in curve}}


@dataclass
class Prepared:
    """A cell made ready for its model's process: its document, data and job, and what the
    harness keeps (the test targets, the probes, the example trial)."""
    cell: Cell
    profile: str
    device: str
    doc: dict[str, Any]
    path: Path | None  # where the result will be written; None for a tuning cell
    kind: str  # the test data: public, secret or training
    seeds: dict[str, int]
    train: dict[str, Any]
    validation: dict[str, Any]
    test: dict[str, Any]
    sets: dict[str, dict[str, Any]]  # what the model's process predicts on: inputs only
    probes: dict[str, Any]
    trial: dict[str, Any] | None
    spec: TrainSpec
    analysis: dict[str, Any] | None

    def job(self, scratch: Path, threads: int | None = None) -> model_process.ModelJob:
        return model_process.ModelJob(self.cell.model, self.cell.framework, self.spec,
                                      self.train, self.validation, self.sets, scratch,
                                      self.path.name if self.path else "cell.json",
                                      self.analysis, save=self.path is not None,
                                      threads=threads)


def prepare(cell: Cell, profile: str, device: str, overrides: dict[str, Any],
            path: Path | None = None, data_of: Prepared | None = None) -> Prepared:
    """Resolve the cell's config and make its data. ``data_of``: a cell of the same shape
    trained beside this one (``bench.run.ensembles``), whose data and held-out seeds this cell
    shares instead of making its own."""
    task, model = cell.task, cell.model
    doc = result_document(cell, profile, device, overrides)
    tuning = cell.role == "tuning"
    path = None if tuning else path
    if cell.test_data not in TEST_DATA:
        raise UserError(f"test data {cell.test_data!r}: use one of {', '.join(TEST_DATA)}")
    # a capacity task scores the fit to its training targets: there is nothing to hold back
    kind = "training" if task.capacity is not None else cell.test_data
    if data_of is not None:  # the same objects: the job pickles them once for all members
        d = data_of
        seeds, train, validation, test = d.seeds, d.train, d.validation, d.test
        sets, probes, trial = d.sets, d.probes, d.trial
    else:
        seeds, train, validation, test, sets, probes, trial = _data(cell, profile, kind)
    spec = TrainSpec(config=doc["config"]["model"], training=doc["config"]["training"],
                     seed=cell.seed, device=device, n_inputs=train["inputs"].shape[-1],
                     n_outputs=sequences.n_outputs(task, train),
                     label=f"{model.name}/{cell.framework} {task.name} s{cell.seed}")
    analysis_job = None
    if path is not None:  # the analysis sees inputs only, like the trainer
        probe = probes.get("hold")
        analysis_job = {"task": task, "profile": profile, "device": device,
                        "title": analyze.title_for(doc), "test": sets["test"],
                        "probe": None if probe is None else
                        {k: probe[k] for k in ("inputs", "dt", "start")}}
    return Prepared(cell, profile, device, doc, path, kind, seeds, train, validation, test, sets,
                    probes, trial, spec, analysis_job)


def _data(cell: Cell, profile: str, kind: str) -> tuple:
    """(seeds, train, validation, test, the sets the model predicts on, the probes kept here,
    the example trial) of a cell."""
    task, model, tuning = cell.task, cell.model, cell.role == "tuning"
    seeds = data_seeds(task, kind) if kind != "training" else {}
    train, validation, test = (task.load_split(s, profile, cell.size, seed=seeds.get(s))
                               for s in SPLITS)
    if sequences.gets_elapsed_time(task, model):
        unit = float(task.data["dt"])
        train, validation, test = (sequences.with_elapsed_time(s, unit)
                                   for s in (train, validation, test))
    sets, probes = _evaluation_sets(task, profile, test, probes=not tuning, seeds=seeds)
    trial = None if tuning else sequences.example_trial(task, profile)
    if trial is not None:  # public, whatever seed the test split has; its targets stay here
        seen = (sequences.with_elapsed_time(trial, float(task.data["dt"]))
                if sequences.gets_elapsed_time(task, model) else trial)
        sets["example"] = {"inputs": seen["inputs"], "dt": seen["dt"]}
    return seeds, train, validation, test, sets, probes, trial


def run_cell(cell: Cell, profile: str, device: str, overrides: dict[str, Any],
             path: Path | None = None, isolate: bool = True,
             limits: model_process.Limits | None = None,
             results_dir: Path | None = None, threads: int | None = None) -> dict[str, Any]:
    """Run one cell; return its result document.

    This process generates the data and keeps the test targets. The model is built, trained
    and made to predict by :mod:`bench.run.model_process`: in a child process held to ``limits``
    (``isolate``, the default), or here (tests). With ``path`` (where the result will be
    written), the trained parameters and the attractor analysis are placed beside it. A
    tuning cell keeps only what selection needs: no probes, parameters or analysis.
    ``threads``: the most intra-op threads the model's PyTorch may use.
    """
    if isolate:  # the child's libraries load while this process makes the data
        isolation.warm([cell.framework])
    p = prepare(cell, profile, device, overrides, path)
    with isolation.scratch_folder() as scratch:
        job = p.job(Path(scratch), threads)
        if isolate:
            out, confinement = model_process.run_isolated(
                job, limits or model_process.LIMITS[profile],
                [results_dir] if results_dir is not None else [])
        else:
            out, confinement = model_process.run_job(job), NOT_ISOLATED
        return finish(p, out, Path(scratch), confinement, isolate)


def run_cells_together(cells: list[tuple[Cell, dict[str, Any], Path | None]], profile: str,
                       device: str, isolate: bool = True,
                       limits: model_process.Limits | None = None,
                       results_dir: Path | None = None,
                       threads: int | None = None) -> list[dict[str, Any]]:
    """Run cells (each with its overrides and result path) as one program
    (``bench.train.ensemble_jax``, ``ensemble_torch``); their result documents, in order.

    The cells share their data (one draw of secret seeds, made once) and one model process; each
    result is what its cell alone would have written, to float32 tolerance, and records the
    ensemble (``timing.ensemble_members``: its timing is the whole program's).
    """
    if isolate:
        isolation.warm([cells[0][0].framework])
    first, overrides, path = cells[0]
    lead = prepare(first, profile, device, overrides, path)
    prepared = [lead] + [prepare(c, profile, device, o, p, data_of=lead)
                         for c, o, p in cells[1:]]
    with isolation.scratch_folder() as scratch:
        job = model_process.EnsembleJob([p.job(Path(scratch), threads) for p in prepared])
        if isolate:
            outs, confinement = model_process.run_ensemble_isolated(
                job, limits or model_process.LIMITS[profile],
                [results_dir] if results_dir is not None else [])
        else:
            outs, confinement = model_process.run_ensemble(job), NOT_ISOLATED
        return [finish(p, out, Path(scratch), confinement, isolate)
                for p, out in zip(prepared, outs, strict=True)]


NOT_ISOLATED: dict[str, Any] = {"enforced": False, "mechanism": "none",
                                "reason": "not isolated (a test's in-process run)"}


def finish(p: Prepared, out: model_process.ModelReport, scratch: Path,
           confinement: dict[str, Any], isolate: bool) -> dict[str, Any]:
    """The cell's result document from its model's report: files into place, the metrics."""
    cell, task, doc, path, spec, test = p.cell, p.cell.task, p.doc, p.path, p.spec, p.test
    tuning, probes, trial = cell.role == "tuning", p.probes, p.trial
    if path is not None:  # the child's files, into place atomically
        expected = {checkpoints.path_for(path, cell.framework).name,
                    path.with_suffix(".slowpoints.json").name, path.with_suffix(".png").name}
        names = [n for n in (out.checkpoint, *_analysis_files(out.attractor)) if n]
        if any(n not in expected for n in names):
            out = model_process.ModelReport(status="failed", reason=(
                f"the model's process named unexpected files {sorted(set(names) - expected)}"))
        for name in names if out.status == "ok" else []:
            try:  # never through a link the model's process planted
                data = wire.read_file(Path(scratch) / name, wire.MAX_ARRAY_BYTES)
            except wire.WireError as e:
                out = model_process.ModelReport(status="failed", reason=(
                    f"the model's process left an unusable file: {e}"))
                break
            atomic.write_bytes_atomic(path.with_name(name), data)
    if out.status != "ok":
        doc.update(status=out.status, reason=out.reason)
    else:
        pred = out.predictions["test"]
        problem = sequences.shape_problem(pred, test, spec.n_outputs)
        # A state that blows up while holding is a memory that failed, scored as such by the
        # hold probe, not a diverged cell. A tuning cell's outcome is its training alone: the
        # selection must not see the test split, not even whether its predictions are finite.
        bad = [k for k, pr in out.predictions.items()  # the example only draws a plot
               if k not in ("hold", "example") and not tuning and not np.all(np.isfinite(pr))]
        if problem:
            doc.update(status="failed", reason=problem)
        elif bad:
            doc.update(status="diverged", reason=f"non-finite predictions on {', '.join(bad)}")
        elif tuning:
            doc["metrics"] = {}
        else:
            doc["metrics"] = metrics.compute(task.metrics, pred, test["targets"],
                                             test.get("lengths"))
            if "long_delay" in probes:
                doc["metrics"].update(memory.long_delay_metrics(
                    out.predictions["long_delay"], probes["long_delay"]))
                doc["metrics"].update(memory.drift_metrics(
                    out.predictions["drift"], probes["drift"]))
            if "hold" in probes:
                doc["hold"] = hold.metrics(out.predictions["hold"], probes["hold"], task)
            if trial is not None and np.all(np.isfinite(out.predictions["example"])):
                doc["example"] = sequences.example_record(trial, out.predictions["example"])
            elif task.capacity is not None:  # the first targets and their generation
                doc["trajectories"] = {
                    "targets": test["targets"][:TRAJECTORIES].round(3).tolist(),
                    "outputs": pred[:TRAJECTORIES].round(3).tolist()}
            if path is not None and out.checkpoint:
                ckpt = path.with_name(out.checkpoint)
                doc["checkpoint"] = {"file": ckpt.name, "sha256": checkpoints.sha256(ckpt),
                                     "n_inputs": spec.n_inputs, "n_outputs": spec.n_outputs}
                doc["attractor"] = out.attractor
        doc.update(n_params=out.n_params, timing=out.timing, peak_memory=out.peak_memory,
                   nfe=out.nfe, curve=out.curve if task.capacity is None else thinned(out.curve))
    doc["provenance"] = provenance_record(p.device, doc.pop("_started"), isolate,
                                          cell.model.requirements)
    doc["provenance"]["sandbox"] = confinement
    # revealed only now, after the model's process is gone: anyone can regenerate the data
    doc["test_data"], doc["data_seeds"] = p.kind, p.seeds
    return doc


def _analysis_files(attractor: dict[str, Any] | None) -> list[str]:
    """The files an attractor analysis left: its slow points and its portrait."""
    a = attractor or {}
    return [a[k] for k in ("points_file", "portrait") if a.get(k)]


