"""``bench.perf`` (the training-step timer) and ``bench.perf_report`` on tiny sizes."""

from __future__ import annotations

import pytest

from bench import perf, perf_report


def test_cases_cover_every_baseline_and_the_adaptive_runs(models):
    baselines = {n: m for n, m in models.items() if m.kind == "baseline"}
    cases = perf.cases(baselines, ["torch", "jax"], [(4, 5, 6)])
    names = {(c.model, c.framework, c.solver) for c in cases}
    assert ("gnode", "torch", "dopri5") in names and ("node", "jax", "euler") in names
    assert ("gru", "torch", None) in names and ("rnn", "jax", None) in names
    assert len(cases) == 2 * (len(baselines) + 2)  # gnode and node twice: euler and dopri5


def test_ode_cases_use_one_tanh_layer_of_width_n(models):
    config = perf.Case("gnode", "torch", 4, 5, 6, "euler").config(models["gnode"])
    assert config["N"] == 6 and config["widths"] == [6] and config["activation"] == "tanh"
    assert config["solver"] == "euler" and config["steps_per_interval"] == 1
    dopri = perf.Case("node", "jax", 4, 5, 6, "dopri5").config(models["node"])
    assert (dopri["rtol"], dopri["atol"]) == (1e-3, 1e-4)
    assert perf.Case("gru", "torch", 4, 5, 6).config(models["gru"])["N"] == 6


@pytest.mark.parametrize("model, framework, solver", [
    ("gnode", "torch", "euler"), ("gnode", "jax", "euler"), ("gru", "torch", None),
    ("node", "torch", "dopri5"), ("node", "jax", "dopri5")])
def test_measure_times_a_training_step(models, monkeypatch, model, framework, solver):
    monkeypatch.setattr(perf, "REPEATS", 4)
    r = perf.measure(perf.Case(model, framework, 3, 6, 5, solver), models[model], "cpu")
    assert r["step_median_ms"] > 0 and r["step_iqr_ms"] >= 0 and r["repeats"] == 4
    assert (r["compile_s"] is not None) == (framework == "jax")
    assert r["peak_host_rss_mb"] > 0 and r["peak_gpu_mb"] is None
    assert (r["nfe_forward"] is not None) == (solver == "dopri5")  # adaptive runs count NFE


def test_ratios_are_to_torch_gru_at_the_same_size(tmp_path):
    recs = [{"model": "gru", "framework": "torch", "B": 1, "T": 2, "N": 3, "step_median_ms": 2.0},
            {"model": "gnode", "framework": "jax", "B": 1, "T": 2, "N": 3, "step_median_ms": 5.0},
            {"model": "gnode", "framework": "jax", "B": 9, "T": 2, "N": 3, "step_median_ms": 1.0}]
    out = perf.with_ratios(recs)
    assert [r["ratio_to_torch_gru"] for r in out] == [1.0, 2.5, None]


def test_report_without_gpu_rows_says_they_need_a_gpu(tmp_path):
    import json

    from bench import environment

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
