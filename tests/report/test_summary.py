"""The leaderboard's front page (``bench.report.summary``): one matrix per task family, the
best entry of each task in bold, ties with it marked, a swept task shown at each model's best
setting, and only what the detailed tables rank."""

from __future__ import annotations

import pandas as pd

from bench.report import summary


def _rows(task, model, values, variant="", framework="torch", kind="baseline", unranked="",
          n_params=None, standard=True):
    return [{"n_params": n_params, "task": task, "task_version": 2, "profile": "quick",
             "device_class": "cpu", "hardware": "Test CPU", "ruleset": "default",
             "status": "ok", "K": None,
             "unranked": unranked, "standard": standard, "model_name": model,
             "model_kind": kind, "variant": variant,
             "framework": framework, "primary_metric": "mse", "metric.mse": v}
            for v in values]


def _table(lines: list[str]) -> dict[str, dict[str, str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in "\n".join(lines).splitlines()
            if line.startswith("|") and not set(line) <= set("|-: ")]
    header = rows[0]
    return {f"{r[0]}/{r[1]}": dict(zip(header, r)) for r in rows[1:]}


def test_the_best_is_bold_ties_are_marked_and_a_sweep_shows_its_best_setting():
    df = pd.DataFrame([
        *_rows("flipflop-2bit-ring", "gnode", [0.010, 0.011, 0.012]),
        *_rows("flipflop-2bit-ring", "node", [0.0105, 0.0115, 0.0125]),  # overlaps gnode
        *_rows("flipflop-2bit-ring", "gru", [0.30, 0.31, 0.32], n_params=44),
        *_rows("flipflop-2bit-ring", "lstm", [0.001], unranked="stale: rerun it"),  # left out
        *_rows("flipflop-3bit-fixed", "gru", [0.05, 0.05], variant="N=6", n_params=180),
        *_rows("flipflop-3bit-fixed", "gru", [0.002, 0.003], variant="N=18", n_params=1260),
        *_rows("flipflop-3bit-fixed", "gnode", [0.04, 0.05], variant="N=6"),
        *_rows("vowels", "cornn", [0.5], kind="submission"),
    ])
    lines = summary.matrices(df, {"flipflop-2bit-ring": False, "flipflop-3bit-fixed": False,
                                  "vowels": False},
                             {"flipflop-2bit-ring": 2, "flipflop-3bit-fixed": 2, "vowels": 2})
    assert "#### Continuous memory: the flip-flop family" in lines
    assert "#### Real-world sequences" in lines
    flip = _table(lines[:lines.index("#### Real-world sequences")])
    ring = "flipflop-2bit-ring (mse ↓)"
    assert flip["gnode/torch"][ring].startswith("**0.011") and flip["gnode/torch"][ring][-1] == "≈"
    assert flip["node/torch"][ring].startswith("**0.0115") and "≈" in flip["node/torch"][ring]
    assert "**" not in flip["gru/torch"][ring]
    assert "lstm/torch" not in flip  # not ranked, so not on the front page
    fixed = "flipflop-3bit-fixed (mse ↓)"
    assert flip["gru/torch"][fixed].startswith("**0.0025") and flip["gru/torch"][fixed].endswith(
        "(N=18)")
    assert flip["gnode/torch"][ring].count("[") == 1  # the interval beside the mean
    # the sizes shown: gru's best setting on the fixed task (N=18), not its N=6
    assert flip["gru/torch"]["params"] == "44–1.3k" and flip["gnode/torch"]["params"] == "—"
    real = _table(lines[lines.index("#### Real-world sequences"):])
    assert "cornn (submission)/torch" in real


def test_a_command_line_override_stays_off_the_front_page():
    """A `--set` run (not standard) keeps its row in the task's table; the front page shows
    each model's declared settings only, so an override cannot pick one model's best."""
    df = pd.DataFrame([
        *_rows("flipflop-2bit-ring", "ncde", [0.80, 0.82]),
        *_rows("flipflop-2bit-ring", "ncde", [0.009, 0.011], variant="tau=0.25", standard=False),
        *_rows("flipflop-2bit-ring", "gru", [0.30, 0.31]),
    ])
    flip = _table(summary.matrices(df, {"flipflop-2bit-ring": False}, {"flipflop-2bit-ring": 2}))
    ring = "flipflop-2bit-ring (mse ↓)"
    assert flip["ncde/torch"][ring].startswith("0.81") and "tau" not in flip["ncde/torch"][ring]
    assert flip["gru/torch"][ring].startswith("**0.30")


def test_a_heading_anchor_is_githubs():
    assert summary.anchor("flipflop-2bit-ring") == "flipflop-2bit-ring"
    assert summary.anchor("How to read the tables") == "how-to-read-the-tables"
