"""Resuming a run (``bench.run.harness``): a done cell is skipped and FORCE reruns it; a cell
runs again when its config or code changed, when it failed last time, or when its file was
edited by hand; prose changes nothing."""

from __future__ import annotations

import json

import pytest
from conftest import SMOKE_TASK

from bench import results
from bench.results import ledger
from bench.run import harness
from bench.spec import registry
from bench.spec.cells import Cell, fingerprint
from bench.spec.tasks import get_task

pytestmark = pytest.mark.slow  # trains and runs cells


LINEAR_MODEL = '''
import torch


class Linear(torch.nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.lin = torch.nn.Linear(n_inputs, n_outputs)

    def forward(self, x, dt):
        return self.lin(x)


def build(config, n_inputs, n_outputs):
    return Linear(n_inputs, n_outputs)
'''


def test_resume_skips_done_cells_and_force_reruns(tmp_path, models):
    task = get_task(SMOKE_TASK)
    cells = [Cell(models["gru"], "torch", task, 0)]
    first = harness.run(cells, "smoke", "cpu", tmp_path, echo=lambda s: None)
    assert len(first.done) == 1
    (path,) = results.result_files(tmp_path)
    stat, text = path.stat(), path.read_text()

    lines: list[str] = []
    again = harness.run(cells, "smoke", "cpu", tmp_path, echo=lines.append)
    assert again.done == [] and len(again.skipped) == 1 and again.problems == []
    assert lines == ["1 cell done already, skipped (the result on file is current); FORCE=1 "
                     "reruns them"]  # one summary line, none per cell
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (stat.st_mtime_ns, stat.st_ino)
    assert path.read_text() == text

    forced = harness.run(cells, "smoke", "cpu", tmp_path, force=True, echo=lambda s: None)
    assert len(forced.done) == 1 and forced.skipped == []
    assert path.stat().st_ino != stat.st_ino  # a new file was renamed over the old one
    # an official rerun is scored on a new secret draw; its training is the same
    old, new = json.loads(text), json.loads(path.read_text())
    assert new["data_seeds"] != old["data_seeds"]
    assert new["curve"]["train_loss"] == old["curve"]["train_loss"]
    # the open run on the public seeds reproduces the first run's hold metric (fixed probe)
    opened = harness.run(cells, "smoke", "cpu", tmp_path, force=True, echo=lambda s: None,
                         test_data="public")
    assert len(opened.done) == 1
    doc = json.loads(path.read_text())
    assert doc["test_data"] == "public" and doc["hold"] == old["hold"]


def test_changed_config_or_failed_cell_runs_again(tmp_path, fake_submissions):
    name = fake_submissions(LINEAR_MODEL)
    task = get_task(SMOKE_TASK)

    def run():
        lines: list[str] = []
        cell = Cell(registry.discover()[name], "torch", task, 0)
        report = harness.run([cell], "smoke", "cpu", tmp_path, echo=lines.append)
        return report, lines

    first, _ = run()
    assert len(first.done) == 1
    again, _ = run()
    assert again.skipped and not again.done
    meta = next(registry.SOURCES["submission"].glob(f"{name}/metadata.yaml"))
    meta.write_text(meta.read_text().replace("config: {}", "config: {N: 3}"))
    changed, lines = run()
    assert len(changed.done) == 1 and "changed" in lines[0]
    (path,) = results.result_files(tmp_path)
    doc = json.loads(path.read_text())
    ledger.write_result(tmp_path, path, {**doc, "status": "failed", "reason": "test"})
    retried, lines = run()
    assert len(retried.done) == 1 and "failed last time" in lines[0]
    path.write_text(path.read_text().replace('"ok"', '"ok" '))  # edited by hand: not the suite's
    redone, lines = run()
    assert len(redone.done) == 1 and "not one the suite wrote" in lines[0]


def test_fingerprint_ignores_prose_but_not_config(tmp_path, fake_submissions):
    name = fake_submissions(LINEAR_MODEL)
    task = get_task(SMOKE_TASK)

    def fp():
        return fingerprint(Cell(registry.discover()[name], "torch", task, 0),
                                   "smoke", {})

    meta = next(registry.SOURCES["submission"].glob(f"{name}/metadata.yaml"))
    before = fp()
    meta.write_text(meta.read_text().replace("A fake model.", "A fake model, described anew."))
    assert fp() == before
    meta.write_text(meta.read_text().replace("config: {}", "config: {N: 3}"))
    assert fp() != before
    code = meta.parent / "torch_model.py"
    changed = fp()
    code.write_text(code.read_text() + "\n# a change to the model's code\n")
    assert fp() != changed
