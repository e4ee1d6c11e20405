"""The capacity search (``bench.run.capacity``): the grid, the stopping rule, resuming, and K*
recomputed from result files; against a model whose capacity is known (conftest)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CAPACITY_TASK

from bench import results
from bench.errors import UserError
from bench.report.frame import flatten
from bench.results import capacity_scores, store
from bench.run import capacity
from bench.spec.registry import discover as discover_models
from bench.spec.tasks import get_task

pytestmark = [pytest.mark.slow,  # trains capacity searches
              pytest.mark.usefixtures("one_torch_thread")]

CUE_DIM = CAPACITY_TASK["data"]["cue_dim"]


def _docs(results_dir):
    return {int(d["K"]): d for d in results.load_all(results_dir)}


def test_search_stops_at_the_first_failure_and_records_every_k_tried(capacity_run):
    out, report, lines = capacity_run
    docs = _docs(out)
    sizes = CAPACITY_TASK["capacity"]["sizes"]
    first_fail = sizes[sizes.index(CUE_DIM) + 1]
    # every K up to and including the first failure has a result file; none after it
    assert sorted(docs) == [k for k in sizes if k <= first_fail]
    assert len(report.done) == len(docs) and not report.problems
    for K, d in docs.items():
        assert d["K"] == K and d["status"] == "ok"
        assert d["capacity"] == CAPACITY_TASK["capacity"]
        assert capacity_scores.passes(d, d["capacity"]) == (K <= CUE_DIM)
    assert lines[-1].endswith(f"K* = {CUE_DIM}")


def test_a_model_that_represents_the_targets_exactly_scores_r2_near_one(capacity_run):
    docs = _docs(capacity_run[0])
    # K <= cue_dim: a linear map from the cue fits every trajectory
    assert docs[1]["metrics"]["trajectory_r2"] > 0.999
    assert docs[2]["metrics"]["trajectory_r2"] > 0.999
    assert docs[CUE_DIM]["metrics"]["trajectory_r2"] > 0.9
    # twice as many random targets as cue dimensions: at most half the variance is reachable
    assert docs[2 * CUE_DIM]["metrics"]["trajectory_r2"] < 0.6


def test_the_targets_and_their_generation_are_kept(capacity_run):
    d = _docs(capacity_run[0])[2]
    assert set(d["trajectories"]) == {"trial_sha256", "outputs"}  # the targets: once per K
    store.hydrate(capacity_run[0], [d])
    tr = d["trajectories"]
    n_steps = CAPACITY_TASK["data"]["n_steps"]
    assert np.asarray(tr["targets"]).shape == (2, n_steps, 2)
    np.testing.assert_allclose(tr["outputs"], tr["targets"], atol=2e-3)
    assert d["example"] is None  # the trajectories replace the held-out example
    assert len(d["curve"]["val_loss"]) <= 201 and d["curve"]["every"] >= 1


def test_capacities_recomputes_k_star_from_the_files(capacity_run):
    df = pd.DataFrame([flatten(d) for d in results.load_all(capacity_run[0])])
    s = capacity_scores.capacities(df)
    assert len(s) == 1
    row = s.iloc[0]
    assert row.K_star == CUE_DIM and row.complete and row.largest == 16
    assert [K for K, _ in row.tried] == sorted(_docs(capacity_run[0]))  # (K, score), in order
    assert row.failed_score < 0.6


def test_rerun_skips_finished_cells_and_resumes_at_the_first_missing_k(
        tmp_path, capacity_setup, capacity_run):
    import shutil

    task, model = capacity_setup
    out = tmp_path / "r"
    shutil.copytree(capacity_run[0], out)
    search = [capacity.Search(model, "torch", task, 0, {})]
    again = capacity.run(search, "smoke", "cpu", out, echo=lambda s: None, isolate=False)
    assert not again.done and len(again.skipped) == len(_docs(out))
    victim = next(out.rglob("*-K2-seed0.json"))
    before = {p.name: p.read_bytes() for p in out.rglob("*.json") if p != victim}
    victim.unlink()
    resumed = capacity.run(search, "smoke", "cpu", out, echo=lambda s: None, isolate=False)
    assert [n.split(" K=")[1].split()[0] for n in resumed.done] == ["2"]
    assert {p.name: p.read_bytes() for p in out.rglob("*.json") if p != victim} == before


def test_seeds_of_one_configuration_search_in_lock_step_as_one_program(
        tmp_path, capacity_setup, capacity_run):
    """Two seeds of the cue-lookup model: at every K they train as one program, and each K's
    result equals the same seed's search alone (the solo seed 0 is the fixture's run, of the
    same settings) to float32 tolerance; both find K* = cue_dim."""
    task, model = capacity_setup
    searches = [capacity.Search(model, "torch", task, s, {}) for s in (0, 1)]
    together, alone = tmp_path / "together", tmp_path / "alone"
    lines: list[str] = []
    report = capacity.run(searches, "smoke", "cpu", together, echo=lines.append,
                          isolate=False)
    capacity.run(searches[1:], "smoke", "cpu", alone, echo=lambda s: None, isolate=False)
    tried = sorted(_docs(capacity_run[0]))
    assert not report.problems and len(report.done) == 2 * len(tried)
    assert sum("(one program of 2)" in line for line in lines) == 2 * len(tried)
    assert sum(line.endswith(f"K* = {CUE_DIM}") for line in lines) == 2
    solo = {(d["seed"], d["K"]): d for d in [*results.load_all(capacity_run[0]),
                                               *results.load_all(alone)]}
    docs = results.load_all(together)
    assert sorted((d["seed"], d["K"]) for d in docs) == sorted(solo)
    for d in docs:
        ref = solo[(d["seed"], d["K"])]
        assert d["timing"]["ensemble_members"] == 2 and d["fingerprint"] == ref["fingerprint"]
        for name, value in ref["metrics"].items():
            assert d["metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_lock_step_resumes_each_seed_at_its_own_k_and_ends_after_the_last_size(
        tmp_path, capacity_setup):
    """Sizes that all pass (K <= cue_dim), and seed 0's results on file but its K = 2: at
    K = 1 and 4 seeds 1-2 train as one program and seed 0's file is read, at K = 2 all three
    train; every seed passes every K and is reported once."""
    task, model = capacity_setup
    task = dataclasses.replace(task, extra={
        **task.extra, "capacity": {**task.capacity, "sizes": [1, 2, 4]}})
    out = tmp_path / "r"
    capacity.run([capacity.Search(model, "torch", task, 0, {})], "smoke", "cpu", out,
                 echo=lambda s: None, isolate=False)
    next(out.rglob("*-K2-seed0.json")).unlink()
    lines: list[str] = []
    report = capacity.run([capacity.Search(model, "torch", task, s, {}) for s in (0, 1, 2)],
                          "smoke", "cpu", out, echo=lines.append, isolate=False)
    assert len(report.skipped) == 2 and len(report.done) == 7 and not report.problems
    assert sum("(one program of 2)" in line for line in lines) == 4
    assert sum("(one program of 3)" in line for line in lines) == 3
    assert sorted(line.rsplit("seed ", 1)[1] for line in lines if "K* =" in line) == [
        f"{s}: K* = 4" for s in (0, 1, 2)]
    docs = results.load_all(out)
    assert sorted((d["seed"], d["K"]) for d in docs) == [(s, k) for s in (0, 1, 2)
                                                         for k in (1, 2, 4)]


def test_local_jobs_keep_a_unit_each(tmp_path, capacity_setup, monkeypatch):
    """Three seeds on two local jobs: one lock-step unit would leave a job idle, so each seed
    is a unit of its own; on one job they make one unit."""
    from bench.run import executors, scheduler

    task, model = capacity_setup
    searches = [capacity.Search(model, "torch", task, s, {}) for s in (0, 1, 2)]
    units: list[list] = []
    monkeypatch.setattr(scheduler, "schedule", lambda ex, fn, u, **kw: units.append(u))
    for jobs in (2, 1):
        capacity.run(searches, "smoke", "cpu", tmp_path, executor=executors.Local(jobs),
                     isolate=False)
    assert units == [searches, [capacity.Searches(tuple(searches))]]


def test_a_seed_leaves_the_lock_step_at_its_own_first_failure(monkeypatch):
    """Three seeds with K* 0, 2 and 4 (scores made up per seed and K): each K trains only the
    seeds still searching, one alone once the others have left; each K* is reported once."""
    from bench.run import harness
    from bench.run.scheduler import Settings

    task = get_task("expressivity-smooth")
    k_star = {0: 0, 1: 2, 2: 4}
    asked: list[tuple[int, list[int]]] = []

    def score(cell):
        return {"status": "ok", "metrics": {"trajectory_r2": 0.95 if cell.size <= k_star[
            cell.seed] else 0.5}}

    def group(g, settings, report, echo):
        asked.append((g.cells[0].size, [c.seed for c in g.cells]))
        return [score(c) for c in g.cells]

    monkeypatch.setattr(harness, "process_group", group)
    model = next(iter(discover_models().values()))
    unit = capacity.Searches(tuple(capacity.Search(model, "jax", task, s, {"N": 2})
                                   for s in k_star))
    lines: list[str] = []
    capacity.run_search(unit, Settings("quick", "cpu", Path("."), False, {}, False, None, 1),
                        lines.append)
    assert asked == [(1, [0, 1, 2]), (2, [1, 2]), (4, [1, 2]), (8, [2])]
    assert sorted(line.rsplit("seed ", 1)[1] for line in lines) == [
        f"{s}: K* = {k}" for s, k in k_star.items()]


def test_grouped_searches_share_everything_but_the_seed(capacity_setup):
    task, model = capacity_setup
    a = [capacity.Search(model, "torch", task, s, {}) for s in (0, 1, 2)]
    b = [capacity.Search(model, "torch", task, s, {"n_steps": 40}) for s in (0, 1)]
    units = capacity.grouped(a + b, max_members=2)
    assert units == [capacity.Searches(tuple(a[:2])), a[2], capacity.Searches(tuple(b))]
    assert capacity.grouped(a + b, max_members=1) == a + b


def _row(K, score, status="ok", seed=0, **kw):
    return {"task": "t", "task_version": 1, "profile": "quick", "device_class": "cpu",
            "hardware": "h", "entry": "gnode", "model_name": "gnode", "framework": "jax",
            "N": 8, "L": 2, "seed": seed, "K": K, "status": status,
            "metric.trajectory_r2": score if status == "ok" else np.nan,
            "capacity": {"sizes": [1, 2, 4, 8], "threshold": 0.9, "metric": "trajectory_r2"},
            "n_params": 100, "train_total_s": 1.0, "standard": True, **kw}


@pytest.mark.parametrize("rows, k_star, complete", [
    ([(1, 0.99), (2, 0.95), (4, 0.5)], 2, True),
    ([(1, 0.5)], 0, True),
    ([(1, 0.99), (2, 0.99), (4, 0.99), (8, 0.91)], 8, True),  # every size passed
    ([(1, 0.99), (2, 0.99)], None, False),  # unfinished: K = 4 not run yet
    ([(1, 0.99), (4, 0.99)], None, False),  # a gap: K = 2 missing
    ([(1, 0.99), (2, None, "diverged")], 1, True),  # a diverged K is a failure
    ([(1, 0.99), (2, 0.5), (4, 0.99)], 1, True),  # a stale K past the failure is ignored
])
def test_k_star_rules(rows, k_star, complete):
    df = pd.DataFrame([_row(*r) for r in rows])
    s = capacity_scores.capacities(df).iloc[0]
    assert s.complete == complete
    assert (np.isnan(s.K_star) if k_star is None else s.K_star == k_star)


def test_capacities_of_results_without_capacity_tasks_is_empty():
    df = pd.DataFrame([{"task": "flipflop", "K": None, "status": "ok"}])
    assert capacity_scores.capacities(df).empty


def test_grid_varies_depth_only_for_models_with_widths(models):
    task = get_task("expressivity-smooth")
    grid = task.profile("quick")["grid"]
    g = capacity.grid(models["gnode"], task, "quick")
    assert g == [{"N": n, "widths": [grid["width"]] * L} for n in grid["N"] for L in grid["L"]]
    assert capacity.grid(models["gru"], task, "quick") == [{"N": n} for n in grid["N"]]
    assert capacity.grid(models["node"], task, "paper", N=[4], L=[1, 3]) == [
        {"N": 4, "widths": [100]}, {"N": 4, "widths": [100, 100, 100]}]


def test_grid_needs_a_model_with_n(capacity_setup):
    task, model = capacity_setup
    with pytest.raises(UserError, match="no config key N"):
        capacity.grid(model, task, "quick")


def test_passes_needs_an_ok_result_at_the_threshold():
    cap = {"metric": "trajectory_r2", "threshold": 0.9}
    assert capacity_scores.passes({"status": "ok", "metrics": {"trajectory_r2": 0.9}}, cap)
    assert not capacity_scores.passes({"status": "ok", "metrics": {"trajectory_r2": 0.89}}, cap)
    assert not capacity_scores.passes({"status": "diverged", "metrics": {}}, cap)


def test_entry_keeps_the_command_line_variant_but_not_the_grid():
    doc = {"model": "gnode", "variant": "N=8,lr=0.01,widths=[32]", "run_variant": "lr=0.01"}
    assert capacity_scores.entry(doc) == "gnode [lr=0.01]"
    assert capacity_scores.entry({**doc, "run_variant": ""}) == "gnode"
    old = {"model": "gnode", "variant": "N=8,widths=[32]", "standard": True}
    assert capacity_scores.entry(old) == "gnode"


@pytest.mark.parametrize("values, expected", [
    ([4], 4), ([0, 4, 4], 4), ([2, 4], 2), ([1, 2, 8, 16], 2), ([np.float64(8.0), 8.0], 8)])
def test_k_star_over_seeds_is_the_lower_median_a_k_that_was_tried(values, expected):
    assert capacity_scores.over_seeds(values) == expected
    with pytest.raises(ValueError):
        capacity_scores.over_seeds([])
