"""``bench.perf.step_time`` (the training-step timer) and ``bench.report.perf_report`` on tiny
sizes."""

from __future__ import annotations

import pytest

from bench.perf import step_time
from bench.report import perf_report

pytestmark = pytest.mark.slow  # times training steps


def test_cases_cover_every_baseline_and_both_implementations(models):
    baselines = {n: m for n, m in models.items() if m.kind == "baseline"}
    cases = step_time.cases(baselines, ["torch", "jax"], [(4, 5, 6)])
    names = {(c.model, c.framework, c.solver, c.impl) for c in cases}
    assert ("gnode", "torch", "dopri5", "fast") in names
    assert ("node", "jax", "euler", "reference") in names
    assert ("gru", "torch", None, "fast") in names and ("rnn", "jax", None, "reference") in names
    # On a CPU the implementations differ for the fixed-step ODE models only: gnode and node
    # (Euler twice, dopri5 once), mgru and rnn twice; gru and lstm once.
    assert len(cases) == 2 * (3 + 3 + 2 + 2 + 1 + 1)
    gpu = step_time.cases(baselines, ["torch"], [(4, 5, 6)], device="cuda")
    assert {c.impl for c in gpu if c.model == "gru"} == {"fast", "reference"}  # graph, eager


def test_ode_cases_use_one_tanh_layer_of_width_n(models):
    config = step_time.Case("gnode", "torch", 4, 5, 6, "euler").config(models["gnode"])
    assert config["N"] == 6 and config["widths"] == [6] and config["activation"] == "tanh"
    assert config["solver"] == "euler" and config["steps_per_interval"] == 1
    dopri = step_time.Case("node", "jax", 4, 5, 6, "dopri5").config(models["node"])
    assert (dopri["rtol"], dopri["atol"]) == (1e-3, 1e-4)
    assert step_time.Case("gru", "torch", 4, 5, 6).config(models["gru"])["N"] == 6


@pytest.mark.parametrize("model, framework, solver, backprop", [
    ("gnode", "torch", "euler", "full"), ("gnode", "jax", "euler", "full"),
    ("gnode", "torch", "euler", "checkpoint"), ("gnode", "jax", "euler", "adjoint"),
    ("gru", "torch", None, "full"), ("node", "torch", "dopri5", "full"),
    ("node", "jax", "dopri5", "full")])
def test_measure_times_a_training_step(models, model, framework, solver, backprop):
    case = step_time.Case(model, framework, 3, 6, 5, solver, backprop=backprop, repeats=4)
    r = step_time.measure(case, models[model], "cpu")
    assert r["step_median_ms"] > 0 and r["step_iqr_ms"] >= 0 and r["repeats"] == 4
    assert (r["compile_s"] is not None) == (framework == "jax")
    assert r["peak_host_rss_mb"] > 0 and r["peak_gpu_mb"] is None and r["cuda_graph"] is False
    assert r["activations_mb"] > 0
    assert (r["nfe_forward"] is not None) == (solver == "dopri5")  # adaptive runs count NFE
    # The fast path is checked against the reference: float32 rounding, or the adjoint's error
    if solver == "euler":
        assert r["parity_grad_rel"] < (1e-4 if backprop != "adjoint" else 10)
    else:
        assert r["parity_grad_rel"] is None


def test_ratios_are_to_torch_gru_at_the_same_size(tmp_path):
    recs = [{"model": "gru", "framework": "torch", "B": 1, "T": 2, "N": 3, "step_median_ms": 2.0},
            {"model": "gru", "framework": "torch", "B": 1, "T": 2, "N": 3, "step_median_ms": 1.0,
             "cuda_graph": True},  # not the reference: eager torch.nn.GRU is
            {"model": "gnode", "framework": "jax", "B": 1, "T": 2, "N": 3, "step_median_ms": 5.0},
            {"model": "gnode", "framework": "jax", "B": 9, "T": 2, "N": 3, "step_median_ms": 1.0}]
    out = step_time.with_ratios(recs)
    assert [r["ratio_to_torch_gru"] for r in out] == [1.0, 0.5, 2.5, None]


def test_report_without_gpu_rows_says_they_need_a_gpu(tmp_path):
    import json

    from bench.results import environment

    folder = tmp_path / "perf" / "cpu"
    folder.mkdir(parents=True)
    record = {"model": "gru", "framework": "torch", "solver": None, "B": 1, "T": 2, "N": 3,
              "step_median_ms": 2.0, "step_iqr_ms": 0.1, "ratio_to_torch_gru": 1.0,
              "compile_s": None, "peak_gpu_mb": None, "peak_host_rss_mb": 100.0,
              "nfe_forward": None, "device_class": "cpu",
              "hardware": environment.hardware("cpu")}
    (folder / "gru.json").write_text(json.dumps(record))
    page = perf_report.build(tmp_path / "perf", tmp_path / "perf.md").read_text()
    assert "GPU rows need a GPU" in page and "| gru " in page and "1.00" in page


def test_perf_records_are_not_result_files(tmp_path):
    from bench import results

    (tmp_path / "perf" / "cpu").mkdir(parents=True)
    (tmp_path / "perf" / "cpu" / "gru.json").write_text("{}")
    (tmp_path / "t@v1" / "quick" / "cpu").mkdir(parents=True)
    cell = tmp_path / "t@v1" / "quick" / "cpu" / "gru-torch-seed0.json"
    cell.write_text("{}")
    assert results.result_files(tmp_path) == [cell]


def _record(**kw):
    from bench.results import environment

    base = {"model": "gnode", "framework": "torch", "solver": "euler", "impl": "fast",
            "backprop": "full", "sweep": None, "B": 100, "T": 100, "N": 100, "repeats": 20,
            "warmup": 3, "step_median_ms": 2.0, "step_iqr_ms": 0.1, "ratio_to_torch_gru": 1.0,
            "compile_s": None, "activations_mb": 5.0, "nfe_forward": None, "cuda_graph": False,
            "parity_grad_rel": 1e-7, "device_class": "cpu",
            "hardware": environment.hardware("cpu")}
    return {**base, **kw}


def test_report_judges_the_targets_and_plots_the_sweeps(tmp_path):
    import json

    records = [
        _record(ratio_to_torch_gru=1.2), _record(model="node", ratio_to_torch_gru=1.3),
        _record(framework="jax", ratio_to_torch_gru=2.5),
        _record(framework="jax", model="node", ratio_to_torch_gru=0.5),
        *[_record(sweep="T", B=32, N=64, T=T, backprop=m, repeats=5, warmup=1,
                  step_median_ms=T / 50, activations_mb=T / (10 if m == "full" else 100))
          for T in (100, 1000) for m in ("full", "checkpoint")],
        *[_record(sweep="N", N=N, repeats=5, warmup=1) for N in (32, 64)]]
    folder = tmp_path / "perf" / "cpu"
    folder.mkdir(parents=True)
    for i, r in enumerate(records):
        (folder / f"{i}.json").write_text(json.dumps(r))
    page = perf_report.build(tmp_path / "perf", tmp_path / "lb" / "perf.md").read_text()
    targets = page.split("### Targets")[1].split("###")[0]
    rows = [line for line in targets.splitlines() if line.startswith("| gnode") or
            line.startswith("| node")]
    verdicts = [line.rstrip(" |").split("|")[-1].strip() for line in rows]
    # torch gnODE 1.2 <= 1.5 met; nODE 1.3 > gnODE's 1.2 missed; jax gnODE 2.5 > 2 missed;
    # jax nODE 0.5 met
    assert verdicts == ["met", "missed", "missed", "met"]
    assert (tmp_path / "lb" / "plots" / "perf-T-cpu.png").stat().st_size > 1000
    assert (tmp_path / "lb" / "plots" / "perf-N-cpu.png").exists()
    assert "Step time against T" in page and "checkpoint" in page


def test_sweeps_cover_t_and_n_and_every_backprop_mode():
    from bench.perf import perf_sweeps

    cpu = perf_sweeps.cases("cpu")
    t_points = {(c.model, c.framework, c.backprop, c.T) for c in cpu if c.sweep == "T"}
    assert ("gnode", "jax", "adjoint", 10000) in t_points
    assert ("gnode", "torch", "checkpoint", 10000) in t_points
    assert ("gnode", "torch", "adjoint", 1000) in t_points
    assert ("gnode", "torch", "adjoint", 3000) not in t_points  # minutes a step on a CPU
    assert {c.N for c in cpu if c.sweep == "N"} == set(perf_sweeps.N_SWEEP)
    assert len({c.name for c in cpu}) == len(cpu)  # every point its own record file
    gpu = perf_sweeps.cases("gpu")
    assert ("gnode", "torch", "adjoint", 10000) in {(c.model, c.framework, c.backprop, c.T)
                                                     for c in gpu}


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_backprop_modes_cut_what_backward_keeps(models, framework):
    """Checkpointing keeps a chunk's inputs and states, the adjoint the states: both hold less
    for backward than the full mode, which keeps every intermediate of every step."""
    def activations(backprop: str) -> float:
        case = step_time.Case("gnode", framework, 4, 200, 16, "euler", backprop=backprop,
                              repeats=1, warmup=0)
        return step_time.measure(case, models["gnode"], "cpu")["activations_mb"]

    full, ckpt, adjoint = (activations(m) for m in ("full", "checkpoint", "adjoint"))
    assert ckpt < full / 2 and adjoint < full * 0.8, (full, ckpt, adjoint)


def test_ensemble_throughput_is_over_the_solo_program_and_reported(tmp_path):
    """cells/hour from its parts, the ratio to the ensemble of 1 of the same run, and the
    perf page's section for them beside the step-time records."""
    import json

    from bench.perf import ensemble_throughput
    from bench.results import environment

    def part(members, step):
        per_program = 2.0 + 3.0 + 600 * step
        return {"kind": "ensemble", "model": "gnode", "framework": "jax", "task": "t",
                "members": members, "startup_s": 2.0, "compile_s": 3.0, "step_median_s": step,
                "steps_per_cell": 600, "cells_per_hour": 3600 * members / per_program,
                "device_class": "cpu", "hardware": environment.hardware("cpu")}

    records = ensemble_throughput.with_speedups([part(1, 0.01), part(9, 0.05)])
    # one cell: 3600 / 11 s; nine: 3600 * 9 / 35 s; the ratio (9 / 35) / (1 / 11)
    assert records[0]["x_solo"] == 1.0
    assert records[1]["x_solo"] == pytest.approx(9 * 11 / 35)
    folder = tmp_path / "perf" / "cpu"
    folder.mkdir(parents=True)
    for r in [*records, _record()]:
        (folder / f"{ensemble_throughput.record_name(r) if 'kind' in r else 'x'}.json"
         ).write_text(json.dumps(r))
    page = perf_report.build(tmp_path / "perf", tmp_path / "perf.md").read_text()
    section = page.split("### Many cells as one program")[1]
    assert "| gnode   | jax         | t      | 9 " in section and "2.83" in section  # 9 * 11 / 35
    assert "### Fixed sizes" in page  # the step-time records are still there


def test_ensemble_cases_share_a_batch_size_and_vary_the_optimiser(models):
    from bench.perf import ensemble_throughput

    case = ensemble_throughput.Case("gnode", "flipflop-2bit-ring", 27)
    _, specs, train, steps = ensemble_throughput._specs(case)
    assert len(specs) == 27 and len({s.training["batch_size"] for s in specs}) == 1
    assert len({(s.seed, s.training["lr"], s.training["weight_decay"]) for s in specs}) == 27
    assert {s.seed for s in specs} == {0, 1, 2}  # 9 optimiser settings, then seeds
    batch = specs[0].training["batch_size"]
    assert steps == specs[0].training["epochs"] * -(-len(train["inputs"]) // batch)
    assert [(c.framework, c.members) for c in ensemble_throughput.cases("cpu", ["gnode"])] == [
        ("jax", 1), ("jax", 9), ("jax", 27), ("torch", 1), ("torch", 9), ("torch", 27)]
    assert {c.model for c in ensemble_throughput.cases("cpu", None, ("torch",))} == {"gnode",
                                                                                     "mgru"}


def test_wallclock_records_show_before_after_and_the_cells_outside_training(tmp_path):
    import json

    from bench.results import environment

    side = {"cells": 18, "training_s": 100.0, "compile_cache_hit_rate": None}
    record = {"kind": "wallclock", "models": "gnode,gru", "task": "t", "seeds": "0-2",
              "profile": "quick", "framework": "jax", "device_class": "cpu",
              "hardware": environment.hardware("cpu"), "speedup": 2.0,
              "before": {**side, "git_commit": "a" * 40, "wall_s": 400.0,
                         "outside_training_per_cell_s": 300 / 18},
              "after": {**side, "git_commit": "b" * 40, "wall_s": 200.0,
                        "outside_training_per_cell_s": 100 / 18,
                        "compile_cache_hit_rate": 0.75}}
    folder = tmp_path / "perf" / "cpu"
    folder.mkdir(parents=True)
    (folder / "wallclock.json").write_text(json.dumps(record))
    page = perf_report.build(tmp_path / "perf", tmp_path / "perf.md").read_text()
    row = page.split("### The quick profile's wall-clock, before and after")[1]
    assert "aaaaaaa: 400 s" in row and "bbbbbbb: 200 s" in row and "2.00" in row
    assert "16.7 → 5.6" in row and "0.75" in row and "(18 cells)" in row


def test_side_by_side_records_show_both_ways_and_their_ratio(tmp_path):
    import json

    from bench.perf import side_by_side
    from bench.results import environment

    record = {"kind": "side_by_side", "model": "gnode", "framework": "torch", "task": "t",
              "profile": "quick", "cores": 2, "share_threads": 1, "timed_steps": 12,
              "alone_s": 0.05, "default_s": 0.9, "share_s": 0.06, "x_share": 15.0,
              "device_class": "cpu", "hardware": environment.hardware("cpu")}
    failed = {**{k: v for k, v in record.items() if not k.endswith("_s")}, "model": "lstm",
              "x_share": None, "error": "RuntimeError: boom"}
    folder = tmp_path / "perf" / "cpu"
    folder.mkdir(parents=True)
    for r in (record, failed):
        (folder / f"{side_by_side.record_name(r)}.json").write_text(json.dumps(r))
    page = perf_report.build(tmp_path / "perf", tmp_path / "perf.md").read_text()
    section = page.split("### Cells side by side")[1]
    assert "| 50.00 " in section and "| 900.00 " in section and "| 60.00 " in section
    assert "15.00" in section and "RuntimeError: boom" in section


def test_side_by_side_failure_is_reported_not_waited_on():
    """A cell that cannot load aborts the barrier: the run reports it, nothing hangs."""
    from bench.perf import side_by_side

    r = side_by_side.measure(side_by_side.Case("no-such-model", "torch"), 2)
    assert "no-such-model" in r["error"] and "x_share" not in r
    with pytest.raises(RuntimeError, match="no-such-model"):
        side_by_side._together(side_by_side.Case("no-such-model", "jax"), 2, 1)


def test_side_by_side_reports_a_cell_killed_outright():
    """A cell killed by a signal never answers: the run notices the dead process, stops the
    other and reports the exit code instead of waiting forever."""
    import multiprocessing
    import os
    import signal
    import threading
    import time

    from bench.perf import side_by_side

    killed: list[int] = []

    def kill_first_child() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)
                break
            time.sleep(0.01)

    outcome: list[BaseException | float] = []

    def run() -> None:
        try:
            outcome.append(side_by_side._together(side_by_side.Case("gnode", "torch"), 2, 1))
        except BaseException as e:
            outcome.append(e)

    killer = threading.Thread(target=kill_first_child)
    killer.start()
    runner = threading.Thread(target=run, daemon=True)  # a hang must fail the test, not CI
    runner.start()
    runner.join(90)
    killer.join()
    hung, left = runner.is_alive(), multiprocessing.active_children()
    for child in left:
        child.kill()
    assert not hung, "the run waited on a dead cell"
    assert not left, "the surviving cell was left running"
    assert len(killed) == 1
    assert isinstance(outcome[0], RuntimeError)
    assert "a cell's process died (exit code -9)" in str(outcome[0])


def test_side_by_side_needs_two_cores(tmp_path):
    """On one core there is nothing to share: the part says so and measures nothing."""
    import os
    import subprocess
    import sys

    out = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-m", "bench", "perf", "--part", "side-by-side",
         "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "lb")],
        capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300)
    assert out.returncode == 0, out.stderr
    assert "at least 2 cores; this run has 1" in out.stdout
    assert "perf: 0 measured" in out.stdout
    assert not list((tmp_path / "r").rglob("side-by-side-*.json"))
