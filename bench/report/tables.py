"""The ranked markdown table under each leaderboard heading: one row per model and framework,
the primary metric's mean ± std and its 95% interval, the other metrics, the memory metric and
the attractor analysis where there are any, seeds, size and timing; tied ranks where the
intervals overlap (``bench.report.ranking``). Rows that may not be ranked come below, with why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.report import machines, ranking
from bench.report.claims import mean_std

# In results.csv, not in the tables: long-delay R^2 carries the same information.
TABLE_OMITS = {"metric.long_delay_mse"}
METRIC_ORDER = ("mse", "r2", "long_delay_mse", "long_delay_r2", "drift")  # after the primary
# The memory metric (bench.analysis.hold) and the gate: column in results.csv -> header.
MEMORY_COLUMNS = {"hold.write_error": "write err ↓", "hold.coverage_10": "cov@10 ↑",
                  "hold.coverage_100": "cov@100 ↑", "hold.coverage_1000": "cov@1000 ↑",
                  "hold.memory_auc": "memory AUC ↑", "gate.median": "gate median",
                  "gate.fraction_closed": "gates < 0.05"}
ATTRACTOR_COLUMNS = {"slow_set_coverage": ("slow-set cov ↑", ".2f"),
                     "n_slow_points": ("slow pts", ".0f"), "local_dim": ("dim", ".0f")}


def number(value: float | None, fmt: str) -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, fmt)


def _metric_rank(column: str) -> int:
    name = column.split(".", 1)[1]
    return METRIC_ORDER.index(name) if name in METRIC_ORDER else len(METRIC_ORDER)


def _portrait_link(ok: pd.DataFrame, results_link: str | None) -> str:
    """A link to the lowest seed's phase portrait; ``results_link`` is the results folder
    as seen from the leaderboard."""
    pics = ok.sort_values("seed")["portrait"].dropna()
    if pics.empty or results_link is None:
        return "—"
    return f"[seed {ok.loc[pics.index[0], 'seed']}]({results_link}/{pics.iloc[0]})"


def table(group: pd.DataFrame, main: str, higher: dict[str, bool],
          results_link: str | None = None, chance: float | None = None) -> str:
    """A ranked markdown table for one (task, version, profile, hardware class) group. Rows
    that may not be ranked (``unranked``) come below the ranked ones, with no rank and why.
    ``chance``: the primary metric of a uniform guess, a row of its own (classification).
    Scores pool every machine; times come from ``main`` (``bench.report.machines``), with a
    footnote per other machine that timed a row."""
    elsewhere: dict[str, list[str]] = {}
    primary = group["primary_metric"].iloc[0]
    metric_cols = sorted((str(c) for c in group.columns
                          if str(c).startswith("metric.") and group[c].notna().any()
                          and c not in TABLE_OMITS),
                         key=lambda c: (c != f"metric.{primary}", _metric_rank(c), c))
    attractor = [c for c in ATTRACTOR_COLUMNS if c in group and group[c].notna().any()]
    memory = [c for c in MEMORY_COLUMNS if c in group and group[c].notna().any()]
    rows, intervals = [], []
    lead = 1 if metric_cols[:1] == [f"metric.{primary}"] else 0  # the primary, then its CI
    for (blocker, model, fw), g in group.groupby(["unranked", "model", "framework"], sort=True):
        ok = g[g["status"] == "ok"]
        score = ok[f"metric.{primary}"].mean() if len(ok) else np.nan
        iv = ranking.interval(ok[f"metric.{primary}"].to_numpy()) if len(ok) else None
        bad = sorted(set(g.loc[g["status"] != "ok", "status"]))
        clock, other = machines.timed(ok, main)
        shared = f" {machines.SHARED}" if machines.shared(clock) else ""
        if other is not None:
            shared += f" {machines.MARK}"
            elsewhere.setdefault(other, []).append(f"{model}/{fw}")
        rows.append({
            "_score": score,
            "model": f"{model}" + ("" if g["model_kind"].iloc[0] == "baseline"
                                   else " (submission)"),
            "framework": fw,
            "N": number(g["N"].dropna().max() if g["N"].notna().any() else None, ".0f"),
            **{c.split(".", 1)[1] + (" ↓" if not higher[c.split(".", 1)[1]] else " ↑"):
               mean_std(ok[c]) if c in ok else "—" for c in metric_cols[:lead]},
            **({f"{primary} 95% CI": ranking.format_interval(iv)} if lead else {}),
            **{c.split(".", 1)[1] + (" ↓" if not higher[c.split(".", 1)[1]] else " ↑"):
               mean_std(ok[c]) if c in ok else "—" for c in metric_cols[lead:]},
            **{MEMORY_COLUMNS[c]: mean_std(ok[c]) for c in memory},
            **{ATTRACTOR_COLUMNS[c][0]: mean_std(ok[c]) for c in attractor},
            "seeds": f"{len(ok)}" if not bad else f"{len(ok)}/{len(g)} ({', '.join(bad)})",
            "params": number(g["n_params"].dropna().max() if g["n_params"].notna().any()
                              else None, ",.0f"),
            "train (s)": number(clock["train_total_s"].mean() if len(clock) else None, ".1f")
            + shared,
            "step (ms)": number(clock["step_median_ms"].median() if len(clock) else None,
                                ".2f") + shared,
            **({"portrait": _portrait_link(ok, results_link)} if attractor else {}),
            "not ranked": blocker,
        })
        intervals.append(iv if blocker == "" else None)
    df = pd.DataFrame(rows)
    df["_rank"] = ranking.tied_ranks(intervals, higher[primary])
    sign = 1 if higher[primary] else -1
    df["_key"] = df["_score"].map(lambda s: np.inf if np.isnan(s) else -sign * s)
    ranked = df[df["not ranked"] == ""].sort_values(["_key", "model", "framework"],
                                                    kind="stable")
    ranks = list(ranked["_rank"])
    apart = df[df["not ranked"] != ""].sort_values(["model", "framework", "not ranked"],
                                                   kind="stable")
    df = pd.concat([ranked, apart])
    df.insert(0, "rank", ranks + ["—"] * len(apart))
    if chance is not None and lead:  # the floor every entry should clear
        floor = dict.fromkeys(df.columns, "—")
        floor.update({"model": "chance (a uniform guess)", "not ranked": "",
                      primary + (" ↑" if higher[primary] else " ↓"): format(chance, ".4g")})
        df = pd.concat([df, pd.DataFrame([floor])])
    if apart.empty:
        df = df.drop(columns=["not ranked"])
    out = tabulate(df.drop(columns=["_score", "_key", "_rank"]).to_dict("list"), headers="keys",
                   tablefmt="github", showindex=False, disable_numparse=True)
    return "\n\n".join([out, *machines.footnotes(elsewhere)])


def chance(doc: dict[str, Any]) -> float | None:
    """The accuracy of a uniform guess over the task's classes; None where the primary metric
    is not accuracy."""
    classes = (((doc.get("config") or {}).get("task") or {}).get("data") or {}).get("n_classes")
    if doc.get("primary_metric") != "accuracy" or not isinstance(classes, int) or classes < 2:
        return None
    return 1.0 / classes


def unranked_capacity_table(group: pd.DataFrame) -> str:
    """The cells of a capacity table that may not be ranked, one row each, and why."""
    def whole(value: Any) -> str:
        return "—" if pd.isna(value) else f"{int(value)}"

    rows = [{"model": r.entry, "framework": r.framework, "N": whole(r.N), "L": whole(r.L),
             "seed": f"{r.seed}", "K": whole(r.K), "status": r.status, "not ranked": r.unranked}
            for r in group.sort_values(["entry", "framework", "N", "L", "seed", "K"],
                                       kind="stable").itertuples()]
    return tabulate(pd.DataFrame(rows).to_dict("list"), headers="keys", tablefmt="github",
                    showindex=False, disable_numparse=True)
