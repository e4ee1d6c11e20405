"""The leaderboard's pages for capacity tasks (``expressivity-*``): a table of K* per model
configuration, a heatmap of K* over (N, L), K* against the parameter count, and the generated
trajectories. Inputs are the searches of :func:`bench.results.capacity_scores.capacities` (one row
per search) and, for the trajectories, the result documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.report import machines, plotting, ranking
from bench.results.capacity_scores import lower_median, over_seeds, search_key

HEATMAP_MODELS = ("gnode", "node")  # side by side: the same F, with and without the gate
CONFIG = ["entry", "model_name", "framework", "N", "L"]


def _int(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{int(value)}"


def _k_star(values: pd.Series) -> str:
    """K* over seeds (:func:`bench.results.capacity_scores.over_seeds`), with every seed's value
    when there
    are several."""
    v = values.dropna()
    if v.empty:
        return "unfinished"
    k = f"{over_seeds(v)}"
    return k if len(v) == 1 else f"{k} ({', '.join(_int(x) for x in v)})"


def _median_interval(k_stars: np.ndarray) -> ranking.Interval | None:
    """The median K* over seeds with its bootstrap interval, the bounds widened to K* values
    the seeds reached (a percentile can fall between two of them)."""
    iv = ranking.interval(k_stars, lower_median)
    if iv is None:
        return None
    low = k_stars[k_stars <= iv.low + 1e-9].max()
    high = k_stars[k_stars >= iv.high - 1e-9].min()
    return ranking.Interval(iv.center, float(low), float(high), iv.n)


def _k_interval(iv: ranking.Interval | None) -> str:
    """The bootstrap interval of the median K*, in whole K; "—" for one seed or none."""
    return "—" if iv is None or iv.n < 2 else f"[{iv.low:.0f}, {iv.high:.0f}]"


def _tried(tried: list[tuple[int, float | str]], threshold: float) -> str:
    """"K: score" for each K tried; a score is never shown rounded onto the threshold."""
    return ", ".join(f"{K}: {ranking.against(v, threshold, True)}" if isinstance(v, float)
                     else f"{K}: {v}" for K, v in tried)


def summary(searches: pd.DataFrame, main: str | None = None) -> pd.DataFrame:
    """One row per configuration (model, framework, N, L): K* over seeds, and the cost on one
    machine (``timed_on``: its name, or None for ``main``, by default the machine of most
    searches; ``bench.report.machines``)."""
    rows = []
    main = machines.main_machine(searches) if main is None else main
    for key, g in searches.groupby(CONFIG, sort=True, dropna=False):
        g = g.sort_values("seed")
        clock, other = machines.timed(g, main)
        done = g["K_star"].dropna()
        rows.append({**dict(zip(CONFIG, key)),
                     "K_star": float(over_seeds(done)) if len(done) else np.nan,
                     "K* (seeds)": _k_star(g["K_star"]),
                     "interval": _median_interval(done.to_numpy()),
                     # how close the next K came, over finished seeds (+inf: every K passed)
                     "failed_score": float(np.median(
                         g.loc[g["complete"], "failed_score"].fillna(np.inf)))
                     if g["complete"].any() else np.nan,
                     "tried": "; ".join(f"s{s}: {t}" if len(g) > 1 else t for s, t in
                                        zip(g["seed"], map(_tried, g["tried"], g["threshold"]))),
                     "seeds": f"{len(done)}" + ("" if len(done) == len(g)
                                                else f" of {len(g)} finished"),
                     "n_params": g["n_params"].max(),
                     "submission": bool((g["model_kind"] == "submission").any()),
                     "search_s": clock["train_total_s"].mean(), "timed_on": other,
                     "shared": machines.shared(clock)})
    return pd.DataFrame(rows)


def ordered(configs: pd.DataFrame) -> pd.DataFrame:
    """:func:`summary`'s rows best first: median K* (unfinished last), then the score at the
    first K that failed (how close the next K came), then fewer parameters."""
    return configs.assign(_k=configs["K_star"].fillna(-1)).sort_values(
        ["_k", "failed_score", "n_params", "entry", "framework"],
        ascending=[False, False, True, True, True], kind="stable").drop(columns="_k")


def table(searches: pd.DataFrame, main: str | None = None) -> str:
    """Ordered by median K* (higher first); ties by the score at the first K that failed (how
    close the next K came), then by fewer parameters. Entries whose bootstrap intervals of the
    median K* overlap share a rank (``bench.report.ranking``). Times come from ``main``
    (:func:`summary`)."""
    s = ordered(summary(searches, main))
    ranks = ranking.tied_ranks(list(s["interval"]), higher_is_better=True)  # None: unfinished
    rows = [{"rank": rank,
             "model": r.entry + (" (submission)" if r.submission else ""),
             "framework": r.framework, "N": _int(r.N), "L": _int(r.L),
             "params": _int(r.n_params), "K* ↑": r["K* (seeds)"],
             "K* 95% CI": _k_interval(r.interval), "seeds": r.seeds,
             "K tried: trajectory R²": r.tried,
             "train (s)": ("—" if pd.isna(r.search_s) else f"{r.search_s:.1f}")
             + (f" {machines.SHARED}" if r.shared else "")
             + (f" {machines.MARK}" if isinstance(r.timed_on, str) else "")}
            for rank, (_, r) in zip(ranks, s.iterrows(), strict=True)]
    elsewhere: dict[str, list[str]] = {}
    for r in s.itertuples():
        if isinstance(r.timed_on, str):  # None for the main machine (NaN in the frame)
            elsewhere.setdefault(r.timed_on, []).append(_name(r))
    out = tabulate(pd.DataFrame(rows).to_dict("list"), headers="keys", tablefmt="github",
                   disable_numparse=True)
    return "\n\n".join([out, *machines.footnotes(elsewhere)])


def heatmap(searches: pd.DataFrame, title: str, path: Path) -> bool:
    """K* over (N, L), gnODE and nODE side by side, one row per framework."""
    s = summary(searches)
    # the standard runs only: a command-line variant would share the (N, L) cell
    s = s[s["model_name"].isin(HEATMAP_MODELS) & (s["entry"] == s["model_name"])
          & s["L"].notna()]
    if s.empty:
        return False
    plt = plotting.pyplot()
    frameworks = sorted(s["framework"].unique())
    Ns, Ls = sorted(s["N"].unique()), sorted(s["L"].unique())
    top = np.log2(max(2.0, np.nanmax(s["K_star"].to_numpy(float), initial=1.0)) + 1)
    fig, axes = plt.subplots(len(frameworks), len(HEATMAP_MODELS), squeeze=False,
                             layout="constrained",
                             figsize=(1.2 * len(Ns) * len(HEATMAP_MODELS) + 2.5,
                                      0.9 * len(Ls) * len(frameworks) + 1.9))
    image = None
    for row, fw in enumerate(frameworks):
        for col, name in enumerate(HEATMAP_MODELS):
            ax = axes[row, col]
            grid = np.full((len(Ls), len(Ns)), np.nan)
            for _, r in s[(s.framework == fw) & (s.model_name == name)].iterrows():
                grid[Ls.index(r.L), Ns.index(r.N)] = r.K_star
            image = ax.imshow(np.log2(grid + 1), origin="lower", cmap="viridis", vmin=0,
                              vmax=top, aspect="auto")
            for (i, j), k in np.ndenumerate(grid):
                ax.text(j, i, "·" if np.isnan(k) else f"{int(k)}", ha="center", va="center",
                        color="white" if np.isnan(k) or np.log2(k + 1) < top / 2 else "black")
            ax.set_xticks(range(len(Ns)), [f"{int(n)}" for n in Ns])
            ax.set_yticks(range(len(Ls)), [f"{int(n)}" for n in Ls])
            ax.set_xlabel("phase-space dimension N")
            ax.set_ylabel("depth L of F")
            ax.set_title(f"{name} / {fw}: K*")
    fig.colorbar(image, ax=axes.ravel().tolist(), label="log2(K* + 1)")
    fig.suptitle(title, fontsize=9)
    plotting.save(fig, path)
    return True


def _params_lines(s: pd.DataFrame) -> list[dict[str, Any]]:
    """One line per model (and depth, and framework) of K* against the parameter count, with
    its label and style; in label order."""
    models = sorted(s["entry"].unique())
    lines = []
    for (model, L, fw), g in s.groupby(["entry", "L", "framework"], dropna=False, sort=True):
        depth = None if pd.isna(cast(float, L)) else int(cast(float, L))
        lines.append(dict(
            label=f"{model}" + ("" if depth is None else f" L={depth}") + f" / {fw}",
            points=g.sort_values("n_params")[["n_params", "K_star"]].to_numpy(float),
            color=models.index(model), marker="os^vD"[(depth or 0) % 5],
            ls="-" if fw == "jax" else "--"))
    return lines


def params_figure(searches: pd.DataFrame, title: str) -> Any | None:
    """K* against the parameter count. Above, on a log2 axis, the lines of the configurations
    that reached K* ≥ 1; below, one row per line, the configurations at K* = 0 (K = 1 failed),
    which on one axis would all sit on a single line and hide each other."""
    s = summary(searches).dropna(subset=["K_star", "n_params"])
    if s.empty:
        return None
    plt = plotting.pyplot()
    lines = _params_lines(s)
    colors = plt.get_cmap("tab10" if max(ln["color"] for ln in lines) < 10 else "tab20")
    zero = [ln for ln in lines if (ln["points"][:, 1] == 0).any()]
    fig, (ax, strip) = plt.subplots(
        2, 1, sharex=True, figsize=(6.4, 4.2 + 0.2 * len(zero)), layout="constrained",
        gridspec_kw=dict(height_ratios=[4.0, 0.6 + 0.2 * len(zero)]))
    top = max(int(s["K_star"].max()), 1)
    for ln in lines:
        x, k = ln["points"].T
        style = dict(marker=ln["marker"], color=colors(ln["color"]), ls=ln["ls"])
        if (k > 0).any():  # a segment down to K* = 0 leaves the axis at its bottom edge
            ax.plot(x, k, label=ln["label"], **style)
    ax.set_yscale("symlog", base=2, linthresh=1, linscale=0.5)
    ticks = [2**i for i in range(int(np.log2(top)) + 1)]
    ax.set_yticks(ticks, [f"{t}" for t in ticks])
    ax.set_ylim(0.75, top * 1.4)
    ax.set_ylabel("capacity K*")
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no configuration reached K* = 1", transform=ax.transAxes,
                ha="center", va="center", fontsize=8)
    for row, ln in enumerate(zero):
        x, k = ln["points"][ln["points"][:, 1] == 0].T
        strip.plot(x, np.full_like(x, row), ls="none", marker=ln["marker"],
                   color=colors(ln["color"]))
    strip.set_yticks(range(len(zero)), [ln["label"] for ln in zero], fontsize=7)
    strip.set_ylim(max(len(zero), 1) - 0.5, -0.5)
    if not zero:
        strip.text(0.5, 0.5, "no configuration at K* = 0", transform=strip.transAxes,
                   ha="center", va="center", fontsize=8)
    strip.set_ylabel("K* = 0", fontsize=8)
    strip.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    strip.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    strip.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    strip.xaxis.set_minor_formatter(NullFormatter())
    strip.set_xlabel("parameters")
    for a in (ax, strip):
        a.grid(alpha=0.3)
    fig.align_ylabels([ax, strip])
    return fig


def params_plot(searches: pd.DataFrame, title: str, path: Path) -> bool:
    """:func:`params_figure` saved to ``path``; False where there is nothing to draw."""
    fig = params_figure(searches, title)
    if fig is None:
        return False
    plotting.save(fig, path)
    return True


def _best(searches: pd.DataFrame) -> pd.DataFrame:
    """Per model: the configuration with the highest K*, then the fewest parameters."""
    s = searches.dropna(subset=["K_star"]).sort_values(
        ["K_star", "n_params", "framework", "seed"], ascending=[False, True, True, True])
    return s.groupby("entry", sort=True).head(1)


def _name(r: Any) -> str:
    depth = "" if pd.isna(r.L) else f", L={_int(r.L)}"
    return f"{r.entry} / {r.framework}, N={_int(r.N)}{depth}"


def trajectories_plot(searches: pd.DataFrame, docs: list[dict[str, Any]], title: str,
                      path: Path) -> bool:
    """For each model's best configuration (a row): the targets and the model's output in
    the plane at its largest passing K (left) and at the first K that failed (right)."""
    by_search: dict[tuple, dict[int, dict[str, Any]]] = {}
    for d in docs:
        if d.get("trajectories"):
            by_search.setdefault(search_key(d), {})[int(d["K"])] = d
    rows = []
    for _, r in _best(searches).iterrows():
        found = by_search.get(search_key(r), {})
        fail = [k for k in sorted(found) if k > r.K_star]
        pair = [(label, found.get(K)) for label, K in (("passed", int(r.K_star)),
                                                       ("failed", fail[0] if fail else -1))]
        if any(d is not None for _, d in pair):
            rows.append((_name(r), pair))
    if not rows:
        return False
    plt = plotting.pyplot()
    fig, axes = plt.subplots(len(rows), 2, figsize=(8.4, 3.5 * len(rows) + 0.6), squeeze=False)
    for (name, pair), row in zip(rows, axes):
        for (label, doc), ax in zip(pair, row):
            if doc is None:
                ax.text(0.5, 0.5, "every K passed" if label == "failed" else "K = 1 failed",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
                ax.set_title(name, fontsize=8)
                ax.axis("off")
                continue
            tr = doc["trajectories"]
            for i, (y, o) in enumerate(zip(tr["targets"], tr["outputs"])):
                color = plt.get_cmap("tab10")(i)
                y, o = np.asarray(y), np.asarray(o)
                ax.plot(y[:, 0], y[:, 1], color=color, lw=2, alpha=0.5)
                ax.plot(o[:, 0], o[:, 1], color=color, lw=1, ls="--")
                ax.plot(*y[0], "o", color=color, ms=4)
            r2 = doc["metrics"].get(doc["capacity"]["metric"])
            ax.set_title(f"{name}\nK={doc['K']} ({label}, R² {r2:.2f})", fontsize=8)
            ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(f"{title}\nthick: targets (the first 4 of K), dashed: generated; dot: start",
                 fontsize=9)
    fig.tight_layout()
    plotting.save(fig, path)
    return True


def section(searches: pd.DataFrame, docs: list[dict[str, Any]], title: str, stem: str,
            plots: Path, main: str | None = None) -> tuple[list[str], list[Path]]:
    """Markdown lines and plot files for one capacity group (task, version, profile, hardware
    class); its times from ``main`` (:func:`summary`)."""
    lines = [table(searches, main), ""]
    written = []
    for suffix, draw in (("capacity", lambda p: heatmap(searches, title, p)),
                         ("capacity-params", lambda p: params_plot(searches, title, p)),
                         ("trajectories", lambda p: trajectories_plot(searches, docs, title, p))):
        png = plots / f"{stem}-{suffix}.png"
        if draw(png):
            written += [png, png.with_suffix(".svg")]
            lines += plotting.markdown(f"{stem} {suffix}", png)
    return lines, written
