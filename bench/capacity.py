"""Capacity search on capacity tasks (``expressivity-*``): the largest K a model can learn.

One *search* is one model configuration (model, framework, task, N, depth L, seed). It trains
on K = sizes[0], sizes[1], ... targets, each K a cell with its own result file, and stops at
the first K whose score is below the task's threshold (or that diverged or failed). The
capacity K* is the last K that passed, 0 when the first K fails. Every K tried is a result
file, so an interrupted search resumes at the first missing K, and K* can be recomputed from
the result files alone (:func:`capacities`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import executors, harness, model_process
from bench.errors import UserError
from bench.registry import ModelSpec
from bench.tasks import Task

# The columns of a search, in the flattened results (bench.leaderboard.flatten).
SEARCH_KEYS = ["task", "task_version", "profile", "device_class", "hardware", "entry",
               "model_name", "framework", "N", "L", "seed"]


def entry(doc: dict[str, Any]) -> str:
    """The model with its command-line variant, if any, but not the grid's values (N, L)."""
    run_variant = doc.get("run_variant")
    if run_variant is None:  # written before run_variant was recorded
        standard = doc.get("standard", not doc.get("variant"))  # as bench.leaderboard.flatten
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


def grid(model: ModelSpec, task: Task, profile: str, N: list[int] | None = None,
         L: list[int] | None = None) -> list[dict[str, Any]]:
    """The config settings a model is swept over on a capacity task.

    ``N`` sets the phase-space dimension. ``L`` sets the depth of F, as ``widths`` =
    L copies of the grid's width, for models whose config has ``widths`` (gnODE, nODE);
    other models have no depth to vary and are swept over N only. Defaults: the task's grid
    for the profile.
    """
    spec = task.profile(profile)["grid"]
    config, _ = model.resolve(task.name, profile)
    if "N" not in config:
        raise UserError(f"model {model.name} has no config key N, so it cannot be swept over N "
                        f"on {task.name}; see submissions/README.md")
    Ns, Ls = N or spec["N"], L or spec["L"]
    if "widths" not in config:
        return [{"N": n} for n in Ns]
    return [{"N": n, "widths": [spec["width"]] * depth} for n in Ns for depth in Ls]


def over_seeds(k_stars: Any) -> int:
    """A configuration's K* over seeds: the lower median, so that with an even number of seeds
    it is still a K that was tried, and one reached by at least half the seeds."""
    values = np.sort(np.asarray(k_stars, dtype=float))
    if values.size == 0:
        raise ValueError("no finished search")
    return int(values[(values.size - 1) // 2])


def passes(doc: dict[str, Any], capacity: dict[str, Any]) -> bool:
    """Whether a result reaches the capacity threshold (a failed or diverged cell does not)."""
    value = (doc.get("metrics") or {}).get(capacity["metric"]) if doc["status"] == "ok" else None
    return value is not None and value >= capacity["threshold"]


@dataclass
class Search:
    model: ModelSpec
    framework: str
    task: Task
    seed: int
    setting: dict[str, Any]  # config values of this configuration (N, widths)

    def name(self) -> str:
        what = harness.variant({"config": self.setting})
        label = self.model.name + (f"[{what}]" if what else "")
        return f"{self.task.key} {label}/{self.framework} seed {self.seed}"


def run(searches: list[Search], profile: str, device: str, results_dir: Path,
        force: bool = False, overrides: dict[str, Any] | None = None,
        echo: Callable[[str], None] = print, isolate: bool = True,
        limits: model_process.Limits | None = None, executor=None) -> harness.RunReport:
    """Run every search; each K is a harness cell, skipped when its result is current. An
    ``executor`` (``bench.executors``) runs whole searches elsewhere or several at once."""
    from bench import ledger

    ledger.entries(results_dir)  # a bad ledger line stops the run now, not after a cell trained
    unit = functools.partial(run_search, profile=profile, device=device,
                             results_dir=results_dir, force=force, overrides=overrides or {},
                             isolate=isolate, limits=limits)
    if executor is None or (isinstance(executor, executors.Local) and executor.jobs == 1):
        report = harness.RunReport()
        for i, s in enumerate(searches, 1):
            def say(line: str, i: int = i) -> None:
                echo(f"[{i}/{len(searches)}]{line}")

            part, _ = unit(s, echo=say)
            report.extend(part)
        return report
    from bench import fanout

    def lost(s: Search, why: str) -> harness.RunReport:  # K at which the worker died: unknown
        report = harness.RunReport()
        report.problems.append(f"{s.name()}: the worker running the search was lost: {why}; "
                               "rerun to resume it")
        return report

    return fanout.fan_out(executor, unit, searches, device, echo, lost)


def run_search(s: Search, *, profile: str, device: str, results_dir: Path, force: bool,
               overrides: dict[str, Any], isolate: bool,
               limits: model_process.Limits | None,
               echo: Callable[[str], None] | None = None) -> tuple[harness.RunReport, list[str]]:
    """One search, K after K until one fails: its outcome, and the lines it echoes (kept and
    returned when ``echo`` is None, as on a remote worker)."""
    report, lines = harness.RunReport(), list[str]()
    say = lines.append if echo is None else echo
    cap = s.task.capacity
    assert cap is not None, f"{s.task.name} is not a capacity task"
    passed = 0
    for K in cap["sizes"]:
        cell = harness.Cell(s.model, s.framework, s.task, s.seed, s.setting, size=K)
        doc = harness.process(cell, profile, device, results_dir, force, overrides, report,
                              say, "", isolate, limits)
        if not passes(doc, cap):
            break
        passed = K
    say(f" {s.name()}: K* = {passed}")
    return report, lines


def capacities(df: pd.DataFrame) -> pd.DataFrame:
    """One row per search, from flattened results of capacity tasks (rows with a ``K``).

    Columns: :data:`SEARCH_KEYS`; ``K_star`` (NaN when the search is unfinished: a K before
    the first failure has no result); ``complete``; ``tried`` ("K: score" in order, up to the
    first failure); ``failed_score`` (the score at the first K that failed: -inf when that
    cell diverged or failed, NaN when none failed); ``largest`` (the task's largest K);
    ``n_params``; ``train_total_s`` (summed over the K tried); ``standard``.
    """
    cols = [*SEARCH_KEYS, "K_star", "complete", "tried", "failed_score", "largest",
            "n_params", "train_total_s", "standard"]
    if "K" not in df or df["K"].isna().all():
        return pd.DataFrame(columns=cols)
    rows = []
    cap_df = df[df["K"].notna()]
    for key, g in cap_df.groupby(SEARCH_KEYS, sort=True, dropna=False):
        first = g.iloc[0]
        cap = first["capacity"]
        by_k = {int(k): r for k, r in zip(g["K"], g.to_dict("records"))}
        passed, complete, tried, seconds = 0, False, [], 0.0
        failed_score = np.nan  # the score at the first K that failed: how close it came
        for K in cap["sizes"]:
            if K not in by_k:
                break
            r = by_k[K]
            score = r.get(f"metric.{cap['metric']}")
            ok = r["status"] == "ok" and score is not None and np.isfinite(score)
            tried.append(f"{K}: {score:.2f}" if ok else f"{K}: {r['status']}")
            seconds += float(r["train_total_s"]) if pd.notna(r["train_total_s"]) else 0.0
            if not (ok and score >= cap["threshold"]):
                complete = True
                failed_score = float(score) if ok and score is not None else -np.inf
                break
            passed = K
        else:
            complete = True  # every size passed
        rows.append({**dict(zip(SEARCH_KEYS, key)), "K_star": passed if complete else np.nan,
                     "complete": complete, "tried": ", ".join(tried),
                     "failed_score": failed_score, "largest": max(cap["sizes"]),
                     "n_params": g["n_params"].max(), "train_total_s": seconds,
                     "standard": bool(g["standard"].all())})
    return pd.DataFrame(rows, columns=cols)
