"""Shared fixtures: the repository root, the model registry, and one small smoke run.

The smoke run (three cells on flipflop-2bit-ring, seed 0) is made once per session and shared
by the harness, results and leaderboard tests; tests that change result files copy them first.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bench.spec.cells import Cell, fingerprint_of, resolve_training

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("gnode", "gru", "lstm", "mgru", "node", "rnn")
SMOKE_TASK = "flipflop-2bit-ring"
SMOKE_CELLS = (("gnode", "torch"), ("gnode", "jax"), ("gru", "torch"))


# Fixtures that train models: a test that uses one is slow (`make test-fast` leaves it out).
TRAINING_FIXTURES = {"smoke_run", "result_template", "make_doc", "capacity_setup",
                     "capacity_run", "ray_session"}


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def own_running_registry(tmp_path_factory):
    """Cells this test process runs count only each other as "beside" (timing.cells_beside),
    never another run on the same machine."""
    from bench.run import executors

    saved = executors.RUNNING
    executors.RUNNING = tmp_path_factory.mktemp("running")
    yield
    executors.RUNNING = saved


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def models():
    from bench.spec.registry import discover

    return discover()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, models):
    """Run SMOKE_CELLS through ``bench.run.harness.run`` once; return (results_dir, report, docs).

    ``docs`` maps (model, framework) to the parsed JSON result file.
    """
    from bench.run import harness
    from bench.spec.tasks import get_task

    task = get_task(SMOKE_TASK)
    out = tmp_path_factory.mktemp("smoke-results")
    cells = [Cell(models[m], fw, task, 0) for m, fw in SMOKE_CELLS]
    lines: list[str] = []
    report = harness.run(cells, "smoke", "cpu", out, echo=lines.append)
    docs = {}
    for m, fw in SMOKE_CELLS:
        path = out / f"{SMOKE_TASK}@v{task.version}" / "smoke" / "cpu" / f"{m}-{fw}-seed0.json"
        docs[(m, fw)] = json.loads(path.read_text())
    return out, report, docs


@pytest.fixture(scope="session")
def result_template(smoke_run) -> dict:
    """A real, valid result document (gnode/torch) to derive synthetic ones from, its example
    trial inline (the folders built from it have no shared file; bench.results.store)."""
    from bench.results import store

    doc = copy.deepcopy(smoke_run[2][("gnode", "torch")])
    store.hydrate(smoke_run[0], [doc])
    return doc


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
        # timed on a quiet machine: the template's own measure depends on what ran beside it
        doc["timing"]["other_cpu_share"] = 0.0
        _current(doc)
        return doc

    return make


def _current(doc: dict) -> None:
    """Give a synthetic document the fingerprint and code hash of the code it names, as if
    it had just been run (``bench.results.trust`` would otherwise call it stale)."""
    from bench.results import trust
    from bench.spec.registry import discover
    from bench.spec.tasks import get_task, task_files

    model = discover().get(doc["model"])
    if model is None or doc["framework"] not in model.frameworks:
        return
    current_task = (doc["task"] in task_files() and get_task(doc["task"]).version
                    == doc["task_version"] and doc["profile"] in get_task(doc["task"]).profiles)
    if current_task:  # the config this model resolves to now, as a fresh run records it
        config, training = resolve_training(get_task(doc["task"]), model, doc["profile"], {})
        doc["config"] = {**doc["config"], "model": config, "training": training}
    doc["code_sha256"] = trust.code_sha256(model, doc["framework"], doc["config"]["model"])
    if not current_task:
        return
    cell = Cell(model, doc["framework"], get_task(doc["task"]), doc["seed"],
                        size=doc.get("K"))
    doc["fingerprint"] = fingerprint_of(cell, doc["profile"], doc["config"]["model"],
                                                doc["config"]["training"])


# A capacity task small enough for tests, and a model whose capacity is known: a linear map
# from the cue (the input at the first step) to the whole trajectory fits any K <= cue_dim
# targets exactly, and cannot fit K > cue_dim random ones.
CAPACITY_TASK = {
    "name": "capacity-test", "version": 1, "generator": "expressivity",
    "data": {"n_steps": 40, "dt": 0.05, "dims": 2, "length_scale": 0.5, "cue_dim": 4,
             "cue_steps": 5},
    "capacity": {"sizes": [1, 2, 4, 8, 16], "threshold": 0.9, "metric": "trajectory_r2",
                 "seed": 0},
    "metrics": ["trajectory_r2", "r2", "mse"], "primary_metric": "trajectory_r2",
    "higher_is_better": {"trajectory_r2": True, "r2": True, "mse": False},
    "training": {"optimizer": "adamw", "lr": 0.05, "weight_decay": 0.0, "betas": [0.9, 0.999],
                 "batch_size": 16, "loss": "mse"},
    "profiles": {p: {"epochs": 1000, "grid": {"models": ["cue-lookup"], "N": [2], "L": [1],
                                              "width": 4}}
                 for p in ("smoke", "quick", "paper")},
}
CUE_LOOKUP = '''
"""Linear lookup on the cue: y[:, t] = (A c)[t], c the input at the first step."""
from torch import nn


class CueLookup(nn.Module):
    def __init__(self, n_inputs, n_outputs, n_steps):
        super().__init__()
        self.A = nn.Linear(n_inputs, n_steps * n_outputs, bias=False)
        self.n_outputs = n_outputs

    def forward(self, x, dt):
        return self.A(x[:, 0]).reshape(x.shape[0], x.shape[1], self.n_outputs)


def build(config, n_inputs, n_outputs):
    return CueLookup(n_inputs, n_outputs, config["n_steps"])
'''


@pytest.fixture(scope="session")
def capacity_setup(tmp_path_factory):
    """(task, model): the small capacity task and the cue-lookup model (K* = cue_dim = 4)."""
    import yaml

    from bench.spec.registry import ModelSpec, validate_metadata
    from bench.spec.tasks import load_task_file

    folder = tmp_path_factory.mktemp("capacity")
    task_file = folder / "capacity-test.yaml"
    task_file.write_text(yaml.safe_dump(CAPACITY_TASK))
    model_dir = folder / "cue-lookup"
    model_dir.mkdir()
    (model_dir / "torch_model.py").write_text(CUE_LOOKUP)
    meta = {"name": "cue-lookup", "authors": "tests", "framework": "torch",
            "description": "Linear lookup on the cue.", "link": "",
            "config": {"n_steps": CAPACITY_TASK["data"]["n_steps"]}}
    model = ModelSpec("cue-lookup", "submission", model_dir, validate_metadata(meta, model_dir))
    return load_task_file(task_file), model


@pytest.fixture(scope="session")
def capacity_run(tmp_path_factory, capacity_setup):
    """One capacity search of the cue-lookup model, in this process:
    (results_dir, report, echoed lines)."""
    import torch

    from bench.run import capacity

    task, model = capacity_setup
    out = tmp_path_factory.mktemp("capacity-results")
    lines: list[str] = []
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny steps: see one_torch_thread
    try:
        report = capacity.run([capacity.Search(model, "torch", task, 0, {})], "smoke", "cpu",
                              out, echo=lines.append, isolate=False)
    finally:
        torch.set_num_threads(before)
    return out, report, lines


@pytest.fixture(scope="module")
def one_torch_thread():
    """The searches run many tiny steps: one intra-op thread is much faster for them, and it
    keeps the timings sane when other processes hold the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fake_submissions(tmp_path_factory, monkeypatch):
    """Make submission folders in a tmp dir that the registry scans beside the baselines
    (apart from the tests' results folders, which the sandbox hides); ``add(code)`` makes one
    from a ``torch_model.py`` and returns its name."""
    import uuid

    import yaml

    from bench.spec import registry

    folder = tmp_path_factory.mktemp("submissions")
    monkeypatch.setattr(registry, "SOURCES", {"baseline": ROOT / "baselines",
                                              "submission": folder})

    def add(code: str) -> str:
        name = f"fake-{uuid.uuid4().hex[:10]}"  # modules are cached by name: never reuse
        (folder / name).mkdir()
        (folder / name / "metadata.yaml").write_text(yaml.safe_dump({
            "name": name, "authors": "Test", "framework": "torch",
            "description": "A fake model.", "link": "-", "config": {}}))
        (folder / name / "torch_model.py").write_text(code)
        return name

    return add
