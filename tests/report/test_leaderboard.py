"""The leaderboard (``bench.report.leaderboard``): reproducible bytes, separate tables per hardware
class / task version / profile, ranking by the primary metric, diverged seeds shown."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SMOKE_TASK
from helpers import write_docs

from bench.report.leaderboard import build


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
