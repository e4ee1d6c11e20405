"""Shared fixtures: the repository root, the model registry, and one small smoke run.

The smoke run (three cells on flipflop-2bit-ring, seed 0) is made once per session and shared
by the harness, results and leaderboard tests; tests that change result files copy them first.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("gnode", "gru", "lstm", "mgru", "node", "rnn")
SMOKE_TASK = "flipflop-2bit-ring"
SMOKE_CELLS = (("gnode", "torch"), ("gnode", "jax"), ("gru", "torch"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def models():
    from bench.registry import discover

    return discover()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, models):
    """Run SMOKE_CELLS through ``bench.harness.run`` once; return (results_dir, report, docs).

    ``docs`` maps (model, framework) to the parsed JSON result file.
    """
    from bench import harness
    from bench.tasks import get_task

    task = get_task(SMOKE_TASK)
    out = tmp_path_factory.mktemp("smoke-results")
    cells = [harness.Cell(models[m], fw, task, 0) for m, fw in SMOKE_CELLS]
    lines: list[str] = []
    report = harness.run(cells, "smoke", "cpu", out, echo=lines.append)
    docs = {}
    for m, fw in SMOKE_CELLS:
        path = out / f"{SMOKE_TASK}@v{task.version}" / "smoke" / "cpu" / f"{m}-{fw}-seed0.json"
        docs[(m, fw)] = json.loads(path.read_text())
    return out, report, docs


@pytest.fixture(scope="session")
def result_template(smoke_run) -> dict:
    """A real, valid result document (gnode/torch) to derive synthetic ones from."""
    return smoke_run[2][("gnode", "torch")]


@pytest.fixture
def make_doc(result_template):
    """Build a valid result document from the template with the given fields changed.

    ``mse``/``r2`` set the metrics; ``device_class`` also sets ``device`` (and a GPU name for
    the hardware label); ``status`` other than ok clears the metrics as the harness does.
    """

    def make(*, model="gnode", framework="torch", seed=0, mse=0.5, r2=None, status="ok",
             device_class="cpu", task=SMOKE_TASK, task_version=1, profile="smoke",
             model_kind="baseline", primary_metric="mse", higher_is_better=None):
        doc = copy.deepcopy(result_template)
        doc.update(model=model, framework=framework, seed=seed, status=status, task=task,
                   task_version=task_version, profile=profile, model_kind=model_kind,
                   device_class=device_class, device="cuda" if device_class == "gpu" else "cpu",
                   primary_metric=primary_metric,
                   higher_is_better=higher_is_better or {"mse": False, "r2": True})
        if device_class == "gpu":
            doc["provenance"]["hardware"] = {**doc["provenance"]["hardware"],
                                             "gpu": "Test GPU 80GB", "gpu_memory_gb": 80.0}
        if status == "ok":
            doc["metrics"] = {"mse": mse, "r2": 1.0 - mse if r2 is None else r2}
            doc["reason"] = None
        else:
            doc["metrics"] = {}
            doc["reason"] = "training loss is nan in epoch 1"
        return doc

    return make
