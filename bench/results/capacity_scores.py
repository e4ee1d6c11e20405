"""K* from result files: the scores of capacity searches, read back without running anything.

Used by the search (``bench.run.capacity``) to decide when to stop, and by the reports
(``bench.report.leaderboard``, ``bench.report.capacity_report``, ``bench.report.claims``),
which must not import the run machinery.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# The columns of a search, in the flattened results (bench.report.leaderboard.flatten).
SEARCH_KEYS = ["task", "task_version", "profile", "device_class", "hardware", "entry",
               "model_name", "framework", "N", "L", "seed"]
# How a cell's time was taken (bench.report.frame): what the leaderboard marks as shared.
SHARING = ["cells_beside", "ensemble_members", "other_cpu_share"]


def entry(doc: dict[str, Any]) -> str:
    """The model with its command-line variant, if any, but not the grid's values (N, L)."""
    run_variant = doc.get("run_variant")
    if run_variant is None:  # written before run_variant was recorded
        # as bench.report.leaderboard.flatten
        standard = doc.get("standard", not doc.get("variant"))
        run_variant = "" if standard else doc.get("variant", "")
    return doc["model"] + (f" [{run_variant}]" if run_variant else "")


def depth(config: dict[str, Any]) -> int | None:
    """L, the number of hidden layers of F; None for a model without ``widths``."""
    return len(config["widths"]) if "widths" in config else None


def _whole(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def search_key(doc_or_row: Any) -> tuple:
    """(entry, framework, N, L, seed) of a result document or of a search row."""
    if isinstance(doc_or_row, dict):
        config = doc_or_row["config"]["model"]
        return (entry(doc_or_row), doc_or_row["framework"], _whole(config.get("N")),
                _whole(depth(config)), int(doc_or_row["seed"]))
    r = doc_or_row
    return (r["entry"], r["framework"], _whole(r["N"]), _whole(r["L"]), int(r["seed"]))


def lower_median(values: Any, axis: int = -1) -> np.ndarray:
    """The lower median along ``axis``: with an even count, the smaller middle value, so that
    it is always one of the values (for K*: a K that was tried)."""
    v = np.sort(np.asarray(values, dtype=float), axis=axis)
    return np.take(v, (v.shape[axis] - 1) // 2, axis=axis)


def over_seeds(k_stars: Any) -> int:
    """A configuration's K* over seeds: the lower median, so that with an even number of seeds
    it is still a K that was tried, and one reached by at least half the seeds."""
    values = np.asarray(k_stars, dtype=float)
    if values.size == 0:
        raise ValueError("no finished search")
    return int(lower_median(values))


def passes(doc: dict[str, Any], capacity: dict[str, Any]) -> bool:
    """Whether a result reaches the capacity threshold (a failed or diverged cell does not)."""
    value = (doc.get("metrics") or {}).get(capacity["metric"]) if doc["status"] == "ok" else None
    return value is not None and value >= capacity["threshold"]


def _column(records: list[dict[Any, Any]], name: str) -> pd.Series:
    """One field of ``records`` as floats (NaN where a record lacks it)."""
    return pd.Series([r.get(name) for r in records], dtype=float)


def capacities(df: pd.DataFrame) -> pd.DataFrame:
    """One row per search, from flattened results of capacity tasks (rows with a ``K``).

    Columns: :data:`SEARCH_KEYS`; ``K_star`` (NaN when the search is unfinished: a K before
    the first failure has no result); ``complete``; ``tried`` ((K, score or status) in order,
    up to the first failure); ``threshold`` (the score a K must reach); ``failed_score`` (the
    score at the first K that failed: -inf when that cell diverged or failed, NaN when none
    failed); ``largest`` (the task's largest K); ``n_params``; ``model_kind`` (baseline or
    submission); ``train_total_s`` (summed over the K tried); ``standard``; and how those times
    were taken, the most shared of the K tried: ``cells_beside``, ``ensemble_members``
    and ``other_cpu_share`` (NaN where no K recorded it).
    """
    cols = [*SEARCH_KEYS, "K_star", "complete", "tried", "threshold", "failed_score", "largest",
            "n_params", "model_kind", "train_total_s", "standard", *SHARING]
    if "K" not in df or df["K"].isna().all():
        return pd.DataFrame(columns=cols)
    rows = []
    cap_df = df[df["K"].notna()]
    for key, g in cap_df.groupby(SEARCH_KEYS, sort=True, dropna=False):
        first = g.iloc[0]
        cap = first["capacity"]
        by_k = {int(k): r for k, r in zip(g["K"], g.to_dict("records"))}
        passed, complete, tried, timed = 0, False, [], []  # timed: the records of the K tried
        failed_score = np.nan  # the score at the first K that failed: how close it came
        for K in cap["sizes"]:
            if K not in by_k:
                break
            r = by_k[K]
            score = r.get(f"metric.{cap['metric']}")
            ok = r["status"] == "ok" and score is not None and np.isfinite(score)
            tried.append((K, float(score) if ok and score is not None else r["status"]))
            timed.append(r)
            if not (ok and score >= cap["threshold"]):
                complete = True
                failed_score = float(score) if ok and score is not None else -np.inf
                break
            passed = K
        else:
            complete = True  # every size passed
        rows.append({**dict(zip(SEARCH_KEYS, key)), "K_star": passed if complete else np.nan,
                     "complete": complete, "tried": tried, "threshold": cap["threshold"],
                     "failed_score": failed_score, "largest": max(cap["sizes"]),
                     "n_params": g["n_params"].max(),
                     "model_kind": first.get("model_kind", "baseline"),
                     "train_total_s": float(_column(timed, "train_total_s").sum()),
                     "standard": bool(g["standard"].all()),
                     **{c: _column(timed, c).max() for c in SHARING}})
    return pd.DataFrame(rows, columns=cols)
