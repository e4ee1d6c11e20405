"""The results API (``bench.report.frame``): result files as one DataFrame, checked as the
leaderboard checks them, and two folders compared cell by cell."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import results
from bench.report import frame
from bench.results import ledger


def test_load_results_has_one_checked_row_per_result_file(smoke_run):
    folder, _, docs = smoke_run
    df = frame.load_results(folder)
    assert len(df) == len(results.result_files(folder)) == len(docs)
    assert df["verified"].all() and not df["stale"].any()
    assert {"model_name", "variant", "framework", "seed", "metric.mse", "step_median_ms",
            "train_total_s", "unranked"} <= set(df.columns)
    row = df[(df.model_name == "gru") & (df.framework == "torch")].iloc[0]
    assert row["metric.mse"] == pytest.approx(docs[("gru", "torch")]["metrics"]["mse"])


def test_a_file_edited_by_hand_loads_unverified(smoke_run, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(smoke_run[0], folder)
    path = next(p for p in results.result_files(folder) if p.name == "gru-torch-seed0.json")
    doc = json.loads(path.read_text())
    doc["metrics"]["mse"] = 0.0
    path.write_text(json.dumps(doc))  # behind the ledger's back
    df = frame.load_results(folder).set_index(["model_name", "framework"])
    assert not df.loc[("gru", "torch"), "verified"] and df.loc[("gnode", "torch"), "verified"]


def test_compare_lines_up_the_cells_two_folders_share(smoke_run, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(smoke_run[0], a)
    shutil.copytree(smoke_run[0], b)
    path = next(p for p in results.result_files(b) if p.name == "gru-torch-seed0.json")
    doc = results.read(path)
    doc["metrics"]["mse"] += 0.25
    ledger.write_result(b, path, doc)  # a rerun that came out otherwise
    out = frame.compare(a, b)
    assert len(out) == len(results.result_files(a))
    diff = out.set_index(["model_name", "framework"])["metric.mse b-a"]
    assert diff[("gru", "torch")] == pytest.approx(0.25)
    assert (diff.drop(("gru", "torch")).abs() < 1e-12).all()
    assert frame.compare(a, tmp_path / "empty").empty
