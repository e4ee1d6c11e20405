"""What the leaderboard may not rank (``bench.report.leaderboard``, ``bench.results.trust``):
forged and stale results and submissions' results from outside the enforced sandbox are listed
without a rank and with the reason; bad result files and a broken task file cost only their own
results. Synthetic documents, no training."""

from __future__ import annotations

import json

import pandas as pd
from helpers import write_docs
from test_leaderboard import tables

from bench.report.leaderboard import build
from bench.results import trust
from bench.spec.registry import discover

TOY = "toy v1 · smoke profile · CPU"


def toy(model="gnode", seed=0, mse=0.1, kind="baseline", task="toy", **changes):
    """A small valid result of a task no task file defines (so never stale), on a test CPU."""
    doc = {"schema_version": 1, "task": task, "task_version": 1, "model": model,
           "model_kind": kind, "framework": "torch", "device": "cpu", "device_class": "cpu",
           "seed": seed, "profile": "smoke", "status": "ok", "reason": None,
           "metrics": {"mse": mse}, "primary_metric": "mse", "higher_is_better": {"mse": False},
           "n_params": 10, "timing": {"train_total_s": 1.0, "step_median_s": 0.001},
           "config": {"model": {"N": 2}, "training": {}}, "variant": "", "standard": True,
           "provenance": {"git_commit": None, "git_dirty": False,
                          "hardware": {"cpu": "Test CPU", "cores": 2}}}
    known = discover()
    if model in known:  # current for the code here, as the harness would have stamped it
        doc["code_sha256"] = trust.code_sha256(known[model], "torch", doc["config"]["model"])
    doc.update(changes)
    return doc


def sandboxed(doc, test_data="secret"):
    doc["provenance"]["sandbox"] = {"enforced": True, "mechanism": "landlock"}
    doc["test_data"] = test_data
    return doc


def test_only_what_may_be_ranked_gets_a_rank(tmp_path):
    """Forged results and submissions' results from outside the enforced sandbox, or with
    public test data, are listed below the ranked rows with no rank and why."""
    from bench import results

    res = tmp_path / "results"
    write_docs(res, [toy("gnode", mse=0.3), toy("gru", mse=0.4),
                     toy("open-sub", mse=0.01, kind="submission"),
                     sandboxed(toy("public-sub", mse=0.02, kind="submission"), "public"),
                     sandboxed(toy("good-sub", mse=0.2, kind="submission"))])
    forged = toy("gnode", seed=1, mse=0.001)
    results.write_atomic(results.cell_path(res, "toy", 1, "smoke", "cpu", "gnode", "torch", 1),
                         forged)  # not through the harness: no ledger line
    problems: list[str] = []
    build(res, tmp_path / "out", problems)
    assert problems == []
    rows = tables((tmp_path / "out" / "README.md").read_text())[TOY]
    assert [(r["rank"], r["model"], r["not ranked"]) for r in rows] == [
        ("1", "good-sub (submission)", ""), ("2", "gnode", ""), ("3", "gru", ""),
        ("—", "gnode †", "not written by the harness"),
        ("—", "open-sub † (submission)", "a submission's result from an unsandboxed run"),
        ("—", "public-sub † (submission)",
         "a submission's result from a run with public test data")]
    assert rows[0]["seeds"] == "1" and rows[3]["mse ↓"] == "0.001"  # shown, never pooled
    csv = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False)
    assert sorted(csv["unranked"]) == ["", "", "", "a submission's result from a run with "
                                       "public test data", "a submission's result from an "
                                       "unsandboxed run", "not written by the harness"]


def test_claims_use_only_rankable_results(tmp_path):
    """Ten forged gnODE and nODE seeds on the square would make claim 1 testable; they are
    not rankable, so the claim has no runs."""
    from bench import results

    res = tmp_path / "results"
    write_docs(res, [toy()])
    for model, auc in (("gnode", 0.9), ("node", 0.1)):
        for seed in range(5):
            d = toy(model, seed=seed, task="flipflop-2bit-square",
                    hold={"memory_auc": auc + 0.01 * seed, "coverage": {}, "hold_error": {}})
            d["task_version"] = 99  # no current task file to be stale against
            results.write_atomic(results.cell_path(res, d["task"], 99, "smoke", "cpu", model,
                                                   "torch", seed), d)
    build(res, tmp_path / "out")
    text = (tmp_path / "out" / "claims.md").read_text()
    assert "Claim 1" in text and "AUC difference" not in text


def bench_cli(*args: str, tasks_dir=None):
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys; from pathlib import Path; import bench.spec.tasks as t; "
            "t.TASKS_DIR = Path(sys.argv[1]) if sys.argv[1] else t.TASKS_DIR; "
            "from bench.cli import main; sys.exit(main(sys.argv[2:]))")
    return subprocess.run([sys.executable, "-c", code, str(tasks_dir or ""), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_bad_result_files_are_skipped_listed_and_fail_the_command(tmp_path):
    """An unreadable file and a schema-failing one: every table is still written, each bad
    file is one stderr line and a line under "Files skipped", and the exit status is 1."""
    res = tmp_path / "results"
    write_docs(res, [toy("gnode", mse=0.3), toy("gru", mse=0.2),
                     toy("gnode", mse=0.5, task="other")])
    folder = res / "toy@v1" / "smoke" / "cpu"
    (folder / "lstm-torch-seed0.json").write_text('{"schema_version": 1,')
    (folder / "node-torch-seed0.json").write_text(
        json.dumps(toy("node", metrics={"mse": "low"})))
    (folder / "rnn-torch-seed0.json").write_text(json.dumps(toy("rnn", provenance={})))
    run = bench_cli("leaderboard", "--results-dir", str(res), "--out", str(tmp_path / "out"))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.splitlines() == [
        f"error: {folder / 'lstm-torch-seed0.json'}: not valid JSON; delete it and rerun the "
        "cell (skipped)",
        f"error: {folder / 'node-torch-seed0.json'}: metrics.mse must be a number or null, not "
        "'low'; delete it and rerun the cell (skipped)",
        f"error: {folder / 'rnn-torch-seed0.json'}: provenance.hardware is missing; delete it "
        "and rerun the cell (skipped)"]
    readme = (tmp_path / "out" / "README.md").read_text()
    t = tables(readme)
    assert [(r["rank"], r["model"]) for r in t[TOY]] == [("1", "gru"), ("2", "gnode")]
    assert [r["model"] for r in t[TOY.replace("toy", "other")]] == ["gnode"]
    skipped = readme.split("## Files skipped")[1].split("\n## ")[0]
    assert "`toy@v1/smoke/cpu/lstm-torch-seed0.json`: not valid JSON" in skipped
    assert "`toy@v1/smoke/cpu/node-torch-seed0.json`: metrics.mse must be" in skipped
    assert "`toy@v1/smoke/cpu/rnn-torch-seed0.json`: provenance.hardware is missing" in skipped
    assert str(tmp_path) not in readme  # the page does not depend on where the folder lies


def test_a_broken_task_file_costs_only_its_own_results_their_rank(tmp_path):
    import shutil

    from conftest import ROOT

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for f in [*(ROOT / "tasks").glob("*.yaml"), *(ROOT / "tasks").glob("*.py")]:
        shutil.copy(f, tasks / f.name)
    ring = tasks / "flipflop-2bit-ring.yaml"
    ring.write_text(ring.read_text() + "profiles:\n  smoke: {epochs: 2, max_test: ten}\n")
    res = tmp_path / "results"
    write_docs(res, [toy("gnode", mse=0.3), toy("gru", task="flipflop-2bit-ring")])
    run = bench_cli("leaderboard", "--results-dir", str(res), "--out", str(tmp_path / "out"),
                    tasks_dir=tasks)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.splitlines() == [
        f"error: task file {ring}: profiles.smoke.max_test must be an integer >= 1, not 'ten'; "
        "fix the file"]
    t = tables((tmp_path / "out" / "README.md").read_text())
    assert [(r["rank"], r["model"]) for r in t[TOY]] == [("1", "gnode")]
    (row,) = t[TOY.replace("toy", "flipflop-2bit-ring")]
    assert (row["rank"], row["model"]) == ("—", "gru †")
    assert row["not ranked"].startswith("stale: its task file tasks/flipflop-2bit-ring.yaml")
