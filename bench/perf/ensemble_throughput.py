"""How many cells an hour: one cell alone (its own trainer) against ensembles of 9 and 27
trained as one program (``bench.train.ensemble_jax``, ``bench.train.ensemble_torch``), and the
start-up each separate cell pays.

A case is a real cell: a baseline on a flip-flop task at the quick profile, its own data and
training settings. An ensemble of M holds M members of the authors' grid shape (seeds, learning
rates and weight decays differ,
at the cell's batch size). Each size is measured in a fresh process, so the compile is
paid as a cell would pay it:

- ``startup_s``: a model process's imports (python, and jax, equinox and optax or torch) before
  any work;
- ``compile_s``: the program's compile (JAX; PyTorch runs eagerly: 0);
- ``step_median_s``: one training step of the whole ensemble, median over ``TIMED`` steps (the first
  two are not timed).

A cell's training is ``steps_per_cell`` steps (its epochs times its batches), so
``cells_per_hour = 3600 * M / (startup_s + compile_s + steps_per_cell * step_median_s)``; the
evaluation and the analysis, the same per member either way, are left out. Ratios are taken
against one cell trained alone, measured in the same run.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SIZES = {"cpu": [1, 9, 27], "gpu": [1, 9, 27, 81]}
# torch.nn.GRU has no vmap batching rule (its cells train alone): the mGRU stands in for it.
CASES = [("gnode", "jax", "flipflop-2bit-ring"), ("gru", "jax", "flipflop-2bit-ring"),
         ("gnode", "torch", "flipflop-2bit-ring"), ("mgru", "torch", "flipflop-2bit-ring")]
PROFILE = "quick"
TIMED = 22  # training steps each size runs (the first two are not timed)
EVAL = 20  # sequences the short run validates and predicts on
# what a cell's model process imports, per framework
STARTUP = {"jax": "import jax, equinox, optax, numpy", "torch": "import torch, numpy"}


@dataclass(frozen=True)
class Case:
    model: str
    task: str
    members: int
    device: str = "cpu"
    framework: str = "jax"

    @property
    def label(self) -> str:
        return f"{self.model}/{self.framework} {self.task} ensemble of {self.members}"


def cases(device_class: str, models: list[str] | None = None,
          frameworks: tuple[str, ...] = ("jax", "torch")) -> list[Case]:
    device = "cpu" if device_class == "cpu" else "cuda"
    return [Case(m, t, n, device, f) for m, f, t in CASES for n in SIZES[device_class]
            if (models is None or m in models) and f in frameworks]


def startup_s(framework: str, repeats: int = 3) -> float:
    """Median wall-clock of a fresh interpreter importing what a cell of ``framework``
    imports."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", STARTUP[framework]], check=True)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def _specs(case: Case) -> tuple[Any, list, dict, int]:
    """The cell's module, M member specs, the train split, and the steps one cell trains.

    The members take the authors' learning rates and weight decays (9 pairs) at the cell's own
    batch size, then further seeds: a program's members share their batch size."""
    from bench.run.tuning import settings
    from bench.spec.cells import resolve_training
    from bench.spec.registry import discover
    from bench.spec.tasks import get_task
    from bench.train.training import TrainSpec

    task, model = get_task(case.task), discover()[case.model]
    config, training = resolve_training(task, model, PROFILE, {})
    train = task.load_split("train", PROFILE)
    pairs = sorted({(g["lr"], g["weight_decay"]) for g in settings(task, "paper")})
    base = TrainSpec(config=config, training=training, seed=0, device=case.device,
                     n_inputs=train["inputs"].shape[-1], n_outputs=train["targets"].shape[-1])
    specs = [dataclasses.replace(base, seed=i // len(pairs), training={
        **training, "lr": pairs[i % len(pairs)][0], "weight_decay": pairs[i % len(pairs)][1]})
        for i in range(case.members)]
    batch = min(training["batch_size"], len(train["inputs"]))
    steps = training["epochs"] * math.ceil(len(train["inputs"]) / batch)
    return model.load(case.framework), specs, train, steps


def short_run(case: Case, timed: int = TIMED,
              ready: Callable[[], None] | None = None) -> dict[str, Any]:
    """In this (fresh) process: the real trainer for the few epochs that make ``timed`` steps
    (the solo cell's own trainer for one member, the ensemble trainer for more); its compile
    and its median step time. ``ready`` is called once everything is loaded, just before the
    training starts."""
    import importlib

    module, specs, train, steps = _specs(case)
    per_epoch = steps // specs[0].training["epochs"]
    short = [dataclasses.replace(s, training={**s.training, "epochs": math.ceil(timed / per_epoch)})
             for s in specs]
    few = {k: v[:EVAL] for k, v in train.items()}  # validation and test: not what is timed
    evaluate = {"test": {k: few[k] for k in ("inputs", "dt")}}
    if ready is not None:
        ready()
    if case.members == 1:
        solo = importlib.import_module(f"bench.train.train_{case.framework}")
        timing = solo.fit_predict(module, short[0], train, few, evaluate).timing
    else:
        together = importlib.import_module(f"bench.train.ensemble_{case.framework}")
        members = together.fit_predict_ensemble(module, short, train, few, evaluate)
        timing = next(m.timing for m in members if hasattr(m, "timing"))
    return {"compile_s": timing["compile_s"] or 0.0, "step_median_s": timing["step_median_s"],
            "timed_steps": timing["timed_steps"], "steps_per_cell": steps}


def measure(case: Case, startup: float) -> dict[str, Any]:
    """One size, measured in a process of its own."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        part = pool.apply(short_run, (case,))
    per_program = startup + part["compile_s"] + part["steps_per_cell"] * part["step_median_s"]
    return {"kind": "ensemble", "model": case.model, "framework": case.framework,
            "task": case.task, "profile": PROFILE, "members": case.members,
            "startup_s": startup, **part,
            "cells_per_hour": 3600 * case.members / per_program}


def with_speedups(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record's throughput over one cell of its case trained alone in the same run."""
    def key(r: dict[str, Any]) -> tuple[str, str, str]:
        return r["model"], r["framework"], r["task"]

    solo = {key(r): r["cells_per_hour"] for r in records if r["members"] == 1}
    return [{**r, "x_solo": r["cells_per_hour"] / solo[key(r)] if solo.get(key(r)) else None}
            for r in records]


def record_name(r: dict[str, Any]) -> str:
    return f"ensemble-{r['model']}-{r['framework']}-{r['task']}-m{r['members']}"
