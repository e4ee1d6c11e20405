"""Result files as one pandas DataFrame: the Python API for analysing results, and the rows of
``leaderboard/results.csv`` (the same columns; ``docs/leaderboard.md`` lists them).

>>> from bench.report.frame import load_results, compare
>>> df = load_results("results")                  # one row per result file
>>> df[df.verified & ~df.stale].groupby(["task", "model_name", "framework"])["metric.mse"].mean()
>>> compare("results", "my-results")              # the cells both folders hold, side by side
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.results import capacity_scores, load_each, trust
from bench.results.environment import hardware_label

ATTRACTOR_FIELDS = ("slow_set_coverage", "n_slow_points", "local_dim")
CELL = ["task", "task_version", "profile", "device_class", "hardware", "model_name", "variant",
        "framework", "seed"]  # what identifies a cell across folders


def _hold_columns(doc: dict[str, Any]) -> dict[str, Any]:
    """The memory metric and the gate statistics, flat (NaN-free: None where absent)."""
    h = doc.get("hold") or {}
    gate = (doc.get("attractor") or {}).get("gate") or {}
    row: dict[str, Any] = {"hold.write_error": h.get("write_error"),
                           "hold.memory_auc": h.get("memory_auc")}
    for horizon, value in (h.get("coverage") or {}).items():
        row[f"hold.coverage_{horizon}"] = value
    for horizon, value in (h.get("hold_error") or {}).items():
        row[f"hold.hold_error_{horizon}"] = value
    row["gate.median"] = gate.get("median")
    row["gate.fraction_closed"] = gate.get("fraction_closed")
    return row


def label(doc: dict[str, Any]) -> str:
    """The model's name, with its command-line variant if it has one, and † if the result may not be
    ranked (``bench.results.trust.rank_blocker``): it never pools with ranked runs, in a table or a
    plot."""
    return (doc["model"] + (f" [{doc['variant']}]" if doc.get("variant") else "")
            + ("" if trust.rank_blocker(doc) is None else " †"))


def flatten(doc: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """One tidy row per result file (the columns of results.csv)."""
    t, prov = doc.get("timing") or {}, doc["provenance"]
    cfg = (doc.get("config") or {}).get("model") or {}
    att = doc.get("attractor") or {}
    ok = att.get("status") == "ok"
    row = {
        "task": doc["task"], "task_version": doc["task_version"], "profile": doc["profile"],
        "device_class": doc["device_class"], "hardware": hardware_label(prov["hardware"]),
        "model": label(doc), "model_name": doc["model"], "variant": doc.get("variant") or "",
        "standard": bool(doc.get("standard", not doc.get("variant"))),
        "model_kind": doc.get("model_kind"),
        "framework": doc["framework"], "seed": doc["seed"], "status": doc["status"],
        "reason": doc.get("reason"), "primary_metric": doc["primary_metric"],
        "N": cfg.get("N"), "L": capacity_scores.depth(cfg), "K": doc.get("K"),
        "entry": capacity_scores.entry(doc),
        "ruleset": doc.get("ruleset") or "default", "role": doc.get("role") or "standard",
        "unranked": trust.rank_blocker(doc) or "",  # why it may not be ranked; "" if it may
        "verified": doc.get("verified"),  # set by trust.annotate: the suite wrote it
        "stale": doc["status"] == "stale",
    }
    row.update(_hold_columns(doc))
    row.update({f"metric.{k}": v for k, v in sorted((doc.get("metrics") or {}).items())})
    step = t.get("step_median_s")
    row.update({
        "n_params": doc.get("n_params"),
        "train_total_s": t.get("train_total_s"),
        "step_median_ms": None if step is None else 1e3 * step,
        "compile_s": t.get("compile_s"),
        "cells_beside": t.get("cells_beside") or 0,  # timed beside other cells on its node
        "ensemble_members": t.get("ensemble_members") or 1,  # trained in one program of these
        "other_cpu_share": t.get("other_cpu_share"),  # the CPU other processes took meanwhile
        "eval_seqs_per_s": t.get("eval_seqs_per_s"),
        "peak_gpu_mb": (doc.get("peak_memory") or {}).get("peak_gpu_mb"),
        "nfe_eval_forward": (doc.get("nfe") or {}).get("eval_forward"),
        "attractor_status": att.get("status"),
        **{k: att.get(k) if ok else None for k in ATTRACTOR_FIELDS},
        # relative to the results folder, so the table does not depend on where it lies
        "portrait": Path(path).with_name(att["portrait"]).as_posix() if ok and path else None,
        "git_commit": prov.get("git_commit"), "git_dirty": prov.get("git_dirty"),
        "capacity": doc.get("capacity"),  # a dict; not written to results.csv
    })
    return row


def load_results(folder: Path | str) -> pd.DataFrame:
    """Every readable result under ``folder`` as one row (:func:`flatten`), checked as the
    leaderboard checks it: ``verified`` (written by the suite, per its ledger) and ``stale``
    (run on code or a task that changed since). Unreadable files are left out."""
    folder = Path(folder)
    found, _ = load_each(folder)
    paths, docs = [p for p, _ in found], [d for _, d in found]
    trust.annotate(folder, paths, docs)
    rows = [flatten(d, p.relative_to(folder)) for p, d in zip(paths, docs, strict=True)]
    return pd.DataFrame(rows).drop(columns=["capacity"], errors="ignore")


def compare(a: Path | str, b: Path | str) -> pd.DataFrame:
    """The cells both folders hold, one row each: every metric as ``<metric> a``,
    ``<metric> b`` and ``<metric> b-a``, with each side's status."""
    left, right = load_results(a), load_results(b)
    if left.empty or right.empty:
        return pd.DataFrame(columns=CELL)
    metrics = sorted({c for c in (*left.columns, *right.columns)
                      if str(c).startswith(("metric.", "hold."))})
    keep = [*CELL, "status", *metrics]
    both = left.reindex(columns=keep).merge(right.reindex(columns=keep), on=CELL,
                                            suffixes=(" a", " b"))
    for m in metrics:
        both[f"{m} b-a"] = both[f"{m} b"] - both[f"{m} a"]
    return both.sort_values(CELL, kind="stable").reset_index(drop=True)
