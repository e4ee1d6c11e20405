"""The leaderboard's front page: per task family, one matrix of the primary metric, entries by
tasks, read in ten seconds.

A cell is the mean over seeds and its 95% bootstrap interval (``bench.report.ranking``). In
each task's column the best entry is bold, and every entry whose interval overlaps the best
one's is marked ``≈`` (tied: the seeds do not establish the order). Framework is a column, so
one model's two implementations sit side by side, never ranked apart. ``params`` is the range
of trainable parameters over the entries shown (the sizes differ by task: the paper's N per
task, a sweep's best setting), so a large model's lead is read beside its size. Only what the
detailed tables rank enters: the latest task version, default settings, standard runs (a
task's declared sweep, never a command-line override: one model's overridden run must not pick
its best against the others' declared ones), ranked results.

The capacity tasks (expressivity) have a matrix of their own: each entry's best configuration
(N, L) by the detailed table's order, its median K* over seeds and the bootstrap interval of
that median, ranked and marked the same way.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from tabulate import tabulate

from bench.report import capacity_report, ranking
from bench.results import capacity_scores

CAPACITY_FAMILY = "Expressivity: capacity K* (the best configuration of each entry)"
FAMILIES = (  # (title, task-name pattern)
    ("Continuous memory: the flip-flop family", r"flipflop-"),
    ("Real-world sequences", r"(vowels|pickup-gesture|walker2d)"),
)


def anchor(heading: str) -> str:
    """The GitHub anchor of a markdown heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


def _cell(iv: ranking.Interval | None, rank: str) -> str:
    if iv is None:
        return "—"
    p = ranking.places(iv) if iv.n > 1 else max(2, ranking.places(iv) - 1)
    return _marked(f"{iv.center:.{p}f}"
                   + ("" if iv.n < 2 else f" [{iv.low:.{p}f}, {iv.high:.{p}f}]"), rank)


def _marked(text: str, rank: str) -> str:
    """Bold for the best entry, and ``≈`` beside every entry tied with it."""
    return f"**{text}**" if rank == "1" else f"**{text}** ≈" if rank == "1=" else text


def _best_variant(rows: pd.DataFrame, column: str, higher: bool
                  ) -> tuple[ranking.Interval | None, str, float | None]:
    """A model's best variant on a task (a task may sweep N): its interval, the variant's
    name when the task has several, and its parameter count."""
    found: list[tuple[ranking.Interval, str, float | None]] = []
    for name, v in rows.groupby("variant", sort=True):
        iv = ranking.interval(v[column].to_numpy())
        known = v["n_params"].dropna()
        if iv is not None:
            found.append((iv, str(name), float(known.max()) if len(known) else None))
    if not found:
        return None, "", None
    best = (max if higher else min)(found, key=lambda f: f[0].center)
    return best[0], best[1] if len(found) > 1 else "", best[2]


def _span(params: list[float | None]) -> str:
    """``"14–1.2k"``: the range of parameter counts; one number when they agree."""
    known = [p for p in params if p is not None]
    if not known:
        return "—"

    def short(n: float) -> str:
        return f"{n / 1000:.1f}k" if n >= 1000 else f"{n:.0f}"

    low, high = short(min(known)), short(max(known))
    return low if low == high else f"{low}–{high}"


def matrices(df: pd.DataFrame, higher: dict[str, bool], latest: dict[str, int]) -> list[str]:
    """Markdown lines: one matrix per family, profile and hardware class, from flattened results
    (``bench.report.frame.flatten``). ``higher``: per task, whether its primary metric
    is better higher; ``latest``: each task's newest version."""
    ranked = df[(df["unranked"] == "") & (df["ruleset"] == "default") & (df["status"] == "ok")
                & df["K"].isna() & df["standard"].astype(bool)
                & (df["task_version"] == df["task"].map(latest))]
    lines: list[str] = []
    for title, pattern in FAMILIES:
        fam = ranked[ranked["task"].str.match(pattern)]
        if fam.empty:
            continue
        lines += [f"#### {title}", ""]
        for (profile, dclass), g in fam.groupby(["profile", "device_class"], sort=True):
            tasks = sorted(g["task"].unique())
            entries = sorted({(m, fw) for m, fw in zip(g["model_name"], g["framework"])})
            cells: dict[tuple[str, str], dict[str, str]] = {e: {} for e in entries}
            sizes: dict[tuple[str, str], list[float | None]] = {e: [] for e in entries}
            metric = {}
            for task in tasks:
                t = g[g["task"] == task]
                primary = t["primary_metric"].iloc[0]
                metric[task] = f"{primary} {'↑' if higher[task] else '↓'}"
                best = [_best_variant(t[(t["model_name"] == m) & (t["framework"] == fw)],
                                      f"metric.{primary}", higher[task]) for m, fw in entries]
                ranks = ranking.tied_ranks([iv for iv, _, _ in best], higher[task])
                for e, (iv, variant, params), rank in zip(entries, best, ranks, strict=True):
                    cells[e][task] = _cell(iv, rank) + (f" ({variant})" if variant else "")
                    if iv is not None:
                        sizes[e].append(params)
            kind = dict(zip(g["model_name"], g["model_kind"]))
            rows: list[dict[str, Any]] = [
                {"model": m + ("" if kind[m] == "baseline" else " (submission)"),
                 "framework": fw, "params": _span(sizes[(m, fw)]),
                 **{f"{task} ({metric[task]})": cells[(m, fw)].get(task, "—") for task in tasks}}
                for m, fw in entries]
            lines += [f"{profile} profile · {str(dclass).upper()}", "",
                      tabulate(pd.DataFrame(rows).to_dict("list"), headers="keys",
                               tablefmt="github", showindex=False, disable_numparse=True), ""]
    return lines


def _capacity_cell(best: pd.Series | None, rank: str) -> str:
    if best is None:
        return "—"
    iv = best["interval"]
    text = f"{int(best['K_star'])}" + ("" if iv.n < 2 else f" [{iv.low:.0f}, {iv.high:.0f}]")
    text = _marked(text, rank)
    size = ", ".join(f"{k}={int(best[k])}" for k in ("N", "L") if pd.notna(best[k]))
    return f"{text} ({size})" if size else text


def capacity_matrices(df: pd.DataFrame, latest: dict[str, int]) -> list[str]:
    """Markdown lines: one K* matrix per profile and hardware class of the capacity tasks, from
    flattened results; an entry's cell is its best configuration's (ranked results, default
    settings, standard runs, the latest task versions)."""
    ranked = df[(df["unranked"] == "") & (df["ruleset"] == "default") & df["K"].notna()
                & df["standard"].astype(bool) & (df["task_version"] == df["task"].map(latest))]
    lines: list[str] = []
    for (profile, dclass), g in ranked.groupby(["profile", "device_class"], sort=True):
        tasks = sorted(g["task"].unique())
        best: dict[str, dict[tuple[str, str], pd.Series]] = {}
        for task in tasks:
            configs = capacity_report.summary(
                capacity_scores.capacities(g[g["task"] == task]))
            configs = configs[(configs["entry"] == configs["model_name"])
                              & configs["K_star"].notna()]  # standard runs, finished
            configs = capacity_report.ordered(configs)
            best[task] = {}
            for _, r in configs.iterrows():
                best[task].setdefault((r["model_name"], r["framework"]), r)
        entries = sorted({e for b in best.values() for e in b})
        if not entries:
            continue
        cells: dict[tuple[str, str], dict[str, str]] = {e: {} for e in entries}
        for task in tasks:
            # ranked in the capacity table's order (the dict's), which breaks ties in the median
            order = list(best[task])
            ranks = dict(zip(order, ranking.tied_ranks(
                [best[task][e]["interval"] for e in order], higher_is_better=True)))
            for e in entries:
                cells[e][task] = _capacity_cell(best[task].get(e), ranks.get(e, "—"))
        kind = dict(zip(g["model_name"], g["model_kind"]))
        rows = [{"model": m + ("" if kind[m] == "baseline" else " (submission)"),
                 "framework": fw,
                 "params": _span([float(best[t][(m, fw)]["n_params"]) for t in tasks
                                  if (m, fw) in best[t]
                                  and pd.notna(best[t][(m, fw)]["n_params"])]),
                 **{f"{task} (K* ↑)": cells[(m, fw)][task] for task in tasks}}
                for m, fw in entries]
        lines += ([f"#### {CAPACITY_FAMILY}", ""] if not lines else []) + [
            f"{profile} profile · {str(dclass).upper()}", "",
            tabulate(pd.DataFrame(rows).to_dict("list"), headers="keys", tablefmt="github",
                     showindex=False, disable_numparse=True), ""]
    return lines
