"""External tuning (bench/run/tuning.py, ``python -m bench tune``): the grid, the selection, and the
tuned cells, on the smoke profile."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bench import results
from bench.cli import main
from bench.errors import UserError
from bench.report.leaderboard import build
from bench.run import harness, tuning
from bench.run.cell import run_cell
from bench.spec.cells import Cell, fingerprint
from bench.spec.tasks import get_task

pytestmark = pytest.mark.slow  # trains tuning grids

TASK = "flipflop-2bit-ring"
# lr 10 diverges at once: a setting that fails must never be selected
GRID = {"lr": [1e-3, 3e-2, 10.0], "batch_size": [50]}


@pytest.fixture(scope="module")
def task():
    t = get_task(TASK)
    return dataclasses.replace(t, extra={**t.extra, "tuning": {**t.extra["tuning"],
                                                               "test": GRID}})


@pytest.fixture(scope="module")
def study(task, models, tmp_path_factory):
    """The whole study on gnode/torch, in this process: search on seed 0, train seeds 0, 1."""
    out = tmp_path_factory.mktemp("tuning")
    s = tuning.Study(models["gnode"], "torch", task)
    lines: list[str] = []
    harness.run(tuning.tuning_cells(s, "test", [0]), "smoke", "cpu", out, isolate=False,
                echo=lines.append)
    record = tuning.select(s, "test", [0], "smoke", "cpu", out, {})
    harness.run(tuning.tuned_cells(s, record, [0, 1]), "smoke", "cpu", out, isolate=False,
                echo=lines.append)
    return out, s, record


def test_the_paper_grid_is_the_authors_27_settings_in_grid_order():
    grid = tuning.settings(get_task("flipflop-2bit-square"), "paper")
    assert len(grid) == 27 and len({json.dumps(g, sort_keys=True) for g in grid}) == 27
    assert grid[0] == {"lr": 1e-4, "weight_decay": 1e-3, "batch_size": 10}
    assert grid[-1] == {"lr": 1e-2, "weight_decay": 1e-1, "batch_size": 100}
    assert {g["batch_size"] for g in grid} == {10, 50, 100}
    with pytest.raises(UserError, match="no tuning grid 'nope'"):
        tuning.settings(get_task("flipflop-2bit-square"), "nope")


def test_tuning_cells_keep_only_what_selection_needs(study):
    out, _, _ = study
    files = sorted((out / f"{TASK}@v2" / "smoke" / "cpu" / "tuning").iterdir())
    assert [f.suffix for f in files] == [".json"] * 3  # no parameters, portraits, slow points
    for f in files:
        doc = results.read(f)
        assert doc["role"] == "tuning" and doc["config"]["training"]["batch_size"] == 50
        assert doc["example"] is None and doc["hold"] is None and doc["checkpoint"] is None
        assert "trajectories" not in doc
        assert doc["metrics"] == {}  # the selection never sees the test split


def test_selection_is_the_lowest_best_validation_loss_and_skips_a_diverged_setting(study):
    out, _, record = study
    docs = {results.read(f)["config"]["training"]["lr"]: results.read(f)
            for f in (out / f"{TASK}@v2" / "smoke" / "cpu" / "tuning").iterdir()}
    assert docs[10.0]["status"] == "diverged"
    best = {lr: min(d["curve"]["val_loss"]) for lr, d in docs.items() if d["status"] == "ok"}
    assert record["selected"] == {"lr": min(best, key=best.get), "batch_size": 50}
    by_lr = {r["lr"]: r for r in record["settings"]}
    assert by_lr[10.0]["mean_val_loss"] is None and by_lr[10.0]["status"] == ["diverged"]
    for lr, loss in best.items():
        assert by_lr[lr]["mean_val_loss"] == pytest.approx(loss)


def test_tuned_cells_record_the_study_and_equal_a_plain_run_of_the_setting(study, models,
                                                                           task, tmp_path):
    out, _, record = study
    folder = out / f"{TASK}@v2" / "smoke" / "cpu"
    docs = [results.read(folder / f"gnode+tuned=test-torch-seed{s}.json") for s in (0, 1)]
    for d in docs:
        assert d["role"] == "tuned" and d["ruleset"] == "tuned" and d["variant"] == "tuned=test"
        assert d["tuning"] == record  # the whole grid and selection
        assert d["config"]["training"]["lr"] == record["selected"]["lr"]
        assert d["hold"]["memory_auc"] is not None  # evaluated like any cell
    # the same setting run as an ordinary cell with command-line overrides: the same model
    plain = run_cell(Cell(models["gnode"], "torch", task, 0), "smoke", "cpu",
                     {**record["selected"], "config": {}}, isolate=False)
    # trained alike; scored alike where the data are fixed (each draws its own secret test
    # split). The tuned seeds trained as one program: alike to float32 tolerance.
    assert plain["curve"]["best_epoch"] == docs[0]["curve"]["best_epoch"]
    for name in ("train_loss", "val_loss"):
        assert plain["curve"][name] == pytest.approx(docs[0]["curve"][name], rel=1e-5)
    assert plain["hold"]["memory_auc"] == pytest.approx(docs[0]["hold"]["memory_auc"], abs=1e-4)


def test_a_tuned_cell_is_rerun_when_its_study_changed(study, task):
    out, s, record = study
    cell = tuning.tuned_cells(s, record, [0])[0]
    overrides, path, _ = harness.locate(cell, "smoke", "cpu", out, {})
    assert harness._rerun_reason(path, cell, "smoke", overrides, out) is None
    other = {**record, "tuning_seeds": [0, 1]}  # same selection, another search
    moved = tuning.tuned_cells(s, other, [0])[0]
    assert "tuning study" in harness._rerun_reason(path, moved, "smoke", overrides, out)


def test_select_names_a_missing_tuning_cell(study, tmp_path):
    _, s, _ = study
    with pytest.raises(UserError, match=r"3 tuning cell.*no result yet"):
        tuning.select(s, "test", [0], "smoke", "cpu", tmp_path, {})


def test_the_leaderboard_ranks_tuned_entries_apart_and_never_shows_tuning_cells(study,
                                                                              tmp_path):
    out, _, record = study
    build(out, tmp_path / "board")
    readme = (tmp_path / "board" / "README.md").read_text()
    assert "· tuned: external tuning on a declared grid (bench tune)" in readme
    assert "gnode [tuned=test]" in readme and "lr=10" not in readme
    import pandas as pd

    csv = pd.read_csv(tmp_path / "board" / "results.csv")
    assert set(csv.role) == {"tuned"} and len(csv) == 2  # the two tuned seeds, no tuning cell
    claims_md = (tmp_path / "board" / "claims.md").read_text()
    assert "## The authors' protocol: smoke profile, tuned" in claims_md
    chosen = ", ".join(f"{k} {v:g}" for k, v in record["selected"].items())
    assert f"| {chosen} " in claims_md


def test_fingerprints_ignore_grids_hold_settings_and_other_profiles(models, task):
    t = get_task("flipflop-2bit-square")
    cell = Cell(models["gnode"], "jax", t, 0)
    fp = fingerprint(cell, "quick", {})
    mem = {**t.extra["memory"], "hold": {**t.extra["memory"]["hold"], "epsilon": 0.3}}
    changed = dataclasses.replace(
        t, profiles={**t.profiles, "paper": {"epochs": 999}},
        extra={**t.extra, "memory": mem, "tuning": {"x": {"lr": [1.0]}}})
    assert fingerprint(Cell(models["gnode"], "jax", changed, 0), "quick",
                               {}) == fp
    quick = dataclasses.replace(t, profiles={**t.profiles, "quick": {"epochs": 7}})
    assert fingerprint(Cell(models["gnode"], "jax", quick, 0), "quick",
                               {}) != fp


@pytest.mark.parametrize("argv, message", [
    (["--lr", "0.1"], "tune chooses --lr from the grid"),
    (["--grid", "nope"], "declares no tuning grid 'nope'"),
    (["--task", "expressivity-smooth"], "tune runs on held-out tasks"),
])
def test_tune_command_line_errors_are_one_line(argv, message, capsys, tmp_path):
    code = main(["tune", "--results-dir", str(tmp_path), "--profile", "smoke", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_task_files_reject_a_malformed_grid(tmp_path):
    from bench.spec.task_schema import tuning_problem

    assert tuning_problem({"paper": {"lr": [1e-3], "momentum": [0.9]}}) is not None
    assert "positive numbers" in tuning_problem({"p": {"lr": [0.0]}})
    assert "integers >= 1" in tuning_problem({"p": {"batch_size": [10.5]}})
    assert tuning_problem({"p": {"lr": [1e-3], "weight_decay": [0.0], "batch_size": [1]}}) \
        is None
    assert np.isinf(tuning.best_val_loss({"status": "diverged", "curve": {}}))
