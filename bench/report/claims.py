"""``leaderboard/claims.md``: the paper's claims, in the abstract's words, judged with statistics.

Kim, Can & Krishnamurthy (ICML 2023) make four claims in their abstract that the suite can test.
Each is judged separately for every profile, hardware class (CPU or GPU), ruleset (default or
tuned) and framework: runs are never pooled across classes, profiles or rulesets. The machines
of one class are pooled, as in the leaderboard's tables: the claims are about scores, not
times.

Every verdict comes from a test across seeds, with at least :data:`MIN_SEEDS` seeds on each
side. The statistic is the difference of the two sides' means (or their ratio, for a claim of
"comparable"), with a Welch t interval: it does not assume equal variances, and unlike a
percentile bootstrap it keeps its coverage at five seeds (tested). A claim with k tested
comparisons gives each interval the level 1 - 0.05 / k (Bonferroni), so that the chance of any
wrong verdict in the claim stays at most 5%. A comparison:

- **holds** when the whole interval lies on the claim's side of zero (or of the margin);
- **does not hold** when the whole interval lies on the other side;
- is **inconclusive** when the interval contains it: the seeds cannot tell.

A claim's verdict over its comparisons: holds if every tested one holds, does not hold if any
does not hold, else inconclusive. The criteria are fixed here, before any result is seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from tabulate import tabulate

MIN_SEEDS = 5
ALPHA = 0.05  # the chance of a wrong verdict a claim may take, over all its comparisons
COMPARABLE = 2.0  # "retain their modelling power": mean MSE at most this factor of the reference's
CONTINUOUS_MEMORY = ("flipflop-2bit-square", "flipflop-2bit-ring", "flipflop-2bit-rectangle",
                     "flipflop-2bit-disk", "flipflop-3bit")
DEPTH_MODELS = ("gnode", "node")  # the models whose F has a depth L
REAL_TASKS = ("vowels", "vowels-irregular-30", "vowels-irregular-50", "vowels-irregular-70",
              "pickup-gesture", "walker2d")
HOLDS, FAILS, UNSURE = "holds", "does not hold", "inconclusive"


def mean_std(values: pd.Series) -> str:
    """Mean ± sample std, to two significant digits of the std (a single value alone)."""
    v = values.dropna().to_numpy(dtype=float)
    if v.size == 0:
        return "—"
    if v.size == 1:
        return f"{v[0]:.4g}"
    mean, std = v.mean(), v.std(ddof=1)
    if std <= 1e-12 * abs(mean) or not np.isfinite(std):  # equal values, up to round-off
        return f"{mean:.4g} ± 0"
    places = max(0, 1 - int(np.floor(np.log10(std))))  # two significant digits of the std
    return f"{mean:.{places}f} ± {std:.{places}f}"


@dataclass(frozen=True)
class Test:
    """An effect and its interval, and what they say about a claim."""

    effect: float
    low: float
    high: float
    verdict: str  # HOLDS, FAILS or UNSURE

    def text(self, fmt: str = ".3g") -> str:
        return f"{self.effect:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def welch(a: np.ndarray, b: np.ndarray, level: float = 1 - ALPHA, *, log_ratio: bool = False
          ) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its Welch t interval at ``level``; with ``log_ratio``, the
    ratio mean(a) / mean(b) and the interval of log of it by the delta method (exponentiated):
    var(log mean) = var / (n mean^2)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    ma, mb = a.mean(), b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if log_ratio:
        effect, va, vb = np.log(ma / mb), va / ma**2, vb / mb**2
    else:
        effect = ma - mb
    se = np.sqrt(va + vb)
    if se == 0:
        lo = hi = effect
    else:
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        half = stats.t.ppf(0.5 + level / 2, df) * se
        lo, hi = effect - half, effect + half
    if log_ratio:
        return float(np.exp(effect)), float(np.exp(lo)), float(np.exp(hi))
    return float(effect), float(lo), float(hi)


def greater(a: np.ndarray, b: np.ndarray, level: float = 1 - ALPHA) -> Test:
    """Is mean(a) > mean(b)? The difference and its interval."""
    effect, lo, hi = welch(a, b, level)
    return Test(effect, lo, hi, HOLDS if lo > 0 else FAILS if hi < 0 else UNSURE)


def within_factor(a: np.ndarray, b: np.ndarray, factor: float, level: float = 1 - ALPHA
                  ) -> Test:
    """Is mean(a) at most ``factor`` x mean(b) (a lower-is-better metric)? The ratio and its
    interval: holds when the whole interval is below the factor, fails when above it."""
    effect, lo, hi = welch(a, b, level, log_ratio=True)
    return Test(effect, lo, hi, HOLDS if hi <= factor else FAILS if lo > factor else UNSURE)


@dataclass
class Row:
    """One comparison: its table cells, and the two samples it tests (``claim`` over
    ``against``), or why it is not tested."""

    cells: dict[str, str]
    claim: np.ndarray | None = None
    against: np.ndarray | None = None
    factor: float | None = None  # a ratio within this factor, instead of a difference above 0
    ci_column: str = ""  # the cell that shows the effect and its interval
    why: str = ""  # why not tested
    test: Test | None = None


def _runs(df: pd.DataFrame, task: str, model: str, fw: str, N: int | None) -> pd.DataFrame:
    sel = df[(df.task == task) & (df.model_name == model) & (df.framework == fw)
             & (df.status == "ok")]
    return sel if N is None else sel[sel.N == N]


def _size(runs: pd.DataFrame) -> str:
    if runs.empty:
        return "—"
    L = runs["L"].dropna()
    return f"N = {int(runs['N'].iloc[0])}" + (f", L = {int(L.iloc[0])}" if len(L) else "")


def _values(runs: pd.DataFrame, col: str) -> np.ndarray:
    return runs[col].dropna().to_numpy(float) if col in runs else np.zeros(0)


def _row(cells: dict[str, str], a: np.ndarray, b: np.ndarray, ci_column: str,
         missing: str = "", factor: float | None = None) -> Row:
    """A comparison of ``a`` (the claim's side) with ``b``, or why it cannot be tested."""
    if missing and min(len(a), len(b)) == 0:
        return Row(cells, ci_column=ci_column, why=missing)
    if min(len(a), len(b)) < MIN_SEEDS:
        return Row(cells, ci_column=ci_column,
                   why=f"{len(a)} / {len(b)} seeds; {MIN_SEEDS} needed on each side")
    return Row(cells, a, b, factor, ci_column)


def judge(rows: list[Row]) -> list[Row]:
    """Test every testable comparison of one claim at the level 1 - ALPHA / k (Bonferroni over
    its k tested comparisons); fill each row's test and its interval cell."""
    tested = [r for r in rows if r.claim is not None and r.against is not None]
    level = 1 - ALPHA / max(len(tested), 1)
    for r in rows:
        if r in tested:
            assert r.claim is not None and r.against is not None
            r.test = (greater(r.claim, r.against, level) if r.factor is None
                      else within_factor(r.claim, r.against, r.factor, level))
        r.cells[r.ci_column] = r.test.text() if r.test else "—"
    return rows


def _pairs(df: pd.DataFrame, tasks: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """(task, framework, N) where both the gnODE and the nODE have runs."""
    ok = df[df.task.isin(tasks) & (df.status == "ok") & df.N.notna()
            & df.model_name.isin(DEPTH_MODELS)]
    out = []
    for (task, fw, N), g in ok.groupby(["task", "framework", "N"], sort=True):
        if set(g.model_name) >= set(DEPTH_MODELS):
            out.append((str(task), str(fw), int(cast(float, N))))
    return out


def claim_1(df: pd.DataFrame) -> list[Row]:
    """gnODE against nODE at equal N on the continuous-memory tasks: memory_auc."""
    rows = []
    for task, fw, N in _pairs(df, CONTINUOUS_MEMORY):
        g, n = _runs(df, task, "gnode", fw, N), _runs(df, task, "node", fw, N)
        a, b = _values(g, "hold.memory_auc"), _values(n, "hold.memory_auc")
        cells = {"task": task, "framework": fw, "N": f"{N}", "seeds": f"{len(a)} / {len(b)}"}
        for col, name in (("hold.memory_auc", "memory AUC"), ("hold.write_error", "write error"),
                          ("hold.coverage_1000", "coverage@1000"), ("metric.r2", "test R²"),
                          ("gate.median", "gate median")):
            cells[f"{name}: gnODE"] = mean_std(g[col]) if col in g else "—"
            if col != "gate.median":
                cells[f"{name}: nODE"] = mean_std(n[col]) if col in n else "—"
        rows.append(_row(cells, a, b, "AUC difference [CI]", "no memory metric in these "
                         "results yet: `make analyze` computes it from their checkpoints"))
    return rows


def claim_2(df: pd.DataFrame) -> list[Row]:
    """The reduced gnODE (N = 6) against GRU and LSTM at full size on 3-bit: MSE ratio."""
    rows, task = [], "flipflop-3bit"
    for fw in sorted(df.framework.unique()):
        g = _runs(df, task, "gnode", fw, 6)
        for ref in ("gru", "lstm"):
            r = _runs(df, task, ref, fw, None)
            if g.empty and r.empty:
                continue
            rows.append(_row({"task": task, "framework": fw, "reference": ref,
                              "gnODE size": _size(g), "reference size": _size(r),
                              "seeds": f"{len(g)} / {len(r)}",
                              "MSE: gnODE": mean_std(g["metric.mse"]),
                              "MSE: reference": mean_std(r["metric.mse"])},
                             _values(g, "metric.mse"), _values(r, "metric.mse"),
                             "MSE ratio [CI]", factor=COMPARABLE))
    return rows


def _k_stars(df: pd.DataFrame) -> pd.DataFrame:
    """Finished capacity searches of the standard gnODE and nODE (one row per search)."""
    from bench.results.capacity_scores import capacities

    s = capacities(df)
    return s[s.K_star.notna() & s.standard & s.model_name.isin(DEPTH_MODELS)]


def claim_3(df: pd.DataFrame) -> list[Row]:
    """At fixed N, the deepest F against the shallowest: log2 (K* + 1), per seed."""
    rows = []
    s = _k_stars(df)
    for (task, fw, model, N), g in s.groupby(["task", "framework", "model_name", "N"],
                                             sort=True):
        depths = sorted(int(L) for L in g.L.dropna().unique())
        if len(depths) < 2:
            continue
        deep, shallow = g[g["L"] == depths[-1]], g[g["L"] == depths[0]]
        a, b = (np.log2(deep.K_star.to_numpy(float) + 1),
                np.log2(shallow.K_star.to_numpy(float) + 1))
        rows.append(_row({"task": str(task), "framework": str(fw), "model": str(model),
                         "N": f"{int(cast(float, N))}",
                         "depths": f"L = {depths[0]} and {depths[-1]}",
                         "seeds": f"{len(deep)} / {len(shallow)}",
                         "K*: deepest": mean_std(deep.K_star.astype(float)),
                         "K*: shallowest": mean_std(shallow.K_star.astype(float))},
                        a, b, "log2(K*+1) difference [CI]"))
    return rows


def claim_4(df: pd.DataFrame) -> list[Row]:
    """gnODE against nODE at equal N on every real-world task: the primary metric."""
    rows = []
    for task, fw, N in _pairs(df, REAL_TASKS):
        g, n = _runs(df, task, "gnode", fw, N), _runs(df, task, "node", fw, N)
        primary = str(g.primary_metric.iloc[0]) if len(g) else str(n.primary_metric.iloc[0])
        col = f"metric.{primary}"
        a, b = _values(g, col), _values(n, col)
        lower = primary == "mse"  # accuracy is higher-better; walker2d's MSE lower-better
        cells = {"task": task, "framework": fw, "N": f"{N}", "metric": primary,
                 "seeds": f"{len(a)} / {len(b)}", "gnODE": mean_std(g[col]),
                 "nODE": mean_std(n[col])}
        if lower:  # the claim's side is the nODE's larger error
            rows.append(_row(cells, b, a, "nODE − gnODE [CI]"))
            if rows[-1].why:
                rows[-1].why = f"{len(a)} / {len(b)} seeds; {MIN_SEEDS} needed on each side"
        else:
            rows.append(_row(cells, a, b, "gnODE − nODE [CI]"))
    return rows


CLAIMS: list[tuple[str, str, Callable[[pd.DataFrame], list[Row]]]] = [
    ("“Using a task that requires memory of continuous quantities, we demonstrate the "
     "inductive bias of the gnODEs to learn (approximate) continuous attractors.”",
     "gnODE against nODE at equal N on the continuous-memory flip-flop tasks "
     f"({', '.join(CONTINUOUS_MEMORY)}). Statistic: the memory metric's `memory_auc` (values "
     "of the ideal set written in, then held for up to 1000 bins; 1 is a perfect memory). "
     "Holds where the gnODE's mean is higher, with the interval of the difference above 0. "
     "Write error, coverage at 1000 bins, test R² and the gnODE's gate median are shown beside.",
     claim_1),
    ("“Reduced-dimensional gnODEs retain their modeling power.”",
     "gnODE with N = 6 against GRU and LSTM at the profile's size (N = 100 in the paper "
     "profile) on flipflop-3bit. Statistic: the ratio of mean test MSEs; holds where the "
     f"whole interval is at most {COMPARABLE:g} (comparable), does not hold where it is all "
     "above.", claim_2),
    ("“A more complex function for modeling the flow field allows a lower-dimensional nODE to "
     "capture a certain target dynamics.”",
     "gnODE and nODE on every expressivity task at fixed N: the deepest F against the "
     "shallowest. Statistic: the difference of mean log2(K* + 1) over seeds (K* found per "
     "seed); holds where the interval is above 0.", claim_3),
    ("“We demonstrate the benefit of gating in nODEs on several real-world tasks.”",
     f"gnODE against nODE at equal N on every real-world task ({', '.join(REAL_TASKS)}). "
     "Statistic: the difference of mean test accuracy (walker2d: of mean MSE, nODE − gnODE); "
     "holds where the interval is above 0.", claim_4),
]


def verdict(rows: list[Row]) -> str:
    """The claim's verdict over its comparisons, with the counts."""
    tested = [r.test.verdict for r in rows if r.test is not None]
    if not tested:
        why = next((r.why for r in rows if r.why), "no comparison")
        return f"**not tested**: {why}"
    counts = ", ".join(f"{tested.count(v)} {v}" for v in (HOLDS, FAILS, UNSURE)
                       if tested.count(v))
    word = (FAILS if FAILS in tested else HOLDS if all(v == HOLDS for v in tested)
            else UNSURE)
    return f"**{word}** ({counts}; of {len(tested)} tested)"


def section(df: pd.DataFrame) -> list[str]:
    """The claims for one profile, hardware class and ruleset, as markdown lines. Only rankable rows
    count: those whose ``unranked`` (``bench.results.trust.rank_blocker``, in the leaderboard's
    flattened results) is empty."""
    if "unranked" in df:
        df = df[df["unranked"].fillna("") == ""]
    needed = ["metric.r2", "metric.mse", "hold.memory_auc", "hold.write_error",
              "hold.coverage_1000", "gate.median", "N", "L", "K", "primary_metric"]
    df = df.reindex(columns=df.columns.union(needed, sort=False))  # absent numbers: NaN
    lines = []
    for i, (claim, runs, compare) in enumerate(CLAIMS, 1):
        rows = judge(compare(df))
        lines += [f"#### Claim {i}. {claim}", "", f"Test: {runs}", ""]
        if not rows:
            lines += ["**not tested**: no such runs here.", ""]
            continue
        lines += [f"Verdict: {verdict(rows)}", ""]
        table = [{**r.cells, "verdict": r.test.verdict if r.test else f"not tested ({r.why})"}
                 for r in rows]
        lines += [tabulate(pd.DataFrame(table).fillna("—").to_dict("list"), headers="keys",
                           tablefmt="github", disable_numparse=True), ""]
    return lines
