"""The paper's claims (``bench.report.claims``): the statistics against known answers, and each
claim judged on small synthetic result tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.report import claims

SQUARE, RING, FIXED, THREE = ("flipflop-2bit-square", "flipflop-2bit-ring",
                              "flipflop-3bit-fixed", "flipflop-3bit")
COLUMNS = ["task", "framework", "model_name", "status", "N", "L", "seed", "primary_metric",
           "metric.r2", "metric.mse", "metric.accuracy", "hold.memory_auc",
           "hold.write_error", "hold.coverage_1000", "gate.median"]


def runs(task, model, N, *, fw="jax", seeds=5, auc=0.5, mse=0.01, accuracy=0.9,
         status="ok", primary="mse"):
    """Rows for ``seeds`` seeds; a value given as a list sets one value per seed."""

    def per_seed(v, i):
        return v[i] if isinstance(v, list | tuple) else v

    return [{"task": task, "framework": fw, "model_name": model, "status": status, "N": N,
             "L": 2, "seed": i, "primary_metric": primary, "metric.r2": 0.9,
             "metric.mse": per_seed(mse, i), "metric.accuracy": per_seed(accuracy, i),
             "hold.memory_auc": per_seed(auc, i), "hold.write_error": 0.1,
             "hold.coverage_1000": 0.2, "gate.median": 0.5}
            for i in range(seeds)]


def frame(*groups):
    return pd.DataFrame([r for g in groups for r in g], columns=COLUMNS)


NOISE = [-0.02, 0.01, 0.0, 0.02, -0.01]  # seed-to-seed spread, mean 0


def spread(mean):
    return [mean + e for e in NOISE]


# -- the statistics --------------------------------------------------------------------------

def test_welch_interval_is_the_textbook_one():
    """Two samples of 5: the difference of means, +- t(0.975, df) sqrt(s_a^2/5 + s_b^2/5), df
    by Welch-Satterthwaite; equal variances here, so df = 8 and t = 2.306."""
    a, b = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    effect, lo, hi = claims.welch(a, b)
    assert effect == pytest.approx(2.0)
    se = np.sqrt(a.var(ddof=1) / 5 + b.var(ddof=1) / 5)
    df = (a.var(ddof=1) / 5 + b.var(ddof=1) / 5) ** 2 / (
        (a.var(ddof=1) / 5) ** 2 / 4 + (b.var(ddof=1) / 5) ** 2 / 4)
    assert df == pytest.approx(5.882, abs=1e-3)  # unequal variances: fewer than 8
    from scipy import stats

    assert (hi - lo) / 2 == pytest.approx(stats.t.ppf(0.975, df) * se)


@pytest.mark.parametrize("n", [5, 8])
def test_the_interval_covers_the_true_difference_95_percent_of_the_time_at_five_seeds(n):
    """Unequal spreads, few seeds: the case a percentile bootstrap gets wrong (about 83% at
    five seeds)."""
    rng = np.random.default_rng(1)
    hits = sum(lo <= 1.0 <= hi for lo, hi in (
        claims.welch(rng.normal(1.0, 1.0, n), rng.normal(0.0, 2.0, n))[1:]
        for _ in range(2000)))
    assert 0.935 <= hits / 2000 <= 0.965


def test_a_claim_with_k_comparisons_tests_each_at_level_one_minus_alpha_over_k():
    """No effect anywhere: over many simulated claims of 4 comparisons, a wrong 'holds' or
    'does not hold' on any of them happens in at most about 5% of claims."""
    rng = np.random.default_rng(2)
    wrong = 0
    for _ in range(400):
        rows = [claims.Row({}, rng.normal(0, 1, 5), rng.normal(0, 1, 5), ci_column="ci")
                for _ in range(4)]
        wrong += any(r.test.verdict != claims.UNSURE for r in claims.judge(rows))
    assert wrong / 400 <= 0.07
    (one,) = claims.judge([claims.Row({}, np.array(spread(0.8)), np.array(spread(0.2)),
                                      ci_column="ci")])
    (two, _) = claims.judge([claims.Row({}, np.array(spread(0.8)), np.array(spread(0.2)),
                                        ci_column="ci"),
                             claims.Row({}, np.array(spread(0.8)), np.array(spread(0.2)),
                                        ci_column="ci")])
    assert two.test.high - two.test.low > one.test.high - one.test.low  # wider when shared


@pytest.mark.parametrize("a, b, verdict", [
    (spread(0.8), spread(0.2), claims.HOLDS),
    (spread(0.2), spread(0.8), claims.FAILS),
    ([0.1, 0.9, 0.5, 0.2, 0.8], [0.6, 0.3, 0.7, 0.4, 0.5], claims.UNSURE),
    (spread(0.5), spread(0.5), claims.UNSURE),
])
def test_greater_has_three_outcomes(a, b, verdict):
    t = claims.greater(np.array(a), np.array(b))
    assert t.verdict == verdict
    assert t.low <= t.effect <= t.high


@pytest.mark.parametrize("a, b, verdict", [
    (spread(0.15), spread(0.1), claims.HOLDS),  # 1.5x: comparable
    (spread(0.5), spread(0.1), claims.FAILS),  # 5x
    ([0.1, 0.5, 0.2, 0.3, 0.1], spread(0.1), claims.UNSURE),  # 2.4x, but the seeds scatter
])
def test_within_factor_is_a_margin_on_the_ratio(a, b, verdict):
    assert claims.within_factor(np.array(a), np.array(b), 2.0).verdict == verdict


# -- claim 1: memory, gnODE against nODE at equal N -------------------------------------------

def test_claim_1_holds_when_the_gnode_holds_values_better_on_every_comparison():
    df = frame(*(runs(t, "gnode", 2, fw=fw, auc=spread(0.8)) for t in (SQUARE, RING)
                 for fw in ("jax", "torch")),
               *(runs(t, "node", 2, fw=fw, auc=spread(0.3)) for t in (SQUARE, RING)
                 for fw in ("jax", "torch")))
    rows = claims.claim_1(df)
    assert [(r.cells["task"], r.cells["framework"]) for r in rows] == [
        (RING, "jax"), (RING, "torch"), (SQUARE, "jax"), (SQUARE, "torch")]
    rows = claims.judge(rows)
    assert all(r.test.verdict == claims.HOLDS for r in rows)
    assert rows[0].cells["AUC difference [CI]"].startswith("0.5 [")
    assert claims.verdict(rows) == "**holds** (4 holds; of 4 tested)"


def test_claim_1_one_comparison_against_it_means_it_does_not_hold():
    df = frame(runs(SQUARE, "gnode", 2, auc=spread(0.8)), runs(SQUARE, "node", 2, auc=spread(0.3)),
               runs(RING, "gnode", 2, auc=spread(0.2)), runs(RING, "node", 2, auc=spread(0.6)))
    assert claims.verdict(claims.judge(claims.claim_1(df))) == (
        "**does not hold** (1 holds, 1 does not hold; of 2 tested)")


def test_claim_1_pairs_equal_n_only_and_only_continuous_memory_tasks():
    df = frame(runs(SQUARE, "gnode", 2), runs(SQUARE, "node", 2),
               runs(THREE, "gnode", 6), runs(THREE, "node", 100),  # no equal N
               runs(FIXED, "gnode", 6), runs(FIXED, "node", 6),  # discrete memory: fixed points
               runs(RING, "gru", 2), runs(RING, "node", 2))  # not the paper's contrast
    assert [(r.cells["task"], r.cells["N"]) for r in claims.claim_1(df)] == [(SQUARE, "2")]


def test_claim_1_says_when_the_results_lack_the_memory_metric():
    df = frame(runs(SQUARE, "gnode", 2, auc=None), runs(SQUARE, "node", 2, auc=None))
    (row,) = claims.judge(claims.claim_1(df))
    assert row.test is None and "make analyze" in row.why and row.cells["seeds"] == "0 / 0"


def test_claim_1_needs_five_successful_seeds_on_each_side():
    df = frame(runs(SQUARE, "gnode", 2, seeds=4, auc=0.9), runs(SQUARE, "node", 2, auc=0.1),
               runs(SQUARE, "gnode", 2, seeds=1, status="diverged"))
    (row,) = claims.judge(claims.claim_1(df))
    assert row.test is None and row.why == "4 / 5 seeds; 5 needed on each side"
    assert claims.verdict([row]).startswith("**not tested**: 4 / 5 seeds")


# -- claims 2 and 4 --------------------------------------------------------------------------

def test_claim_2_reduced_gnode_against_full_size_references():
    df = frame(runs(THREE, "gnode", 6, mse=spread(0.15)), runs(THREE, "gru", 100, mse=spread(0.1)),
               runs(THREE, "lstm", 100, mse=[0.05 + e / 10 for e in NOISE]),
               runs(THREE, "gnode", 100))
    rows = claims.judge(claims.claim_2(df))
    assert [(r.cells["reference"], r.test.verdict) for r in rows] == [
        ("gru", claims.HOLDS), ("lstm", claims.FAILS)]  # 1.5x and 3x


@pytest.mark.parametrize("task, primary, g, n, verdict", [
    ("vowels", "accuracy", {"accuracy": spread(0.9)}, {"accuracy": spread(0.7)}, claims.HOLDS),
    ("vowels", "accuracy", {"accuracy": spread(0.7)}, {"accuracy": spread(0.9)}, claims.FAILS),
    ("walker2d", "mse", {"mse": spread(0.2)}, {"mse": spread(0.4)}, claims.HOLDS),  # lower
    ("walker2d", "mse", {"mse": spread(0.4)}, {"mse": spread(0.2)}, claims.FAILS),
])
def test_claim_4_gating_on_real_tasks_by_the_primary_metric(task, primary, g, n, verdict):
    df = frame(runs(task, "gnode", 32, primary=primary, **g),
               runs(task, "node", 32, primary=primary, **n), runs(SQUARE, "gnode", 32))
    (row,) = claims.judge(claims.claim_4(df))
    assert row.cells["metric"] == primary and row.test.verdict == verdict
    assert row.cells["seeds"] == "5 / 5"


# -- the section -----------------------------------------------------------------------------

def test_section_gives_every_claim_its_test_and_verdict():
    lines = claims.section(frame(runs(SQUARE, "gnode", 2, auc=spread(0.8)),
                                 runs(SQUARE, "node", 2, auc=spread(0.3))))
    text = "\n".join(lines)
    assert text.count("#### Claim") == 4 and text.count("Test: ") == 4
    assert "Verdict: **holds** (1 holds; of 1 tested)" in text
    assert text.count("**not tested**: no such runs here.") == 3
    assert "| holds" in text


def test_verdict_is_inconclusive_when_nothing_fails_and_something_is_unsure():
    t = {v: claims.Test(0.0, -1.0, 1.0, v) for v in (claims.HOLDS, claims.UNSURE)}
    rows = [claims.Row({}, test=t[claims.HOLDS]), claims.Row({}, test=t[claims.UNSURE]),
            claims.Row({}, why="3 / 3 seeds; 5 needed on each side")]
    assert claims.verdict(rows) == "**inconclusive** (1 holds, 1 inconclusive; of 2 tested)"


@pytest.mark.parametrize("values, text", [([1.0], "1"), ([0.5, 0.7], "0.60 ± 0.14"),
                                          ([], "—"), ([2.0, 2.0], "2 ± 0")])
def test_mean_std_formatting(values, text):
    assert claims.mean_std(pd.Series(values, dtype=float)) == text


def test_section_uses_only_rankable_rows():
    """Rows the leaderboard may not rank (``unranked``: forged, stale, unsandboxed
    submissions) never enter a claim."""
    df = frame(runs(SQUARE, "gnode", 2, auc=spread(0.8)), runs(SQUARE, "node", 2,
                                                                auc=spread(0.3)))
    df["unranked"] = ""
    assert "Verdict: **holds**" in "\n".join(claims.section(df))
    df.loc[df.model_name == "node", "unranked"] = "not written by the harness"
    text = "\n".join(claims.section(df))
    assert "Verdict: **holds**" not in text
    assert text.count("**not tested**: no such runs here.") == 4
