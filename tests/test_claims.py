"""The paper's claims (``bench.claims``) judged on small synthetic result tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import claims

SQUARE, RING, THREE = "flipflop-2bit-square", "flipflop-2bit-ring", "flipflop-3bit"
COLUMNS = ["task", "framework", "model_name", "status", "N", "L", "seed", "metric.r2",
           "metric.mse", "metric.drift", "coverage"]


def runs(task, model, N, *, fw="torch", seeds=3, L=None, r2=0.9, mse=0.01, drift=0.1,
         coverage=0.5, status="ok"):
    """Rows for ``seeds`` seeds; a metric given as a list sets one value per seed."""

    def per_seed(v, i):
        return v[i] if isinstance(v, list | tuple) else v

    return [{"task": task, "framework": fw, "model_name": model, "status": status, "N": N,
             "L": L, "seed": i, "metric.r2": per_seed(r2, i), "metric.mse": per_seed(mse, i),
             "metric.drift": per_seed(drift, i), "coverage": per_seed(coverage, i)}
            for i in range(seeds)]


def frame(*groups):
    rows = [r for g in groups for r in g]
    return pd.DataFrame(rows, columns=COLUMNS)


def claim1_frame(g=None, n=None, tasks=(SQUARE, RING), fws=("torch",), **common):
    g, n = g or {}, n or {}
    groups = []
    for task in tasks:
        for fw in fws:
            groups.append(runs(task, "gnode", 2, fw=fw, L=1,
                               **{"r2": 0.9, "coverage": 0.8, "drift": 0.05, **common, **g}))
            groups.append(runs(task, "node", 2, fw=fw, L=1,
                               **{"r2": 0.8, "coverage": 0.3, "drift": 0.5, **common, **n}))
    return frame(*groups)


# -- claim 1 ----------------------------------------------------------------------------------

def test_claim_1_holds_when_gnode_wins_all_three_comparisons():
    rows = claims.claim_1(claim1_frame(fws=("jax", "torch")))
    assert [(r.cells["task"], r.cells["framework"]) for r in rows] == [
        (SQUARE, "jax"), (SQUARE, "torch"), (RING, "jax"), (RING, "torch")]
    assert all(r.holds is True for r in rows)
    assert rows[0].cells["seeds (gnODE / nODE)"] == "3 / 3"
    assert rows[0].cells["test R²: gnODE"] == "0.9 ± 0"


@pytest.mark.parametrize("g,n", [
    ({"r2": 0.7}, {}),  # lower R^2
    ({"coverage": 0.2}, {}),  # lower coverage
    ({"coverage": 0.3}, {}),  # equal coverage is not higher
    ({"drift": 0.6}, {}),  # more drift
    ({"drift": 0.5}, {}),  # equal drift is not lower
])
def test_claim_1_fails_when_any_comparison_goes_the_node_way(g, n):
    rows = claims.claim_1(claim1_frame(g, n, tasks=(RING,)))
    assert len(rows) == 1 and rows[0].holds is False


def test_claim_1_equal_r2_is_at_least_as_high():
    (row,) = claims.claim_1(claim1_frame({"r2": 0.8}, tasks=(SQUARE,)))
    assert row.holds is True


def test_claim_1_compares_means_over_seeds():
    # gnODE wins two seeds of three on R^2, but its mean (0.8) is below nODE's (0.85)
    (row,) = claims.claim_1(claim1_frame({"r2": [0.95, 0.95, 0.5]}, {"r2": 0.85},
                                         tasks=(RING,)))
    assert row.holds is False
    (row,) = claims.claim_1(claim1_frame({"drift": [0.0, 0.0, 1.2]}, {"drift": 0.5},
                                         tasks=(RING,)))
    assert row.holds is True  # mean drift 0.4 < 0.5, although one seed drifts more


def test_claim_1_needs_min_seeds_successful_runs_on_each_side():
    assert claims.MIN_SEEDS == 3
    df = frame(runs(RING, "gnode", 2, seeds=3, coverage=0.8, drift=0.0),
               runs(RING, "node", 2, seeds=2, r2=0.5, coverage=0.1, drift=1.0))
    (row,) = claims.claim_1(df)
    assert row.holds is None and row.cells["seeds (gnODE / nODE)"] == "3 / 2"
    # a third nODE seed that diverged is not a successful seed
    df = pd.concat([df, frame([{**runs(RING, "node", 2, seeds=1)[0], "seed": 2,
                                "status": "diverged"}])])
    (row,) = claims.claim_1(df)
    assert row.holds is None
    # a successful third seed makes it tested
    df = pd.concat([df, frame([{**runs(RING, "node", 2, seeds=1, r2=0.5, coverage=0.1,
                                     drift=1.0)[0], "seed": 3}])])
    (row,) = claims.claim_1(df)
    assert row.holds is True


def test_claim_1_uses_only_n_2_and_its_two_tasks():
    df = frame(runs(RING, "gnode", 4, coverage=0.0, drift=9.0),  # N = 4: not this claim
               runs(RING, "gnode", 2, coverage=0.8, drift=0.0),
               runs(RING, "node", 2, coverage=0.1, drift=1.0),
               runs(THREE, "gnode", 2), runs(THREE, "node", 2))
    rows = claims.claim_1(df)
    assert [r.cells["task"] for r in rows] == [RING]
    assert rows[0].holds is True
    assert claims.claim_1(frame(runs(RING, "gnode", 4), runs(RING, "node", 4))) == []


# -- claim 2 ----------------------------------------------------------------------------------

def claim2_frame(gnode_mse, ref_mse, ref_N=100, seeds=3):
    return frame(runs(THREE, "gnode", 6, L=3, mse=gnode_mse, seeds=seeds),
                 runs(THREE, "gnode", 64, L=1, mse=1e-6),  # another size: not the claim's
                 runs(THREE, "gru", ref_N, mse=ref_mse, seeds=seeds),
                 runs(THREE, "lstm", ref_N, mse=ref_mse, seeds=seeds))


@pytest.mark.parametrize("gnode_mse,holds", [
    (0.25, True),  # better than the reference
    (0.5, True),  # exactly COMPARABLE (2x) times the reference: still comparable
    (0.5 + 1e-9, False),  # just over
    (1.0, False),
])
def test_claim_2_comparable_means_within_the_factor(gnode_mse, holds):
    assert claims.COMPARABLE == 2.0
    rows = claims.claim_2(claim2_frame(gnode_mse, 0.25))
    assert [r.cells["reference"] for r in rows] == ["gru", "lstm"]
    assert all(r.holds is holds for r in rows)
    assert rows[0].cells["ratio"] == f"{gnode_mse / 0.25:.2f}"
    assert rows[0].cells["gnODE size"] == "N = 6, L = 3"
    assert rows[0].cells["reference size"] == "N = 100"
    # one table: every row has the same columns, the reference's MSE in one of them
    assert all(list(r.cells) == list(rows[0].cells) for r in rows)
    assert rows[0].cells["MSE: reference"].startswith("0.25")


def test_claim_2_takes_the_reference_at_any_size_and_needs_seeds():
    (gru, lstm) = claims.claim_2(claim2_frame(0.3, 0.25, ref_N=64))
    assert gru.holds is lstm.holds is True and gru.cells["reference size"] == "N = 64"
    rows = claims.claim_2(claim2_frame(0.3, 0.25, seeds=2))
    assert [r.holds for r in rows] == [None, None]
    assert rows[0].cells["seeds"] == "2 / 2"


def test_claim_2_compares_mean_mse_over_seeds():
    # gnODE's seeds 0.1, 0.1, 1.0 (mean 0.4) against a reference mean of 0.19: ratio 2.1
    rows = claims.claim_2(claim2_frame([0.1, 0.1, 1.0], 0.19))
    assert all(r.holds is False for r in rows)
    rows = claims.claim_2(claim2_frame([0.1, 0.1, 1.0], 0.2))
    assert all(r.holds is True for r in rows)


# -- claim 3 ----------------------------------------------------------------------------------

def test_claim_3_every_gated_model_must_drift_less_than_every_ungated_one():
    # gated gnode 0.1, gru 0.2; ungated node 0.3, rnn 0.15: gru > rnn breaks one pair of four
    df = frame(runs(SQUARE, "gnode", 8, drift=0.1), runs(SQUARE, "gru", 8, drift=0.2),
               runs(SQUARE, "node", 8, drift=0.3), runs(SQUARE, "rnn", 8, drift=0.15))
    (row,) = claims.claim_3(df)
    assert row.holds is False
    assert row.cells["gated < ungated"] == "3 of 4 pairs"
    assert row.cells["drift: mgru"] == row.cells["drift: lstm"] == "—"
    # with rnn above both gated models, all four pairs go the gated way
    df = frame(runs(SQUARE, "gnode", 8, drift=0.1), runs(SQUARE, "gru", 8, drift=0.2),
               runs(SQUARE, "node", 8, drift=0.3), runs(SQUARE, "rnn", 8, drift=0.25))
    (row,) = claims.claim_3(df)
    assert row.holds is True and row.cells["gated < ungated"] == "4 of 4 pairs"


def test_claim_3_equal_drift_is_not_less():
    df = frame(runs(SQUARE, "lstm", 8, drift=0.2), runs(SQUARE, "node", 8, drift=0.2))
    (row,) = claims.claim_3(df)
    assert row.holds is False and row.cells["gated < ungated"] == "0 of 1 pairs"


def test_claim_3_groups_by_task_framework_and_n():
    df = frame(
        runs(SQUARE, "gnode", 2, drift=0.1), runs(SQUARE, "node", 2, drift=0.3),  # holds
        runs(SQUARE, "gnode", 4, drift=0.4), runs(SQUARE, "node", 4, drift=0.3),  # does not
        runs(SQUARE, "gru", 64, fw="jax", drift=0.1),
        runs(SQUARE, "rnn", 64, fw="jax", drift=0.2),  # holds
        # gated at N = 16 and ungated at N = 32: never compared across sizes
        runs(RING, "gnode", 16, drift=9.0), runs(RING, "node", 32, drift=0.0),
    )
    rows = claims.claim_3(df)
    got = {(r.cells["task"], r.cells["framework"], r.cells["N"]): r.holds for r in rows}
    assert got == {(SQUARE, "torch", "2"): True, (SQUARE, "torch", "4"): False,
                   (SQUARE, "jax", "64"): True}


def test_claim_3_ignores_models_with_too_few_seeds_and_unknown_models():
    df = frame(runs(SQUARE, "gnode", 8, drift=0.1), runs(SQUARE, "node", 8, drift=0.3),
               runs(SQUARE, "gru", 8, seeds=2, drift=5.0),  # too few seeds: left out
               runs(SQUARE, "my-model", 8, drift=5.0),  # neither gated nor ungated
               runs(SQUARE, "rnn", 8, drift=0.01, status="failed"))  # not successful
    (row,) = claims.claim_3(df)
    assert row.holds is True and row.cells["gated < ungated"] == "1 of 1 pairs"
    assert row.cells["drift: gru"] == "—" and row.cells["drift: rnn"] == "—"
    # only gated models: nothing to compare
    assert claims.claim_3(frame(runs(SQUARE, "gnode", 8), runs(SQUARE, "gru", 8))) == []


# -- verdicts and the markdown section --------------------------------------------------------

def test_section_reports_verdicts_per_claim():
    df = pd.concat([
        claim1_frame(),  # claim 1 holds on both tasks
        claim2_frame(1.0, 0.25),  # claim 2 fails against both references
        frame(runs(RING, "gru", 2, drift=0.01)),  # claim 3: gnode, gru < node at N = 2
    ])
    text = "\n".join(claims.section(df))
    parts = text.split("#### Claim ")
    assert len(parts) == 1 + len(claims.CLAIMS)
    assert [p[:2] for p in parts[1:]] == [f"{i}." for i in range(1, len(claims.CLAIMS) + 1)]
    assert "Verdict: **holds** (2 of 2 comparisons hold)" in parts[1]
    assert "Verdict: **does not hold** (0 of 2 comparisons hold)" in parts[2]
    assert "Verdict: **holds**" in parts[3]
    assert "| holds" in parts[1] and "| yes" in parts[1] and "| no" in parts[2]
    assert "Runs:" in parts[1]


def test_section_without_runs_or_seeds_says_not_tested():
    text = "\n".join(claims.section(frame()))
    assert text.count("**not tested**: no such runs here.") == len(claims.CLAIMS)
    df = claim1_frame(tasks=(RING,))
    df = df[df.seed < 2]  # two seeds per side
    text = "\n".join(claims.section(df))
    part = text.split("#### Claim ")[1]
    assert "Verdict: **not tested**: no comparison has 3 seeds on each side" in part
    assert "| not tested" in part


def test_verdict_counts_only_tested_rows():
    rows = [claims.Row({}, True), claims.Row({}, None), claims.Row({}, False)]
    assert claims._verdict(rows, claims.claim_1) == "**does not hold** (1 of 2 comparisons hold)"
    assert claims._verdict(rows[:2], claims.claim_1) == "**holds** (1 of 1 comparisons hold)"
    assert claims._verdict(rows[1:2], claims.claim_1).startswith("**not tested**")


@pytest.mark.parametrize("values,text", [
    ([], "—"),
    ([np.nan], "—"),
    ([0.5], "0.5"),
    ([1.0, 2.0, 3.0], "2.0 ± 1.0"),  # std 1: two significant digits
    ([0.123, 0.125, 0.127], "0.1250 ± 0.0020"),
    ([10.0, 30.0], "20 ± 14"),  # std 14.14...
    ([0.5, 0.5, 0.5], "0.5 ± 0"),
    ([1.0, np.nan, 3.0], "2.0 ± 1.4"),  # missing values are left out
])
def test_mean_std_formatting(values, text):
    assert claims.mean_std(pd.Series(values, dtype=float)) == text


def test_mean_std_of_equal_values_is_plus_minus_zero():
    assert claims.mean_std(pd.Series([0.2, 0.2, 0.2])) == "0.2 ± 0"


def test_claim_1_without_coverage_numbers_is_not_tested():
    (row,) = claims.claim_1(claim1_frame({"coverage": np.nan}, {"coverage": np.nan},
                                         tasks=(RING,)))
    assert row.cells["coverage: gnODE"] == "—"
    assert row.holds is None


@pytest.mark.parametrize("values,expected", [
    ([0.0042, 0.00424, 0.004184], "0.004208 ± 0.000029"),
    ([12.0, 14.0], "13.0 ± 1.4"),
    ([0.5, 0.5], "0.5 ± 0"),
    ([0.3], "0.3"),
])
def test_mean_is_shown_to_the_precision_of_its_std(values, expected):
    assert claims.mean_std(pd.Series(values)) == expected


# -- claim 6: gating on the real-world tasks ---------------------------------------------------

def real(task, model, metric, values, *, N=64, fw="jax", status="ok"):
    primary = "accuracy" if metric == "metric.accuracy" else "mse"
    return pd.DataFrame([{"task": task, "framework": fw, "model_name": model, "status": status,
                          "N": N, "seed": i, "primary_metric": primary, metric: v}
                         for i, v in enumerate(values)])


@pytest.mark.parametrize("task, metric, g, n, holds", [
    ("vowels", "metric.accuracy", [0.97, 0.96, 0.98], [0.95, 0.96, 0.94], True),
    ("vowels", "metric.accuracy", [0.90, 0.91, 0.92], [0.95, 0.96, 0.94], False),
    ("vowels-irregular-70", "metric.accuracy", [0.9, 0.9, 0.9], [0.9, 0.9, 0.9], False),  # tie
    ("walker2d", "metric.mse", [0.2, 0.3, 0.25], [0.4, 0.5, 0.45], True),  # lower is better
    ("walker2d", "metric.mse", [0.6, 0.5, 0.55], [0.4, 0.5, 0.45], False),
    ("vowels", "metric.accuracy", [0.97, 0.96], [0.95, 0.96, 0.94], None),  # two seeds
])
def test_claim_6_gnode_against_node_per_real_task(task, metric, g, n, holds):
    df = pd.concat([real(task, "gnode", metric, g), real(task, "node", metric, n)])
    (row,) = claims.claim_6(df)
    assert row.holds is holds
    assert row.cells["task"] == task and row.cells["metric"] == metric.split(".")[1]


def test_claim_6_ignores_other_tasks_and_other_sizes():
    df = pd.concat([real("flipflop-3bit", "gnode", "metric.mse", [0.1] * 3),
                    real("flipflop-3bit", "node", "metric.mse", [0.2] * 3),
                    real("vowels", "gnode", "metric.accuracy", [0.9] * 3, N=32),
                    real("vowels", "node", "metric.accuracy", [0.8] * 3, N=64)])
    assert claims.claim_6(df) == []
