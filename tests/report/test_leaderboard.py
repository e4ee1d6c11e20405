"""The leaderboard (``bench.report.leaderboard``): reproducible bytes, separate tables per hardware
class / task version / profile, ranking by the primary metric, diverged seeds shown."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import SMOKE_TASK
from helpers import write_docs

from bench.report.leaderboard import build
from bench.results import trust
from bench.spec.registry import discover


def tables(readme: str) -> dict[str, list[dict[str, str]]]:
    """README tables by their '### ' heading, each as a list of row dicts."""
    out: dict[str, list[dict[str, str]]] = {}
    heading = None
    for line in readme.splitlines():
        if line.startswith("### "):
            heading = line[4:]
            out[heading] = []
        elif heading and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue  # the separator line
            if not out[heading] or "_header" not in out[heading][0]:
                out[heading].insert(0, {"_header": cells})  # type: ignore[dict-item]
            else:
                out[heading].append(dict(zip(out[heading][0]["_header"], cells)))
    return {h: rows[1:] for h, rows in out.items()}


def lb(tmp_path, docs, name="out"):
    res = tmp_path / f"{name}-results"
    write_docs(res, docs)
    out = tmp_path / name
    written = build(res, out)
    return out, written, (out / "README.md").read_text()


def heading(task=SMOKE_TASK, version=1, profile="smoke", hw="CPU", old=False):
    """A table's heading; ``hw``: the hardware class, "CPU" or "GPU"."""
    return (f"{task} v{version}{' (superseded version)' if old else ''} · {profile} profile · "
            f"{hw}")


def test_build_is_byte_for_byte_reproducible(tmp_path, smoke_run, make_doc):
    real = list(smoke_run[2].values())
    docs = [*real, make_doc(model="lstm", device_class="gpu", mse=0.2),
            make_doc(model="node", task_version=3, mse=0.3, seed=1)]
    # results beside each leaderboard, as in the repository (the portrait links are relative)
    res_a, res_b = tmp_path / "a-results" / "results", tmp_path / "b-results" / "results"
    write_docs(res_a, docs)
    write_docs(res_b, list(reversed(docs)))  # other write order, other mtimes
    wa, wb = build(res_a, tmp_path / "a-results" / "a"), build(res_b, tmp_path / "b-results" / "a")
    out_a, out_b = tmp_path / "a-results" / "a", tmp_path / "b-results" / "a"
    files_a = sorted(p.relative_to(out_a) for p in out_a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(out_b) for p in out_b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert {p.name for p in files_a} >= {"README.md", "results.csv"}
    pngs = [p for p in files_a if p.suffix == ".png"]
    # per table, (v2, cpu), (v1, gpu), (v3, cpu): the trial plot and the memory picture
    assert len(pngs) == 6 and sum(p.name.endswith("-memory.png") for p in pngs) == 3
    for rel in files_a:
        assert (out_a / rel).read_bytes() == (out_b / rel).read_bytes(), rel
    assert sorted(p.relative_to(out_a) for p in wa) == files_a
    assert len(wb) == len(wa)
    readme = (out_a / "README.md").read_text()
    for png in pngs:
        assert (out_a / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(plots/{png.name})" in readme
        svg = (out_a / png).with_suffix(".svg")  # the same figure, as vector graphics
        assert svg.read_text().startswith("<?xml") and "<svg" in svg.read_text()[:500]
        assert f"[SVG](plots/{svg.name})" in readme
    assert {p for p in files_a if p.suffix == ".svg"} == {p.with_suffix(".svg") for p in pngs}


def test_cpu_and_gpu_results_are_never_ranked_together(tmp_path, make_doc):
    docs = [make_doc(model="gnode", mse=0.5), make_doc(model="gru", mse=0.3),
            make_doc(model="gnode", mse=0.1, device_class="gpu"),
            make_doc(model="lstm", mse=0.2, device_class="gpu")]
    _, _, readme = lb(tmp_path, docs)
    t = tables(readme)
    assert list(t) == [heading(hw="GPU"), heading(hw="CPU")]
    gpu, cpu = t[heading(hw="GPU")], t[heading(hw="CPU")]
    assert [(r["rank"], r["model"]) for r in gpu] == [("1", "gnode"), ("2", "lstm")]
    assert [(r["rank"], r["model"]) for r in cpu] == [("1", "gru"), ("2", "gnode")]
    assert "No GPU results yet" not in readme


def on(doc, cpu, cores, train_s):
    """``doc`` as if trained on another CPU, in ``train_s`` seconds."""
    doc["provenance"]["hardware"] = {**doc["provenance"]["hardware"], "cpu": cpu,
                                     "cores": cores}
    doc["timing"] = {**doc["timing"], "train_total_s": train_s}
    return doc


def test_the_machines_of_one_class_share_the_ranking_but_not_the_times(tmp_path, make_doc):
    """Scores from two CPUs are ranked together; a row's time comes from the table's main
    machine where it has one, else from its own machine, marked and named."""
    from bench.results.environment import hardware_label

    docs = [on(make_doc(model="gnode", mse=0.5, seed=s), "Main CPU", 2, 10.0) for s in (0, 1)]
    docs += [on(make_doc(model="gru", mse=0.3, seed=0), "Main CPU", 2, 20.0),
             on(make_doc(model="gru", mse=0.3, seed=1), "Other CPU", 64, 99.0),
             on(make_doc(model="lstm", mse=0.05, seed=0), "Other CPU", 64, 7.0),
             on(make_doc(model="lstm", mse=0.05, seed=1), "Other CPU", 64, 9.0),
             make_doc(model="rnn", mse=0.01, device_class="gpu")]
    _, _, readme = lb(tmp_path, docs)
    t = tables(readme)
    rows = {r["model"]: r for r in t[heading()]}
    assert [r["model"] for r in t[heading()]] == ["lstm", "gru", "gnode"]  # one ranking
    assert rows["lstm"]["rank"] == "1" and rows["gru"]["seeds"] == "2"  # both machines' seeds
    assert rows["gnode"]["train (s)"] == "10.0"
    assert rows["gru"]["train (s)"] == "20.0"  # the main machine's seed only
    assert rows["lstm"]["train (s)"] == "8.0 ‡"  # no seed on the main machine: its own, marked
    assert ("Machines: Main CPU (2 cores) (3 results), Other CPU (64 cores) (3 results)"
            in readme) and "They are from Main CPU (2 cores), except those marked ‡." in readme
    assert "‡ timed on Other CPU (64 cores): lstm/torch. Not comparable" in readme
    assert [r["model"] for r in t[heading(hw="GPU")]] == ["rnn"]  # never beside a CPU
    assert f"Machine: {hardware_label(docs[-1]['provenance']['hardware'])}." in readme


def test_missing_gpu_results_are_said(tmp_path, make_doc):
    _, _, readme = lb(tmp_path, [make_doc()])
    assert "No GPU results yet" in readme


def test_ranking_follows_the_primary_metric_direction(tmp_path, make_doc):
    docs = [make_doc(model="gnode", mse=0.5, r2=0.9), make_doc(model="node", mse=0.1, r2=0.2),
            make_doc(model="gru", mse=0.3, r2=0.5)]
    # a second task whose primary metric is r2, higher is better
    docs += [make_doc(model=d["model"], task="other", mse=d["metrics"]["mse"],
                      r2=d["metrics"]["r2"], primary_metric="r2") for d in docs]
    _, _, readme = lb(tmp_path, docs)
    t = tables(readme)
    assert [r["model"] for r in t[heading()]] == ["node", "gru", "gnode"]
    assert [r["model"] for r in t[heading(task="other")]] == ["gnode", "gru", "node"]
    row = t[heading()][0]
    assert row["mse ↓"] == "0.1" and row["r2 ↑"] == "0.2"
    assert list(t[heading(task="other")][0])[:5] == ["rank", "model", "framework", "N", "r2 ↑"]
    assert [r["rank"] for r in t[heading()]] == ["1", "2", "3"]


def test_mean_and_sample_std_over_seeds(tmp_path, make_doc):
    docs = [make_doc(seed=0, mse=0.1), make_doc(seed=1, mse=0.3), make_doc(seed=2, mse=0.2)]
    _, _, readme = lb(tmp_path, docs)
    (row,) = tables(readme)[heading()]
    assert row["mse ↓"] == "0.20 ± 0.10"  # mean 0.2, sample std 0.1, to the std's 2 digits
    assert row["seeds"] == "3"


def test_diverged_seeds_are_shown_and_not_averaged(tmp_path, make_doc):
    docs = [make_doc(model="gnode", seed=0, mse=0.2),
            make_doc(model="gnode", seed=1, status="diverged"),
            make_doc(model="gru", seed=0, status="diverged"),
            make_doc(model="gru", seed=1, status="failed"),
            make_doc(model="lstm", seed=0, mse=0.4)]
    _, _, readme = lb(tmp_path, docs)
    rows = {r["model"]: r for r in tables(readme)[heading()]}
    assert rows["gnode"]["seeds"] == "1/2 (diverged)"
    assert rows["gnode"]["mse ↓"] == "0.2"
    assert rows["gru"]["seeds"] == "0/2 (diverged, failed)"
    assert rows["gru"]["rank"] == "—" and rows["gru"]["mse ↓"] == "—"
    assert [r["model"] for r in tables(readme)[heading()]] == ["gnode", "lstm", "gru"]


def test_task_versions_and_profiles_get_separate_tables(tmp_path, make_doc):
    docs = [make_doc(model="gnode", task_version=1, mse=0.1),
            make_doc(model="gru", task_version=2, mse=0.9),
            make_doc(model="lstm", task_version=2, profile="quick", mse=0.5)]
    _, _, readme = lb(tmp_path, docs)
    t = tables(readme)
    assert list(t) == [heading(version=2, profile="quick"), heading(version=2),
                       heading(version=1, old=True)]
    assert [r["model"] for r in t[heading(version=1, old=True)]] == ["gnode"]
    assert [r["model"] for r in t[heading(version=2)]] == ["gru"]
    assert [r["model"] for r in t[heading(version=2, profile="quick")]] == ["lstm"]


def test_submissions_and_variants_are_labelled(tmp_path, make_doc):
    sub = make_doc(model="my-model", model_kind="submission", mse=0.2)
    sub["provenance"]["sandbox"], sub["test_data"] = {"enforced": True}, "public"
    var = make_doc(model="gnode", mse=0.3)
    var["variant"] = "lr=0.01"
    _, _, readme = lb(tmp_path, [sub, var, make_doc(model="gnode", mse=0.4)])
    rows = tables(readme)[heading()]
    # the submission ran without the secret test data: listed below, not ranked
    assert [(r["rank"], r["model"]) for r in rows] == [
        ("1", "gnode [lr=0.01]"), ("2", "gnode"), ("—", "my-model † (submission)")]
    assert rows[-1]["not ranked"] == "a submission's result from a run with public test data"


def test_csv_has_one_sorted_row_per_result(tmp_path, make_doc):
    docs = [make_doc(model="gru", seed=1, mse=0.25), make_doc(model="gnode", seed=0, mse=0.5),
            make_doc(model="gru", seed=0, mse=0.125, device_class="gpu")]
    out, _, _ = lb(tmp_path, docs)
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 3
    assert list(zip(df["device_class"], df["model"], df["seed"])) == [
        ("cpu", "gnode", 0), ("cpu", "gru", 1), ("gpu", "gru", 0)]
    assert list(df["metric.mse"]) == [0.5, 0.25, 0.125]
    assert (df["step_median_ms"] / 1e3).tolist() == pytest.approx(
        [d["timing"]["step_median_s"] for d in docs], rel=1e-5)


def test_empty_results_folder(tmp_path):
    (tmp_path / "res").mkdir()
    written = build(tmp_path / "res", tmp_path / "out")
    assert [p.name for p in written] == ["results.csv", "README.md", "claims.md"]
    assert "No results yet" in (tmp_path / "out" / "README.md").read_text()
    assert "No results yet" in (tmp_path / "out" / "claims.md").read_text()


def test_memory_and_attractor_columns_and_portrait_links(tmp_path, smoke_run):
    """Real smoke results: the new columns are there, with the numbers of the result files,
    and each row links the lowest seed's phase portrait, which exists."""
    out = tmp_path / "lb"
    build(smoke_run[0], out)
    readme = (out / "README.md").read_text()
    rows = next(iter(tables(readme).values()))
    assert {"long_delay_r2 ↑", "drift ↓", "write err ↓", "cov@10 ↑", "cov@100 ↑",
            "cov@1000 ↑", "memory AUC ↑", "gate median", "gates < 0.05", "slow-set cov ↑",
            "slow pts", "dim", "portrait", "N"} <= set(rows[0])
    header = list(rows[0])
    assert header.index("write err ↓") == header.index("drift ↓") + 1  # read side by side
    docs = smoke_run[2]
    for row in rows:
        doc = docs[(row["model"], row["framework"])]
        assert row["N"] == str(doc["config"]["model"]["N"])
        assert float(row["drift ↓"]) == pytest.approx(doc["metrics"]["drift"], rel=1e-3)
        h, a = doc["hold"], doc["attractor"]
        assert float(row["write err ↓"]) == pytest.approx(h["write_error"], rel=1e-2)
        assert float(row["memory AUC ↑"]) == pytest.approx(h["memory_auc"], abs=0.006)
        assert float(row["cov@1000 ↑"]) == pytest.approx(h["coverage"]["1000"], abs=0.006)
        assert float(row["slow-set cov ↑"]) == pytest.approx(a["slow_set_coverage"],
                                                             abs=0.006)
        gate = a["gate"]  # the gnODE's; GRU exposes none
        assert (row["gate median"] == "—") == (gate is None)
        if gate is not None:
            assert float(row["gate median"]) == pytest.approx(gate["median"], abs=0.006)
        assert row["slow pts"] == str(doc["attractor"]["n_slow_points"])
        link = row["portrait"].split("](")[1].rstrip(")")
        assert (out / link).resolve().is_file() and link.endswith("-seed0.png")
    df = pd.read_csv(out / "results.csv")
    assert {"metric.long_delay_mse", "metric.long_delay_r2", "metric.drift",
            "hold.write_error", "hold.coverage_10", "hold.hold_error_1000", "hold.memory_auc",
            "gate.median", "gate.fraction_closed", "slow_set_coverage", "n_slow_points",
            "local_dim", "N", "L", "portrait", "ruleset", "role"} <= set(df.columns)
    assert "long_delay_mse" not in readme.split("## ")[-1]  # csv only, not in the table
    assert (out / "claims.md").read_text().startswith("# The paper's claims, checked")


def test_times_taken_beside_other_cells_or_processes_are_marked(tmp_path, make_doc):
    from helpers import write_docs

    from bench.report import leaderboard

    alone, shared = make_doc(model="gnode", mse=0.1), make_doc(model="gru", mse=0.2)
    busy, quiet = make_doc(model="lstm", mse=0.3), make_doc(model="node", mse=0.4)
    shared["timing"]["cells_beside"] = 1
    busy["timing"]["other_cpu_share"] = 0.3  # another process took 30% of the CPU meanwhile
    quiet["timing"]["other_cpu_share"] = 0.05  # background noise
    write_docs(tmp_path / "results", [alone, shared, busy, quiet])
    leaderboard.build(tmp_path / "results", tmp_path / "lb")
    rows = {line.split("|")[2].strip(): line for line in
            (tmp_path / "lb" / "README.md").read_text().splitlines()
            if line.startswith("| ") and "torch" in line}
    cells = {name: [c.strip() for c in row.split("|")] for name, row in rows.items()}
    assert sum(c.endswith(" *") for c in cells["gru"]) == 2  # train (s) and step (ms)
    assert sum(c.endswith(" *") for c in cells["lstm"]) == 2
    assert not any(c.endswith(" *") for c in cells["gnode"] + cells["node"])


# -- bad files and results that may not be ranked: synthetic documents, no training ----------

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


def test_a_classification_table_ends_with_the_chance_level_and_ties_share_a_rank(tmp_path,
                                                                                 make_doc):
    """Accuracy over 4 classes: a uniform guess scores 0.25, a row below the entries; two
    entries with equal accuracies share a rank."""
    docs = []
    for model, accs in (("gnode", (0.9, 0.92, 0.91)), ("gru", (0.9, 0.92, 0.91)),
                        ("lstm", (0.5, 0.52, 0.51))):
        for seed, acc in enumerate(accs):
            d = make_doc(model=model, seed=seed, primary_metric="accuracy",
                         higher_is_better={"accuracy": True, "mse": False, "r2": True})
            d["metrics"] = {"accuracy": acc}
            d["config"]["task"]["data"]["n_classes"] = 4
            docs.append(d)
    _, _, readme = lb(tmp_path, docs)
    rows = tables(readme)[heading()]
    assert [(r["rank"], r["model"]) for r in rows] == [
        ("1=", "gnode"), ("1=", "gru"), ("3", "lstm"), ("—", "chance (a uniform guess)")]
    assert rows[-1]["accuracy ↑"] == "0.25"
    assert rows[0]["accuracy 95% CI"] == "[0.900, 0.920]"
