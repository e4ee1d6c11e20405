"""The harness against models that misbehave: a model that outputs NaN or meets a huge learning
rate is a diverged cell, one that raises, answers in the wrong shape or kills its own process
is a failed cell, and the other cells of the run go on."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SMOKE_TASK

from bench.run import harness
from bench.spec import registry
from bench.spec.cells import Cell
from bench.spec.tasks import get_task

pytestmark = pytest.mark.slow  # trains and runs cells


NAN_MODEL = '''
import torch


class NaNModel(torch.nn.Module):
    def __init__(self, n_outputs):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.n_outputs = n_outputs

    def forward(self, x, dt):
        return x.new_full((*x.shape[:2], self.n_outputs), float("nan")) * self.w


def build(config, n_inputs, n_outputs):
    return NaNModel(n_outputs)
'''


RAISING_MODEL = '''
import torch


class Broken(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x, dt):
        raise RuntimeError("this model is broken")


def build(config, n_inputs, n_outputs):
    return Broken()
'''


WRONG_SHAPE_MODEL = '''
import torch


class OneOutput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, dt):
        return x[..., :1] * self.w


def build(config, n_inputs, n_outputs):
    return OneOutput()
'''


CRASHING_MODEL = '''
import os


def build(config, n_inputs, n_outputs):
    os._exit(7)  # as a segfault or an OOM kill would: no exception, no goodbye
'''


def test_nan_model_is_diverged_and_other_cells_still_run(tmp_path, fake_submissions):
    name = fake_submissions(NAN_MODEL)
    models = registry.discover()
    task = get_task(SMOKE_TASK)
    cells = [Cell(models[name], "torch", task, 0),
             Cell(models["gru"], "torch", task, 0)]
    report = harness.run(cells, "smoke", "cpu", tmp_path / "res", echo=lambda s: None)
    assert len(report.done) == 1 and "gru" in report.done[0]
    assert len(report.problems) == 1 and name in report.problems[0]
    assert "diverged" in report.problems[0]
    bad = json.loads(next((tmp_path / "res").rglob(f"{name}-torch-seed0.json")).read_text())
    assert bad["status"] == "diverged" and "nan" in bad["reason"].lower()
    assert bad["metrics"] == {} and bad["model_kind"] == "submission"
    good = json.loads(next((tmp_path / "res").rglob("gru-torch-seed0.json")).read_text())
    assert good["status"] == "ok"


def test_huge_learning_rate_diverges_as_a_variant(tmp_path, models):
    task = get_task(SMOKE_TASK)
    cells = [Cell(models["gru"], "torch", task, 0)]
    report = harness.run(cells, "smoke", "cpu", tmp_path, overrides={"lr": 1e30},
                         echo=lambda s: None)
    assert report.done == [] and len(report.problems) == 1
    (path,) = list(tmp_path.rglob("*.json"))
    assert path.name == "gru+lr=1e+30-torch-seed0.json"  # never mixed with the standard run
    doc = json.loads(path.read_text())
    assert doc["status"] == "diverged"
    assert doc["variant"] == "lr=1e+30"
    assert doc["config"]["training"]["lr"] == 1e30


def test_raising_and_misshaped_models_are_failed_cells(tmp_path, fake_submissions):
    raising, misshaped = fake_submissions(RAISING_MODEL), fake_submissions(WRONG_SHAPE_MODEL)
    models = registry.discover()
    task = get_task(SMOKE_TASK)
    cells = [Cell(models[raising], "torch", task, 0),
             Cell(models[misshaped], "torch", task, 0)]
    report = harness.run(cells, "smoke", "cpu", tmp_path, echo=lambda s: None)
    assert report.done == [] and len(report.problems) == 2
    docs = {d["model"]: d for d in map(json.loads, (p.read_text()
                                                    for p in tmp_path.rglob("*.json")))}
    assert docs[raising]["status"] == "failed"
    assert re.search(r"RuntimeError: this model is broken \(torch_model\.py:\d+\)",
                     docs[raising]["reason"])
    assert docs[misshaped]["status"] == "failed"
    assert "(100, 100, 1)" in docs[misshaped]["reason"]
    assert "(100, 100, 2)" in docs[misshaped]["reason"]


def test_a_dying_cell_is_failed_and_the_rest_go_on(tmp_path, fake_submissions):
    name = fake_submissions(CRASHING_MODEL)
    models = registry.discover()
    task = get_task(SMOKE_TASK)
    cells = [Cell(models[name], "torch", task, 0),
             Cell(models["gru"], "torch", task, 0)]
    report = harness.run(cells, "smoke", "cpu", tmp_path, echo=lambda s: None)
    assert len(report.done) == 1 and "gru" in report.done[0]
    doc = json.loads(next(tmp_path.rglob(f"{name}-torch-seed0.json")).read_text())
    assert doc["status"] == "failed" and "exit code 7" in doc["reason"]
    assert doc["config"]["training"]["epochs"] == 2  # a complete document all the same
