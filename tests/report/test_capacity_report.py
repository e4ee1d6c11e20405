"""The leaderboard's capacity pages (``bench.report.capacity_report``,
``bench.report.leaderboard.build``) and claims 4 and 5, on synthetic capacity searches derived from
a real capacity result."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from conftest import CAPACITY_TASK, SMOKE_TASK
from helpers import write_docs
from test_leaderboard import heading, tables

from bench import results
from bench.report import capacity_report, claims, plotting
from bench.report.frame import flatten
from bench.report.leaderboard import build
from bench.results import capacity_scores, ledger, store, trust
from bench.spec.cells import variant
from bench.spec.registry import discover

pytestmark = pytest.mark.slow  # trains capacity searches

TASK = CAPACITY_TASK["name"]
SIZES = CAPACITY_TASK["capacity"]["sizes"]
LARGEST = max(SIZES)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def base(capacity_run):
    """The real K = 4 result of the cue-lookup search (four kept trajectories), its targets
    inline (the folders built from it have no shared file)."""
    doc = next(d for d in results.load_all(capacity_run[0]) if d["K"] == 4)
    store.hydrate(capacity_run[0], [doc])
    return doc


def search(base, model, N, L, seed, scores, *, fw="jax", params=100, run_variant="",
           timing=None, kind="baseline"):
    """The result documents of one search; ``scores``: [(K, trajectory R² or a status)];
    ``timing``: {K: timing fields} to set (each cell is otherwise timed on a quiet machine)."""
    setting = {"N": N} if L is None else {"N": N, "widths": [4] * L}
    grid = variant({"config": setting})
    docs = []
    for K, score in scores:
        d = copy.deepcopy(base)
        ok = not isinstance(score, str)
        d.update(model=model, model_kind=kind, framework=fw, seed=seed, K=K,
                 n_params=params,
                 status="ok" if ok else score, reason=None if ok else "non-finite predictions",
                 metrics={"trajectory_r2": score, "r2": score, "mse": 1 - score} if ok else {},
                 variant=",".join(filter(None, (grid, run_variant))), run_variant=run_variant,
                 standard=not run_variant)
        d["config"]["model"] = {**d["config"]["model"], **setting}
        # timed on a quiet machine: the real result's own measure depends on what ran beside it
        d["timing"] = {**d["timing"], "other_cpu_share": 0.0, "cells_beside": 0,
                       "ensemble_members": 1, **(timing or {}).get(K, {})}
        # current for this model's code here, as the harness would have stamped it
        d["code_sha256"] = trust.code_sha256(discover()[model], fw, d["config"]["model"])
        if not ok:
            del d["trajectories"]  # as the harness: kept for finite predictions only
        docs.append(d)
    return docs


def upto(k_star, failed=0.5):
    """Scores of a search with this K*: 0.99 up to K*, then ``failed`` at the next K."""
    passed = [k for k in SIZES if k <= k_star]
    return [(k, 0.99) for k in passed] + [(k, failed) for k in SIZES[len(passed):][:1]]


def depth_docs(base, model, by_L, N=4, **kw):
    """Searches at several depths: ``by_L`` maps L to K* of seeds 0, 1, ..."""
    return [d for L, ks in by_L.items() for seed, k in enumerate(ks)
            for d in search(base, model, N, L, seed, upto(k), **kw)]


def write(results_dir, docs):
    for d in docs:
        path = results.cell_path(results_dir, d["task"], d["task_version"], d["profile"],
                                 d["device_class"], f"{d['model']}+{d['variant']}",
                                 d["framework"], d["seed"], size=d["K"])
        ledger.write_result(results_dir, path, d)  # as the harness: unverified ones rank not


def frame(docs):
    return pd.DataFrame([flatten(d) for d in docs])


def searches(docs):
    return capacity_scores.capacities(frame(docs))


def board_docs(base):
    """gnode L=1 (K* 4, 0, 4 over three seeds; fails K=8 at 0.3), gnode L=2 (K* 4; 0.2), node
    L=1 (K* 2; 0.7), gru (K* 2; 0.5, fewest params), node L=2 (K* 1; K=2 diverged), lstm
    (unfinished)."""
    return [*search(base, "gnode", 4, 1, 0, upto(4, 0.3), params=200),
            *search(base, "gnode", 4, 1, 1, upto(0, 0.1), params=200),
            *search(base, "gnode", 4, 1, 2, upto(4, 0.3), params=200),
            *search(base, "gnode", 4, 2, 0, upto(4, 0.2), params=500),
            *search(base, "node", 4, 1, 0, upto(2, 0.7), params=300),
            *search(base, "gru", 4, None, 0, upto(2, 0.5), params=100),
            *search(base, "node", 4, 2, 0, [(1, 0.99), (2, "diverged")], params=600),
            *search(base, "lstm", 4, None, 0, [(1, 0.99), (2, 0.99)], params=50)]


@pytest.fixture(scope="module")
def board(tmp_path_factory, base):
    root = tmp_path_factory.mktemp("capacity-board")
    docs = board_docs(base)
    write(root / "results", docs)
    return root, docs, build(root / "results", root / "out")


def test_capacity_table_orders_by_median_k_star_then_failed_score_then_params(board, base):
    """gnode L=1's seeds reached K* 4, 0 and 4: its interval [0, 4] takes in every other
    finished entry, so all share its rank, in the order of the median, then the failed score,
    then fewer parameters."""
    root, _, _ = board
    rows = tables((root / "out" / "README.md").read_text())[heading(TASK)]
    assert {"rank", "model", "N", "L", "params", "K* ↑", "K* 95% CI", "seeds",
            "K tried: trajectory R²", "train (s)"} <= set(rows[0])
    got = [(r["rank"], r["model"], r["L"], r["params"], r["K* ↑"], r["K* 95% CI"], r["seeds"])
           for r in rows]
    assert got == [("1=", "gnode", "1", "200", "4 (4, 0, 4)", "[0, 4]", "3"),
                   ("1=", "gnode", "2", "500", "4", "—", "1"),
                   ("1=", "node", "1", "300", "2", "—", "1"),
                   ("1=", "gru", "—", "100", "2", "—", "1"),
                   ("1=", "node", "2", "600", "1", "—", "1"),
                   ("—", "lstm", "—", "50", "unfinished", "—", "0 of 1 finished")]
    tried = {(r["model"], r["L"]): r["K tried: trajectory R²"] for r in rows}
    assert tried["gnode", "2"] == "1: 0.99, 2: 0.99, 4: 0.99, 8: 0.20"
    assert tried["gnode", "1"] == ("s0: 1: 0.99, 2: 0.99, 4: 0.99, 8: 0.30; s1: 1: 0.10; "
                                   "s2: 1: 0.99, 2: 0.99, 4: 0.99, 8: 0.30")
    assert tried["node", "2"] == "1: 0.99, 2: diverged"
    t = base["timing"]["train_total_s"]  # every synthetic cell took as long as the real one
    assert rows[0]["train (s)"] == f"{3 * t:.1f}"  # mean over seeds of 4, 1 and 4 cells
    assert rows[1]["train (s)"] == f"{4 * t:.1f}"


def test_the_summary_shows_each_entrys_best_configuration_with_its_interval(board):
    """The front page's K* matrix: gnode's best is L = 1 (K* 4 like L = 2, but its next K came
    closer: 0.3 against 0.2), node's L = 1 (2 against 1); [0, 4] takes in the 2 of node and
    gru, so all three are tied with the best; lstm never finished a search and is left out."""
    root, _, _ = board
    header, *body = front_matrix((root / "out" / "README.md").read_text())
    assert header == ["model", "framework", "params", f"{TASK} (K* ↑)"]
    assert body == [["gnode", "jax", "200", "**4 [0, 4]** ≈ (N=4, L=1)"],
                    ["gru", "jax", "100", "**2** ≈ (N=4)"],
                    ["node", "jax", "300", "**2** ≈ (N=4, L=1)"]]


def front_matrix(readme: str) -> list[list[str]]:
    """The rows of the front page's K* matrix, header first."""
    matrix = readme.split("## Contents")[0].split("#### Expressivity: capacity K*")[1]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in matrix.splitlines() if line.startswith("|")]
    return [rows[0], *rows[2:]]


def test_the_summary_breaks_ties_in_the_median_as_the_table_does(tmp_path, base):
    """node and gru share the median K* 4; node's next K came closer (0.8 against 0.3), so the
    table puts it first, where its interval [4, 16] reaches gnode's [8, 8]: node shares rank 1
    and gru, [4, 4], starts rank 3. Taken in the order of their names, gru would have started
    rank 2 and taken node in. The summary must rank as the table."""
    docs = [*(d for s in range(3) for d in search(base, "gnode", 4, 1, s, upto(8))),
            *(d for s, k in enumerate((4, 4, 16))
              for d in search(base, "node", 4, 1, s, upto(k, 0.8))),
            *(d for s in range(3) for d in search(base, "gru", 4, None, s, upto(4, 0.3)))]
    write(tmp_path / "results", docs)
    build(tmp_path / "results", tmp_path / "out")
    readme = (tmp_path / "out" / "README.md").read_text()
    table = tables(readme)[heading(TASK)]
    assert [(r["rank"], r["model"], r["K* 95% CI"]) for r in table] == [
        ("1=", "gnode", "[8, 8]"), ("1=", "node", "[4, 16]"), ("3", "gru", "[4, 4]")]
    assert front_matrix(readme)[1:] == [["gnode", "jax", "100", "**8 [8, 8]** ≈ (N=4, L=1)"],
                                        ["gru", "jax", "100", "4 [4, 4] (N=4)"],
                                        ["node", "jax", "100", "**4 [4, 16]** ≈ (N=4, L=1)"]]


def test_entries_share_a_rank_only_where_the_intervals_of_their_median_k_star_overlap(base):
    """K* 8, 8, 8 is alone at the top; 4, 0, 4 ([0, 4]) is apart from it and takes in 2, 2, 2
    ([2, 2]) below it, and 1, 1, 1 ([1, 1]) as well, though not [2, 2]: the first entry of a
    rank decides."""
    docs = [*(d for s, k in enumerate((8, 8, 8)) for d in search(base, "gnode", 4, 1, s, upto(k))),
            *(d for s, k in enumerate((4, 0, 4)) for d in search(base, "node", 4, 1, s, upto(k))),
            *(d for s, k in enumerate((2, 2, 2)) for d in search(base, "gru", 4, None, s,
                                                                 upto(k))),
            *(d for s, k in enumerate((1, 1, 1)) for d in search(base, "lstm", 4, None, s,
                                                                 upto(k)))]
    [found] = tables("### t\n" + capacity_report.table(searches(docs))).values()
    assert [(r["rank"], r["model"], r["K* ↑"], r["K* 95% CI"]) for r in found] == [
        ("1", "gnode", "8 (8, 8, 8)", "[8, 8]"), ("2=", "node", "4 (4, 0, 4)", "[0, 4]"),
        ("2=", "gru", "2 (2, 2, 2)", "[2, 2]"), ("2=", "lstm", "1 (1, 1, 1)", "[1, 1]")]


def test_the_interval_of_the_median_k_star_is_made_of_reached_values():
    """The bootstrap interval of a lower median over seeds: the range for three distinct seeds,
    a point when nine of ten seeds agree, and bounds always among the seeds' own K*."""
    import numpy as np

    iv = capacity_report._median_interval(np.array([1.0, 0.0, 2.0]))
    assert (iv.center, iv.low, iv.high) == (1.0, 0.0, 2.0)
    iv = capacity_report._median_interval(np.array([0.0] + [2.0] * 9))
    assert (iv.center, iv.low, iv.high) == (2.0, 2.0, 2.0)
    # 4, 8, 8, 16, 16, 16, 32: a resample's median is 32 or 4 only when 4 of its 7 draws are
    # that one seed (binomial, p = 1/7: about 1%), and 8 or less when 4 draw from the three
    # lowest (p = 3/7: about 35%); so [8, 16]
    iv = capacity_report._median_interval(np.array([8.0, 16.0, 32.0, 16.0, 4.0, 16.0, 8.0]))
    assert (iv.center, iv.low, iv.high) == (16.0, 8.0, 16.0)
    assert capacity_report._median_interval(np.array([])) is None


def test_a_search_timed_beside_other_work_is_marked(base):
    """One K timed beside other work marks its whole search's time ``*``, whichever way it
    was shared; a quiet search is unmarked."""
    docs = [*search(base, "gnode", 4, 1, 0, upto(4)),
            *search(base, "gnode", 4, 2, 0, upto(4), timing={2: {"other_cpu_share": 0.4}}),
            *search(base, "node", 4, 1, 0, upto(2), timing={4: {"ensemble_members": 9}}),
            *search(base, "gru", 4, None, 0, upto(2), timing={1: {"cells_beside": 1}}),
            *search(base, "lstm", 4, None, 0, upto(2), timing={1: {"other_cpu_share": 0.05}})]
    [found] = tables("### t\n" + capacity_report.table(searches(docs))).values()
    rows = {(r["model"], r["L"]): r["train (s)"] for r in found}
    marked = {k for k, v in rows.items() if v.endswith(" *")}
    assert marked == {("gnode", "2"), ("node", "1"), ("gru", "—")}, rows
    assert all(v.replace(" *", "").replace(".", "").isdigit() for v in rows.values())


def test_a_submissions_search_is_named_as_one(base):
    """As in the flip-flop tables: a stranger's model is tagged beside the baselines."""
    docs = [*search(base, "gru", 4, None, 0, upto(2)),
            *search(base, "example-ctrnn", 4, None, 0, upto(4), fw="torch", kind="submission")]
    [found] = tables("### t\n" + capacity_report.table(searches(docs))).values()
    assert [r["model"] for r in found] == ["example-ctrnn (submission)", "gru"]


def test_build_writes_the_capacity_plots_and_a_csv_with_k(board):
    root, docs, written = board
    out = root / "out"
    readme = (out / "README.md").read_text()
    pngs = sorted((out / "plots").glob("*.png"))
    assert len(pngs) == 3 and all(p.name.startswith(f"{TASK}-v1-smoke-cpu-") for p in pngs)
    for suffix in ("-capacity.png", "-capacity-params.png", "-trajectories.png"):
        assert sum(p.name.endswith(suffix) for p in pngs) == 1, suffix
    for png in pngs:
        assert png.read_bytes()[:8] == PNG
        assert f"(plots/{png.name})" in readme
        assert png in written
    csv = pd.read_csv(out / "results.csv")
    assert "K" in csv.columns and "capacity" not in csv.columns
    assert len(csv) == len(docs)
    gnode2 = csv[(csv.model_name == "gnode") & (csv.L == 2)]
    assert sorted(gnode2.K.astype(int)) == [1, 2, 4, 8]


def test_the_params_plot_draws_k_star_zero_in_its_own_strip(base):
    """Configurations at K* = 0 would share one line of the log axis: they get a row each in
    a strip below, and only lines that reach K* = 1 are drawn (and named) above."""
    docs = [*search(base, "gru", 2, None, 0, upto(0), params=120),
            *search(base, "gru", 4, None, 0, upto(2), params=600),
            *search(base, "node", 2, 1, 0, upto(0), params=300),
            *search(base, "lstm", 4, None, 0, upto(1), params=800)]
    fig = capacity_report.params_figure(searches(docs), "t")
    top, strip = fig.axes
    assert [t.get_text() for t in top.get_legend().get_texts()] == ["gru / jax", "lstm / jax"]
    assert [t.get_text() for t in strip.get_yticklabels()] == ["gru / jax", "node L=1 / jax"]
    assert [tuple(ln.get_xydata().ravel()) for ln in strip.get_lines()] == [(120, 0), (300, 1)]
    gru = top.get_lines()[0].get_xydata()
    assert gru.tolist() == [[120, 0], [600, 2]]  # its segment to K* = 0 leaves the axis
    assert top.get_ylim()[0] > 0
    plotting.pyplot().close(fig)

    nothing = capacity_report.params_figure(searches(docs[:1]), "t")
    assert "no configuration reached" in nothing.axes[0].texts[0].get_text()
    plotting.pyplot().close(nothing)
    reached = [d for d in docs if d["model"] == "lstm" or d["config"]["model"]["N"] == 4]
    none_at_zero = capacity_report.params_figure(searches(reached), "t")
    assert "no configuration at K* = 0" in none_at_zero.axes[1].texts[0].get_text()
    plotting.pyplot().close(none_at_zero)


def test_build_passes_capacity_results_to_claim_3(board):
    text = (board[0] / "out" / "claims.md").read_text()
    claim3 = text.split("#### Claim 3.")[1].split("#### Claim 4.")[0]
    assert claim3.count(f"| {TASK}") >= 2  # the gnode and the node rows, at N = 4
    assert "5 needed on each side" in claim3  # the board has fewer seeds


def test_build_is_byte_for_byte_reproducible(board):
    root = board[0]
    again = build(root / "results", root / "again")
    files = sorted(p.relative_to(root / "out") for p in (root / "out").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(root / "again") for p in again)
    for rel in files:
        assert (root / "out" / rel).read_bytes() == (root / "again" / rel).read_bytes(), rel


def flipflop(base, model, mse):
    """A flip-flop result made from the capacity one (conftest's make_doc needs the smoke run,
    which would triple this file's run time)."""
    d = copy.deepcopy(base)
    tr = d.pop("trajectories")
    del d["K"], d["capacity"]
    d["code_sha256"] = trust.code_sha256(discover()[model], d["framework"], d["config"]["model"])
    d.update(task=SMOKE_TASK, model=model, model_kind="baseline", variant="", run_variant="",
             primary_metric="mse", higher_is_better={"mse": False, "r2": True},
             metrics={"mse": mse, "r2": 1 - mse},
             example={"trial": 0, "inputs": tr["targets"][0], "targets": tr["targets"][0],
                      "outputs": tr["outputs"][0]})
    return d


def test_flipflop_and_capacity_results_get_their_own_tables(tmp_path, base):
    flip = [flipflop(base, "gnode", 0.3), flipflop(base, "gru", 0.2)]
    write_docs(tmp_path / "results", flip)
    cap = search(base, "gnode", 4, 1, 0, upto(2))
    write(tmp_path / "results", cap)
    build(tmp_path / "results", tmp_path / "out")
    t = tables((tmp_path / "out" / "README.md").read_text())
    ff, kk = t[heading(SMOKE_TASK)], t[heading(TASK)]
    assert [r["model"] for r in ff] == ["gru", "gnode"]
    assert "mse ↓" in ff[0] and "K* ↑" not in ff[0]
    assert [(r["model"], r["K* ↑"]) for r in kk] == [("gnode", "2")] and "mse ↓" not in kk[0]
    csv = pd.read_csv(tmp_path / "out" / "results.csv")
    assert csv[csv.task == SMOKE_TASK].K.isna().all()
    assert sorted(csv[csv.task == TASK].K.astype(int)) == [1, 2, 4]
    pngs = [p.name for p in (tmp_path / "out" / "plots").glob("*.png")]
    assert sorted(n.startswith(SMOKE_TASK) for n in pngs) == [False, False, False, True]


@pytest.mark.parametrize("by_L, verdict", [
    ({1: [1, 1, 2, 1, 1], 2: [8, 4, 8, 16, 8]}, "holds"),  # deeper: clearly higher K*
    ({1: [8, 4, 8, 16, 8], 2: [1, 1, 2, 1, 1]}, "does not hold"),  # clearly lower
    ({1: [1, 4, 2, 8, 1], 2: [2, 1, 4, 1, 8]}, "inconclusive"),  # seeds cannot tell
])
def test_claim_3_deepest_against_shallowest_over_seeds(base, by_L, verdict):
    rows = claims.judge(claims.claim_3(frame(depth_docs(base, "gnode", by_L))))
    assert [r.test.verdict for r in rows] == [verdict]
    assert rows[0].cells["model"] == "gnode" and rows[0].cells["N"] == "4"
    assert rows[0].cells["depths"] == "L = 1 and 2" and rows[0].cells["seeds"] == "5 / 5"


def test_claim_3_needs_five_seeds_and_ignores_non_standard_runs(base):
    docs = depth_docs(base, "node", {1: [1, 2, 1], 2: [2, 4, 4]}, N=8)
    docs += depth_docs(base, "node", {2: [0, 0, 0, 0, 0]}, N=8, run_variant="lr=0.1")
    (row,) = claims.judge(claims.claim_3(frame(docs)))
    assert row.test is None and "5 needed" in row.why and row.cells["seeds"] == "3 / 3"


def _verdicts(df):
    """The verdict line of each claim in ``claims.section``."""
    lines = claims.section(df)
    starts = [i for i, line in enumerate(lines) if line.startswith("#### Claim")]
    return [next(line for line in lines[i + 1:] if line.startswith(("Verdict", "**not")))
            for i in starts]


def test_section_verdict_of_claim_3(base):
    docs = (depth_docs(base, "gnode", {1: [1, 1, 2, 1, 1], 2: [8, 4, 8, 16, 8]})
            + depth_docs(base, "node", {1: [1, 4, 2, 8, 1], 2: [2, 1, 4, 1, 8]}))
    v = _verdicts(frame(docs))
    assert v[0] == v[1] == v[3] == "**not tested**: no such runs here."  # no flip-flop results
    assert v[2] == "Verdict: **inconclusive** (1 holds, 1 inconclusive; of 2 tested)"


def _capture(monkeypatch):
    """Keep every figure the report saves (and still save it)."""
    figs, save = [], plotting.save
    monkeypatch.setattr(plotting, "save", lambda fig, path: (figs.append(fig), save(fig, path)))
    return figs


def test_heatmap_needs_gnode_or_node_and_writes_a_readable_png(tmp_path, base, monkeypatch):
    from matplotlib.image import imread

    others = search(base, "gru", 4, None, 0, upto(2)) + search(base, "lstm", 8, None, 0, upto(1))
    assert not capacity_report.heatmap(searches(others), "t", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    figs = _capture(monkeypatch)
    docs = [*others, *depth_docs(base, "gnode", {1: [4, 2, 4], 2: [8]}),
            *search(base, "node", 8, 1, 0, upto(1))]
    png = tmp_path / "plots" / "heat.png"
    assert capacity_report.heatmap(searches(docs), "t", png)
    assert png.read_bytes()[:8] == PNG
    height, width = imread(png).shape[:2]
    assert height > 0 and width > 0
    # rows L = 1, 2, columns N = 4, 8; "·" where no search ran; the median over seeds
    cells = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in figs[0].axes
             if ax.get_title()}
    assert cells == {"gnode / jax: K*": ["4", "·", "8", "·"],
                     "node / jax: K*": ["·", "1", "·", "·"]}


def test_trajectories_show_the_passing_and_first_failing_k_of_each_best_config(
        tmp_path, base, monkeypatch):
    figs = _capture(monkeypatch)
    # a stale K past the first failure (from an older run) is not the first failing K
    docs = board_docs(base) + search(base, "gnode", 4, 1, 0, [(16, 0.95)], params=200)
    assert capacity_report.trajectories_plot(searches(docs), docs, "t", tmp_path / "tr.png")
    assert (tmp_path / "tr.png").read_bytes()[:8] == PNG
    titles = [ax.get_title() for ax in figs[0].axes if ax.get_title()]
    # best: highest K*, then fewest params (gnode L=1 seed 0); lstm is unfinished
    assert titles == [f"{name}\nK={K} ({what}, R² {r2:.2f})" for name, K, what, r2 in [
        ("gnode / jax, N=4, L=1", 4, "passed", 0.99), ("gnode / jax, N=4, L=1", 8, "failed", 0.30),
        ("gru / jax, N=4", 2, "passed", 0.99), ("gru / jax, N=4", 4, "failed", 0.50),
        ("node / jax, N=4, L=1", 2, "passed", 0.99), ("node / jax, N=4, L=1", 4, "failed", 0.70)]]
    assert all(len(ax.lines) == 3 * 4 for ax in figs[0].axes if ax.get_title())
