"""``leaderboard/claims.md``: the paper's claims, in the abstract's words, judged with statistics.

Kim, Can & Krishnamurthy (ICML 2023) make four claims in their abstract that the suite can test.
Each is judged separately for every profile, machine, ruleset (default or tuned) and framework:
runs are never pooled across hardware, profiles or rulesets.

Every verdict comes from a test across seeds, with at least :data:`MIN_SEEDS` seeds on each
side. The statistic is the difference of the two sides' means (or their ratio, for a claim of
"comparable"), with a 95% percentile bootstrap interval (:data:`RESAMPLES` resamples of the
seeds of each side, independently, with a fixed generator). A comparison:

- **holds** when the whole interval lies on the claim's side of zero (or of the margin);
- **does not hold** when the whole interval lies on the other side;
- is **inconclusive** when the interval contains it: the seeds cannot tell.

A claim's verdict over its comparisons: holds if every tested one holds, does not hold if any
does not hold, else inconclusive. With five seeds a percentile bootstrap is somewhat narrow (it
does not widen for small samples as a t interval does), so read "holds" with the effect size.
The criteria are fixed here, before any result is seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from tabulate import tabulate

MIN_SEEDS = 5
RESAMPLES = 10_000
LEVEL = 0.95
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
    """An effect and its bootstrap interval, and what they say about a claim."""

    effect: float
    low: float
    high: float
    verdict: str  # HOLDS, FAILS or UNSURE

    def text(self, fmt: str = ".3g") -> str:
        return f"{self.effect:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def _resampled_means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    idx = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    return values[idx].mean(axis=1)


def bootstrap(a: np.ndarray, b: np.ndarray, *, ratio: bool = False, seed: int = 0
              ) -> tuple[float, float, float]:
    """mean(a) - mean(b) (or mean(a) / mean(b)) and its percentile bootstrap interval, the
    seeds of each side resampled independently."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    ma, mb = _resampled_means(a, rng), _resampled_means(b, rng)
    draws = ma / mb if ratio else ma - mb
    lo, hi = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    effect = a.mean() / b.mean() if ratio else a.mean() - b.mean()
    return float(effect), float(lo), float(hi)


def greater(a: np.ndarray, b: np.ndarray) -> Test:
    """Is mean(a) > mean(b)? The difference and its interval."""
    effect, lo, hi = bootstrap(a, b)
    return Test(effect, lo, hi, HOLDS if lo > 0 else FAILS if hi < 0 else UNSURE)


def within_factor(a: np.ndarray, b: np.ndarray, factor: float) -> Test:
    """Is mean(a) at most ``factor`` x mean(b) (a lower-is-better metric)? The ratio and its
    interval: holds when the whole interval is below the factor, fails when above it."""
    effect, lo, hi = bootstrap(a, b, ratio=True)
    return Test(effect, lo, hi, HOLDS if hi <= factor else FAILS if lo > factor else UNSURE)


@dataclass
class Row:
    cells: dict[str, str]
    test: Test | None  # None: not tested (too few seeds, or no number)
    why: str = ""  # why not tested


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


def _judge(a: np.ndarray, b: np.ndarray, test: Callable[[np.ndarray, np.ndarray], Test],
           missing: str = "") -> tuple[Test | None, str]:
    if missing and min(len(a), len(b)) == 0:
        return None, missing
    if min(len(a), len(b)) < MIN_SEEDS:
        return None, f"{len(a)} / {len(b)} seeds; {MIN_SEEDS} needed on each side"
    return test(a, b), ""


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
        test, why = _judge(a, b, greater, "no memory metric in these results yet: `make "
                           "analyze` computes it from their checkpoints")
        cells = {"task": task, "framework": fw, "N": f"{N}", "seeds": f"{len(g)} / {len(n)}"}
        for col, name in (("hold.memory_auc", "memory AUC"), ("hold.write_error", "write error"),
                          ("hold.coverage_1000", "coverage@1000"), ("metric.r2", "test R²"),
                          ("gate.median", "gate median")):
            cells[f"{name}: gnODE"] = mean_std(g[col]) if col in g else "—"
            if col != "gate.median":
                cells[f"{name}: nODE"] = mean_std(n[col]) if col in n else "—"
        cells["AUC difference [95% CI]"] = test.text() if test else "—"
        rows.append(Row(cells, test, why))
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
            test, why = _judge(_values(g, "metric.mse"), _values(r, "metric.mse"),
                               lambda a, b: within_factor(a, b, COMPARABLE))
            rows.append(Row({"task": task, "framework": fw, "reference": ref,
                             "gnODE size": _size(g), "reference size": _size(r),
                             "seeds": f"{len(g)} / {len(r)}",
                             "MSE: gnODE": mean_std(g["metric.mse"]),
                             "MSE: reference": mean_std(r["metric.mse"]),
                             "MSE ratio [95% CI]": test.text() if test else "—"}, test, why))
    return rows


def _k_stars(df: pd.DataFrame) -> pd.DataFrame:
    """Finished capacity searches of the standard gnODE and nODE (one row per search)."""
    from bench.capacity import capacities

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
        test, why = _judge(a, b, greater)
        rows.append(Row({"task": str(task), "framework": str(fw), "model": str(model),
                         "N": f"{int(cast(float, N))}",
                         "depths": f"L = {depths[0]} and {depths[-1]}",
                         "seeds": f"{len(deep)} / {len(shallow)}",
                         "K*: deepest": mean_std(deep.K_star.astype(float)),
                         "K*: shallowest": mean_std(shallow.K_star.astype(float)),
                         "log2(K*+1) difference [95% CI]": test.text() if test else "—"},
                        test, why))
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
        test, why = _judge(*((b, a) if lower else (a, b)), greater)
        rows.append(Row({"task": task, "framework": fw, "N": f"{N}", "metric": primary,
                         "seeds": f"{len(g)} / {len(n)}", "gnODE": mean_std(g[col]),
                         "nODE": mean_std(n[col]),
                         ("nODE − gnODE" if lower else "gnODE − nODE") + " [95% CI]":
                         test.text() if test else "—"}, test, why))
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
    """The claims for one profile, machine and ruleset, as markdown lines."""
    needed = ["metric.r2", "metric.mse", "hold.memory_auc", "hold.write_error",
              "hold.coverage_1000", "gate.median", "N", "L", "K", "primary_metric"]
    df = df.reindex(columns=df.columns.union(needed, sort=False))  # absent numbers: NaN
    lines = []
    for i, (claim, runs, judge) in enumerate(CLAIMS, 1):
        rows = judge(df)
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
